//! Real swarms on 127.0.0.1: the full upgrade, pubsub delivery and signatures, manual
//! validation, the firewall, listen errors and bootstrap redial. Every wait is for an event;
//! the timeout is only a hang guard.

use std::future::Future;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use tokio::task::JoinHandle;

use super::firewall::{members_from, AdmitAll, Rules};
use super::*;

const GUARD: Duration = Duration::from_secs(30);
const TOPIC: &str = "tbtc-test-coordination";

async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, future).await {
        Ok(value) => value,
        Err(_) => panic!("hang guard: {what} did not happen within {GUARD:?}"),
    }
}

struct Node {
    net: P2pNetwork,
    task: JoinHandle<()>,
    cancel: CancellationToken,
    received: broadcast::Receiver<Arc<Received>>,
    events: broadcast::Receiver<PeerEvent>,
}

impl Node {
    /// A node without discovery: it connects to its bootstrap peers and whoever dials it.
    async fn start(keypair: Keypair, listen: Multiaddr, peers: Vec<Multiaddr>) -> Node {
        let config = P2pConfig {
            discovery: false,
            ..P2pConfig::new(vec![listen], peers, Arc::new(AdmitAll))
        };
        Node::with(keypair, config).await
    }

    async fn with(keypair: Keypair, config: P2pConfig) -> Node {
        let cancel = CancellationToken::new();
        let (net, task) = P2pNetwork::start(keypair, config, cancel.clone(), &TaskTracker::new())
            .await
            .expect("start");
        Node {
            received: net.subscribe(),
            events: net.peer_events(),
            net,
            task,
            cancel,
        }
    }

    /// This node's address for a bootstrap list.
    fn addr(&self) -> Multiaddr {
        self.net.listen_addrs()[0]
            .clone()
            .with(Protocol::P2p(self.net.local_peer_id()))
    }

    async fn event(&mut self, what: &str, wanted: impl Fn(&PeerEvent) -> bool) -> PeerEvent {
        guard(what, async {
            loop {
                match self.events.recv().await {
                    Ok(event) if wanted(&event) => return event,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("peer events closed: {e}"),
                }
            }
        })
        .await
    }

    /// Waits until each of `peers` has joined the topic, in any order.
    async fn joined(&mut self, peers: &[PeerId]) {
        let mut waiting: std::collections::HashSet<PeerId> = peers.iter().copied().collect();
        while !waiting.is_empty() {
            let event = self
                .event(
                    "peers joining the topic",
                    |e| matches!(e, PeerEvent::Joined { topic, .. } if topic == TOPIC),
                )
                .await;
            if let PeerEvent::Joined { peer, .. } = event {
                waiting.remove(&peer);
            }
        }
    }

    async fn message(&mut self) -> Arc<Received> {
        guard("a message", async {
            self.received.recv().await.expect("received")
        })
        .await
    }

    async fn stop(self) {
        self.cancel.cancel();
        guard("the task to end", self.task).await.expect("task");
    }
}

fn localhost() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

fn key() -> Keypair {
    Keypair::generate_secp256k1()
}

#[test]
fn bootstrap_addresses_accept_p2p_and_ipfs() {
    let peer = key().public().to_peer_id();
    for prefix in ["p2p", "ipfs"] {
        let addr: Multiaddr = format!("/ip4/10.0.0.1/tcp/3919/{prefix}/{peer}")
            .parse()
            .unwrap();
        let (id, dial) = split_peer(&addr).unwrap();
        assert_eq!(id, peer);
        assert_eq!(dial, "/ip4/10.0.0.1/tcp/3919".parse::<Multiaddr>().unwrap());
    }
    let bare: Multiaddr = "/ip4/10.0.0.1/tcp/3919".parse().unwrap();
    assert_eq!(split_peer(&bare), Err(P2pError::BootstrapAddress(bare)));
}

