//! The task that owns the swarm: builds the transport, binds the listeners, keeps the
//! bootstrap peers dialled, and turns swarm events into [`Received`] messages and
//! [`PeerEvent`]s. Nothing a peer sends may end it; only `cancel` does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use libp2p::core::transport::upgrade::Version;
use libp2p::core::Transport as _;
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, PublishError};
use libp2p::identity::{Keypair, PeerId};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{Swarm, SwarmEvent};
use libp2p::{dns, identify, tcp, yamux, Multiaddr};
use prost::Message;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::behaviour::{Behaviour, BehaviourEvent, MAX_TRANSMIT};
use super::firewall::{self, Allowlist, Firewall, Gate, Refused};
use super::redial::Redial;
use super::upgrade::{KeepHandshake, Reasons};
use super::{
    Command, ConnectedPeer, P2pConfig, P2pError, PeerEvent, Receipt, Received, Shared, Verdict,
};
use crate::net::pubsub::PubsubMessage;

/// An upper bound on what a published message's frame adds to its data and topic: the
/// author (41 bytes), seqno (10), signature (at most 74), field tags and lengths, and the RPC
/// around it.
const FRAME_OVERHEAD: usize = 256;

/// Time for TCP, TLS, the acts, the firewall and the muxer together.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(20);
/// Pubsub peers are quiet for long stretches; they should stay connected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

pub(crate) struct Channels {
    pub commands: mpsc::Receiver<Command>,
    pub received: broadcast::Sender<Arc<Received>>,
    pub peer_events: broadcast::Sender<PeerEvent>,
    pub shared: Arc<RwLock<Shared>>,
}

/// A bootstrap peer: where to dial it, and when.
struct Bootstrap {
    addr: Multiaddr,
    redial: Redial,
}

pub(crate) struct Task {
    swarm: Swarm<Behaviour>,
    channels: Channels,
    commands_open: bool,
    bootstrap: HashMap<PeerId, Bootstrap>,
    gate: Arc<dyn Firewall>,
    reasons: Reasons,
}

fn setup(e: impl std::fmt::Display) -> P2pError {
    P2pError::Setup(e.to_string())
}

