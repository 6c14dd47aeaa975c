//! The registry: every metric family the endpoint exposes, by handle, and its registration
//! under keep-client's names or our `tbtc_coord_` prefix. Kept apart from the fold so the
//! exposed names and help texts can be read (and reviewed for dashboard breakage) in one place.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::protocol::FaultType;

/// One label, as `name="value"`.
pub(super) type Label = [(&'static str, &'static str); 1];
/// One label whose value is not known until run time (an Electrum method's name).
pub(super) type OwnedLabel = [(&'static str, String); 1];

/// The registered metrics, by handle.
pub(super) struct Handles {
    pub(super) connected_peers: Gauge,
    pub(super) connected_bootstrap: Gauge,
    pub(super) eth_connectivity: Gauge,
    pub(super) btc_connectivity: Gauge,
    pub(super) electrum_latency: Family<OwnedLabel, Histogram>,
    pub(super) electrum_errors: Family<OwnedLabel, Counter>,
    pub(super) windows_started: Counter,
    pub(super) windows_late: Counter,
    pub(super) windows_missed: Counter,
    pub(super) windows_completed: Counter,
    pub(super) windows_interrupted: Counter,
    pub(super) last_window: Gauge,
    pub(super) results: Family<Label, Counter>,
    pub(super) faults: Family<Label, Counter>,
    pub(super) own_faults: Family<Label, Counter>,
    pub(super) dispatches: Family<Label, Counter>,
    pub(super) candidates_refused: Family<Label, Counter>,
    pub(super) messages_received: Counter,
    pub(super) messages_accepted: Counter,
    pub(super) messages_rejected: Family<Label, Counter>,
    pub(super) messages_dropped: Family<Label, Counter>,
    pub(super) messages_lost: Counter,
    pub(super) peers_refused: Counter,
    pub(super) history_errors: Counter,
    pub(super) executor_failures: Counter,
    pub(super) events_lost: Counter,
    pub(super) head_block: Gauge,
    pub(super) head_age: Gauge<f64, AtomicU64>,
    pub(super) wallets: Gauge,
    pub(super) rpc_latency: Histogram,
    pub(super) coordination_duration: Histogram,
}

pub(super) fn label(name: &'static str, value: &'static str) -> Label {
    [(name, value)]
}

impl Handles {
    pub(super) fn register(registry: &mut Registry) -> Handles {
        let m = Handles {
            connected_peers: Gauge::default(),
            connected_bootstrap: Gauge::default(),
            eth_connectivity: Gauge::default(),
            btc_connectivity: Gauge::default(),
            // 1 ms to about 33 s.
            electrum_latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            electrum_errors: Family::default(),
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
            candidates_refused: Family::default(),
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
        registry.register(
            "btc_connectivity",
            "1 while the last Electrum request was answered, else 0 (always 0 without --electrum-url)",
            m.btc_connectivity.clone(),
        );
        let ours = registry.sub_registry_with_prefix("tbtc_coord");
        ours.register_with_unit(
            "electrum_request",
            "Electrum requests, by method: how long each took to be answered or to fail",
            Unit::Seconds,
            m.electrum_latency.clone(),
        );
        ours.register(
            "electrum_errors",
            "Electrum requests that failed (no answer, an error, a closed connection), by method",
            m.electrum_errors.clone(),
        );
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
            "candidates_refused",
            "A leader's candidate proposals not sent because the on-chain WalletProposalValidator refused them or could not be asked, by action",
            m.candidates_refused.clone(),
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
