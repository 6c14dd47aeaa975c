//! The broadcast channel of coordination messages, with signing and membership checks.
//! `local` is the in-process hub the devnet's nodes share.

pub mod local;
pub mod p2p;
pub mod signing;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::protocol::SignedMessage;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("broadcast channel closed")]
    Closed,
}

/// Where raw signed messages come from. Lagging receivers skip ahead (`Lagged`).
pub type MessageStream = broadcast::Receiver<std::sync::Arc<SignedMessage>>;

/// A broadcast channel shared by every member of every wallet.
#[async_trait]
pub trait BroadcastChannel: Send + Sync + 'static {
    async fn send(&self, message: SignedMessage) -> Result<(), NetError>;
    fn subscribe(&self) -> MessageStream;

    /// Whether messages reach the other members and theirs reach us. A node on a channel
    /// that does not cannot judge leaders: silence would be its own deafness, not their
    /// idleness.
    fn reaches_peers(&self) -> bool {
        true
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
    async fn send(&self, _message: SignedMessage) -> Result<(), NetError> {
        Ok(())
    }

    fn subscribe(&self) -> MessageStream {
        self.hub.subscribe()
    }

    fn reaches_peers(&self) -> bool {
        false
    }
}
