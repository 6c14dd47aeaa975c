//! The event bus: a node's events, in order, to any number of subscribers. It keeps the
//! [`NodeSnapshot`] of everything published, folded under the same lock as the send, so a
//! subscriber can start from a snapshot with no event missed or seen twice, and one that
//! lags behind the broadcast buffer can start over from the snapshot.

use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use super::events::Event;
use super::snapshot::NodeSnapshot;

/// The broadcast bus plus the snapshot it maintains. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    snapshot: Arc<RwLock<NodeSnapshot>>,
}

/// Broadcast buffer: large enough for a window of a thousand wallets' events.
pub const EVENT_BUS_CAPACITY: usize = 16_384;

impl Default for EventBus {
    fn default() -> Self {
        Self::new(EVENT_BUS_CAPACITY)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        EventBus {
            sender,
            snapshot: Arc::new(RwLock::new(NodeSnapshot::default())),
        }
    }

    /// Folds the event into the snapshot, then broadcasts it. The snapshot is updated first
    /// so a subscriber that resyncs after `Lagged` never sees less than it was sent.
    pub fn publish(&self, event: Event) {
        // Sending under the lock keeps the broadcast order and the snapshot order the same
        // when several tasks publish at once.
        let mut snapshot = match self.snapshot.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        snapshot.apply(&event);
        // No subscriber is fine: nobody is watching.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// A new receiver and the snapshot of everything published before it, taken together:
    /// no event is in both, and none falls between them.
    pub fn subscribe_with_snapshot(&self) -> (broadcast::Receiver<Event>, NodeSnapshot) {
        // `publish` folds and sends under the write lock, so nothing is published while
        // the read lock is held.
        let snapshot = match self.snapshot.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        (self.sender.subscribe(), snapshot.clone())
    }

    pub fn snapshot(&self) -> NodeSnapshot {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::tests::block;

    #[tokio::test]
    async fn a_subscriber_with_its_snapshot_misses_nothing_and_sees_nothing_twice() {
        let bus = EventBus::new(16);
        for n in 1..=10 {
            bus.publish(block(n));
        }
        // The snapshot holds exactly what came before the subscription; the receiver
        // starts with the next event.
        let (mut rx, snapshot) = bus.subscribe_with_snapshot();
        assert_eq!(snapshot.head.map(|h| h.number), Some(10));
        bus.publish(block(11));
        assert!(matches!(rx.recv().await, Ok(Event::Block { block }) if block.number == 11));

        // A subscriber that lags is told how much it missed, and the bus's snapshot already
        // holds all of it: what the console and the printer resync from.
        for n in 12..=100 {
            bus.publish(block(n));
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        let resync = bus.snapshot();
        assert_eq!(resync.head.map(|h| h.number), Some(100));
        assert_eq!(resync, {
            let fresh = EventBus::new(16);
            for n in 1..=100 {
                fresh.publish(block(n));
            }
            fresh.snapshot()
        });
    }
}
