use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};

use super::server::route;
use super::*;
use crate::engine::events::CoordinationResultEvent;
use crate::engine::history::{HistoryError, HistoryReader};
use crate::engine::query::{HistoryPage, HistoryQuery};
use crate::engine::records::*;
use crate::engine::{Event, EventBus};
use crate::protocol::{
    ActionOutcome, ActionType, Address, BlockHashRule, FaultType, Hash32, Proposal, Role, WalletPkh,
};
use crate::protocol::{BlockRef, WalletInfo};

const ME: Address = Address([9; 20]);
const OTHER: Address = Address([2; 20]);
const WALLET: WalletPkh = WalletPkh([1; 20]);

/// A history with fixed fault counts; every other read fails.
struct FixedHistory(Vec<OperatorFaultSummary>);

fn fail<T>() -> Result<T, HistoryError> {
    Err(HistoryError::Read("not in this test".into()))
}

impl HistoryReader for FixedHistory {
    fn query(&self, query: &HistoryQuery) -> Result<HistoryPage, HistoryError> {
        match query {
            HistoryQuery::FaultSummary { filter } => {
                assert_eq!(
                    *filter,
                    FaultFilter::default(),
                    "the whole history is counted"
                );
                Ok(HistoryPage::FaultSummary(self.0.clone()))
            }
            _ => fail(),
        }
    }
}

fn summary(operator: Address, idle: u64, mistake: u64) -> OperatorFaultSummary {
    let by_type = BTreeMap::from([
        (FaultType::LeaderIdleness, idle),
        (FaultType::LeaderMistake, mistake),
        (FaultType::LeaderImpersonation, 0),
    ]);
    OperatorFaultSummary {
        operator,
        total: idle + mistake,
        by_type,
        last_coordination_block: 900,
        last_fault: FaultType::LeaderIdleness,
    }
}

fn options() -> MetricsOptions {
    MetricsOptions {
        head_stale_after: Duration::from_secs(10),
        bootstrap_peers: HashSet::from(["boot".to_string()]),
    }
}

fn started() -> Event {
    Event::NodeStarted {
        chain: "devnet-1".into(),
        operator: ME,
        observer: false,
        block_hash_rule: BlockHashRule::KeepV2,
        wallets: vec![WalletInfo {
            wallet: WALLET,
            public_key: None,
            operators: vec![OTHER, ME],
        }],
        transport: crate::engine::network_view::MessageTransport::Hub,
        bootstrap_peers: 0,
    }
}

fn block(n: u64) -> Event {
    Event::Block {
        block: BlockRef {
            number: n,
            hash: Hash32([n as u8; 32]),
            parent_hash: Hash32::default(),
            timestamp: 12 * n,
        },
    }
}

fn fault(culprit: Address, fault: FaultType) -> Event {
    Event::Fault {
        wallet: WALLET,
        coordination_block: 1800,
        culprit,
        fault,
    }
}

/// The value of one sample line, found by its exact name and labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