#[tokio::test]
async fn two_nodes_connect_and_a_signed_message_arrives_whole() {
    let a_key = key();
    let mut b = Node::start(key(), localhost(), vec![]).await;
    let mut a = Node::start(a_key.clone(), localhost(), vec![b.addr()]).await;
    let (a_id, b_id) = (a.net.local_peer_id(), b.net.local_peer_id());

    let connected = a
        .event("A connecting", |e| matches!(e, PeerEvent::Connected { .. }))
        .await;
    assert_eq!(
        connected,
        PeerEvent::Connected {
            peer: b_id,
            admitted: "allowlisted".into(),
            bootstrap: true,
        }
    );
    b.event("B admitting A", |e| {
        matches!(e, PeerEvent::Connected { peer, admitted, bootstrap: false } if *peer == a_id && admitted == "admit-all firewall")
    })
    .await;
    assert_eq!(a.net.connected_peers(), vec![b_id]);

    a.net.join(TOPIC.into()).await.unwrap();
    b.net.join(TOPIC.into()).await.unwrap();
    a.joined(&[b_id]).await;
    assert_eq!(a.net.topic_peers(TOPIC), vec![b_id]);
    assert!(a.net.topic_peers("another topic").is_empty());
    a.net
        .publish(TOPIC.into(), b"hello".to_vec())
        .await
        .unwrap();

    let got = b.message().await;
    assert_eq!(got.message.from, Some(a_id.to_bytes()));
    assert_eq!(got.message.data(), b"hello");
    assert_eq!(got.message.topic(), TOPIC);
    assert_eq!(got.message.seqno().len(), 8);
    assert_ne!(got.message.seqno()[0], 0, "seqno starts from the clock");
    assert_eq!(
        got.message.key, None,
        "a secp256k1 key is inlined in `from`"
    );
    assert!(got.message.verify().is_ok());
    assert_eq!(got.receipt.as_ref().unwrap().propagation_source, a_id);
    let mut id = a_id.to_bytes();
    id.extend(got.message.seqno());
    assert_eq!(
        got.receipt.as_ref().unwrap().message_id,
        id,
        "message id is from ‖ seqno"
    );
    b.net.report(got.receipt.as_ref().unwrap(), Verdict::Accept);

    // A peer that goes away is no longer among the topic's peers.
    b.stop().await;
    a.event(
        "B going away",
        |e| matches!(e, PeerEvent::Disconnected { peer } if *peer == b_id),
    )
    .await;
    assert!(a.net.topic_peers(TOPIC).is_empty());
    a.stop().await;
}

/// gossipsub checks only a message's data against the frame limit; a message that would not
/// fit a 1 MiB frame is refused before it is sent, and one that fits arrives.
#[tokio::test]
async fn a_message_too_large_for_a_frame_is_refused_and_one_that_fits_arrives() {
    let mut b = Node::start(key(), localhost(), vec![]).await;
    let mut a = Node::start(key(), localhost(), vec![b.addr()]).await;
    let b_id = b.net.local_peer_id();
    a.net.join(TOPIC.into()).await.unwrap();
    b.net.join(TOPIC.into()).await.unwrap();
    a.joined(&[b_id]).await;
    let too_large = vec![7u8; behaviour::MAX_TRANSMIT - 16];
    assert!(matches!(
        a.net.publish(TOPIC.into(), too_large).await,
        Err(P2pError::Publish(_))
    ));
    let fits = vec![7u8; behaviour::MAX_TRANSMIT / 2];
    a.net.publish(TOPIC.into(), fits.clone()).await.unwrap();
    let got = b.message().await;
    assert_eq!(got.message.data(), &fits[..]);
    a.stop().await;
    b.stop().await;
}

/// A—B—C in a line: B forwards to C only what B accepted, when B accepts it.
#[tokio::test]
async fn only_accepted_messages_are_forwarded() {
    let mut b = Node::start(key(), localhost(), vec![]).await;
    let mut a = Node::start(key(), localhost(), vec![b.addr()]).await;
    let mut c = Node::start(key(), localhost(), vec![b.addr()]).await;
    let (a_id, b_id, c_id) = (
        a.net.local_peer_id(),
        b.net.local_peer_id(),
        c.net.local_peer_id(),
    );
    for node in [&a, &b, &c] {
        node.net.join(TOPIC.into()).await.unwrap();
    }
    a.joined(&[b_id]).await;
    b.joined(&[a_id, c_id]).await;
    c.joined(&[b_id]).await;

    let publish = |data: &'static [u8]| a.net.publish(TOPIC.into(), data.to_vec());
    publish(b"one").await.unwrap();
    let one = b.message().await;
    assert_eq!(one.message.data(), b"one");
    publish(b"two").await.unwrap();
    let two = b.message().await;
    assert_eq!(two.message.data(), b"two");

    // "one" awaits B's verdict; "two" is accepted and is the first C hears.
    b.net.report(two.receipt.as_ref().unwrap(), Verdict::Accept);
    let first = c.message().await;
    assert_eq!(first.message.data(), b"two");
    assert_eq!(
        first.message.from,
        Some(a_id.to_bytes()),
        "the author, not the forwarder"
    );
    assert_eq!(first.receipt.as_ref().unwrap().propagation_source, b_id);
    assert!(first.message.verify().is_ok());

    b.net.report(one.receipt.as_ref().unwrap(), Verdict::Accept);
    assert_eq!(c.message().await.message.data(), b"one");

    // A rejected message never reaches C: the next C hears is the one after it.
    publish(b"three").await.unwrap();
    let three = b.message().await;
    b.net
        .report(three.receipt.as_ref().unwrap(), Verdict::Reject);
    publish(b"four").await.unwrap();
    let four = b.message().await;
    assert_eq!(four.message.data(), b"four");
    b.net
        .report(four.receipt.as_ref().unwrap(), Verdict::Accept);
    assert_eq!(c.message().await.message.data(), b"four");

    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test]