/// libp2p's TCP listeners set SO_REUSEPORT, so a second node on a taken port would bind and
/// silently share its connections. A plain bind first (no SO_REUSEPORT) finds the port taken.
fn probe(addr: &Multiaddr) -> Result<(), P2pError> {
    let mut ip = None;
    let mut port = None;
    for part in addr.iter() {
        match part {
            Protocol::Ip4(v4) => ip = Some(std::net::IpAddr::V4(v4)),
            Protocol::Ip6(v6) => ip = Some(std::net::IpAddr::V6(v6)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind((ip, port)) {
        Ok(_) => Ok(()),
        Err(e) => Err(P2pError::Listen {
            addr: addr.clone(),
            reason: if e.kind() == std::io::ErrorKind::AddrInUse {
                format!("port in use ({e})")
            } else {
                e.to_string()
            },
        }),
    }
}

impl Task {
    pub async fn build(
        keypair: Keypair,
        config: P2pConfig,
        channels: Channels,
    ) -> Result<Task, P2pError> {
        let local = keypair.public().to_peer_id();
        let mut bootstrap = HashMap::new();
        for addr in &config.peers {
            let (peer, dial) = super::split_peer(addr)?;
            bootstrap.insert(
                peer,
                Bootstrap {
                    addr: dial,
                    redial: Redial::now(),
                },
            );
        }
        let allow: HashSet<PeerId> = config
            .allow
            .iter()
            .copied()
            .chain(bootstrap.keys().copied())
            .collect();
        let gate: Arc<dyn Firewall> = Arc::new(Gate {
            allow: Allowlist(allow),
            rules: config.firewall.clone(),
        });
        let reasons = Reasons::default();
        let handshake = KeepHandshake::new(keypair.clone(), gate.clone())
            .map_err(setup)?
            .with_hooks(channels.peer_events.clone(), reasons.clone());

        let tcp = || tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
        let resolving = dns::tokio::Transport::system(tcp()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "no system DNS configuration; using defaults");
            dns::tokio::Transport::custom(tcp(), Default::default(), Default::default())
        });
        let transport = resolving
            .upgrade(Version::V1)
            .authenticate(handshake)
            .multiplex(yamux::Config::default())
            .timeout(UPGRADE_TIMEOUT)
            .boxed();
        let mut behaviour = Behaviour::new(&keypair, config.discovery).map_err(P2pError::Setup)?;
        if let Some(kad) = behaviour.kad.as_mut() {
            for (peer, entry) in &bootstrap {
                kad.add_address(peer, entry.addr.clone());
            }
        }
        let mut swarm = Swarm::new(
            transport,
            behaviour,
            local,
            libp2p::swarm::Config::with_tokio_executor().with_idle_connection_timeout(IDLE_TIMEOUT),
        );

        let mut pending = HashSet::new();
        for addr in &config.listen {
            probe(addr)?;
            let id = swarm.listen_on(addr.clone()).map_err(|e| {
                let detail = format!("{e:?}");
                let reason = if detail.contains("AddrInUse") {
                    format!("port in use ({e})")
                } else {
                    e.to_string()
                };
                P2pError::Listen {
                    addr: addr.clone(),
                    reason,
                }
            })?;
            pending.insert(id);
        }
        let mut task = Task {
            swarm,
            channels,
            commands_open: true,
            bootstrap,
            gate,
            reasons,
        };
        // Wait until every listener has an address, so `listen_addrs` is complete at start.
        while !pending.is_empty() {
            match task.swarm.select_next_some().await {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    pending.remove(&listener_id);
                    task.add_listen_addr(address);
                }
                SwarmEvent::ListenerClosed { listener_id, .. }
                | SwarmEvent::ListenerError { listener_id, .. }
                    if pending.contains(&listener_id) =>
                {
                    return Err(P2pError::Listen {
                        addr: config.listen[0].clone(),
                        reason: "the listener closed before it was bound".into(),
                    });
                }
                other => task.on_swarm(other),
            }
        }
        Ok(task)
    }

    /// Runs the swarm until `cancel` fires; its helpers (the firewall's re-check) go on
    /// `tasks`.
    pub async fn run(mut self, cancel: CancellationToken, tasks: TaskTracker) {
        let (refused_tx, mut refused_rx) = mpsc::channel(64);
        let shared = self.channels.shared.clone();
        tasks.spawn(firewall::recheck(
            self.gate.clone(),
            move || {
                shared
                    .read()
                    .map(|s| s.connected.keys().copied().collect())
                    .unwrap_or_default()
            },
            refused_tx,
            cancel.child_token(),
        ));
        loop {
            self.redial_due();
            let next = self.bootstrap.values().filter_map(|b| b.redial.due()).min();
            tokio::select! {
                _ = cancel.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm(event),
                command = self.channels.commands.recv(), if self.commands_open => match command {
                    Some(command) => self.on_command(command),
                    None => self.commands_open = false,
                },
                Some((peer, refused)) = refused_rx.recv() => self.drop_refused(peer, refused),
                _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
            }
        }
        tracing::debug!("peer network stopped");
    }

    fn emit(&self, event: PeerEvent) {
        let _ = self.channels.peer_events.send(event);
    }

    fn add_listen_addr(&self, address: Multiaddr) {
        tracing::info!(%address, "listening");
        if let Ok(mut shared) = self.channels.shared.write() {
            if !shared.listen_addrs.contains(&address) {
                shared.listen_addrs.push(address);
            }
        }
    }

    fn redial_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .bootstrap
            .iter()
            .filter(|(_, b)| b.redial.is_due(now))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            let Some(entry) = self.bootstrap.get_mut(&peer) else {
                continue;
            };
            entry.redial.dialing();
            let addr = entry.addr.clone();
            let opts = DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.swarm.dial(opts) {
                Ok(()) => self.emit(PeerEvent::Dialing { peer, addr }),
                Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "cannot dial bootstrap peer");
                    self.backoff(&peer);
                }
            }
        }
    }

    /// Schedules the next dial of a disconnected bootstrap peer and doubles its delay.
    fn backoff(&mut self, peer: &PeerId) {
        if self.swarm.is_connected(peer) {
            return;
        }
        if let Some(entry) = self.bootstrap.get_mut(peer) {
            entry.redial.failed(Instant::now());
        }
    }

    fn drop_refused(&mut self, peer: PeerId, refused: Refused) {
        self.emit(PeerEvent::Refused {
            peer,
            reason: refused.0,
        });
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn on_command(&mut self, command: Command) {
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        match command {
            Command::Join { topic, reply } => {
                let result = gossipsub
                    .subscribe(&IdentTopic::new(topic.clone()))
                    .map(|_| ())
                    .map_err(|e| P2pError::Join {
                        topic,
                        reason: e.to_string(),
                    });
                let _ = reply.send(result);
            }
            Command::Publish { topic, data, reply } => {
                // gossipsub checks only the data against its limit, so a message just under
                // it would go out in a frame over it, which every receiver refuses.
                if data.len() + topic.len() + FRAME_OVERHEAD > MAX_TRANSMIT {
                    let _ = reply.send(Err(P2pError::Publish(format!(
                        "{} bytes do not fit a pubsub frame of at most {MAX_TRANSMIT} bytes",
                        data.len()
                    ))));
                    return;
                }
                let result = match gossipsub.publish(IdentTopic::new(topic.clone()), data) {
                    Ok(_) => Ok(()),
                    Err(PublishError::NoPeersSubscribedToTopic) => Err(P2pError::NoPeers(topic)),
                    Err(e) => Err(P2pError::Publish(e.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::Report { receipt, verdict } => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject => MessageAcceptance::Reject,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                };
                gossipsub.report_message_validation_result(
                    &MessageId::new(&receipt.message_id),
                    &receipt.propagation_source,
                    acceptance,
                );
            }
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossipsub(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                // Peers that serve the DHT go into the routing table under the addresses
                // they listen on; that is how the others learn of them.
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    if info.protocols.contains(&libp2p::kad::PROTOCOL_NAME) {
                        for addr in info.listen_addrs {
                            kad.add_address(&peer_id, addr);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                tracing::trace!(?event, "identify");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => {
                tracing::trace!(?event, "kademlia");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(libp2p::ping::Event {
                peer,
                result: Ok(rtt),
                ..
            })) => self.emit(PeerEvent::Ping { peer, rtt }),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                tracing::trace!(?event, "ping failed");
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                let reason = self.reasons.take(&peer_id);
                let bootstrap = match self.bootstrap.get_mut(&peer_id) {
                    Some(entry) => {
                        entry.redial.connected();
                        true
                    }
                    None => false,
                };
                if num_established.get() == 1 {
                    let admitted = reason.unwrap_or_else(|| "admitted".into());
                    tracing::info!(peer = %peer_id, %admitted, "peer connected");
                    if let Ok(mut shared) = self.channels.shared.write() {
                        let connected = ConnectedPeer {
                            peer: peer_id,
                            admitted: admitted.clone(),
                            bootstrap,
                        };
                        shared.connected.insert(peer_id, connected);
                    }
                    self.emit(PeerEvent::Connected {
                        peer: peer_id,
                        admitted,
                        bootstrap,
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                tracing::info!(peer = %peer_id, ?cause, "peer disconnected");
                if let Ok(mut shared) = self.channels.shared.write() {
                    shared.connected.remove(&peer_id);
                    for peers in shared.topics.values_mut() {
                        peers.remove(&peer_id);
                    }
                }
                self.emit(PeerEvent::Disconnected { peer: peer_id });
                self.backoff(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "outgoing connection failed");
                self.backoff(&peer);
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => {
                tracing::debug!(%send_back_addr, %error, "incoming connection failed");
            }
            SwarmEvent::NewListenAddr { address, .. } => self.add_listen_addr(address),
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                if let Ok(mut shared) = self.channels.shared.write() {
                    shared.listen_addrs.retain(|a| a != &address);
                }
            }
            _ => {}
        }
    }

    fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let receipt = Receipt {
                    message_id: message_id.0,
                    propagation_source,
                };
                let Ok(message) = PubsubMessage::decode(message.data.as_slice()) else {
                    // Our own transform wrote it, so this does not happen; drop it anyway.
                    self.reject(&receipt, MessageAcceptance::Ignore);
                    return;
                };
                let received = Arc::new(Received {
                    message,
                    receipt: Some(receipt.clone()),
                });
                if self.channels.received.send(received).is_err() {
                    // Nobody listens: nobody will judge it, so it is not forwarded.
                    self.reject(&receipt, MessageAcceptance::Ignore);
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if let Ok(mut shared) = self.channels.shared.write() {
                    let peers = shared.topics.entry(topic.as_str().to_owned()).or_default();
                    peers.insert(peer_id);
                }
                self.emit(PeerEvent::Joined {
                    peer: peer_id,
                    topic: topic.into_string(),
                });
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                if let Ok(mut shared) = self.channels.shared.write() {
                    if let Some(peers) = shared.topics.get_mut(topic.as_str()) {
                        peers.remove(&peer_id);
                    }
                }
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                tracing::debug!(peer = %peer_id, "peer speaks neither gossipsub nor floodsub");
            }
            other => tracing::trace!(?other, "gossipsub"),
        }
    }

    fn reject(&mut self, receipt: &Receipt, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(
                &MessageId::new(&receipt.message_id),
                &receipt.propagation_source,
                acceptance,
            );
    }
}
