//! Back-pressure for the devnet: an activity gauge shared by every in-process node, so the
//! simulated chain mines a block only once every node has handled the previous one. Work
//! holds an [`ActivityGuard`] from the moment it exists until it is handled (a block until a
//! node's window watch has dealt with it, a hub message until a router has routed or dropped
//! it and a follower has classified it, a procedure until it parks); the producer waits for
//! the gauge to reach zero. This is the rule paused-clock tests get from tokio for free, made
//! explicit so that no block time, however short, makes an honest leader look idle.
//! Each node's share, a [`Pace`], is the engine's [`Pacing`] for that node; production nodes
//! are unpaced and pay nothing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use async_trait::async_trait;
use tokio::sync::{oneshot, watch, Notify};

use super::chain::BlockGate;
use crate::engine::pacing::{Pacing, Work};

/// The gauge: a count of work in flight and the last block each node has handled.
#[derive(Debug, Default)]
pub struct Activity {
    busy: AtomicUsize,
    nodes: Mutex<Vec<Weak<NodeState>>>,
    changed: Notify,
}

/// One unit of work, counted until dropped.
#[must_use = "the work is counted only while the guard lives"]
pub struct ActivityGuard {
    activity: Arc<Activity>,
}

impl std::fmt::Debug for ActivityGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActivityGuard")
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.activity.release(1);
    }
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity::default())
    }

    /// Work in flight.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// Counts one unit of work until the guard drops.
    pub fn begin(self: &Arc<Self>) -> ActivityGuard {
        self.add(1);
        ActivityGuard {
            activity: self.clone(),
        }
    }

    /// Counts `n` units that their receivers will [`adopt`](Activity::adopt) one by one (a
    /// message sent to `n` subscribers).
    pub fn add(&self, n: usize) {
        self.busy.fetch_add(n, Ordering::AcqRel);
    }

    /// Takes over one unit counted by [`add`](Activity::add).
    pub fn adopt(self: &Arc<Self>) -> ActivityGuard {
        ActivityGuard {
            activity: self.clone(),
        }
    }

    /// Drops `n` counted units that will never be adopted (a receiver that lagged past them).
    pub fn forget(&self, n: usize) {
        self.release(n);
    }

    fn release(&self, n: usize) {
        // Saturating: a unit released twice (a receiver that subscribed between count and
        // send) must not wrap the gauge to "busy forever".
        let before = self
            .busy
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(n))
            })
            .unwrap_or(0);
        if before <= n {
            self.changed.notify_waiters();
        }
    }

    /// Registers a node whose window watch must handle every block after `head`.
    pub fn join(self: &Arc<Self>, head: u64) -> Pace {
        let state = Arc::new(NodeState {
            handled: AtomicU64::new(head),
            alarms: Mutex::new(Vec::new()),
        });
        lock(&self.nodes).push(Arc::downgrade(&state));
        Pace {
            activity: self.clone(),
            state,
        }
    }

    /// Whether nothing is in flight and every live node has handled `head`.
    pub fn is_settled(&self, head: u64) -> bool {
        if self.busy() > 0 {
            return false;
        }
        let mut nodes = lock(&self.nodes);
        // A node that has stopped holds nothing back.
        nodes.retain(|n| n.strong_count() > 0);
        nodes
            .iter()
            .filter_map(Weak::upgrade)
            .all(|n| n.handled.load(Ordering::Acquire) >= head)
    }

    /// Waits until nothing is in flight and every live node has handled `head`.
    pub async fn settled(&self, head: u64) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a change in between is not missed.
            changed.as_mut().enable();
            if self.is_settled(head) {
                return;
            }
            changed.await;
        }
    }
}

#[async_trait]
impl BlockGate for Activity {
    async fn ready(&self, head: u64) {
        self.settled(head).await;
    }
}

/// A gate for a devnet whose wire can lose what it was counted to deliver (real sockets): it
/// waits for the gauge as [`Activity`] does, but at most `patience`, then writes the missing
/// units off with a warning and lets the block through. Without it, one lost message would
/// stop the chain for good.
pub struct Patient {
    pub activity: Arc<Activity>,
    pub patience: std::time::Duration,
}

#[async_trait]
impl BlockGate for Patient {
    async fn ready(&self, head: u64) {
        let settled = self.activity.settled(head);
        if tokio::time::timeout(self.patience, settled).await.is_err() {
            let lost = self.activity.busy();
            tracing::warn!(
                block = head,
                units = lost,
                "devnet: work still counted after {:?}; writing it off and mining on",
                self.patience
            );
            self.activity.forget(lost);
        }
    }
}

#[derive(Debug)]
struct NodeState {
    handled: AtomicU64,
    /// Procedures parked until a block: (block, where to hand their guard).
    alarms: Mutex<Vec<(u64, oneshot::Sender<ActivityGuard>)>>,
}

/// One node's share of an [`Activity`]. Every node has its own (see [`Activity::join`]).
#[derive(Debug, Clone)]
pub struct Pace {
    activity: Arc<Activity>,
    state: Arc<NodeState>,
}

impl Pace {
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    pub fn begin(&self) -> ActivityGuard {
        self.activity.begin()
    }

    pub fn adopt(&self) -> ActivityGuard {
        self.activity.adopt()
    }

    pub fn forget(&self, n: usize) {
        self.activity.forget(n);
    }

    /// The last block this node's window watch has handled.
    pub fn handled_block(&self) -> u64 {
        self.state.handled.load(Ordering::Acquire)
    }