async fn a_peer_the_firewall_refuses_does_not_connect() {
    // A admits only operators of its wallets, and B is none; B has A as bootstrap.
    let wallet_member = handshake::tests::vectors().operators[0].address.clone();
    let members = members_from([(wallet_member.parse().unwrap(), "0x01".into())].into());
    let config = P2pConfig::new(vec![localhost()], vec![], Arc::new(Rules::new([], members)));
    let mut a = Node::with(key(), config).await;
    let mut b = Node::start(key(), localhost(), vec![a.addr()]).await;
    let (a_id, b_id) = (a.net.local_peer_id(), b.net.local_peer_id());

    let refused = a
        .event("A refusing B", |e| !matches!(e, PeerEvent::Dialing { .. }))
        .await;
    assert_eq!(
        refused,
        PeerEvent::Refused {
            peer: b_id,
            reason: "not an operator of any wallet this node knows".into()
        }
    );
    // B dials, fails, and dials again: it never counted A as connected in between.
    b.event("B's first dial", |e| matches!(e, PeerEvent::Dialing { .. }))
        .await;
    let next = b
        .event("B's next dial or a connection", |e| {
            matches!(e, PeerEvent::Dialing { .. } | PeerEvent::Connected { .. })
        })
        .await;
    assert!(
        matches!(next, PeerEvent::Dialing { peer, .. } if peer == a_id),
        "{next:?}"
    );
    assert!(a.net.connected_peers().is_empty());
    assert!(b.net.connected_peers().is_empty());

    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_listen_address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let config = P2pConfig::new(vec![addr.clone()], vec![], Arc::new(AdmitAll));
    let Err(err) =
        P2pNetwork::start(key(), config, CancellationToken::new(), &TaskTracker::new()).await
    else {
        panic!("listening on a taken port succeeded");
    };
    match &err {
        P2pError::Listen {
            addr: named,
            reason,
        } => {
            assert_eq!(*named, addr);
            assert!(reason.contains("port in use"), "{reason}");
        }
        other => panic!("expected a listen error, got {other}"),
    }
    assert!(err.to_string().contains(&addr.to_string()));
}

/// Two tbtc-coord nodes on one port would split the connections between them (libp2p's TCP
/// listeners set SO_REUSEPORT); the second is refused.
#[tokio::test]
async fn a_second_node_on_the_same_port_is_refused() {
    let a = Node::start(key(), localhost(), vec![]).await;
    let config = P2pConfig::new(a.net.listen_addrs(), vec![], Arc::new(AdmitAll));
    let result =
        P2pNetwork::start(key(), config, CancellationToken::new(), &TaskTracker::new()).await;
    assert!(matches!(result, Err(P2pError::Listen { .. })));
    a.stop().await;
}

#[tokio::test]
async fn the_bootstrap_peer_is_redialled_after_it_restarts() {
    let b_key = key();
    let b = Node::start(b_key.clone(), localhost(), vec![]).await;
    let b_addr = b.addr();
    let b_listen = b.net.listen_addrs()[0].clone();
    let b_id = b.net.local_peer_id();
    let mut a = Node::start(key(), localhost(), vec![b_addr]).await;
    let connected = |e: &PeerEvent| matches!(e, PeerEvent::Connected { peer, .. } if *peer == b_id);
    a.event("A connecting to B", connected).await;

    b.stop().await;
    a.event(
        "A losing B",
        |e| matches!(e, PeerEvent::Disconnected { peer } if *peer == b_id),
    )
    .await;
    assert!(a.net.connected_peers().is_empty());

    let b = Node::start(b_key, b_listen, vec![]).await;
    a.event("A reconnecting to B", connected).await;
    assert_eq!(a.net.connected_peers(), vec![b_id]);

    a.stop().await;
    b.stop().await;
}

/// A and C know only B; Kademlia through B introduces them, and they connect directly.
#[tokio::test]
async fn discovery_connects_peers_that_share_a_bootstrap_peer() {
    let discovering = |peers| P2pConfig::new(vec![localhost()], peers, Arc::new(AdmitAll));
    let mut b = Node::with(key(), discovering(vec![])).await;
    let mut a = Node::with(key(), discovering(vec![b.addr()])).await;
    let a_id = a.net.local_peer_id();
    b.event(
        "B admitting A",
        |e| matches!(e, PeerEvent::Connected { peer, .. } if *peer == a_id),
    )
    .await;
    let c = Node::with(key(), discovering(vec![b.addr()])).await;
    let c_id = c.net.local_peer_id();
    let met = a
        .event(
            "A meeting C",
            |e| matches!(e, PeerEvent::Connected { peer, .. } if *peer == c_id),
        )
        .await;
    assert_eq!(
        met,
        PeerEvent::Connected {
            peer: c_id,
            admitted: "admit-all firewall".into(),
            bootstrap: false,
        }
    );
    for node in [a, b, c] {
        node.stop().await;
    }
}
