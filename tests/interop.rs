//! Our libp2p transport against an implementation we did not write: the js-libp2p keep peer
//! kept as-is in `tests/interop/peer/` (SPEC §11), run as a child process. It speaks
//! keep-client's `/keep/handshake/1.0.0` (libp2p TLS, then the three acts), floodsub with strict
//! signing and keep's envelopes. `scripts/install-test-deps` copies it into the cache and
//! installs its npm packages; `TBTC_COORD_INTEROP_DIR` names another copy.
//!
//! Every wait is for a line the peer prints or an event of our network; the timeout is only a
//! hang guard.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::Deserialize;
use serde_json::Value;
use tbtc_coord::net::envelope::Envelope;
use tbtc_coord::net::p2p::firewall::{members_from, Rules};
use tbtc_coord::net::p2p::{P2pConfig, P2pNetwork, PeerEvent, Received, Verdict};
use tbtc_coord::net::pubsub::PubsubMessage;
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::{Address, CoordinationMessage, WalletPublicKey};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const GUARD: Duration = Duration::from_secs(60);
/// How long a js peer runs unless the test ends it first (its guard kills it on drop).
const PEER_SECONDS: &str = "120";

#[derive(Deserialize)]
struct Vectors {
    operators: Vec<OperatorVector>,
    wallets: Vec<WalletVector>,
    coordination_messages: Vec<Value>,
}

#[derive(Deserialize)]
struct OperatorVector {
    private_key: String,
    peer_id: String,
    address: String,
}

#[derive(Deserialize)]
struct WalletVector {
    public_key_uncompressed: String,
    pkh: String,
    coordination_topic: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("data/wire_public.json")).expect("vectors parse")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).expect("hex in the vectors")
}

fn operator_key(v: &OperatorVector) -> OperatorKey {
    let secret: [u8; 32] = unhex(&v.private_key).try_into().expect("32-byte key");
    let key = OperatorKey::from_secret(&secret).expect("operator key");
    assert_eq!(key.peer_id().to_string(), v.peer_id);
    key
}

/// Wallet 0's coordination topic, derived by our own code and checked against the vectors.
fn topic(v: &Vectors) -> String {
    let key: WalletPublicKey = v.wallets[0]
        .public_key_uncompressed
        .parse()
        .expect("wallet key");
    assert_eq!(key.coordination_topic(), v.wallets[0].coordination_topic);
    key.coordination_topic()
}

fn message_bytes(v: &Vectors, i: usize) -> Vec<u8> {
    unhex(
        v.coordination_messages[i]["bytes"]
            .as_str()
            .expect("bytes in the vector"),
    )
}

/// The directory holding `peer.mjs` and its `node_modules`.
fn interop_dir() -> PathBuf {
    let dir = match std::env::var_os("TBTC_COORD_INTEROP_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .expect("neither XDG_CACHE_HOME nor HOME is set");
            cache.join("tbtc-coord/interop/interop")
        }
    };
    assert!(
        dir.join("peer.mjs").is_file() && dir.join("node_modules").is_dir(),
        "the js-libp2p interop peer is not installed at {}: run scripts/install-test-deps \
         (or set TBTC_COORD_INTEROP_DIR to a copy of tests/interop/peer with node_modules)",
        dir.display()
    );
    dir
}

async fn guard<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, future).await {
        Ok(value) => value,
        Err(_) => panic!("hang guard: {what} did not happen within {GUARD:?}"),
    }
}

/// One line the js peer printed: JSON, or the raw text when it was not.
fn parse_line(line: String) -> Value {
    serde_json::from_str(&line).unwrap_or(Value::String(line))
}

/// A running js peer. Dropping it kills the process.
struct JsPeer {
    name: &'static str,
    child: Child,
    stdout: mpsc::UnboundedReceiver<Value>,
    stderr: mpsc::UnboundedReceiver<Value>,
    /// Everything it wrote to stderr so far, for failure messages.
    log: Arc<Mutex<Vec<String>>>,
    /// The diagnostics read so far, so a wait can find one that came before it.
    seen: Vec<Value>,
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of `reader` as they come, on a thread of their own (the pipes are blocking).
fn pump(
    reader: impl std::io::Read + Send + 'static,
    log: Option<Arc<Mutex<Vec<String>>>>,
) -> mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if let Some(log) = &log {
                if let Ok(mut log) = log.lock() {
                    log.push(line.clone());
                }
            }
            if tx.send(parse_line(line)).is_err() {
                return;
            }
        }
    });
    rx
}

