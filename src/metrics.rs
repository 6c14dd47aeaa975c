//! Prometheus metrics, diagnostics and health, a subscriber of the node's event bus.
//!
//! Counters are folded from events, in the order the bus published them; the fault counters
//! start from the history's counts, so they equal the history, not just what this process
//! saw. Gauges (head age, peers) are read at scrape time. Names of keep-client's own metrics
//! (`connected_peers_count`, `connected_bootstrap_count`, `eth_connectivity`, `client_info`)
//! are kept unprefixed so its dashboards keep working; ours start `tbtc_coord_`.
//!
//! [`server`] serves `/metrics`, `/diagnostics` and `/healthz` over HTTP.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::engine::history::{HistoryError, HistoryReader};
use crate::engine::records::{BlockRef, FaultFilter, OperatorFaultSummary};
use crate::engine::{Event, EventBus};
use crate::protocol::window::next_window_after;
use crate::protocol::{Address, FaultType, WalletPkh};

pub mod server;

/// keep-client's metrics port.
pub const DEFAULT_PORT: u16 = 9601;

/// One label, as `name="value"`.
type Label = [(&'static str, &'static str); 1];

/// How the endpoint judges the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsOptions {
    /// The chain is stale (unhealthy, `eth_connectivity` 0) once no new head has been seen
    /// for this long.
    pub head_stale_after: Duration,
    /// Peer IDs (base58) of the bootstrap peers, for `connected_bootstrap_count`.
    pub bootstrap_peers: HashSet<String>,
}

/// The registered metrics, by handle.
struct Handles {
    connected_peers: Gauge,
    connected_bootstrap: Gauge,
    eth_connectivity: Gauge,
    windows_started: Counter,
    windows_late: Counter,
    windows_missed: Counter,
    windows_completed: Counter,
    windows_interrupted: Counter,
    last_window: Gauge,
    results: Family<Label, Counter>,
    faults: Family<Label, Counter>,
    own_faults: Family<Label, Counter>,
    dispatches: Family<Label, Counter>,
    messages_received: Counter,
    messages_accepted: Counter,
    messages_rejected: Family<Label, Counter>,
    messages_dropped: Family<Label, Counter>,
    messages_lost: Counter,
    peers_refused: Counter,
    history_errors: Counter,
    executor_failures: Counter,
    events_lost: Counter,
    head_block: Gauge,
    head_age: Gauge<f64, AtomicU64>,
    wallets: Gauge,
    rpc_latency: Histogram,
    coordination_duration: Histogram,
}

/// What the subscriber keeps besides the registry.
struct State {
    registry: Registry,
    m: Handles,
    operator: Option<Address>,
    chain: String,
    head: Option<(BlockRef, Instant)>,
    /// Connected peers and the operator each one's key names.
    peers: BTreeMap<String, Option<Address>>,
    /// The last history write that failed, while no write has succeeded since.
    history_error: Option<String>,
    /// Fault counts of the history when the endpoint started, per culprit.
    history_faults: Vec<OperatorFaultSummary>,
    /// When each running procedure started, for the coordination duration.
    procedures: HashMap<(WalletPkh, u64), Instant>,
    /// The router's running totals (it announces at the 1st, 10th, 100th, …).
    dropped_totals: HashMap<(WalletPkh, &'static str), u64>,
    rejected_totals: HashMap<&'static str, u64>,
}

/// The node's metrics, diagnostics and health. Shared by the bus subscriber and the server.
pub struct Metrics {
    state: Mutex<State>,
    bus: EventBus,
    options: MetricsOptions,
    started: Instant,
}

/// `/healthz`'s answer: healthy, or the reasons why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub reasons: Vec<String>,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.reasons.is_empty()
    }
}

fn label(name: &'static str, value: &'static str) -> Label {
    [(name, value)]
}

