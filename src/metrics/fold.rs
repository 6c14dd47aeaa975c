//! The fold: engine events, in the order the bus published them, into the registry's counters
//! and gauges, and the task that follows the bus. A subscriber that lags resyncs its gauges
//! from the bus's snapshot rather than guessing what it missed.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::registry::label;
use super::state::{Metrics, MetricsOptions, State};
use crate::engine::Event;
use crate::protocol::FaultType;

/// Moves a counter up to `total` (never down).
fn raise_to(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

impl Metrics {
    /// Folds one event, seen at `now`.
    pub fn apply(&self, event: &Event, now: Instant) {
        self.lock().apply(event, now, &self.options);
    }

    /// A lagging subscriber lost `n` events: counted, and the gauges re-read from the
    /// bus's snapshot.
    fn resync(&self, lost: u64, now: Instant) {
        let snapshot = self.bus.snapshot();
        let mut state = self.lock();
        state.m.events_lost.inc_by(lost);
        if let Some(head) = snapshot.head {
            if state.head.as_ref().map(|(b, _)| b.number) != Some(head.number) {
                state.head = Some((head, now));
                state.m.head_block.set(head.number as i64);
            }
        }
        state.m.connected_peers.set(snapshot.peers_connected as i64);
    }
}

impl State {
    fn apply(&mut self, event: &Event, now: Instant, options: &MetricsOptions) {
        let m = &self.m;
        match event {
            Event::NodeStarted {
                chain,
                operator,
                wallets,
                ..
            } => {
                self.chain = chain.clone();
                self.operator = Some(*operator);
                m.wallets.set(wallets.len() as i64);
                if let Some(own) = self.history_faults.iter().find(|s| s.operator == *operator) {
                    for f in FaultType::ALL {
                        raise_to(
                            &m.own_faults.get_or_create(&label("fault", f.name())),
                            own.count(f),
                        );
                    }
                }
            }
            Event::Block { block } => {
                m.head_block.set(block.number as i64);
                self.head = Some((*block, now));
            }
            Event::WindowStarted {
                coordination_block,
                late,
                ..
            } => {
                m.windows_started.inc();
                if *late {
                    m.windows_late.inc();
                }
                m.last_window.set(*coordination_block as i64);
                self.history_error = None;
                // Procedures of older windows that never reported are forgotten.
                self.procedures
                    .retain(|(_, cb), _| cb >= coordination_block);
            }
            Event::WindowMissed {
                coordination_block, ..
            } => {
                m.windows_missed.inc();
                m.last_window.set(*coordination_block as i64);
                self.history_error = None;
            }
            Event::WindowCompleted { .. } => {
                m.windows_completed.inc();
                self.history_error = None;
            }
            Event::WindowInterrupted { .. } => {
                m.windows_interrupted.inc();
            }
            Event::ExecutorStarted {
                wallet,
                coordination_block,
                ..
            } => {
                self.procedures.insert((*wallet, *coordination_block), now);
            }
            Event::ExecutorFailed {
                wallet,
                coordination_block,
                ..
            } => {
                m.executor_failures.inc();
                self.procedures.remove(&(*wallet, *coordination_block));
            }
            Event::CoordinationResult(r) => {
                m.results
                    .get_or_create(&label("action", r.action.name()))
                    .inc();
                for refusal in &r.refusals {
                    m.candidates_refused
                        .get_or_create(&label("action", refusal.action.name()))
                        .inc();
                }
                if let Some(started) = self.procedures.remove(&(r.wallet, r.coordination_block)) {
                    m.coordination_duration
                        .observe(now.saturating_duration_since(started).as_secs_f64());
                }
                self.history_error = None;
            }
            Event::Fault { culprit, fault, .. } => {
                m.faults.get_or_create(&label("fault", fault.name())).inc();
                if Some(*culprit) == self.operator {
                    m.own_faults
                        .get_or_create(&label("fault", fault.name()))
                        .inc();
                }
            }
            Event::ProposalDispatched { .. } => {
                m.dispatches
                    .get_or_create(&label("outcome", "dispatched"))
                    .inc();
                self.history_error = None;
            }
            Event::DispatchRejected { .. } => {
                m.dispatches
                    .get_or_create(&label("outcome", "rejected"))
                    .inc();
                self.history_error = None;
            }
            Event::ActionFinished { outcome, .. } => {
                m.dispatches
                    .get_or_create(&label("outcome", outcome.name()))
                    .inc();
                self.history_error = None;
            }
            Event::ActionStarted { .. } => self.history_error = None,
            Event::MessagesRejected { reason, total } => {
                self.rejected_to(*reason, *total);
            }
            Event::MessageTotals {
                received,
                accepted,
                rejected,
            } => {
                raise_to(&m.messages_received, *received);
                raise_to(&m.messages_accepted, *accepted);
                for (reason, total) in rejected {
                    self.rejected_to(*reason, *total);
                }
            }
            Event::MessagesDropped {
                wallet,
                reason,
                total,
                ..
            } => {
                let name = reason.name();
                let seen = self.dropped_totals.entry((*wallet, name)).or_default();
                let delta = total.saturating_sub(*seen);
                *seen += delta;
                m.messages_dropped
                    .get_or_create(&label("reason", name))
                    .inc_by(delta);
            }
            Event::MessagesLost { count } => {
                m.messages_lost.inc_by(*count);
            }
            Event::PeerConnected { peer, operator, .. } => {
                self.peers.insert(peer.clone(), *operator);
                self.count_peers(options);
            }
            Event::PeerDisconnected { peer } => {
                self.peers.remove(peer);
                self.count_peers(options);
            }
            Event::PeerRefused { .. } => {
                m.peers_refused.inc();
            }
            Event::HistoryError { what, error } => {
                m.history_errors.inc();
                self.history_error = Some(format!("{what}: {error}"));
            }
            Event::ExecutorsStarted { .. }
            | Event::WindowUnrecorded { .. }
            | Event::ExecutorBusy { .. }
            | Event::LeaderForecast { .. }
            | Event::ActionRestored { .. }
            | Event::DryRun(_)
            | Event::WalletBitcoin(_)
            | Event::PeerPing { .. }
            | Event::MembersHeard { .. }
            | Event::WindowRejections { .. }
            | Event::NodeStopped => {}
        }
    }

    /// Raises the rejections of `reason` to a total the router announced.
    fn rejected_to(&mut self, reason: crate::engine::router::RejectReason, total: u64) {
        let name = reason.name();
        let seen = self.rejected_totals.entry(name).or_default();
        *seen = (*seen).max(total);
        raise_to(
            &self
                .m
                .messages_rejected
                .get_or_create(&label("reason", name)),
            *seen,
        );
    }

    fn count_peers(&self, options: &MetricsOptions) {
        self.m.connected_peers.set(self.peers.len() as i64);
        let bootstrap = self
            .peers
            .keys()
            .filter(|p| options.bootstrap_peers.contains(*p))
            .count();
        self.m.connected_bootstrap.set(bootstrap as i64);
    }
}

/// Folds the bus into `metrics` until the node stops or `cancel` fires. Subscribe (`events`)
/// before the node starts.
pub async fn follow(
    metrics: Arc<Metrics>,
    mut events: broadcast::Receiver<Event>,
    cancel: CancellationToken,
) {
    use broadcast::error::RecvError;
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = cancel.cancelled() => return,
        };
        match event {
            Ok(event) => {
                metrics.apply(&event, Instant::now());
                if event == Event::NodeStopped {
                    return;
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    skipped = n,
                    "the metrics endpoint fell behind the bus: {n} events not counted"
                );
                metrics.resync(n, Instant::now());
            }
            Err(RecvError::Closed) => return,
        }
    }
}