    /// This node's window watch has handled `block`. Procedures parked until it wake holding
    /// a guard, so the next block waits for what they do next.
    pub fn handled(&self, block: u64) {
        {
            let mut alarms = lock(&self.state.alarms);
            let mut i = 0;
            while i < alarms.len() {
                if alarms[i].0 <= block {
                    let (_, wake) = alarms.swap_remove(i);
                    // A waiter that is gone hands the guard back, and it drops here.
                    let _ = wake.send(self.activity.begin());
                } else {
                    i += 1;
                }
            }
            self.state.handled.fetch_max(block, Ordering::AcqRel);
        }
        self.activity.changed.notify_waiters();
    }

    /// Waits until this node's window watch has handled `block`, then counts the caller as
    /// working again. `None` if the node is gone.
    pub async fn until_block(&self, block: u64) -> Option<ActivityGuard> {
        let wake = {
            let mut alarms = lock(&self.state.alarms);
            if self.state.handled.load(Ordering::Acquire) >= block {
                return Some(self.activity.begin());
            }
            let (tx, rx) = oneshot::channel();
            alarms.push((block, tx));
            rx
        };
        wake.await.ok()
    }
}

#[async_trait]
impl Pacing for Pace {
    fn begin(&self) -> Work {
        Work::counted(Pace::begin(self))
    }

    fn adopt(&self) -> Work {
        Work::counted(Pace::adopt(self))
    }

    fn forget(&self, lost: u64) {
        Pace::forget(self, usize::try_from(lost).unwrap_or(usize::MAX));
    }

    fn handled(&self, block: u64) {
        Pace::handled(self, block);
    }

    /// Waits for this node's window watch, not the head: a procedure wakes counted the
    /// moment its block is handled, before the chain can mine the next one.
    async fn until_block(&self, block: u64, _head: &mut watch::Receiver<u64>) -> Option<Work> {
        Pace::until_block(self, block).await.map(Work::counted)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a short step that leaves the data whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_until_dropped_and_adoption_takes_over_added_units() {
        let activity = Activity::new();
        assert_eq!(activity.busy(), 0);
        let a = activity.begin();
        let b = activity.begin();
        assert_eq!(activity.busy(), 2);
        drop(a);
        assert_eq!(activity.busy(), 1);
        // A message to three subscribers: counted once per subscriber, adopted by each.
        activity.add(3);
        let adopted: Vec<_> = (0..2).map(|_| activity.adopt()).collect();
        activity.forget(1);
        assert_eq!(activity.busy(), 3);
        drop(adopted);
        drop(b);
        assert_eq!(activity.busy(), 0);
        // Never below zero.
        activity.forget(5);
        assert_eq!(activity.busy(), 0);
        assert!(activity.is_settled(0));
    }

    #[tokio::test]
    async fn settled_waits_for_every_node_and_for_the_last_guard() {
        let activity = Activity::new();
        let a = activity.join(10);
        let b = activity.join(10);
        assert!(activity.is_settled(10));
        assert!(!activity.is_settled(11), "no node has handled block 11");
        let guard = activity.begin();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.settled(11).await })
        };
        a.handled(11);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished() && !activity.is_settled(11));
        b.handled(11);
        assert!(!activity.is_settled(11), "a guard is still out");
        drop(guard);
        waiter.await.unwrap();
        // A node that stops holds nothing back.
        drop(b);
        a.handled(12);
        assert!(activity.is_settled(12));
    }

    #[tokio::test(start_paused = true)]
    async fn a_patient_gate_waits_for_the_gauge_then_writes_lost_work_off() {
        let activity = Activity::new();
        let _node = activity.join(10);
        let gate = Patient {
            activity: activity.clone(),
            patience: std::time::Duration::from_secs(2),
        };
        // Settled: through at once, on a paused clock that has not moved.
        let start = tokio::time::Instant::now();
        gate.ready(10).await;
        assert_eq!(start.elapsed(), std::time::Duration::ZERO);
        // Work adopted and finished in time: through when it is done, nothing written off.
        activity.add(1);
        let adopted = activity.adopt();
        let released = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            drop(adopted);
        });
        gate.ready(10).await;
        released.await.unwrap();
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(1));
        // Counted for a receiver that never gets it: through after the patience, written off.
        activity.add(3);
        gate.ready(10).await;
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(3));
        assert_eq!(activity.busy(), 0);
        assert!(activity.is_settled(10));
    }

    #[tokio::test]
    async fn a_procedure_parked_until_a_block_wakes_counted() {
        let activity = Activity::new();
        let pace = activity.join(10);
        let parked = {
            let pace = pace.clone();
            tokio::spawn(async move { pace.until_block(12).await })
        };
        tokio::task::yield_now().await;
        pace.handled(11);
        assert!(activity.is_settled(11), "parked work is not work");
        pace.handled(12);
        assert!(!activity.is_settled(12), "the woken procedure counts");
        let guard = parked.await.unwrap();
        assert!(guard.is_some());
        drop(guard);
        assert!(activity.is_settled(12));
        // Already past: counted at once.
        let now = pace.until_block(5).await;
        assert_eq!(activity.busy(), 1);
        drop(now);
        // A waiter that gave up leaves nothing counted.
        let gone = {
            let pace = pace.clone();
            tokio::spawn(async move { pace.until_block(20).await })
        };
        tokio::task::yield_now().await;
        gone.abort();
        let _ = gone.await;
        pace.handled(20);
        assert_eq!(activity.busy(), 0);
    }
}
