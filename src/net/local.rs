//! An in-process broadcast hub: every subscriber receives every message, its own included,
//! as it would on a real broadcast channel. Each node talks through its own
//! [`HubEndpoint`], which signs what it publishes exactly as libp2p's StrictSign does, so the
//! devnet's messages are the network's messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::pubsub::PubsubMessage;
use super::signing::OperatorKey;
use super::{BroadcastChannel, MessageStream, NetError, Received};

/// The first pubsub seqno of an endpoint. Like go-libp2p's clock seed its first byte is not
/// zero (js-libp2p drops such seqnos); unlike it, the devnet is deterministic.
const FIRST_SEQNO: u64 = 0x1800_0000_0000_0001;

#[derive(Clone)]
pub struct LocalHub {
    sender: broadcast::Sender<Arc<Received>>,
}

impl LocalHub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        LocalHub { sender }
    }

    /// A node's end of the hub, publishing as `key`.
    pub fn endpoint(&self, key: Option<OperatorKey>) -> HubEndpoint {
        HubEndpoint {
            hub: self.clone(),
            key,
            seqno: Arc::new(AtomicU64::new(FIRST_SEQNO)),
        }
    }

    /// How many subscribers a message sent now would reach.
    pub fn receiver_count(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Sends a pubsub message, as it is, to every subscriber; returns how many it reached.
    pub fn publish(&self, message: PubsubMessage) -> usize {
        // No subscriber is not an error: nobody is listening yet.
        self.sender
            .send(Arc::new(Received {
                message,
                receipt: None,
            }))
            .unwrap_or(0)
    }

    pub fn subscribe(&self) -> MessageStream {
        self.sender.subscribe()
    }
}

/// One node's end of a [`LocalHub`].
#[derive(Clone)]
pub struct HubEndpoint {
    hub: LocalHub,
    key: Option<OperatorKey>,
    seqno: Arc<AtomicU64>,
}

impl HubEndpoint {
    pub fn hub(&self) -> &LocalHub {
        &self.hub
    }

    /// The message `publish` would send next, signed.
    pub fn sign(&self, topic: &str, data: Vec<u8>) -> Result<PubsubMessage, NetError> {
        let key = self.key.as_ref().ok_or(NetError::NoKey)?;
        let seqno = self.seqno.fetch_add(1, Ordering::Relaxed);
        Ok(PubsubMessage::signed(key, topic, data, seqno))
    }
}

#[async_trait]
impl BroadcastChannel for HubEndpoint {
    async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetError> {
        let message = self.sign(topic, data)?;
        self.hub.publish(message);
        Ok(())
    }

    fn subscribe(&self) -> MessageStream {
        self.hub.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_gets_every_message_signed_by_its_author() {
        let hub = LocalHub::new(8);
        let key = OperatorKey::from_secret(&[4; 32]).unwrap();
        let endpoint = hub.endpoint(Some(key.clone()));
        let mut a = hub.subscribe();
        let mut b = endpoint.subscribe();
        assert_eq!(hub.receiver_count(), 2);
        endpoint.publish("topic", vec![1, 2]).await.unwrap();
        let got = a.recv().await.unwrap();
        assert_eq!(*b.recv().await.unwrap(), *got);
        assert_eq!(got.message.verify().unwrap().address, key.address());
        assert_eq!(got.message.data(), &[1, 2]);
        assert_eq!(
            got.message.seqno.as_deref(),
            Some(&FIRST_SEQNO.to_be_bytes()[..])
        );
        drop(b);
        assert_eq!(
            hub.publish(got.message.clone()),
            1,
            "a message reaches the subscribers there are"
        );
        assert_eq!(
            hub.endpoint(None).publish("topic", vec![]).await,
            Err(NetError::NoKey)
        );
    }
}
