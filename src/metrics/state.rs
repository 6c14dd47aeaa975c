//! [`Metrics`], the state the bus subscriber and the HTTP server share: the registry, what
//! the fold keeps besides it, and the exposition. One mutex guards it all, so a scrape never
//! sees an event half folded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::registry::{label, Handles};
use crate::engine::history::{HistoryError, HistoryReader};
use crate::engine::query::HistoryQuery;
use crate::engine::records::{FaultFilter, OperatorFaultSummary};
use crate::engine::EventBus;
use crate::protocol::BlockRef;
use crate::protocol::{Address, FaultType, WalletPkh};

/// keep-client's metrics port.
pub const DEFAULT_PORT: u16 = 9601;

/// How the endpoint judges the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsOptions {
    /// The chain is stale (unhealthy, `eth_connectivity` 0) once no new head has been seen
    /// for this long.
    pub head_stale_after: Duration,
    /// Peer IDs (base58) of the bootstrap peers, for `connected_bootstrap_count`.
    pub bootstrap_peers: HashSet<String>,
}

/// What the subscriber keeps besides the registry.
pub(super) struct State {
    pub(super) registry: Registry,
    pub(super) m: Handles,
    pub(super) operator: Option<Address>,
    pub(super) chain: String,
    pub(super) head: Option<(BlockRef, Instant)>,
    /// Connected peers and the operator each one's key names.
    pub(super) peers: BTreeMap<String, Option<Address>>,
    /// The last history write that failed, while no write has succeeded since.
    pub(super) history_error: Option<String>,
    /// Fault counts of the history when the endpoint started, per culprit.
    pub(super) history_faults: Vec<OperatorFaultSummary>,
    /// When each running procedure started, for the coordination duration.
    pub(super) procedures: HashMap<(WalletPkh, u64), Instant>,
    /// The router's running totals (it announces at the 1st, 10th, 100th, …).
    pub(super) dropped_totals: HashMap<(WalletPkh, &'static str), u64>,
    pub(super) rejected_totals: HashMap<&'static str, u64>,
}

/// The node's metrics, diagnostics and health. Shared by the bus subscriber and the server.
pub struct Metrics {
    pub(super) state: Mutex<State>,
    pub(super) bus: EventBus,
    pub(super) options: MetricsOptions,
    pub(super) started: Instant,
    /// Where `/diagnostics` reads the Bitcoin view's status, when the node has one.
    pub(super) bitcoin: std::sync::OnceLock<BitcoinStatusSource>,
}

/// The Bitcoin view's status, read when `/diagnostics` is asked.
pub type BitcoinStatusSource = Arc<dyn Fn() -> crate::protocol::chain::BitcoinStatus + Send + Sync>;

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
            Some(h) => h
                .query(&HistoryQuery::FaultSummary {
                    filter: FaultFilter::default(),
                })?
                .into_fault_summary()?,
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
            bitcoin: std::sync::OnceLock::new(),
        }))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// One Ethereum JSON-RPC request's latency.
    pub fn observe_rpc_latency(&self, latency: Duration) {
        self.lock().m.rpc_latency.observe(latency.as_secs_f64());
    }

    /// Where `/diagnostics` reads the Bitcoin view's server and tip (set once).
    pub fn report_bitcoin(&self, source: BitcoinStatusSource) {
        let _ = self.bitcoin.set(source);
    }

    /// One Electrum request: how long it took, and whether it was answered.
    pub fn observe_electrum(&self, method: &str, latency: Duration, ok: bool) {
        let state = self.lock();
        let label = [("method", method.to_string())];
        state
            .m
            .electrum_latency
            .get_or_create(&label)
            .observe(latency.as_secs_f64());
        if !ok {
            state.m.electrum_errors.get_or_create(&label).inc();
        }
        state.m.btc_connectivity.set(i64::from(ok));
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
}
