//! An in-process broadcast hub: every subscriber receives every message, its own included,
//! as it would on a real broadcast channel.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{BroadcastChannel, MessageStream, NetError};
use crate::protocol::SignedMessage;

#[derive(Clone)]
pub struct LocalHub {
    sender: broadcast::Sender<Arc<SignedMessage>>,
}

impl LocalHub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        LocalHub { sender }
    }

    /// How many subscribers a message sent now would reach.
    pub fn receiver_count(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Sends to every subscriber; returns how many it reached.
    pub fn publish(&self, message: SignedMessage) -> usize {
        // No subscriber is not an error: nobody is listening yet.
        self.sender.send(Arc::new(message)).unwrap_or(0)
    }
}

#[async_trait]
impl BroadcastChannel for LocalHub {
    async fn send(&self, message: SignedMessage) -> Result<(), NetError> {
        self.publish(message);
        Ok(())
    }

    fn subscribe(&self) -> MessageStream {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_gets_every_message() {
        let hub = LocalHub::new(8);
        let mut a = hub.subscribe();
        let mut b = hub.subscribe();
        let m = SignedMessage {
            body: vec![1, 2],
            signature: vec![0; 65],
        };
        assert_eq!(hub.receiver_count(), 2);
        hub.send(m.clone()).await.unwrap();
        assert_eq!(*a.recv().await.unwrap(), m);
        assert_eq!(*b.recv().await.unwrap(), m);
        drop(b);
        assert_eq!(
            hub.publish(m),
            1,
            "a message reaches the subscribers there are"
        );
    }
}
