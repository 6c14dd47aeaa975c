//! Figures for the peer network (not a test; nothing here asserts a time):
//! - validation: the router's checks of one received message (StrictSign signature,
//!   envelope, coordination message) per second on one core;
//! - broadcast: a leader's message from publish to acceptance by every follower, across
//!   five libp2p swarms on loopback (each follower verifies, decodes and accepts it), first
//!   in one process, then in five: the followers are child processes of this example that
//!   report each acceptance on their stdout, read by a thread of the leader's process.
//!
//! `cargo run --release --example wire_bench [-- --messages N --rounds N]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use prost::Message;
use tbtc_coord::net::envelope::Envelope;
use tbtc_coord::net::p2p::firewall::AdmitAll;
use tbtc_coord::net::p2p::{P2pConfig, P2pNetwork, Verdict};
use tbtc_coord::net::pubsub::PubsubMessage;
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::proposal::HexBytes;
use tbtc_coord::protocol::{CoordinationMessage, Proposal, WalletPkh};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const TOPIC: &str = "tbtc-bench-coordination";
const FOLLOWERS: usize = 4;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn heartbeat(seq: u64) -> CoordinationMessage {
    CoordinationMessage {
        sender_member_index: 7,
        coordination_block: 900 * (1 + seq),
        wallet: WalletPkh([0x42; 20]),
        proposal: Proposal::Heartbeat {
            message: HexBytes(seq.to_be_bytes().repeat(2)),
        },
    }
}

fn envelope(key: &OperatorKey, seq: u64) -> Vec<u8> {
    Envelope {
        sender: key.keypair().public(),
        payload: heartbeat(seq).encode(),
        sequence_number: seq,
    }
    .encode()
}

/// What the router does with a received frame before any wallet lookup.
fn validate(frame: &[u8]) -> bool {
    let Ok(message) = PubsubMessage::decode_strict(frame) else {
        return false;
    };
    let Ok(author) = message.verify() else {
        return false;
    };
    let Ok(envelope) = Envelope::decode(message.data()) else {
        return false;
    };
    envelope.sender == author.key && CoordinationMessage::decode(&envelope.payload).is_ok()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i]
}

fn validation(messages: usize) {
    let key = OperatorKey::from_secret(&[0x11; 32]).expect("a valid key");
    let frames: Vec<Vec<u8>> = (1..=messages as u64)
        .map(|seq| {
            PubsubMessage::signed(
                &key,
                TOPIC,
                envelope(&key, seq),
                0x1800_0000_0000_0000 + seq,
            )
            .encode_to_vec()
        })
        .collect();
    let mut rates = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        let valid = frames.iter().filter(|f| validate(f)).count();
        assert_eq!(valid, frames.len());
        rates.push(frames.len() as f64 / started.elapsed().as_secs_f64());
    }
    let mut signs = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for seq in 1..=(messages as u64 / 4) {
            std::hint::black_box(PubsubMessage::signed(&key, TOPIC, envelope(&key, seq), seq));
        }
        signs.push((messages / 4) as f64 / started.elapsed().as_secs_f64());
    }
    println!(
        "validation: {:.0} messages/s on one core (median of 7 runs of {messages}); signing {:.0}/s",
        median(rates),
        median(signs)
    );
}

async fn swarm(peers: Vec<Multiaddr>, cancel: CancellationToken) -> (OperatorKey, P2pNetwork) {
    let key = OperatorKey::generate();
    let config = P2pConfig {
        discovery: false,
        ..P2pConfig::new(
            vec!["/ip4/127.0.0.1/tcp/0".parse().expect("an address")],
            peers,
            Arc::new(AdmitAll),
        )
    };
    let (net, _task) =
        P2pNetwork::start(key.keypair().clone(), config, cancel, &TaskTracker::new())
            .await
            .expect("a swarm starts");
    (key, net)
}

/// Waits until the leader has seen every follower join the topic.
async fn all_followers_joined(
    events: &mut tokio::sync::broadcast::Receiver<tbtc_coord::net::p2p::PeerEvent>,
) {
    let mut subscribed = 0;
    while subscribed < FOLLOWERS {
        if let Ok(tbtc_coord::net::p2p::PeerEvent::Joined { .. }) = events.recv().await {
            subscribed += 1;
        }
    }
}

