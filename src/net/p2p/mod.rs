//! The libp2p transport that speaks keep-client's wire protocol (SPEC §11): TCP, TLS and
//! keep's handshake under `/keep/handshake/1.0.0`, the firewall, yamux, and gossipsub with
//! floodsub support. One tokio task owns the swarm; [`P2pNetwork`] is the handle that talks
//! to it through bounded channels.

pub mod behaviour;
pub mod firewall;
pub mod handshake;
mod redial;
mod swarm;
pub mod upgrade;

use std::sync::{Arc, RwLock};

use libp2p::identity::{Keypair, PeerId};
use libp2p::Multiaddr;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::net::{Receipt, Received, Verdict};
pub use firewall::{Admitted, Firewall, Refused};

/// How the node joins the peer network.
#[derive(Clone)]
pub struct P2pConfig {
    pub listen: Vec<Multiaddr>,
    /// Bootstrap peers, each ending in `/p2p/<id>` (or `/ipfs/<id>`). They are allowlisted
    /// and redialled while disconnected.
    pub peers: Vec<Multiaddr>,
    /// Further allowlisted peers (`--p2p-allow`).
    pub allow: Vec<PeerId>,
    pub firewall: Arc<dyn Firewall>,
    /// Kademlia discovery of further peers (on in production; off to pin a test topology).
    pub discovery: bool,
}

impl P2pConfig {
    /// A configuration with no extra allowlisted peers and discovery on.
    pub fn new(listen: Vec<Multiaddr>, peers: Vec<Multiaddr>, firewall: Arc<dyn Firewall>) -> Self {
        P2pConfig {
            listen,
            peers,
            allow: Vec::new(),
            firewall,
            discovery: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("bootstrap peer {0} does not end in /p2p/<peer id>")]
    BootstrapAddress(Multiaddr),
    #[error("cannot build the transport: {0}")]
    Setup(String),
    #[error("no peer has joined topic {0} yet")]
    NoPeers(String),
    #[error("cannot publish: {0}")]
    Publish(String),
    #[error("cannot join topic {topic}: {reason}")]
    Join { topic: String, reason: String },
    #[error("the peer network has stopped")]
    Stopped,
}

/// What happens to peers, for the logs and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    Dialing {
        peer: PeerId,
        addr: Multiaddr,
    },
    Connected {
        peer: PeerId,
        admitted: String,
        /// One of the configured bootstrap peers (`--p2p-peers`).
        bootstrap: bool,
    },
    Disconnected {
        peer: PeerId,
    },
    Refused {
        peer: PeerId,
        reason: String,
    },
    /// A connected peer subscribed to a topic: messages published there now reach it.
    Joined {
        peer: PeerId,
        topic: String,
    },
    /// A libp2p ping to a connected peer came back after `rtt` (every ping; the node's bus
    /// announces only changes, see `engine::peer_events`).
    Ping {
        peer: PeerId,
        rtt: std::time::Duration,
    },
}

pub(crate) enum Command {
    Join {
        topic: String,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
    Report {
        receipt: Receipt,
        verdict: Verdict,
    },
}

/// An admitted peer connected now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedPeer {
    pub peer: PeerId,
    /// Why the firewall admitted it.
    pub admitted: String,
    pub bootstrap: bool,
}

/// What the task shares with the handle for synchronous reads.
#[derive(Default)]
pub(crate) struct Shared {
    pub connected: std::collections::HashMap<PeerId, ConnectedPeer>,
    /// The connected peers subscribed to each topic.
    pub topics: std::collections::HashMap<String, std::collections::HashSet<PeerId>>,
    pub listen_addrs: Vec<Multiaddr>,
}

const COMMANDS: usize = 1024;
const RECEIVED: usize = 1024;
/// Peer events buffered per subscriber. A node in many wallets hears a `Joined` per peer
/// and topic, so bursts are large; a subscriber that lags resyncs from [`P2pNetwork::connections`].
const PEER_EVENTS: usize = 4096;

/// The handle on the running peer network. Cheap to clone.
#[derive(Clone)]
pub struct P2pNetwork {
    local: PeerId,
    bootstrap: usize,
    commands: mpsc::Sender<Command>,
    received: broadcast::Sender<Arc<Received>>,
    peer_events: broadcast::Sender<PeerEvent>,
    shared: Arc<RwLock<Shared>>,
}

