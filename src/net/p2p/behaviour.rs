//! The composed libp2p behaviour (gossipsub with floodsub support, identify, ping, Kademlia
//! for discovery, connection limits) and the
//! gossipsub transform that keeps each message whole, signature included, for our own
//! validation: rust-libp2p's `Event::Message` drops `signature` and `key`.

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, DataTransform, MessageAuthenticity, TopicHash, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, ping};
use prost::Message;

use crate::net::pubsub::PubsubMessage;

/// keep-client leaves go-libp2p's identify protocol version at its default.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "ipfs/0.1.0";
/// go-libp2p-pubsub's seen-messages window.
pub const SEEN_FOR: Duration = Duration::from_secs(300);
/// At most 1 MiB per pubsub frame.
pub const MAX_TRANSMIT: usize = 1 << 20;
/// Messages queued per peer: keep-client's outbound queue of 256 (`libp2pPeerOutboundQueueSize`)
/// for what this node publishes, and as many for what it forwards. rust-libp2p's default, 5000,
/// allocates its forwarding half up front, about 0.6 MB per connected peer: 240 MB for the
/// 20-operator libp2p devnet's full mesh of 380 peerings.
pub const PEER_QUEUE: usize = 2 * 256;

/// Hands the application the whole message: the transformed `data` is the protobuf of the
/// [`PubsubMessage`]. Forwarding uses the raw message, so peers still get the original bytes.
#[derive(Default, Clone)]
pub struct KeepWhole;

impl DataTransform for KeepWhole {
    fn inbound_transform(
        &self,
        raw: gossipsub::RawMessage,
    ) -> Result<gossipsub::Message, std::io::Error> {
        let whole = PubsubMessage {
            from: raw.source.map(|p| p.to_bytes()),
            data: Some(raw.data),
            seqno: raw.sequence_number.map(|s| s.to_be_bytes().to_vec()),
            topic: Some(raw.topic.to_string()),
            signature: raw.signature,
            key: raw.key,
        };
        Ok(gossipsub::Message {
            source: raw.source,
            data: whole.encode_to_vec(),
            sequence_number: raw.sequence_number,
            topic: raw.topic,
        })
    }

    fn outbound_transform(
        &self,
        _topic: &TopicHash,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, std::io::Error> {
        Ok(data)
    }
}

/// The message id is `from ‖ seqno`, as go-libp2p-pubsub's default.
pub fn message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    let mut id = message.source.map(|p| p.to_bytes()).unwrap_or_default();
    if let Some(seqno) = message.sequence_number {
        id.extend_from_slice(&seqno.to_be_bytes());
    }
    gossipsub::MessageId::new(&id)
}

/// keep-client's connection manager keeps up to 900 connections; a peer needs one (two
/// while a simultaneous dial settles).
fn limits() -> ConnectionLimits {
    ConnectionLimits::default()
        .with_max_pending_incoming(Some(64))
        .with_max_pending_outgoing(Some(64))
        .with_max_established(Some(900))
        .with_max_established_per_peer(Some(4))
}

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub gossipsub: gossipsub::Behaviour<KeepWhole>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    /// `/ipfs/kad/1.0.0` in server mode, as keep-client runs it: how a node finds the other
    /// members of its wallets beyond the bootstrap peers (pubsub reaches only peers that
    /// are connected and subscribed).
    pub kad: Toggle<kad::Behaviour<MemoryStore>>,
}

impl Behaviour {
    pub fn new(keypair: &Keypair, discovery: bool) -> Result<Self, String> {
        let config = gossipsub::ConfigBuilder::default()
            .support_floodsub()
            .validation_mode(ValidationMode::Strict)
            .validate_messages()
            .message_id_fn(message_id)
            .duplicate_cache_time(SEEN_FOR)
            .max_transmit_size(MAX_TRANSMIT)
            .connection_handler_queue_len(PEER_QUEUE)
            .build()
            .map_err(|e| format!("gossipsub config: {e}"))?;
        let gossipsub = gossipsub::Behaviour::new_with_transform(
            MessageAuthenticity::Signed(keypair.clone()),
            config,
            KeepWhole,
        )
        .map_err(|e| format!("gossipsub: {e}"))?;
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.into(), keypair.public())
                .with_agent_version(format!("tbtc-coord/{}", env!("CARGO_PKG_VERSION"))),
        );
        let local = keypair.public().to_peer_id();
        let kad = discovery.then(|| {
            let mut kad = kad::Behaviour::with_config(
                local,
                MemoryStore::new(local),
                kad::Config::new(kad::PROTOCOL_NAME),
            );
            kad.set_mode(Some(kad::Mode::Server));
            kad
        });
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits()),
            gossipsub,
            identify,
            ping: ping::Behaviour::default(),
            kad: kad.into(),
        })
    }
}