#[test]
fn fault_counters_start_at_the_history_and_follow_the_events() {
    let history = FixedHistory(vec![summary(OTHER, 5, 1), summary(ME, 2, 0)]);
    let bus = EventBus::default();
    let metrics = Metrics::new(bus, options(), Some(&history)).unwrap();
    let t0 = Instant::now();
    let text = metrics.encode(t0);
    assert_eq!(
        sample(&text, "tbtc_coord_faults_total{fault=\"LeaderIdleness\"}"),
        Some(7.0)
    );
    assert_eq!(
        sample(&text, "tbtc_coord_faults_total{fault=\"LeaderMistake\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_faults_total{fault=\"LeaderImpersonation\"}"
        ),
        Some(0.0)
    );
    // The own operator is known once the node says who it is.
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_own_faults_total{fault=\"LeaderIdleness\"}"
        ),
        Some(0.0)
    );
    metrics.apply(&started(), t0);
    metrics.apply(&fault(ME, FaultType::LeaderIdleness), t0);
    metrics.apply(&fault(OTHER, FaultType::LeaderImpersonation), t0);
    let text = metrics.encode(t0);
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_own_faults_total{fault=\"LeaderIdleness\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "tbtc_coord_faults_total{fault=\"LeaderIdleness\"}"),
        Some(8.0)
    );
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_faults_total{fault=\"LeaderImpersonation\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_own_faults_total{fault=\"LeaderImpersonation\"}"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, "tbtc_coord_wallets"), Some(1.0));
    let info = format!("client_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&info), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}

#[test]
fn windows_results_dispatches_and_durations_are_counted() {
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let t0 = Instant::now();
    metrics.apply(&started(), t0);
    for (cb, late) in [(900, false), (1800, true)] {
        metrics.apply(
            &Event::WindowStarted {
                coordination_block: cb,
                index: cb / 900,
                late,
                observed_block: cb,
                safe_block: cb - 32,
                safe_block_hash: Hash32([3; 32]),
                other_rule_hash: None,
            },
            t0,
        );
    }
    metrics.apply(
        &Event::WindowMissed {
            coordination_block: 2700,
            index: 3,
            observed_block: 2800,
            reason: "late".into(),
        },
        t0,
    );
    metrics.apply(
        &Event::ExecutorStarted {
            wallet: WALLET,
            coordination_block: 1800,
            role: Role::Follower,
            leader: OTHER,
            start_delay_us: 0,
        },
        t0,
    );
    metrics.apply(
        &Event::CoordinationResult(CoordinationResultEvent {
            wallet: WALLET,
            coordination_block: 1800,
            safe_block_hash: Hash32([3; 32]),
            seed: "00".repeat(32),
            leader: OTHER,
            leader_member_index: 1,
            role: Role::Follower,
            checklist: vec![ActionType::Redemption],
            action: ActionType::Redemption,
            proposal: Proposal::Noop,
            faults: vec![],
            members_connected: None,
            unheard: false,
            refusals: vec![
                crate::protocol::Refusal {
                    action: ActionType::Redemption,
                    reason: "refused: Redemption request min age not achieved yet".into(),
                },
                crate::protocol::Refusal {
                    action: ActionType::Heartbeat,
                    reason: "validator error: no answer".into(),
                },
            ],
        }),
        t0 + Duration::from_millis(300),
    );
    metrics.apply(
        &Event::ProposalDispatched {
            wallet: WALLET,
            coordination_block: 1800,
            action: ActionType::Redemption,
            start_block: 1900,
            expiry_block: 2500,
        },
        t0,
    );
    metrics.apply(
        &Event::ActionFinished {
            wallet: WALLET,
            coordination_block: 1800,
            action: ActionType::Redemption,
            outcome: ActionOutcome::Expired,
            block: 2500,
        },
        t0,
    );
    let text = metrics.encode(t0);
    for (series, value) in [
        ("tbtc_coord_windows_started_total", 2.0),
        ("tbtc_coord_windows_late_total", 1.0),
        ("tbtc_coord_windows_missed_total", 1.0),
        ("tbtc_coord_last_window_block", 2700.0),
        ("tbtc_coord_results_total{action=\"Redemption\"}", 1.0),
        (
            "tbtc_coord_candidates_refused_total{action=\"Redemption\"}",
            1.0,
        ),
        (
            "tbtc_coord_candidates_refused_total{action=\"Heartbeat\"}",
            1.0,
        ),
        ("tbtc_coord_dispatches_total{outcome=\"dispatched\"}", 1.0),
        ("tbtc_coord_dispatches_total{outcome=\"expired\"}", 1.0),
        ("tbtc_coord_coordination_duration_seconds_count", 1.0),
        ("tbtc_coord_coordination_duration_seconds_sum", 0.3),
        (
            "tbtc_coord_coordination_duration_seconds_bucket{le=\"0.2\"}",
            0.0,
        ),
        (
            "tbtc_coord_coordination_duration_seconds_bucket{le=\"0.4\"}",
            1.0,
        ),
        ("tbtc_coord_rpc_latency_seconds_count", 0.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
}

#[test]
fn router_totals_are_not_double_counted() {
    use crate::engine::router::{DropReason, RejectReason};
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let t0 = Instant::now();
    for total in [1, 10, 100] {
        metrics.apply(
            &Event::MessagesRejected {
                reason: RejectReason::Signature,
                total,
            },
            t0,
        );
    }
    for (wallet, total) in [(WALLET, 1), (WALLET, 10), (WalletPkh([7; 20]), 1)] {
        metrics.apply(
            &Event::MessagesDropped {
                wallet,
                coordination_block: 900,
                reason: DropReason::InboxFull,
                total,
            },
            t0,
        );
    }
    metrics.apply(&Event::MessagesLost { count: 4 }, t0);
    let text = metrics.encode(t0);
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_messages_rejected_total{reason=\"signature\"}"
        ),
        Some(100.0)
    );
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_messages_dropped_total{reason=\"inbox_full\"}"
        ),
        Some(11.0)
    );
    assert_eq!(sample(&text, "tbtc_coord_messages_lost_total"), Some(4.0));
}

/// The router's per-block totals set the received, accepted and rejected counters exactly,
/// also between the 1st-10th-100th announcements, and a total never moves a counter back.
#[test]
fn message_totals_set_the_message_counters() {
    use crate::engine::router::RejectReason;
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let t0 = Instant::now();
    let totals = |received, accepted, signature| Event::MessageTotals {
        received,
        accepted,
        rejected: std::collections::BTreeMap::from([
            (RejectReason::Signature, signature),
            (RejectReason::NotAMember, 2),
        ]),
    };
    metrics.apply(&totals(40, 30, 7), t0);
    metrics.apply(
        &Event::MessagesRejected {
            reason: RejectReason::Signature,
            total: 1,
        },
        t0,
    );
    metrics.apply(&totals(57, 44, 9), t0);
    let text = metrics.encode(t0);
    for (series, value) in [
        ("tbtc_coord_messages_received_total", 57.0),
        ("tbtc_coord_messages_accepted_total", 44.0),
        (
            "tbtc_coord_messages_rejected_total{reason=\"signature\"}",
            9.0,
        ),
        (
            "tbtc_coord_messages_rejected_total{reason=\"not_a_member\"}",
            2.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
}

#[test]
fn peers_and_bootstrap_peers_are_gauges() {
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let t0 = Instant::now();
    for peer in ["boot", "a", "b"] {
        metrics.apply(
            &Event::PeerConnected {
                peer: peer.into(),
                operator: None,
                admitted: "member".into(),
                bootstrap: peer == "boot",
            },
            t0,
        );
    }
    metrics.apply(&Event::PeerDisconnected { peer: "a".into() }, t0);
    let text = metrics.encode(t0);
    assert_eq!(sample(&text, "connected_peers_count"), Some(2.0));
    assert_eq!(sample(&text, "connected_bootstrap_count"), Some(1.0));
    metrics.apply(
        &Event::PeerDisconnected {
            peer: "boot".into(),
        },
        t0,
    );
    let text = metrics.encode(t0);
    assert_eq!(sample(&text, "connected_bootstrap_count"), Some(0.0));
    let d = metrics.diagnostics(t0);
    assert_eq!(d["connected_peers"][0]["network_id"], "b");
}

#[test]
fn health_follows_the_head_and_the_history_writes() {
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let t0 = Instant::now();
    let h = metrics.health(t0);
    assert!(!h.is_healthy() && h.reasons[0].contains("no head"), "{h:?}");
    metrics.apply(&block(100), t0);
    assert!(metrics.health(t0 + Duration::from_secs(9)).is_healthy());
    let stale = metrics.health(t0 + Duration::from_secs(11));
    assert!(
        stale.reasons[0].contains("stale") && stale.reasons[0].contains("100"),
        "{stale:?}"
    );
    let text = metrics.encode(t0 + Duration::from_secs(11));
    assert_eq!(sample(&text, "eth_connectivity"), Some(0.0));
    assert_eq!(sample(&text, "tbtc_coord_head_age_seconds"), Some(11.0));

    metrics.apply(&block(101), t0 + Duration::from_secs(11));
    metrics.apply(
        &Event::HistoryError {
            what: "recording a result".into(),
            error: "disk I/O error".into(),
        },
        t0 + Duration::from_secs(11),
    );
    let now = t0 + Duration::from_secs(12);
    let broken = metrics.health(now);
    assert_eq!(broken.reasons.len(), 1, "{broken:?}");
    assert!(broken.reasons[0].contains("disk I/O error"), "{broken:?}");
    assert_eq!(
        route(&metrics, &Method::GET, "/healthz", false, now).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(sample(&metrics.encode(now), "eth_connectivity"), Some(1.0));
    // A later fact kept means the writes work again.
    metrics.apply(
        &Event::WindowCompleted {
            coordination_block: 900,
            results: 1,
            faults: 0,
        },
        now,
    );
    assert!(metrics.health(now).is_healthy());
    assert_eq!(
        route(&metrics, &Method::GET, "/healthz", false, now).status(),
        StatusCode::OK
    );
}

#[test]
fn odd_requests_get_answers_not_panics() {
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let now = Instant::now();
    assert_eq!(
        route(&metrics, &Method::POST, "/metrics", false, now).status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        route(&metrics, &Method::GET, "/", false, now).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        route(&metrics, &Method::GET, "/metrics/../x", false, now).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        route(&metrics, &Method::HEAD, "/metrics", false, now).status(),
        StatusCode::OK
    );
    let d = metrics.diagnostics(now);
    for key in [
        "client_info",
        "connected_peers",
        "eth_chain_info",
        "wallets",
        "next_window",
        "leaders_forecast",
    ] {
        assert!(d.get(key).is_some(), "{key} missing from {d}");
    }
}

#[test]
fn diagnostics_show_the_next_window_and_the_forecast() {
    let bus = EventBus::default();
    let metrics = Metrics::new(bus.clone(), options(), None).unwrap();
    let now = Instant::now();
    for e in [
        started(),
        block(1000),
        Event::LeaderForecast {
            coordination_block: 1800,
            leaders: vec![crate::engine::events::ForecastLeader {
                wallet: WALLET,
                leader: ME,
                is_self: true,
            }],
        },
    ] {
        bus.publish(e.clone());
        metrics.apply(&e, now);
    }
    let d = metrics.diagnostics(now);
    assert_eq!(d["next_window"]["coordination_block"], 1800);
    assert_eq!(d["next_window"]["blocks_to_go"], 800);
    assert_eq!(d["leaders_forecast"][0]["is_self"], true);
    assert_eq!(d["wallets"][0]["seats"], serde_json::json!([2]));
    assert_eq!(d["eth_chain_info"]["head"]["number"], 1000);
}

#[test]
fn the_classic_text_format_names_counters_by_their_total() {
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let text = server::to_text_format(&metrics.encode(Instant::now()));
    assert!(text.contains("# HELP tbtc_coord_windows_missed_total Windows that went by unhandled.\n# TYPE tbtc_coord_windows_missed_total counter\ntbtc_coord_windows_missed_total 0\n"), "{text}");
    assert!(
        text.contains("# TYPE tbtc_coord_head_age_seconds gauge\n"),
        "{text}"
    );
    assert!(
        !text.contains("# EOF") && !text.contains("# UNIT"),
        "{text}"
    );
}

#[test]
fn electrum_requests_are_timed_and_failures_counted_by_method() {
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let t0 = Instant::now();
    assert_eq!(sample(&metrics.encode(t0), "btc_connectivity"), Some(0.0));
    metrics.observe_electrum(
        "blockchain.transaction.get",
        Duration::from_millis(20),
        true,
    );
    metrics.observe_electrum(
        "blockchain.transaction.get",
        Duration::from_millis(40),
        true,
    );
    let text = metrics.encode(t0);
    assert_eq!(sample(&text, "btc_connectivity"), Some(1.0), "{text}");
    metrics.observe_electrum("blockchain.estimatefee", Duration::from_secs(30), false);
    let text = metrics.encode(t0);
    for (series, value) in [
        ("btc_connectivity", 0.0),
        (
            "tbtc_coord_electrum_request_seconds_count{method=\"blockchain.transaction.get\"}",
            2.0,
        ),
        (
            "tbtc_coord_electrum_request_seconds_sum{method=\"blockchain.transaction.get\"}",
            0.06,
        ),
        (
            "tbtc_coord_electrum_errors_total{method=\"blockchain.estimatefee\"}",
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    assert_eq!(
        sample(
            &text,
            "tbtc_coord_electrum_errors_total{method=\"blockchain.transaction.get\"}"
        ),
        None,
        "no failure of that method"
    );
}

#[test]
fn diagnostics_name_the_bitcoin_server_and_its_tip() {
    use crate::protocol::chain::BitcoinStatus;
    let metrics = Metrics::new(EventBus::default(), options(), None).unwrap();
    let t0 = Instant::now();
    assert_eq!(metrics.diagnostics(t0)["btc_info"], serde_json::Value::Null);
    metrics.report_bitcoin(std::sync::Arc::new(|| BitcoinStatus {
        server: "ssl://electrum.example:50002".into(),
        connected: true,
        tip: Some(870_000),
        latency_us: Some(1_500),
        error: None,
    }));
    let btc = &metrics.diagnostics(t0)["btc_info"];
    assert_eq!(btc["server"], "ssl://electrum.example:50002");
    assert_eq!(btc["tip"], 870_000);
    assert_eq!(btc["connected"], true);
}