/// Moves a counter up to `total` (never down).
fn raise_to(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

impl Handles {
    fn register(registry: &mut Registry) -> Handles {
        let m = Handles {
            connected_peers: Gauge::default(),
            connected_bootstrap: Gauge::default(),
            eth_connectivity: Gauge::default(),
            windows_started: Counter::default(),
            windows_late: Counter::default(),
            windows_missed: Counter::default(),
            windows_completed: Counter::default(),
            windows_interrupted: Counter::default(),
            last_window: Gauge::default(),
            results: Family::default(),
            faults: Family::default(),
            own_faults: Family::default(),
            dispatches: Family::default(),
            messages_received: Counter::default(),
            messages_accepted: Counter::default(),
            messages_rejected: Family::default(),
            messages_dropped: Family::default(),
            messages_lost: Counter::default(),
            peers_refused: Counter::default(),
            history_errors: Counter::default(),
            executor_failures: Counter::default(),
            events_lost: Counter::default(),
            head_block: Gauge::default(),
            head_age: Gauge::default(),
            wallets: Gauge::default(),
            // 1 ms to about 33 s.
            rpc_latency: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            // 50 ms to about 27 min (an Ethereum window's active phase is 16 min).
            coordination_duration: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
        };
        let info = Family::<Label, Gauge>::default();
        info.get_or_create(&label("version", env!("CARGO_PKG_VERSION")))
            .set(1);
        registry.register("client_info", "The client's version (always 1)", info);
        registry.register(
            "connected_peers_count",
            "Peers connected now",
            m.connected_peers.clone(),
        );
        registry.register(
            "connected_bootstrap_count",
            "Bootstrap peers (--p2p-peers) connected now",
            m.connected_bootstrap.clone(),
        );
        registry.register(
            "eth_connectivity",
            "1 while the chain is fresh (a new head within the staleness limit), else 0",
            m.eth_connectivity.clone(),
        );
        let ours = registry.sub_registry_with_prefix("tbtc_coord");
        ours.register(
            "windows_started",
            "Coordination windows whose procedures began",
            m.windows_started.clone(),
        );
        ours.register(
            "windows_late",
            "Windows begun late (after their coordination block)",
            m.windows_late.clone(),
        );
        ours.register(
            "windows_missed",
            "Windows that went by unhandled",
            m.windows_missed.clone(),
        );
        ours.register(
            "windows_completed",
            "Windows whose every wallet's result is in",
            m.windows_completed.clone(),
        );
        ours.register(
            "windows_interrupted",
            "Windows cut off by a shutdown",
            m.windows_interrupted.clone(),
        );
        ours.register(
            "last_window_block",
            "Coordination block of the latest window begun or missed",
            m.last_window.clone(),
        );
        ours.register(
            "results",
            "Coordination results recorded, by the action proposed",
            m.results.clone(),
        );
        ours.register(
            "faults",
            "Faults in the history, by type (counted from the history at start)",
            m.faults.clone(),
        );
        ours.register(
            "own_faults",
            "Faults in the history against this node's own operator, by type",
            m.own_faults.clone(),
        );
        ours.register(
            "dispatches",
            "Dispatches by outcome: dispatched, rejected, completed, failed, expired",
            m.dispatches.clone(),
        );
        ours.register(
            "messages_received",
            "Coordination messages the router received from the transport (updated once per block)",
            m.messages_received.clone(),
        );
        ours.register(
            "messages_accepted",
            "Received messages that passed every check and were forwarded (updated once per block)",
            m.messages_accepted.clone(),
        );
        ours.register(
            "messages_rejected",
            "Invalid coordination messages rejected by the router, by reason (updated once per block)",
            m.messages_rejected.clone(),
        );
        ours.register(
            "messages_dropped",
            "Valid messages dropped by the router, by reason (updated at the 1st, 10th, 100th, ... per wallet and reason)",
            m.messages_dropped.clone(),
        );
        ours.register(
            "messages_lost",
            "Messages lost before routing (the node's message stream overflowed)",
            m.messages_lost.clone(),
        );
        ours.register(
            "peers_refused",
            "Peers refused by the handshake or the firewall",
            m.peers_refused.clone(),
        );
        ours.register(
            "history_errors",
            "History writes that failed",
            m.history_errors.clone(),
        );
        ours.register(
            "executor_failures",
            "Wallet procedures that failed",
            m.executor_failures.clone(),
        );
        ours.register(
            "metrics_events_lost",
            "Bus events this endpoint fell too far behind to count",
            m.events_lost.clone(),
        );
        ours.register(
            "head_block",
            "Number of the newest head seen",
            m.head_block.clone(),
        );
        ours.register_with_unit(
            "head_age",
            "Time since the newest head was seen by this node",
            Unit::Seconds,
            m.head_age.clone(),
        );
        ours.register(
            "wallets",
            "Wallets this node coordinates",
            m.wallets.clone(),
        );
        ours.register_with_unit(
            "rpc_latency",
            "Ethereum JSON-RPC request latency (no observations on the devnet, which has no RPC)",
            Unit::Seconds,
            m.rpc_latency.clone(),
        );
        ours.register_with_unit(
            "coordination_duration",
            "Time from a wallet's procedure starting to its result being recorded",
            Unit::Seconds,
            m.coordination_duration.clone(),
        );
        for f in FaultType::ALL {
            let _ = m.faults.get_or_create(&label("fault", f.name()));
            let _ = m.own_faults.get_or_create(&label("fault", f.name()));
        }
        m
    }
}

impl Metrics {
    /// The endpoint of a node that has not started yet: subscribe to `bus` before starting
    /// the node, so that no fault is both in `history`'s counts and in an event.
    pub fn new(
        bus: EventBus,
        options: MetricsOptions,
        history: Option<&dyn HistoryReader>,
    ) -> Result<Arc<Metrics>, HistoryError> {
        let mut registry = Registry::default();
        let m = Handles::register(&mut registry);
        let history_faults = match history {
            Some(h) => h.fault_summary(&FaultFilter::default())?,
            None => Vec::new(),
        };
        for summary in &history_faults {
            for f in FaultType::ALL {
                m.faults
                    .get_or_create(&label("fault", f.name()))
                    .inc_by(summary.count(f));
            }
        }
        Ok(Arc::new(Metrics {
            state: Mutex::new(State {
                registry,
                m,
                operator: None,
                chain: String::new(),
                head: None,
                peers: BTreeMap::new(),
                history_error: None,
                history_faults,
                procedures: HashMap::new(),
                dropped_totals: HashMap::new(),
                rejected_totals: HashMap::new(),
            }),
            bus,
            options,
            started: Instant::now(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Folds one event, seen at `now`.
    pub fn apply(&self, event: &Event, now: Instant) {
        self.lock().apply(event, now, &self.options);
    }

    /// One Ethereum JSON-RPC request's latency.
    pub fn observe_rpc_latency(&self, latency: Duration) {
        self.lock().m.rpc_latency.observe(latency.as_secs_f64());
    }

    fn chain_fresh(&self, state: &State, now: Instant) -> Result<Duration, String> {
        match &state.head {
            None => Err(format!(
                "no head seen yet ({}s after start)",
                now.duration_since(self.started).as_secs()
            )),
            Some((block, seen)) => {
                let age = now.saturating_duration_since(*seen);
                if age > self.options.head_stale_after {
                    Err(format!(
                        "chain stale: head {} seen {}s ago (limit {}s)",
                        block.number,
                        age.as_secs(),
                        self.options.head_stale_after.as_secs_f64()
                    ))
                } else {
                    Ok(age)
                }
            }
        }
    }

    /// The Prometheus exposition (OpenMetrics text), as of `now`.
    pub fn encode(&self, now: Instant) -> String {
        let state = self.lock();
        let fresh = self.chain_fresh(&state, now).is_ok();
        state.m.eth_connectivity.set(i64::from(fresh));
        if let Some((_, seen)) = &state.head {
            state
                .m
                .head_age
                .set(now.saturating_duration_since(*seen).as_secs_f64());
        }
        let mut text = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &state.registry);
        text
    }

    /// `/healthz`: the chain is fresh and the last history write succeeded.
    pub fn health(&self, now: Instant) -> Health {
        let state = self.lock();
        let mut reasons = Vec::new();
        if let Err(reason) = self.chain_fresh(&state, now) {
            reasons.push(reason);
        }
        if let Some(error) = &state.history_error {
            reasons.push(format!("history write failed: {error}"));
        }
        Health { reasons }
    }

    /// `/diagnostics`: keep-client's keys (`client_info`, `connected_peers`,
    /// `eth_chain_info`) and ours (`wallets`, `next_window`, `leaders_forecast`).
    pub fn diagnostics(&self, now: Instant) -> serde_json::Value {
        let snapshot = self.bus.snapshot();
        let state = self.lock();
        let head = state.head.as_ref().map(|(b, _)| b.number);
        let next_window = head.map(|h| {
            let w = next_window_after(h);
            json!({
                "coordination_block": w.coordination_block,
                "index": w.index(),
                "safe_block": w.safe_block(),
                "blocks_to_go": w.coordination_block - h,
            })
        });
        let wallets: Vec<_> = snapshot
            .wallets
            .iter()
            .map(|w| {
                json!({
                    "wallet": w.wallet,
                    "members": w.operators.len(),
                    "seats": w.seats,
                    "executor": w.executor,
                    "dispatcher": w.dispatcher,
                    "last_result": w.last_result.as_ref().map(|r| json!({
                        "coordination_block": r.coordination_block,
                        "leader": r.leader,
                        "action": r.action,
                        "faults": r.faults.len(),
                    })),
                })
            })
            .collect();
        let forecast: Vec<_> = snapshot
            .wallets
            .iter()
            .filter_map(|w| {
                w.next_leader.map(|(cb, leader, is_self)| {
                    json!({"wallet": w.wallet, "coordination_block": cb, "leader": leader, "is_self": is_self})
                })
            })
            .collect();
        json!({
            "client_info": {
                "version": env!("CARGO_PKG_VERSION"),
                "operator": state.operator,
                "uptime_seconds": now.duration_since(self.started).as_secs(),
            },
            "connected_peers": state.peers.iter().map(|(peer, operator)| json!({
                "network_id": peer,
                "ethereum_operator": operator,
                "bootstrap": self.options.bootstrap_peers.contains(peer),
            })).collect::<Vec<_>>(),
            "eth_chain_info": {
                "chain": state.chain,
                "head": state.head.as_ref().map(|(b, seen)| json!({
                    "number": b.number,
                    "hash": b.hash,
                    "timestamp": b.timestamp,
                    "age_seconds": now.saturating_duration_since(*seen).as_secs_f64(),
                })),
                "fresh": self.chain_fresh(&state, now).is_ok(),
            },
            "wallets": wallets,
            "next_window": next_window,
            "leaders_forecast": forecast,
        })
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

#[cfg(test)]
mod tests;