impl JsPeer {
    fn spawn(name: &'static str, args: &[&str]) -> JsPeer {
        let dir = interop_dir();
        let mut child = Command::new("node")
            .current_dir(&dir)
            .arg("peer.mjs")
            .args([
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--duration",
                PEER_SECONDS,
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node peer.mjs` in {}: {e}", dir.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = pump(child.stdout.take().expect("piped stdout"), None);
        let stderr = pump(
            child.stderr.take().expect("piped stderr"),
            Some(log.clone()),
        );
        JsPeer {
            name,
            child,
            stdout,
            stderr,
            log,
            seen: Vec::new(),
        }
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Waits for a diagnostic on stderr with `"event": event` that `wanted` accepts.
    async fn diagnostic(&mut self, event: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let matches = |line: &Value| line["event"] == event && wanted(line);
        if let Some(line) = self.seen.iter().find(|l| matches(l)) {
            return line.clone();
        }
        let what = format!("js peer {} printing {event}", self.name);
        let (stderr, seen) = (&mut self.stderr, &mut self.seen);
        let found = tokio::time::timeout(GUARD, async {
            while let Some(line) = stderr.recv().await {
                seen.push(line.clone());
                if matches(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{what}: it exited first; its stderr:\n{}", self.log()),
            Err(_) => panic!(
                "hang guard: {what} within {GUARD:?}; its stderr:\n{}",
                self.log()
            ),
        }
    }

    /// Stops it and returns every diagnostic it printed.
    async fn finish(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (stderr, seen) = (&mut self.stderr, &mut self.seen);
        guard("the js peer's stderr to end", async {
            while let Some(line) = stderr.recv().await {
                seen.push(line);
            }
        })
        .await;
        std::mem::take(&mut self.seen)
    }

    /// Waits for the next coordination message it accepted (stdout).
    async fn accepted(&mut self) -> Value {
        let what = format!("js peer {} accepting a coordination message", self.name);
        let found = tokio::time::timeout(GUARD, async {
            while let Some(line) = self.stdout.recv().await {
                if line["event"] == "coordination_message" {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{what}: it exited first; its stderr:\n{}", self.log()),
            Err(_) => panic!(
                "hang guard: {what} within {GUARD:?}; its stderr:\n{}",
                self.log()
            ),
        }
    }

    async fn peer_id(&mut self) -> PeerId {
        self.listening()
            .await
            .iter()
            .find_map(|p| match p {
                Protocol::P2p(peer) => Some(peer),
                _ => None,
            })
            .expect("a /p2p/ part")
    }

    /// Its listen address with its peer ID, from the `listening` diagnostic.
    async fn listening(&mut self) -> Multiaddr {
        let line = self.diagnostic("listening", |_| true).await;
        let peer: PeerId = line["peer_id"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .expect("peer_id in `listening`");
        let addr: Multiaddr = line["addrs"][0]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("an address in `listening`");
        addr.with(Protocol::P2p(peer))
    }
}

/// Our node: the crate's own transport with the firewall's member rule.
struct Node {
    net: P2pNetwork,
    task: tokio::task::JoinHandle<()>,
    cancel: CancellationToken,
    received: broadcast::Receiver<Arc<Received>>,
    events: broadcast::Receiver<PeerEvent>,
    /// Every peer event seen so far, so a wait can find one that came before it.
    history: Vec<PeerEvent>,
}

impl Node {
    /// A node with `key`, admitting the operators `members` names (as holding seats in wallet
    /// 0) and dialling `peers`. Discovery is off, to pin the topology.
    async fn start(key: &OperatorKey, members: &[&OperatorVector], peers: Vec<Multiaddr>) -> Node {
        let v = vectors();
        let wallet = format!("0x{}", v.wallets[0].pkh);
        let members: HashMap<Address, String> = members
            .iter()
            .map(|m| (m.address.parse().expect("an address"), wallet.clone()))
            .collect();
        let firewall = Arc::new(Rules::new([], members_from(members)));
        let config = P2pConfig {
            discovery: false,
            ..P2pConfig::new(
                vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")],
                peers,
                firewall,
            )
        };
        let cancel = CancellationToken::new();
        let (net, task) = guard(
            "our node starting",
            P2pNetwork::start(
                key.keypair().clone(),
                config,
                cancel.clone(),
                &TaskTracker::new(),
            ),
        )
        .await
        .expect("our node starts");
        Node {
            received: net.subscribe(),
            events: net.peer_events(),
            net,
            task,
            cancel,
            history: Vec::new(),
        }
    }

    fn addr(&self) -> Multiaddr {
        self.net.listen_addrs()[0]
            .clone()
            .with(Protocol::P2p(self.net.local_peer_id()))
    }

    /// The first peer event, seen before or after this call, that `wanted` accepts.
    async fn event(&mut self, what: &str, wanted: impl Fn(&PeerEvent) -> bool) -> PeerEvent {
        if let Some(event) = self.history.iter().find(|e| wanted(e)) {
            return event.clone();
        }
        let (events, history) = (&mut self.events, &mut self.history);
        guard(what, async {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        history.push(event.clone());
                        if wanted(&event) {
                            return event;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        panic!("missed {n} peer events")
                    }
                    Err(e) => panic!("peer events closed: {e}"),
                }
            }
        })
        .await
    }

    async fn joined(&mut self, peer: PeerId, topic: &str) {
        self.event(
            "the js peer joining the topic",
            |e| matches!(e, PeerEvent::Joined { peer: p, topic: t } if *p == peer && t == topic),
        )
        .await;
    }

    async fn message(&mut self) -> Arc<Received> {
        guard("a message from the js peer", async {
            self.received.recv().await.expect("received")
        })
        .await
    }

    async fn stop(self) {
        self.cancel.cancel();
        guard("our node stopping", self.task)
            .await
            .expect("our node's task");
    }
}

/// What our router checks before it accepts a message (src/engine/router.rs, `route_one`),
/// short of the wallet's seat table: a valid StrictSign signature by `author`, an envelope
/// whose sender is that author, on `topic`, carrying exactly `expected`.
fn check_received(received: &Received, author: &OperatorKey, topic: &str, expected: &[u8]) {
    let pubsub = &received.message;
    let signer = pubsub.verify().expect("StrictSign signature verifies");
    assert_eq!(signer.address, author.address(), "signed by the js peer");
    assert_eq!(signer.peer, author.peer_id());
    // js floodsub sends `key` anyway; it is the author's.
    assert_eq!(
        pubsub.key.as_deref(),
        Some(author.keypair().public().encode_protobuf().as_slice())
    );
    assert_eq!(pubsub.topic(), topic);
    assert_eq!(pubsub.seqno().len(), 8);
    let envelope = Envelope::decode(pubsub.data()).expect("keep envelope");
    assert_eq!(
        envelope.sender, signer.key,
        "envelope sender is the pubsub author"
    );
    assert_eq!(envelope.sequence_number, 1, "keep counts per topic from 1");
    assert_eq!(envelope.payload, expected, "the vector's bytes, unchanged");
    let message = CoordinationMessage::decode(&envelope.payload).expect("coordination message");
    assert_eq!(
        message,
        CoordinationMessage::decode(expected).expect("vector message")
    );
    assert_eq!(message.encode(), expected);
}

/// Publishes vector message `i` from `key` once the js peer has joined `topic`, and checks
/// what the js peer prints on accepting it.
async fn send_and_check(
    node: &mut Node,
    js: &mut JsPeer,
    key: &OperatorKey,
    topic: &str,
    i: usize,
) {
    let v = vectors();
    let js_peer = js.peer_id().await;
    node.joined(js_peer, topic).await;
    let payload = message_bytes(&v, i);
    let envelope = Envelope {
        sender: key.keypair().public(),
        payload: payload.clone(),
        sequence_number: 1,
    }
    .encode();
    guard(
        "publishing",
        node.net.publish(topic.to_owned(), envelope.clone()),
    )
    .await
    .expect("publish to the js peer");

    let line = js.accepted().await;
    let ours = key.peer_id().to_string();
    assert_eq!(line["topic"], topic);
    assert_eq!(line["from"], ours.as_str(), "pubsub author");
    assert_eq!(line["sender"], ours.as_str(), "envelope sender");
    assert_eq!(line["sequence_number"], "1");
    assert_eq!(line["type"], "tbtc/coordination_message");
    assert_eq!(line["envelope"], hex::encode(&envelope).as_str());
    assert_eq!(line["bytes"], hex::encode(&payload).as_str());
    let vector = &v.coordination_messages[i];
    let message = &line["message"];
    assert_eq!(message["sender_id"], vector["sender_id"]);
    assert_eq!(
        message["coordination_block"],
        vector["coordination_block"].to_string().as_str()
    );
    assert_eq!(message["wallet_pkh"], vector["wallet_pkh"]);
    assert_eq!(message["action_type"], vector["action_type"]);
    assert_eq!(message["action"], vector["action"]);
    assert_eq!(message["payload"], vector["payload"]);
    // The signature it checked is a StrictSign signature of exactly what we published.
    let seqno = unhex(line["seqno"].as_str().expect("seqno"));
    assert_ne!(
        seqno[0], 0,
        "js floodsub drops a seqno with a leading zero byte"
    );
    let signed = PubsubMessage {
        from: Some(key.peer_id().to_bytes()),
        data: Some(envelope),
        seqno: Some(seqno),
        topic: Some(topic.to_owned()),
        signature: Some(unhex(line["signature"].as_str().expect("signature"))),
        key: None,
    };
    assert_eq!(signed.verify().expect("our signature").peer, key.peer_id());
}

/// A `--send-json` file holding vector message `i`.
fn send_file(v: &Vectors, i: usize) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    serde_json::to_writer(&file, &v.coordination_messages[i]).expect("write --send-json");
    file
}

/// Vector message 1 is operator 1's (seat 12) and message 0 operator 0's (seat 1), both in
/// wallet 0, as the vectors' envelopes pair them.
const THEIRS: usize = 1;
const OURS: usize = 0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_peer_dials_us_and_messages_cross_both_ways() {
    let v = vectors();
    let topic = topic(&v);
    let (ours, theirs) = (operator_key(&v.operators[0]), operator_key(&v.operators[1]));
    let mut node = Node::start(&ours, &[&v.operators[1]], vec![]).await;
    guard("joining", node.net.join(topic.clone()))
        .await
        .expect("join");
    let file = send_file(&v, THEIRS);
    let mut js = JsPeer::spawn(
        "B",
        &[
            "--key",
            &v.operators[1].private_key,
            "--dial",
            &node.addr().to_string(),
            "--topic",
            &topic,
            "--send-json",
            file.path().to_str().expect("utf-8 path"),
        ],
    );
    let js_id = js.peer_id().await;
    assert_eq!(js_id, theirs.peer_id());

    let connected = node
        .event(
            "the js peer connecting",
            |e| matches!(e, PeerEvent::Connected { peer, .. } if *peer == js_id),
        )
        .await;
    let wallet = format!("0x{}", v.wallets[0].pkh);
    assert_eq!(
        connected,
        PeerEvent::Connected {
            peer: js_id,
            admitted: format!("holds a seat in wallet {wallet}"),
            bootstrap: false,
        },
        "admitted by the member rule"
    );
    let ok = js.diagnostic("handshake_ok", |_| true).await;
    assert_eq!(ok["role"], "initiator");
    assert_eq!(ok["remote_peer"], ours.peer_id().to_string().as_str());
    let dialed = js.diagnostic("dialed", |_| true).await;
    assert_eq!(dialed["encryption"], "/keep/handshake/1.0.0");
    assert_eq!(dialed["multiplexer"], "/yamux/1.0.0");

    let got = node.message().await;
    check_received(&got, &theirs, &topic, &message_bytes(&v, THEIRS));
    node.net
        .report(got.receipt.as_ref().expect("a receipt"), Verdict::Accept);

    send_and_check(&mut node, &mut js, &ours, &topic, OURS).await;
    drop(js);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_the_js_peer_and_messages_cross_both_ways() {
    let v = vectors();
    let topic = topic(&v);
    let (ours, theirs) = (operator_key(&v.operators[0]), operator_key(&v.operators[1]));
    let file = send_file(&v, THEIRS);
    let mut js = JsPeer::spawn(
        "B",
        &[
            "--key",
            &v.operators[1].private_key,
            "--topic",
            &topic,
            "--send-json",
            file.path().to_str().expect("utf-8 path"),
        ],
    );
    let js_addr = js.listening().await;
    let js_id = theirs.peer_id();
    assert_eq!(js_addr.iter().last(), Some(Protocol::P2p(js_id)));

    let mut node = Node::start(&ours, &[&v.operators[1]], vec![js_addr]).await;
    guard("joining", node.net.join(topic.clone()))
        .await
        .expect("join");
    let connected = node
        .event(
            "connecting to the js peer",
            |e| matches!(e, PeerEvent::Connected { peer, .. } if *peer == js_id),
        )
        .await;
    assert_eq!(
        connected,
        PeerEvent::Connected {
            peer: js_id,
            admitted: "allowlisted".into(),
            bootstrap: true,
        },
        "a bootstrap peer is allowlisted"
    );
    // As responder the js peer requires Act1's peer ID to be the TLS-authenticated peer.
    let ok = js.diagnostic("handshake_ok", |_| true).await;
    assert_eq!(ok["role"], "responder");
    assert_eq!(ok["remote_peer"], ours.peer_id().to_string().as_str());
    assert_eq!(ok["tls_peer"], ours.peer_id().to_string().as_str());

    let got = node.message().await;
    check_received(&got, &theirs, &topic, &message_bytes(&v, THEIRS));
    node.net
        .report(got.receipt.as_ref().expect("a receipt"), Verdict::Accept);

    send_and_check(&mut node, &mut js, &ours, &topic, OURS).await;
    drop(js);
    node.stop().await;
}

/// Floodsub through our node: what we accept from one js peer reaches another js peer that
/// hears only us, signed by its author, not by us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_forward_what_we_accept_to_other_js_peers() {
    let v = vectors();
    let topic = topic(&v);
    let ours = operator_key(&v.operators[0]);
    let (author, listener) = (operator_key(&v.operators[1]), operator_key(&v.operators[2]));
    let mut node = Node::start(&ours, &[&v.operators[1], &v.operators[2]], vec![]).await;
    guard("joining", node.net.join(topic.clone()))
        .await
        .expect("join");
    let addr = node.addr().to_string();
    let mut c = JsPeer::spawn(
        "C",
        &[
            "--key",
            &v.operators[2].private_key,
            "--dial",
            &addr,
            "--topic",
            &topic,
        ],
    );
    // C must be subscribed before we forward: floodsub sends to the subscribers it knows.
    node.joined(listener.peer_id(), &topic).await;

    let file = send_file(&v, THEIRS);
    let b = JsPeer::spawn(
        "B",
        &[
            "--key",
            &v.operators[1].private_key,
            "--dial",
            &addr,
            "--topic",
            &topic,
            "--send-json",
            file.path().to_str().expect("utf-8 path"),
        ],
    );
    let got = node.message().await;
    let expected = message_bytes(&v, THEIRS);
    check_received(&got, &author, &topic, &expected);
    let receipt = got.receipt.as_ref().expect("a receipt");
    assert_eq!(receipt.propagation_source, author.peer_id());
    node.net.report(receipt, Verdict::Accept);

    let line = c.accepted().await;
    let by = author.peer_id().to_string();
    drop(b);
    assert_eq!(line["from"], by.as_str(), "the author, not the forwarder");
    assert_eq!(line["sender"], by.as_str());
    assert_eq!(line["bytes"], hex::encode(&expected).as_str());
    assert_eq!(line["envelope"], hex::encode(got.message.data()).as_str());
    assert_eq!(
        line["signature"],
        hex::encode(got.message.signature.as_deref().expect("signed")).as_str(),
        "forwarded with the author's signature, untouched"
    );
    // C heard it through us: it never connected to B.
    let b_id = author.peer_id().to_string();
    let connections: Vec<Value> = c
        .finish()
        .await
        .into_iter()
        .filter(|l| l["event"] == "connected")
        .collect();
    assert!(
        !connections.is_empty() && connections.iter().all(|l| l["peer"] != b_id.as_str()),
        "{connections:?}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_handshake_is_refused_and_an_honest_peer_still_connects() {
    let v = vectors();
    let topic = topic(&v);
    let ours = operator_key(&v.operators[0]);
    let (honest, corrupt) = (operator_key(&v.operators[1]), operator_key(&v.operators[2]));
    // Both are members: only the handshake can keep the corrupt one out.
    let mut node = Node::start(&ours, &[&v.operators[1], &v.operators[2]], vec![]).await;
    let addr = node.addr().to_string();

    let mut bad = JsPeer::spawn(
        "C",
        &[
            "--key",
            &v.operators[2].private_key,
            "--dial",
            &addr,
            "--topic",
            &topic,
            "--corrupt-handshake",
        ],
    );
    let bad_id = corrupt.peer_id();
    let refused = node
        .event(
            "our node refusing the corrupted handshake",
            |e| matches!(e, PeerEvent::Refused { peer, .. } if *peer == bad_id),
        )
        .await;
    let PeerEvent::Refused { reason, .. } = &refused else {
        unreachable!()
    };
    assert!(reason.contains("wrong signature"), "{reason}");
    // The js side saw the connection close during the acts, and its dial fail.
    let rejected = bad.diagnostic("handshake_rejected", |_| true).await;
    assert_eq!(rejected["role"], "initiator");
    assert_eq!(
        rejected["act"], "act2",
        "we closed instead of answering Act1"
    );
    bad.diagnostic("dial_failed", |_| true).await;

    let mut good = JsPeer::spawn(
        "B",
        &[
            "--key",
            &v.operators[1].private_key,
            "--dial",
            &addr,
            "--topic",
            &topic,
        ],
    );
    let good_id = honest.peer_id();
    node.event(
        "the honest js peer connecting",
        |e| matches!(e, PeerEvent::Connected { peer, .. } if *peer == good_id),
    )
    .await;
    good.diagnostic("dialed", |_| true).await;
    assert!(
        !node
            .history
            .iter()
            .any(|e| matches!(e, PeerEvent::Connected { peer, .. } if *peer == bad_id)),
        "the corrupt peer was never reported connected: {:?}",
        node.history
    );
    assert_eq!(node.net.connected_peers(), vec![good_id]);
    drop((bad, good));
    node.stop().await;
}

/// The other direction: a js responder whose Act2 signature is corrupted is refused by our
/// dialling node, which keeps it disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_responder_is_refused_when_we_dial_it() {
    let v = vectors();
    let topic = topic(&v);
    let ours = operator_key(&v.operators[0]);
    let corrupt = operator_key(&v.operators[2]);
    let mut bad = JsPeer::spawn(
        "C",
        &[
            "--key",
            &v.operators[2].private_key,
            "--topic",
            &topic,
            "--corrupt-handshake",
        ],
    );
    let bad_addr = bad.listening().await;
    let mut node = Node::start(&ours, &[&v.operators[2]], vec![bad_addr]).await;
    let bad_id = corrupt.peer_id();
    let refused = node
        .event(
            "our node refusing the corrupted Act2",
            |e| matches!(e, PeerEvent::Refused { peer, .. } if *peer == bad_id),
        )
        .await;
    let PeerEvent::Refused { reason, .. } = &refused else {
        unreachable!()
    };
    assert!(reason.contains("wrong signature"), "{reason}");
    let rejected = bad.diagnostic("handshake_rejected", |_| true).await;
    assert_eq!(rejected["role"], "responder");
    assert_eq!(rejected["act"], "act3", "we closed instead of sending Act3");
    assert!(
        !node
            .history
            .iter()
            .any(|e| matches!(e, PeerEvent::Connected { .. })),
        "{:?}",
        node.history
    );
    assert!(node.net.connected_peers().is_empty());
    drop(bad);
    node.stop().await;
}