async fn broadcast(rounds: usize) {
    let cancel = CancellationToken::new();
    let start = |peers: Vec<Multiaddr>| swarm(peers, cancel.clone());
    let (leader_key, leader) = start(Vec::new()).await;
    let leader_addr = leader.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(leader.local_peer_id()));
    let mut followers = Vec::new();
    for _ in 0..FOLLOWERS {
        followers.push(start(vec![leader_addr.clone()]).await.1);
    }
    let mut joined = leader.peer_events();
    leader.join(TOPIC.into()).await.expect("join");
    for f in &followers {
        f.join(TOPIC.into()).await.expect("join");
    }
    all_followers_joined(&mut joined).await;
    let mut latencies = Vec::new();
    for seq in 1..=rounds as u64 {
        let mut streams: Vec<_> = followers
            .iter()
            .map(|f| (f.clone(), f.subscribe()))
            .collect();
        let sent = Instant::now();
        leader
            .publish(TOPIC.into(), envelope(&leader_key, seq))
            .await
            .expect("publish");
        let mut slowest = Duration::ZERO;
        for (net, stream) in &mut streams {
            let received = stream.recv().await.expect("a message");
            let frame = received.message.encode_to_vec();
            assert!(validate(&frame));
            if let Some(receipt) = &received.receipt {
                net.report(receipt, Verdict::Accept);
            }
            slowest = slowest.max(sent.elapsed());
        }
        latencies.push(slowest);
    }
    println!(
        "broadcast to acceptance by all {FOLLOWERS} followers, 5 swarms on loopback: median {:?}, p99 {:?} ({rounds} messages)",
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.99)
    );
    cancel.cancel();
}

/// A follower process: joins the leader's topic, then validates and accepts each message,
/// printing `ok SEQ` for it.
async fn follow(leader: Multiaddr) {
    use std::io::Write;
    let (_key, net) = swarm(vec![leader], CancellationToken::new()).await;
    let mut stream = net.subscribe();
    net.join(TOPIC.into()).await.expect("join");
    let mut out = std::io::stdout();
    while let Ok(received) = stream.recv().await {
        let frame = received.message.encode_to_vec();
        if !validate(&frame) {
            continue;
        }
        if let Some(receipt) = &received.receipt {
            net.report(receipt, Verdict::Accept);
        }
        let seq = Envelope::decode(received.message.data())
            .map(|e| e.sequence_number)
            .unwrap_or(0);
        if writeln!(out, "ok {seq}").and_then(|_| out.flush()).is_err() {
            return;
        }
    }
}

/// Children killed on drop.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn broadcast_across_processes(rounds: usize) {
    use std::io::BufRead;
    let cancel = CancellationToken::new();
    let (leader_key, leader) = swarm(Vec::new(), cancel.clone()).await;
    let leader_addr = leader.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(leader.local_peer_id()));
    let mut joined = leader.peer_events();
    leader.join(TOPIC.into()).await.expect("join");
    let exe = std::env::current_exe().expect("this example's path");
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let mut children = Children(Vec::new());
    for _ in 0..FOLLOWERS {
        let mut child = std::process::Command::new(&exe)
            .args(["--follow", &leader_addr.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("a follower process");
        let stdout = child.stdout.take().expect("its stdout");
        let acks = acks.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let now = Instant::now();
                if let Some(seq) = line.strip_prefix("ok ").and_then(|s| s.parse().ok()) {
                    if acks.send((seq, now)).is_err() {
                        return;
                    }
                }
            }
        });
        children.0.push(child);
    }
    all_followers_joined(&mut joined).await;
    let mut latencies = Vec::new();
    for seq in 1..=rounds as u64 {
        let sent = Instant::now();
        leader
            .publish(TOPIC.into(), envelope(&leader_key, seq))
            .await
            .expect("publish");
        let mut got = 0;
        let mut slowest = Duration::ZERO;
        while got < FOLLOWERS {
            let (acked_seq, at) = acked.recv().await.expect("the followers run");
            if acked_seq == seq {
                got += 1;
                slowest = slowest.max(at - sent);
            }
        }
        latencies.push(slowest);
    }
    println!(
        "broadcast to acceptance by all {FOLLOWERS} followers, 5 processes on loopback: median {:?}, p99 {:?} ({rounds} messages)",
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.99)
    );
    cancel.cancel();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--follow") {
        let leader: Multiaddr = args
            .get(i + 1)
            .and_then(|a| a.parse().ok())
            .expect("--follow LEADER_MULTIADDR");
        runtime.block_on(follow(leader));
        return;
    }
    let messages = arg("--messages", 20_000);
    let rounds = arg("--rounds", 500);
    validation(messages);
    runtime.block_on(broadcast(rounds));
    runtime.block_on(broadcast_across_processes(rounds));
}