impl P2pNetwork {
    /// Binds the listeners (waiting until each has an address), dials the bootstrap peers
    /// and spawns the swarm's task on `tasks`, which ends when `cancel` fires.
    pub async fn start(
        keypair: Keypair,
        config: P2pConfig,
        cancel: CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<(P2pNetwork, tokio::task::JoinHandle<()>), P2pError> {
        let (commands, commands_rx) = mpsc::channel(COMMANDS);
        let (received, _) = broadcast::channel(RECEIVED);
        let (peer_events, _) = broadcast::channel(PEER_EVENTS);
        let shared = Arc::new(RwLock::new(Shared::default()));
        let network = P2pNetwork {
            local: keypair.public().to_peer_id(),
            bootstrap: config.peers.len(),
            commands: commands.clone(),
            received: received.clone(),
            peer_events: peer_events.clone(),
            shared: shared.clone(),
        };
        let task = swarm::Task::build(
            keypair,
            config,
            swarm::Channels {
                commands: commands_rx,
                received,
                peer_events,
                shared,
            },
        )
        .await?;
        Ok((network, tasks.spawn(task.run(cancel, tasks.clone()))))
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    /// The addresses the listeners are bound to (port 0 resolved).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.shared
            .read()
            .map(|s| s.listen_addrs.clone())
            .unwrap_or_default()
    }

    async fn ask(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<(), P2pError>>) -> Command,
    ) -> Result<(), P2pError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| P2pError::Stopped)?;
        answer.await.map_err(|_| P2pError::Stopped)?
    }

    pub async fn join(&self, topic: String) -> Result<(), P2pError> {
        self.ask(|reply| Command::Join { topic, reply }).await
    }

    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<(), P2pError> {
        self.ask(|reply| Command::Publish { topic, data, reply })
            .await
    }

    /// Every received message, once. A receiver must report a verdict on each.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Received>> {
        self.received.subscribe()
    }

    /// Gossipsub's manual validation. Dropped (and logged) if the task is too far behind: the
    /// message then expires unforwarded, which is the safe side.
    pub fn report(&self, receipt: &Receipt, verdict: Verdict) {
        let command = Command::Report {
            receipt: receipt.clone(),
            verdict,
        };
        if self.commands.try_send(command).is_err() {
            tracing::warn!(
                ?verdict,
                "verdict dropped: the peer network is busy or stopped"
            );
        }
    }

    /// Admitted peers connected now.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.shared
            .read()
            .map(|s| s.connected.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Admitted peers connected now, with why each was admitted.
    pub fn connections(&self) -> Vec<ConnectedPeer> {
        self.shared
            .read()
            .map(|s| s.connected.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Connected peers subscribed to `topic`: those a message published there reaches.
    pub fn topic_peers(&self, topic: &str) -> Vec<PeerId> {
        self.shared
            .read()
            .map(|s| {
                s.topics
                    .get(topic)
                    .map(|peers| peers.iter().copied().collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    pub fn peer_events(&self) -> broadcast::Receiver<PeerEvent> {
        self.peer_events.subscribe()
    }
}

/// The peer a bootstrap address names, and the address to dial without it.
pub fn split_peer(addr: &Multiaddr) -> Result<(PeerId, Multiaddr), P2pError> {
    let mut dial = addr.clone();
    match dial.pop() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => Ok((peer, dial)),
        _ => Err(P2pError::BootstrapAddress(addr.clone())),
    }
}

#[cfg(test)]
mod tests;

/// A publish's outcome as the engine sees it: no peer on the topic yet is not an error (the
/// re-sends reach whoever joins later).
pub(crate) fn published(result: Result<(), P2pError>) -> Result<(), crate::net::NetError> {
    match result {
        Err(P2pError::NoPeers(topic)) => {
            tracing::debug!(%topic, "published to no peer: none has joined the topic yet");
            Ok(())
        }
        Err(P2pError::Stopped) => Err(crate::net::NetError::Closed),
        Err(e) => Err(crate::net::NetError::Publish(e.to_string())),
        Ok(()) => Ok(()),
    }
}

/// The engine's view of the peer network.
#[async_trait::async_trait]
impl crate::net::BroadcastChannel for P2pNetwork {
    async fn join(&self, topic: &str) -> Result<(), crate::net::NetError> {
        P2pNetwork::join(self, topic.to_owned())
            .await
            .map_err(|e| crate::net::NetError::Publish(e.to_string()))
    }

    async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), crate::net::NetError> {
        published(P2pNetwork::publish(self, topic.to_owned(), data).await)
    }

    fn subscribe(&self) -> crate::net::MessageStream {
        P2pNetwork::subscribe(self)
    }

    fn report(&self, received: &Received, verdict: Verdict) {
        if let Some(receipt) = &received.receipt {
            P2pNetwork::report(self, receipt, verdict);
        }
    }

    fn connected_peers(&self) -> Option<Vec<PeerId>> {
        Some(P2pNetwork::connected_peers(self))
    }

    fn bootstrap_peers(&self) -> usize {
        self.bootstrap
    }
}
