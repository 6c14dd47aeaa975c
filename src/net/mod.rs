//! The broadcast channel of coordination messages, with signing and membership checks.
//! `local` is the in-process hub the devnet's nodes share.

pub mod local;
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
}
