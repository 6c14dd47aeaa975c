//! The broadcast channel of coordination messages: keep-client's envelopes (`envelope`) in
//! StrictSign pubsub messages (`pubsub`), over libp2p (`p2p`) or the in-process hub the
//! devnet's nodes share (`local`). Operator keys and peer IDs live in `signing`.

pub mod envelope;
pub mod local;
pub mod p2p;
pub mod pubsub;
pub mod signing;

use std::sync::Arc;

use async_trait::async_trait;
use libp2p::identity::PeerId;
use tokio::sync::broadcast;

use pubsub::PubsubMessage;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("broadcast channel closed")]
    Closed,
    #[error("this node has no operator key to sign with")]
    NoKey,
    #[error("publishing failed: {0}")]
    Publish(String),
}

/// A pubsub message as it arrived, with what the transport needs to hear our verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message: PubsubMessage,
    /// `None` on the in-process hub, which has nothing to forward.
    pub receipt: Option<Receipt>,
}

/// Names a received message to the transport that delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: Vec<u8>,
    pub propagation_source: PeerId,
}

/// What the router made of a message: forwarded to other peers only if accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Invalid: not forwarded, and the peer that sent it is penalised.
    Reject,
    /// Valid but unwanted here (a copy, another wallet, a stale window): not forwarded.
    Ignore,
}

/// Where received messages come from. Lagging receivers skip ahead (`Lagged`).
pub type MessageStream = broadcast::Receiver<Arc<Received>>;

/// A node's end of the broadcast channel shared by every member of every wallet.
#[async_trait]
pub trait BroadcastChannel: Send + Sync + 'static {
    /// Starts receiving `topic` (a wallet's coordination topic).
    async fn join(&self, _topic: &str) -> Result<(), NetError> {
        Ok(())
    }

    /// Publishes `data` on `topic`, signed by this node's operator key.
    async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetError>;

    fn subscribe(&self) -> MessageStream;

    /// Hands the router's verdict on a received message back to the transport.
    fn report(&self, _received: &Received, _verdict: Verdict) {}

    /// Whether messages reach the other members and theirs reach us. A node on a channel
    /// that does not cannot judge leaders: silence would be its own deafness, not their
    /// idleness.
    fn reaches_peers(&self) -> bool {
        true
    }

    /// The peers connected now, or `None` where everyone is (the in-process hub).
    fn connected_peers(&self) -> Option<Vec<PeerId>> {
        None
    }

    /// How many bootstrap peers the transport was given (none but on a peer network).
    fn bootstrap_peers(&self) -> usize {
        0
    }
}

/// A channel to nobody: what a node has when no peer transport is configured. It computes
/// everything and sends and hears nothing, and says so.
#[derive(Clone)]
pub struct Unconnected {
    hub: local::LocalHub,
}

impl Default for Unconnected {
    fn default() -> Self {
        Unconnected {
            hub: local::LocalHub::new(16),
        }
    }
}

#[async_trait]
impl BroadcastChannel for Unconnected {
    async fn publish(&self, _topic: &str, _data: Vec<u8>) -> Result<(), NetError> {
        Ok(())
    }

    fn subscribe(&self) -> MessageStream {
        self.hub.subscribe()
    }

    fn reaches_peers(&self) -> bool {
        false
    }

    fn connected_peers(&self) -> Option<Vec<PeerId>> {
        Some(Vec::new())
    }
}
