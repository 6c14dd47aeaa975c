//! How a node lets its surroundings keep pace with its work. The engine reports when work
//! begins (a procedure, a delivered message), when the window watch has handled a block, and
//! parks a procedure through [`Pacing::until_block`]. Production nodes are [`Unpaced`]: the
//! calls cost nothing and a parked procedure simply waits for the head. The embedded devnet
//! hands its nodes a pacing that holds its simulated chain back until every node has handled
//! the last block, so no block time makes an honest leader look idle.

use std::any::Any;

use async_trait::async_trait;
use tokio::sync::watch;

/// One unit of work a pacing counts until it drops. Empty (and free) when nothing counts.
#[must_use = "the work is counted only while it lives"]
#[derive(Default)]
pub struct Work(Option<Box<dyn Any + Send>>);

impl Work {
    /// Work nothing counts.
    pub fn none() -> Work {
        Work(None)
    }

    /// Work counted for as long as `guard` lives.
    pub fn counted(guard: impl Any + Send) -> Work {
        Work(Some(Box::new(guard)))
    }

    /// Whether anything counts this work.
    pub fn is_counted(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_counted() {
            "Work(counted)"
        } else {
            "Work(none)"
        })
    }
}

/// What a node tells its pacing. Every method but [`Pacing::until_block`] defaults to doing
/// nothing.
#[async_trait]
pub trait Pacing: Send + Sync {
    /// Work begins here (a procedure about to run).
    fn begin(&self) -> Work {
        Work::none()
    }

    /// A message the sender counted on this node's behalf has arrived.
    fn adopt(&self) -> Work {
        Work::none()
    }

    /// `lost` messages counted on this node's behalf will never arrive.
    fn forget(&self, _lost: u64) {}

    /// The window watch has handled block `block`.
    fn handled(&self, _block: u64) {}

    /// Parks a procedure until block `block`, then counts it as working again. `head` is the
    /// node's head. `None` if the wait cannot end (the node is stopping).
    async fn until_block(&self, block: u64, head: &mut watch::Receiver<u64>) -> Option<Work>;
}

/// The production pacing: nothing is counted, and a parked procedure waits for the head.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpaced;

#[async_trait]
impl Pacing for Unpaced {
    async fn until_block(&self, block: u64, head: &mut watch::Receiver<u64>) -> Option<Work> {
        head.wait_for(|h| *h >= block)
            .await
            .ok()
            .map(|_| Work::none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unpaced_waits_for_the_head_and_counts_nothing() {
        let (tx, mut rx) = watch::channel(10u64);
        let pacing = Unpaced;
        assert!(!pacing.begin().is_counted());
        assert!(!pacing.adopt().is_counted());
        // Already reached: at once.
        let work = pacing.until_block(10, &mut rx).await;
        assert!(matches!(work, Some(w) if !w.is_counted()));
        // Not yet: only once the head gets there.
        let waiter = tokio::spawn(async move { pacing.until_block(12, &mut rx).await.is_some() });
        tx.send(11).unwrap();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        tx.send(12).unwrap();
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn unpaced_gives_up_when_the_head_is_gone() {
        let (tx, mut rx) = watch::channel(1u64);
        drop(tx);
        assert!(Unpaced.until_block(5, &mut rx).await.is_none());
    }

    #[test]
    fn counted_work_is_released_when_dropped() {
        let token = std::sync::Arc::new(());
        let work = Work::counted(token.clone());
        assert!(work.is_counted());
        assert_eq!(std::sync::Arc::strong_count(&token), 2);
        drop(work);
        assert_eq!(std::sync::Arc::strong_count(&token), 1);
    }
}
