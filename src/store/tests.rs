//! Unit tests of the store.

use std::sync::Arc;

use rusqlite::{params, params_from_iter};

use super::*;
use crate::engine::history::{HistoryError, HistoryReader, HistoryWriter};
use crate::engine::records::*;
use crate::protocol::proposal::HexBytes;
use crate::protocol::{
    ActionOutcome, ActionType, Address, CoordinationResult, CoordinationWindow, Fault, FaultType,
    Hash32, Proposal, Role, Seed, WalletPkh,
};
use rusqlite::Connection;

/// Wallet bytes differ from operator bytes so that a search for one never hits the other.
fn wallet(n: u8) -> WalletPkh {
    WalletPkh([0xa0 + n; 20])
}

fn operator(n: u8) -> Address {
    Address([n; 20])
}

fn heartbeat() -> Proposal {
    Proposal::Heartbeat {
        message: HexBytes(vec![0xff; 16]),
    }
}

fn result_for(w: u8, cb: u64, leader: u8, faults: Vec<Fault>) -> CoordinationResult {
    CoordinationResult {
        wallet: wallet(w),
        window: CoordinationWindow::new(cb),
        safe_block_hash: Hash32([0xab; 32]),
        seed: Seed([0xcd; 32]),
        leader: operator(leader),
        leader_member_index: 7,
        role: Role::Follower,
        checklist: vec![ActionType::Redemption, ActionType::Heartbeat],
        proposal: heartbeat(),
        faults,
        members_connected: None,
        evidence: Default::default(),
    }
}

fn fault(f: FaultType, culprit: u8) -> Fault {
    Fault {
        fault: f,
        culprit: operator(culprit),
    }
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
}

#[test]
fn in_memory_store_has_current_schema() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.path(), None);
    let conn = store.conn().unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    let fk: i64 = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(app, APPLICATION_ID);
    assert_eq!(fk, 1);
}

#[test]
fn file_store_runs_wal_with_normal_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/history.sqlite");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
    assert!(path.exists());
    let conn = store.conn().unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    let busy: i64 = conn
        .pragma_query_value(None, "busy_timeout", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(sync, 1, "NORMAL");
    assert_eq!(busy, 5000);
}

#[test]
fn windows_round_trip_and_first_record_wins() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.last_window().unwrap(), None);
    assert!(store.windows(10).unwrap().is_empty());
    store
        .record_window(1800, WindowStatus::Started, false, 1800)
        .unwrap();
    store
        .record_window(900, WindowStatus::Missed, false, 1000)
        .unwrap();
    store
        .record_window(2700, WindowStatus::Started, true, 2705)
        .unwrap();
    // A duplicate (re-delivered block, reorg) changes nothing.
    store
        .record_window(2700, WindowStatus::Missed, false, 2790)
        .unwrap();
    assert_eq!(store.last_window().unwrap(), Some(2700));
    let rows = store.windows(10).unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|w| (w.coordination_block, w.status, w.late, w.observed_block))
        .collect();
    assert_eq!(
        summary,
        vec![
            (2700, WindowStatus::Started, true, 2705),
            (1800, WindowStatus::Started, false, 1800),
            (900, WindowStatus::Missed, false, 1000),
        ]
    );
    assert!(rows.iter().all(|w| w.recorded_at > 1_600_000_000));
    assert_eq!(store.windows(2).unwrap().len(), 2);
    assert_eq!(store.windows(0).unwrap().len(), 0);
}

#[test]
fn result_round_trip_with_faults_and_idempotent() {
    let store = Store::open_in_memory().unwrap();
    let r = result_for(
        1,
        1800,
        9,
        vec![
            fault(FaultType::LeaderImpersonation, 4),
            fault(FaultType::LeaderMistake, 9),
        ],
    );
    assert!(store.record_result(&r).unwrap());
    let row = store.result(&wallet(1), 1800).unwrap().unwrap();
    assert_eq!(row.wallet, wallet(1));
    assert_eq!(row.coordination_block, 1800);
    assert_eq!(row.safe_block_hash, Hash32([0xab; 32]));
    assert_eq!(row.seed, Seed([0xcd; 32]));
    assert_eq!(row.leader, operator(9));
    assert_eq!(row.leader_member_index, 7);
    assert_eq!(row.role, Role::Follower);
    assert_eq!(
        row.checklist,
        vec![ActionType::Redemption, ActionType::Heartbeat]
    );
    assert_eq!(row.action, ActionType::Heartbeat);
    assert_eq!(
        row.proposal_json,
        r#"{"action":"Heartbeat","message":"ffffffffffffffffffffffffffffffff"}"#
    );
    assert_eq!(row.fault_count, 2);

    let faults = store
        .faults(&FaultFilter::default(), FaultOrder::OldestFirst, 0, 10)
        .unwrap();
    let got: Vec<_> = faults
        .iter()
        .map(|f| {
            (
                f.id,
                f.wallet,
                f.coordination_block,
                f.culprit,
                f.fault,
                f.leader,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                1,
                wallet(1),
                1800,
                operator(4),
                FaultType::LeaderImpersonation,
                operator(9)
            ),
            (
                2,
                wallet(1),
                1800,
                operator(9),
                FaultType::LeaderMistake,
                operator(9)
            ),
        ]
    );

    // Recording the same (wallet, window) again, even with other content, writes nothing.
    let mut again = r.clone();
    again.faults.push(fault(FaultType::LeaderIdleness, 9));
    again.proposal = Proposal::Noop;
    assert!(!store.record_result(&again).unwrap());
    assert_eq!(store.count_faults(&FaultFilter::default()).unwrap(), 2);
    assert_eq!(store.result(&wallet(1), 1800).unwrap().unwrap(), row);
    assert_eq!(store.result(&wallet(1), 2700).unwrap(), None);
    assert_eq!(store.result(&wallet(2), 1800).unwrap(), None);
}

#[test]
fn noop_result_with_empty_checklist_round_trips() {
    let store = Store::open_in_memory().unwrap();
    let mut r = result_for(3, 900, 1, vec![fault(FaultType::LeaderIdleness, 1)]);
    r.checklist = vec![];
    r.proposal = Proposal::Noop;
    r.role = Role::Leader;
    r.leader_member_index = 100;
    assert!(store.record_result(&r).unwrap());
    let row = store.result(&wallet(3), 900).unwrap().unwrap();
    assert_eq!(row.checklist, Vec::<ActionType>::new());
    assert_eq!(row.action, ActionType::Noop);
    assert_eq!(row.proposal_json, r#"{"action":"Noop"}"#);
    assert_eq!(row.role, Role::Leader);
    assert_eq!(row.leader_member_index, 100);
    assert_eq!(row.fault_count, 1);
}

#[test]
fn results_list_newest_first_and_by_wallet() {
    let store = Store::open_in_memory().unwrap();
    for (w, cb) in [(1, 900), (2, 900), (1, 1800), (2, 2700), (3, 1800)] {
        assert!(store.record_result(&result_for(w, cb, 5, vec![])).unwrap());
    }
    let all: Vec<_> = store
        .results(None, 100)
        .unwrap()
        .iter()
        .map(|r| (r.wallet, r.coordination_block))
        .collect();
    assert_eq!(
        all,
        vec![
            (wallet(2), 2700),
            (wallet(1), 1800),
            (wallet(3), 1800),
            (wallet(1), 900),
            (wallet(2), 900),
        ]
    );
    let one: Vec<_> = store
        .results(Some(&wallet(1)), 100)
        .unwrap()
        .iter()
        .map(|r| r.coordination_block)
        .collect();
    assert_eq!(one, vec![1800, 900]);
    assert_eq!(store.results(None, 2).unwrap().len(), 2);
    assert_eq!(store.results(Some(&wallet(9)), 10).unwrap(), vec![]);
}

fn sweep() -> Proposal {
    Proposal::MovedFundsSweep {
        moving_funds_tx_hash: Hash32([0x11; 32]),
        moving_funds_tx_output_index: 2,
        sweep_tx_fee: 1500,
    }
}

#[test]
fn dispatch_round_trip_status_changes_and_idempotency() {
    let store = Store::open_in_memory().unwrap();
    let d = DispatchRecord {
        wallet: wallet(1),
        coordination_block: 1800,
        proposal: sweep(),
        start_block: 1900,
        expiry_block: 2500,
        status: DispatchStatus::Dispatched,
        reason: None,
    };
    store.record_dispatch(&d).unwrap();
    // The second record of the same (wallet, window) is ignored.
    store
        .record_dispatch(&DispatchRecord {
            status: DispatchStatus::Rejected,
            reason: Some("dup".into()),
            ..d.clone()
        })
        .unwrap();
    let rows = store.dispatches(0, 10).unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.wallet, wallet(1));
    assert_eq!(row.coordination_block, 1800);
    assert_eq!(row.action, ActionType::MovedFundsSweep);
    assert_eq!(row.proposal_json, serde_json::to_string(&sweep()).unwrap());
    assert_eq!((row.start_block, row.expiry_block), (1900, 2500));
    assert_eq!(row.status, DispatchStatus::Dispatched);
    assert_eq!(row.reason, None);
    assert_eq!(row.finished_block, None);
    assert_eq!(store.open_dispatches().unwrap().len(), 1);

    store
        .set_dispatch_status(&wallet(1), 1800, DispatchStatus::Running, 1900)
        .unwrap();
    let row = store.dispatch(&wallet(1), 1800).unwrap().unwrap();
    assert_eq!(row.status, DispatchStatus::Running);
    assert_eq!(row.finished_block, None);

    store
        .set_dispatch_status_with_reason(
            &wallet(1),
            1800,
            ActionOutcome::Failed.into(),
            1950,
            "signing timed out",
        )
        .unwrap();
    let row = store.dispatch(&wallet(1), 1800).unwrap().unwrap();
    assert_eq!(row.status, DispatchStatus::Failed);
    assert_eq!(row.finished_block, Some(1950));
    assert_eq!(row.reason.as_deref(), Some("signing timed out"));
    assert!(store.open_dispatches().unwrap().is_empty());

    // A plain status change keeps the reason.
    store
        .set_dispatch_status(&wallet(1), 1800, DispatchStatus::Expired, 2500)
        .unwrap();
    let row = store.dispatch(&wallet(1), 1800).unwrap().unwrap();
    assert_eq!(row.status, DispatchStatus::Expired);
    assert_eq!(row.finished_block, Some(2500));
    assert_eq!(row.reason.as_deref(), Some("signing timed out"));

    let missing = store
        .set_dispatch_status(&wallet(2), 1800, DispatchStatus::Completed, 2000)
        .unwrap_err();
    assert!(matches!(
        missing,
        StoreError::NoSuchDispatch { wallet: w, coordination_block: 1800 } if w == wallet(2)
    ));
    assert_eq!(store.dispatch(&wallet(2), 1800).unwrap(), None);
}

#[test]
fn rejected_dispatches_keep_their_reason_and_list_newest_first() {
    let store = Store::open_in_memory().unwrap();
    for (w, cb, status) in [
        (1, 900, DispatchStatus::Completed),
        (2, 2700, DispatchStatus::Running),
        (1, 1800, DispatchStatus::Rejected),
    ] {
        store
            .record_dispatch(&DispatchRecord {
                wallet: wallet(w),
                coordination_block: cb,
                proposal: heartbeat(),
                start_block: cb + 100,
                expiry_block: cb + 700,
                status,
                reason: (status == DispatchStatus::Rejected)
                    .then(|| "wallet busy with Heartbeat of window 900".to_string()),
            })
            .unwrap();
    }
    let rows = store.dispatches(0, 10).unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.wallet, r.coordination_block, r.status, r.reason.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (wallet(2), 2700, DispatchStatus::Running, None),
            (
                wallet(1),
                1800,
                DispatchStatus::Rejected,
                Some("wallet busy with Heartbeat of window 900".into())
            ),
            (wallet(1), 900, DispatchStatus::Completed, None),
        ]
    );
    let open: Vec<_> = store
        .open_dispatches()
        .unwrap()
        .iter()
        .map(|r| r.coordination_block)
        .collect();
    assert_eq!(open, vec![2700]);
    assert_eq!(store.dispatches(0, 1).unwrap().len(), 1);
}

#[test]
fn dispatch_status_names_and_outcomes() {
    for s in DispatchStatus::ALL {
        assert_eq!(DispatchStatus::from_name(s.name()), Some(s));
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{}\"", s.name())
        );
    }
    assert_eq!(DispatchStatus::from_name("done"), None);
    assert_eq!(
        DispatchStatus::from(ActionOutcome::Completed),
        DispatchStatus::Completed
    );
    assert_eq!(
        DispatchStatus::from(ActionOutcome::Expired),
        DispatchStatus::Expired
    );
    assert!(!DispatchStatus::Running.is_finished());
    assert!(DispatchStatus::Rejected.is_finished());
    for s in [WindowStatus::Started, WindowStatus::Missed] {
        assert_eq!(WindowStatus::from_name(s.name()), Some(s));
    }
}

fn dry_run(cb: u64, proposal: Option<Proposal>) -> DryRunRecord {
    DryRunRecord {
        wallet: wallet(4),
        coordination_block: cb,
        current_block: cb - 10,
        safe_block: cb - 32,
        safe_block_hash: Hash32([0x22; 32]),
        hash_rule: "keep-v2".into(),
        seed: Seed([0x33; 32]),
        leader: operator(0x44),
        leader_is_self: proposal.is_some(),
        role: if proposal.is_some() {
            Role::Leader
        } else {
            Role::Follower
        },
        checklist: vec![
            ActionType::Redemption,
            ActionType::DepositSweep,
            ActionType::MovedFundsSweep,
            ActionType::MovingFunds,
            ActionType::Heartbeat,
        ],
        reason: proposal
            .is_none()
            .then(|| "this node is not the leader".to_string()),
        proposal,
    }
}

#[test]
fn dry_runs_round_trip_newest_first() {
    let store = Store::open_in_memory().unwrap();
    let first = dry_run(3600, Some(sweep()));
    let second = dry_run(4500, None);
    let id1 = store.record_dry_run(&first).unwrap();
    let id2 = store.record_dry_run(&second).unwrap();
    assert!(id2 > id1);
    let rows = store.dry_runs(0, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].id, id2);
    assert_eq!(rows[1].id, id1);
    let r = &rows[1];
    assert_eq!(r.wallet, first.wallet);
    assert_eq!(r.coordination_block, 3600);
    assert_eq!(r.current_block, 3590);
    assert_eq!(r.safe_block, 3568);
    assert_eq!(r.safe_block_hash, first.safe_block_hash);
    assert_eq!(r.hash_rule, "keep-v2");
    assert_eq!(r.seed, first.seed);
    assert_eq!(r.leader, operator(0x44));
    assert!(r.leader_is_self);
    assert_eq!(r.role, Role::Leader);
    assert_eq!(r.checklist, first.checklist);
    assert_eq!(
        r.proposal_json.as_deref(),
        Some(serde_json::to_string(&sweep()).unwrap().as_str())
    );
    assert_eq!(r.reason, None);
    let r = &rows[0];
    assert_eq!(r.proposal_json, None);
    assert!(!r.leader_is_self);
    assert_eq!(r.role, Role::Follower);
    assert_eq!(r.reason.as_deref(), Some("this node is not the leader"));
    assert_eq!(store.dry_runs(0, 1).unwrap().len(), 1);
}

#[test]
fn meta_values_round_trip_and_overwrite() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.get_meta("chain").unwrap(), None);
    store.set_meta("chain", "devnet-1").unwrap();
    assert_eq!(
        store.get_meta("chain").unwrap().as_deref(),
        Some("devnet-1")
    );
    store.set_meta("chain", "chain-1").unwrap();
    assert_eq!(store.get_meta("chain").unwrap().as_deref(), Some("chain-1"));
    store.set_meta("", "").unwrap();
    assert_eq!(store.get_meta("").unwrap().as_deref(), Some(""));
}

#[test]
fn block_numbers_beyond_i64_round_trip() {
    let store = Store::open_in_memory().unwrap();
    let huge = (1u64 << 63) + 5;
    store
        .record_window(huge, WindowStatus::Missed, true, u64::MAX)
        .unwrap();
    let w = &store.windows(1).unwrap()[0];
    assert_eq!(w.coordination_block, huge);
    assert_eq!(w.observed_block, u64::MAX);
    assert_eq!(block_from_sql(block_to_sql(0)), 0);
    assert!(block_to_sql(24_559_289) < block_to_sql(24_560_189));
}

/// One fault of the fixture, as the test expects to read it back.
type Expected = (i64, WalletPkh, u64, Address, FaultType, Address);

/// A deterministic spread of faults over 4 wallets, 5 operators, 3 types and 30 windows,
/// with several faults per window so that ties on every sort key exist.
fn fault_fixture(store: &Store) -> Vec<Expected> {
    let mut expected = Vec::new();
    let mut id = 0;
    for i in 0..30u64 {
        for w in 0..4u8 {
            let cb = 900 * (1 + (i * 7 + u64::from(w) * 3) % 25);
            let leader = (i as u8 + w) % 5 + 1;
            let mut faults = Vec::new();
            for k in 0..((i + u64::from(w)) % 4) {
                let f = FaultType::ALL[((i + k) % 3) as usize];
                let culprit = if f == FaultType::LeaderImpersonation {
                    (leader + 1 + k as u8) % 5 + 1
                } else {
                    leader
                };
                faults.push(fault(f, culprit));
            }
            let r = result_for(w + 1, cb, leader, faults.clone());
            if store.record_result(&r).unwrap() {
                for f in faults {
                    id += 1;
                    expected.push((id, wallet(w + 1), cb, f.culprit, f.fault, operator(leader)));
                }
            }
        }
    }
    expected
}

fn key(f: &FaultRow) -> Expected {
    (
        f.id,
        f.wallet,
        f.coordination_block,
        f.culprit,
        f.fault,
        f.leader,
    )
}

fn sorted(mut rows: Vec<Expected>, order: FaultOrder) -> Vec<Expected> {
    use std::cmp::Reverse;
    match order {
        FaultOrder::NewestFirst => rows.sort_by_key(|r| Reverse((r.2, r.0))),
        FaultOrder::OldestFirst => rows.sort_by_key(|r| (r.2, r.0)),
        FaultOrder::ByOperator => rows.sort_by_key(|r| (r.3.to_checksum(), Reverse((r.2, r.0)))),
        FaultOrder::ByType => rows.sort_by_key(|r| (r.4.name(), Reverse((r.2, r.0)))),
        FaultOrder::ByWallet => rows.sort_by_key(|r| (r.1.to_hex(), Reverse((r.2, r.0)))),
    }
    rows
}

/// A filter and the reference predicate it must agree with.
type FilterCase = (FaultFilter, Box<dyn Fn(&Expected) -> bool>);

fn filters() -> Vec<FilterCase> {
    let op3 = operator(3);
    let op3_text = op3.to_checksum();
    vec![
        (FaultFilter::default(), Box::new(|_| true)),
        (
            FaultFilter {
                wallet: Some(wallet(2)),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(2)),
        ),
        (
            FaultFilter {
                operator: Some(op3),
                ..Default::default()
            },
            Box::new(move |e| e.3 == op3),
        ),
        (
            FaultFilter {
                fault: Some(FaultType::LeaderMistake),
                ..Default::default()
            },
            Box::new(|e| e.4 == FaultType::LeaderMistake),
        ),
        (
            FaultFilter {
                from_block: Some(9000),
                ..Default::default()
            },
            Box::new(|e| e.2 >= 9000),
        ),
        (
            FaultFilter {
                to_block: Some(9000),
                ..Default::default()
            },
            Box::new(|e| e.2 <= 9000),
        ),
        (
            FaultFilter {
                from_block: Some(4500),
                to_block: Some(13500),
                ..Default::default()
            },
            Box::new(|e| (4500..=13500).contains(&e.2)),
        ),
        // Search: wallet hex (with and without 0x, any case).
        (
            FaultFilter {
                search: Some("0XA3A3".into()),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(3)),
        ),
        (
            FaultFilter {
                search: Some("  a4a4a4a4a4  ".into()),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(4)),
        ),
        // Search: culprit address text, case-insensitively.
        (
            FaultFilter {
                search: Some(op3_text[..12].to_uppercase()),
                ..Default::default()
            },
            Box::new(move |e| e.3 == op3),
        ),
        // Search: fault type name, case-insensitively.
        (
            FaultFilter {
                search: Some("impersonation".into()),
                ..Default::default()
            },
            Box::new(|e| e.4 == FaultType::LeaderImpersonation),
        ),
        // A search may hit a wallet or a culprit: either selects the fault.
        (
            FaultFilter {
                search: Some("2".into()),
                ..Default::default()
            },
            Box::new(|e| e.1 == wallet(2) || e.3 == operator(2)),
        ),
        // Searches that every fault matches, through its culprit or its type.
        (
            FaultFilter {
                search: Some("0x".into()),
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        (
            FaultFilter {
                search: Some("LEADER".into()),
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        // Blank search is no filter; '%' is literal.
        (
            FaultFilter {
                search: Some("   ".into()),
                ..Default::default()
            },
            Box::new(|_| true),
        ),
        (
            FaultFilter {
                search: Some("%".into()),
                ..Default::default()
            },
            Box::new(|_| false),
        ),
        // Everything at once.
        (
            FaultFilter {
                wallet: Some(wallet(1)),
                operator: Some(operator(2)),
                fault: Some(FaultType::LeaderIdleness),
                from_block: Some(1800),
                to_block: Some(18000),
                search: Some("idle".into()),
            },
            Box::new(|e| {
                e.1 == wallet(1)
                    && e.3 == operator(2)
                    && e.4 == FaultType::LeaderIdleness
                    && (1800..=18000).contains(&e.2)
            }),
        ),
    ]
}

#[test]
fn fault_filters_orders_and_counts_match_a_reference() {
    let store = Store::open_in_memory().unwrap();
    let all = fault_fixture(&store);
    assert!(all.len() > 100, "fixture has {} faults", all.len());
    check_filters_and_orders(&store, &all);
}

#[test]
fn search_by_substring_per_row_gives_the_same_answers() {
    let mut store = Store::open_in_memory().unwrap();
    // No IN lists at all: every search that is not "everything" tests each row.
    store.max_search_values = 0;
    let all = fault_fixture(&store);
    check_filters_and_orders(&store, &all);
}

fn check_filters_and_orders(store: &Store, all: &[Expected]) {
    for (i, (filter, keep)) in filters().into_iter().enumerate() {
        let expected: Vec<Expected> = all.iter().copied().filter(|e| keep(e)).collect();
        assert_eq!(
            store.count_faults(&filter).unwrap(),
            expected.len() as u64,
            "count, filter #{i}: {filter:?}"
        );
        // Every filter but the impossible one must select something, or it tests nothing.
        if filter.search.as_deref() != Some("%") {
            assert!(!expected.is_empty(), "filter #{i} selects nothing");
        }
        for order in FaultOrder::ALL {
            let got: Vec<Expected> = store
                .faults(&filter, order, 0, u64::MAX)
                .unwrap()
                .iter()
                .map(key)
                .collect();
            assert_eq!(
                got,
                sorted(expected.clone(), order),
                "filter #{i} {filter:?}, order {order:?}"
            );
        }
    }
}

#[test]
fn fault_pages_concatenate_to_the_full_list() {
    let store = Store::open_in_memory().unwrap();
    fault_fixture(&store);
    for (i, (filter, _)) in filters().into_iter().enumerate() {
        for order in FaultOrder::ALL {
            let full = store.faults(&filter, order, 0, 10_000).unwrap();
            let mut paged = Vec::new();
            let mut offset = 0;
            loop {
                let page = store.faults(&filter, order, offset, 7).unwrap();
                assert!(page.len() <= 7);
                if page.is_empty() {
                    break;
                }
                offset += page.len() as u64;
                paged.extend(page);
            }
            assert_eq!(paged, full, "filter #{i}, order {order:?}");
        }
    }
    let beyond = store
        .faults(
            &FaultFilter::default(),
            FaultOrder::NewestFirst,
            1_000_000,
            10,
        )
        .unwrap();
    assert!(beyond.is_empty());
}

#[test]
fn fault_summary_counts_per_operator() {
    let store = Store::open_in_memory().unwrap();
    let all = fault_fixture(&store);
    for (i, (filter, keep)) in filters().into_iter().enumerate() {
        let rows: Vec<Expected> = all.iter().copied().filter(|e| keep(e)).collect();
        let summary = store.fault_summary(&filter).unwrap();
        let mut operators: Vec<Address> = rows.iter().map(|r| r.3).collect();
        operators.sort();
        operators.dedup();
        assert_eq!(summary.len(), operators.len(), "filter #{i}");
        for s in &summary {
            let mine: Vec<&Expected> = rows.iter().filter(|r| r.3 == s.operator).collect();
            assert_eq!(s.total, mine.len() as u64);
            for f in FaultType::ALL {
                let n = mine.iter().filter(|r| r.4 == f).count() as u64;
                assert_eq!(s.count(f), n, "filter #{i} {:?} {f}", s.operator);
                assert_eq!(s.by_type.get(&f), Some(&n));
            }
            let last = mine.iter().max_by_key(|r| (r.2, r.0)).unwrap();
            assert_eq!(s.last_coordination_block, last.2);
            assert_eq!(s.last_fault, last.4);
        }
        assert!(summary.windows(2).all(|p| p[0].total >= p[1].total));
    }
}

#[test]
fn fault_summary_small_example() {
    let store = Store::open_in_memory().unwrap();
    store
        .record_result(&result_for(
            1,
            900,
            1,
            vec![
                fault(FaultType::LeaderIdleness, 1),
                fault(FaultType::LeaderImpersonation, 2),
            ],
        ))
        .unwrap();
    store
        .record_result(&result_for(
            1,
            1800,
            1,
            vec![fault(FaultType::LeaderMistake, 1)],
        ))
        .unwrap();
    store
        .record_result(&result_for(
            2,
            1800,
            1,
            vec![fault(FaultType::LeaderIdleness, 1)],
        ))
        .unwrap();
    let s = store.fault_summary(&FaultFilter::default()).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].operator, operator(1));
    assert_eq!(s[0].total, 3);
    assert_eq!(s[0].count(FaultType::LeaderIdleness), 2);
    assert_eq!(s[0].count(FaultType::LeaderMistake), 1);
    assert_eq!(s[0].count(FaultType::LeaderImpersonation), 0);
    assert_eq!(s[0].last_coordination_block, 1800);
    // Both block-1800 faults tie on block; the later-recorded one is the latest.
    assert_eq!(s[0].last_fault, FaultType::LeaderIdleness);
    assert_eq!(s[1].operator, operator(2));
    assert_eq!(s[1].total, 1);
    assert_eq!(s[1].last_fault, FaultType::LeaderImpersonation);
    assert_eq!(s[1].last_coordination_block, 900);
    assert!(store
        .fault_summary(&FaultFilter {
            fault: Some(FaultType::LeaderMistake),
            operator: Some(operator(2)),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}

/// The query plan of a fault page, one line per step.
fn plan(store: &Store, filter: &FaultFilter, order: FaultOrder) -> String {
    let conn = store.conn().unwrap();
    let (query, values) = store.fault_page_query(&conn, filter, order, 0, 50).unwrap();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
        .unwrap();
    let rows = stmt
        .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
}

#[test]
fn fault_pages_walk_an_index_without_sorting() {
    let store = Store::open_in_memory().unwrap();
    // Unfiltered, every order is an index walk: no full sort of the table per page.
    for order in FaultOrder::ALL {
        let p = plan(&store, &FaultFilter::default(), order);
        assert!(!p.contains("TEMP B-TREE"), "{order:?}: {p}");
    }
    // A single equality filter uses its index, and newest-first needs no sort.
    let single = [
        FaultFilter {
            wallet: Some(wallet(1)),
            ..Default::default()
        },
        FaultFilter {
            operator: Some(operator(1)),
            ..Default::default()
        },
        FaultFilter {
            fault: Some(FaultType::LeaderIdleness),
            ..Default::default()
        },
        FaultFilter {
            from_block: Some(900),
            to_block: Some(9000),
            ..Default::default()
        },
    ];
    for filter in &single {
        let p = plan(&store, filter, FaultOrder::NewestFirst);
        assert!(p.contains("USING INDEX faults_by_"), "{filter:?}: {p}");
        assert!(!p.contains("TEMP B-TREE"), "{filter:?}: {p}");
    }
}

/// 100,000 faults over 10,000 windows, 40 wallets and 50 operators, bulk-loaded straight
/// into the tables: the tests using it are about reading.
fn load_100k_faults(store: &Store) {
    let mut conn = store.conn().unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut result = tx
            .prepare(
                "INSERT INTO results (wallet, coordination_block, safe_block_hash, seed,
                     leader, leader_member_index, role, checklist, action, proposal,
                     fault_count, recorded_at)
                 VALUES (?1, ?2, '', '', ?3, 1, 'follower', '', 'Noop', '{}', 10, 0)",
            )
            .unwrap();
        let mut fault = tx
            .prepare(
                "INSERT INTO faults (wallet, coordination_block, culprit, fault_type,
                     leader, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
            )
            .unwrap();
        let operators: Vec<String> = (1..=50u8).map(|n| operator(n).to_checksum()).collect();
        for i in 0..10_000u64 {
            let w = wallet((i % 40) as u8 + 1).to_hex();
            let cb = block_to_sql(900 * (i + 1));
            let leader = &operators[(i % 50) as usize];
            result.execute(params![w, cb, leader]).unwrap();
            for k in 0..10u64 {
                let f = FaultType::ALL[((i + k) % 3) as usize].name();
                let culprit = &operators[((i + k * 7) % 50) as usize];
                fault.execute(params![w, cb, culprit, f, leader]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

#[test]
fn a_hundred_thousand_faults_page_quickly() {
    let store = Store::open_in_memory().unwrap();
    load_100k_faults(&store);
    let filters = [
        FaultFilter::default(),
        FaultFilter {
            operator: Some(operator(7)),
            ..Default::default()
        },
        FaultFilter {
            wallet: Some(wallet(3)),
            fault: Some(FaultType::LeaderMistake),
            ..Default::default()
        },
        FaultFilter {
            from_block: Some(900 * 2000),
            to_block: Some(900 * 8000),
            ..Default::default()
        },
        FaultFilter {
            search: Some("mistake".into()),
            ..Default::default()
        },
    ];
    assert_eq!(store.count_faults(&filters[0]).unwrap(), 100_000);
    for filter in &filters {
        let total = store.count_faults(filter).unwrap();
        assert!(total >= 50, "{filter:?} selects only {total}");
        for order in FaultOrder::ALL {
            for offset in [0, total / 2, total - 50] {
                let page = store.faults(filter, order, offset, 50).unwrap();
                assert_eq!(page.len(), 50, "{filter:?} {order:?} at {offset}");
            }
        }
        let summary = store.fault_summary(filter).unwrap();
        assert_eq!(summary.iter().map(|s| s.total).sum::<u64>(), total);
    }
    let newest = store
        .faults(&filters[0], FaultOrder::NewestFirst, 0, 1)
        .unwrap();
    assert_eq!(newest[0].coordination_block, 9_000_000);
    // That no page sorts the table is checked on the query plans (above), not with a clock;
    // examples/console_bench measures how long pages take.
}

#[test]
fn a_reopened_file_store_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let r = result_for(1, 1800, 2, vec![fault(FaultType::LeaderIdleness, 2)]);
    let d = DispatchRecord {
        wallet: wallet(1),
        coordination_block: 900,
        proposal: heartbeat(),
        start_block: 1000,
        expiry_block: 1600,
        status: DispatchStatus::Running,
        reason: None,
    };
    let (faults, results, dispatches, dry_runs, windows) = {
        let store = Store::open(&path).unwrap();
        store
            .record_window(1800, WindowStatus::Started, false, 1800)
            .unwrap();
        assert!(store.record_result(&r).unwrap());
        store.record_dispatch(&d).unwrap();
        store.record_dry_run(&dry_run(2700, None)).unwrap();
        store.set_meta("chain", "devnet-1").unwrap();
        (
            store
                .faults(&FaultFilter::default(), FaultOrder::NewestFirst, 0, 100)
                .unwrap(),
            store.results(None, 100).unwrap(),
            store.dispatches(0, 100).unwrap(),
            store.dry_runs(0, 100).unwrap(),
            store.windows(100).unwrap(),
        )
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store
            .faults(&FaultFilter::default(), FaultOrder::NewestFirst, 0, 100)
            .unwrap(),
        faults
    );
    assert_eq!(faults.len(), 1);
    assert_eq!(store.results(None, 100).unwrap(), results);
    assert_eq!(store.dispatches(0, 100).unwrap(), dispatches);
    assert_eq!(store.dry_runs(0, 100).unwrap(), dry_runs);
    assert_eq!(store.windows(100).unwrap(), windows);
    assert_eq!(store.last_window().unwrap(), Some(1800));
    assert_eq!(
        store.get_meta("chain").unwrap().as_deref(),
        Some("devnet-1")
    );
    // Idempotency holds across restarts too.
    assert!(!store.record_result(&r).unwrap());
    assert_eq!(store.count_faults(&FaultFilter::default()).unwrap(), 1);
}

#[test]
fn several_stores_may_open_a_new_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let stores: Vec<Store> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| Store::open(&path))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    stores[0].set_meta("k", "from the first").unwrap();
    for store in &stores {
        assert_eq!(
            store.get_meta("k").unwrap().as_deref(),
            Some("from the first")
        );
    }
}

#[test]
fn committed_writes_survive_a_store_that_never_closed() {
    // Like kill -9: the first store is leaked, never closed or checkpointed, so its
    // commits exist only in the WAL when the second store opens the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let crashed = Store::open(&path).unwrap();
    assert!(crashed
        .record_result(&result_for(
            5,
            900,
            1,
            vec![fault(FaultType::LeaderMistake, 1)]
        ))
        .unwrap());
    std::mem::forget(crashed);
    let store = Store::open(&path).unwrap();
    let rows = store
        .faults(&FaultFilter::default(), FaultOrder::NewestFirst, 0, 10)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].wallet, wallet(5));
    assert_eq!(rows[0].fault, FaultType::LeaderMistake);
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    std::fs::write(
        &path,
        b"this is a text file, not a database at all\n".repeat(100),
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("expected an SQLite database"), "{msg}");
    // The file is left as it was.
    assert!(std::fs::read(&path)
        .unwrap()
        .starts_with(b"this is a text file"));
}

#[test]
fn a_newer_schema_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    drop(Store::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NewerSchema {
                found: 7,
                supported: SCHEMA_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("version 7"), "{msg}");
    assert!(msg.contains(&format!("up to {SCHEMA_VERSION}")), "{msg}");
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE windows (x); CREATE TABLE y (z);")
            .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err:?}");
    assert!(err.to_string().contains("2 tables"), "{err}");

    let path = dir.path().join("app.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "application_id", 42).unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(err.to_string().contains("0x2a"), "{err}");
}

#[test]
fn corrupt_rows_are_errors_naming_the_column() {
    let store = Store::open_in_memory().unwrap();
    store
        .record_result(&result_for(
            1,
            900,
            1,
            vec![fault(FaultType::LeaderIdleness, 1)],
        ))
        .unwrap();
    store
        .conn()
        .unwrap()
        .execute("UPDATE faults SET culprit = '0xnot-an-address'", [])
        .unwrap();
    let err = store
        .faults(&FaultFilter::default(), FaultOrder::NewestFirst, 0, 10)
        .unwrap_err();
    match err {
        StoreError::Corrupt {
            table,
            column,
            value,
            ..
        } => {
            assert_eq!((table, column), ("faults", "culprit"));
            assert_eq!(value, "0xnot-an-address");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    store
        .conn()
        .unwrap()
        .execute("UPDATE results SET checklist = 'Redemption,Teleport'", [])
        .unwrap();
    let err = store.result(&wallet(1), 900).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                column: "checklist",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Teleport"), "{err}");
    store
        .conn()
        .unwrap()
        .execute(
            "UPDATE results SET checklist = '', fault_count = 'many'",
            [],
        )
        .unwrap();
    let err = store.result(&wallet(1), 900).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                column: "fault_count",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_poisoned_lock_is_an_error() {
    let store = Store::open_in_memory().unwrap();
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            let _guard = store.conn.lock();
            panic!("simulated panic while holding the store lock");
        })
        .join()
    });
    assert!(outcome.is_err());
    assert!(matches!(
        store.last_window().unwrap_err(),
        StoreError::Poisoned
    ));
    assert!(matches!(
        store.set_meta("k", "v").unwrap_err(),
        StoreError::Poisoned
    ));
}

#[test]
fn store_errors_say_which_operation_failed() {
    let store = Store::open_in_memory().unwrap();
    store
        .conn()
        .unwrap()
        .execute_batch("DROP TABLE meta")
        .unwrap();
    let err = store.set_meta("k", "v").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("history store: writing a meta value:"),
        "{err}"
    );
}

#[test]
fn history_traits_are_object_safe_and_keep_the_store_message() {
    use crate::engine::history::History;
    let history: std::sync::Arc<dyn History> =
        std::sync::Arc::new(Store::open_in_memory().unwrap());
    assert!(HistoryWriter::record_result(&*history, &result_for(1, 900, 3, vec![])).unwrap());
    assert_eq!(
        HistoryReader::results(&*history, None, 10).unwrap().len(),
        1
    );
    // A write that does not take says so, with the store's own words.
    let err = HistoryWriter::set_dispatch_status(
        &*history,
        &wallet(1),
        900,
        DispatchStatus::Running,
        901,
    )
    .unwrap_err();
    assert!(err.is_write());
    let store_message = StoreError::NoSuchDispatch {
        wallet: wallet(1),
        coordination_block: 900,
    }
    .to_string();
    assert_eq!(err.message(), store_message);
    assert_eq!(err.to_string(), store_message);
    // Queries convert as reads.
    let read: HistoryError = StoreError::Poisoned.into();
    assert!(!read.is_write());
}

#[test]
fn window_status_changes_with_reason_and_unfinished_windows() {
    let store = Store::open_in_memory().unwrap();
    store
        .record_window(900, WindowStatus::Started, false, 900)
        .unwrap();
    store
        .record_window(1800, WindowStatus::Started, true, 1810)
        .unwrap();
    store
        .record_window(2700, WindowStatus::Missed, false, 2800)
        .unwrap();
    store
        .set_window_status(900, WindowStatus::Completed, None)
        .unwrap();
    store
        .set_window_status(1800, WindowStatus::Interrupted, Some("node stopped"))
        .unwrap();
    // Not recorded before: recorded now.
    HistoryWriter::set_window_status(&store, 3600, WindowStatus::Interrupted, Some("crash"))
        .unwrap();
    let unfinished: Vec<_> = HistoryWriter::unfinished_windows(&store)
        .unwrap()
        .into_iter()
        .map(|w| {
            (
                w.coordination_block,
                w.status,
                w.late,
                w.observed_block,
                w.reason,
            )
        })
        .collect();
    assert_eq!(
        unfinished,
        vec![
            (
                1800,
                WindowStatus::Interrupted,
                true,
                1810,
                Some("node stopped".to_string())
            ),
            (
                3600,
                WindowStatus::Interrupted,
                false,
                3600,
                Some("crash".to_string())
            ),
        ]
    );
    // A resumed window that completes is no longer unfinished, and loses its reason.
    store
        .set_window_status(1800, WindowStatus::Completed, None)
        .unwrap();
    let rows = store.windows(10).unwrap();
    let w1800 = rows.iter().find(|w| w.coordination_block == 1800).unwrap();
    assert_eq!(
        (w1800.status, w1800.reason.as_deref()),
        (WindowStatus::Completed, None)
    );
    let w900 = rows.iter().find(|w| w.coordination_block == 900).unwrap();
    assert_eq!(w900.status, WindowStatus::Completed);
    assert_eq!(
        store
            .unfinished_windows()
            .unwrap()
            .iter()
            .map(|w| w.coordination_block)
            .collect::<Vec<_>>(),
        vec![3600]
    );
    assert_eq!(store.last_window().unwrap(), Some(3600));
}

#[test]
fn a_fault_repeated_in_one_result_is_stored_once() {
    let store = Store::open_in_memory().unwrap();
    let twice = result_for(
        1,
        900,
        3,
        vec![
            fault(FaultType::LeaderIdleness, 3),
            fault(FaultType::LeaderIdleness, 3),
            fault(FaultType::LeaderImpersonation, 5),
        ],
    );
    assert!(store.record_result(&twice).unwrap());
    assert_eq!(store.count_faults(&FaultFilter::default()).unwrap(), 2);
    let row = store.result(&wallet(1), 900).unwrap().unwrap();
    assert_eq!(row.fault_count, 2, "fault_count counts what was stored");
    // The same fault of another wallet or window is another fault.
    assert!(store
        .record_result(&result_for(
            2,
            900,
            3,
            vec![fault(FaultType::LeaderIdleness, 3)]
        ))
        .unwrap());
    assert!(store
        .record_result(&result_for(
            1,
            1800,
            3,
            vec![fault(FaultType::LeaderIdleness, 3)]
        ))
        .unwrap());
    assert_eq!(store.count_faults(&FaultFilter::default()).unwrap(), 4);
}

/// A file as version 1 of this program wrote it.
pub(super) fn v1_file(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(schema::SCHEMA_V1).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    conn
}

#[test]
fn a_version_1_file_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    {
        let conn = v1_file(&path);
        conn.execute_batch(&format!(
            "INSERT INTO windows VALUES (900, 'started', 0, 900, 1);
             INSERT INTO windows VALUES (1800, 'missed', 0, 1900, 2);
             INSERT INTO windows VALUES (2700, 'started', 1, 2705, 3);
             INSERT INTO results (wallet, coordination_block, safe_block_hash, seed, leader,
                 leader_member_index, role, checklist, action, proposal, fault_count,
                 recorded_at)
             VALUES ('{w}', 900, '{h}', '{h}', '{l}', 1, 'follower', 'Heartbeat', 'Heartbeat',
                 '{{}}', 3, 4);
             INSERT INTO faults (wallet, coordination_block, culprit, fault_type, leader,
                 recorded_at)
             VALUES ('{w}', 900, '{l}', 'LeaderIdleness', '{l}', 5),
                    ('{w}', 900, '{l}', 'LeaderIdleness', '{l}', 6),
                    ('{w}', 900, '{c}', 'LeaderImpersonation', '{l}', 7);",
            w = wallet(1).to_hex(),
            h = Hash32([0xab; 32]).to_hex(),
            l = operator(3).to_checksum(),
            c = operator(5).to_checksum(),
        ))
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let version: i64 = store
        .conn()
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4, "through versions 2, 3 and 4");

    // Windows kept; v1 never recorded completion, so only the newest started one is open.
    let windows: Vec<_> = store
        .windows(10)
        .unwrap()
        .into_iter()
        .map(|w| {
            (
                w.coordination_block,
                w.status,
                w.late,
                w.observed_block,
                w.reason,
            )
        })
        .collect();
    assert_eq!(
        windows,
        vec![
            (2700, WindowStatus::Started, true, 2705, None),
            (1800, WindowStatus::Missed, false, 1900, None),
            (900, WindowStatus::Completed, false, 900, None),
        ]
    );
    assert_eq!(
        store
            .unfinished_windows()
            .unwrap()
            .iter()
            .map(|w| w.coordination_block)
            .collect::<Vec<_>>(),
        vec![2700]
    );
    // The new statuses are accepted by the rebuilt table.
    store
        .set_window_status(2700, WindowStatus::Interrupted, Some("node stopped"))
        .unwrap();

    // Duplicate faults became one, the first; the result counts what is left.
    let faults = store
        .faults(&FaultFilter::default(), FaultOrder::OldestFirst, 0, 10)
        .unwrap();
    let kept: Vec<_> = faults.iter().map(|f| (f.fault, f.recorded_at)).collect();
    assert_eq!(
        kept,
        vec![
            (FaultType::LeaderIdleness, 5),
            (FaultType::LeaderImpersonation, 7)
        ]
    );
    assert_eq!(
        store.result(&wallet(1), 900).unwrap().unwrap().fault_count,
        2
    );
    // And the unique key holds from now on.
    let dup = store.conn().unwrap().execute(
        "INSERT INTO faults (wallet, coordination_block, culprit, fault_type, leader, recorded_at)
         SELECT wallet, coordination_block, culprit, fault_type, leader, 8 FROM faults LIMIT 1",
        [],
    );
    assert!(dup.is_err(), "{dup:?}");
    drop(store);
    // Reopening an up-to-date file changes nothing.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.count_faults(&FaultFilter::default()).unwrap(), 2);
    assert_eq!(store.windows(10).unwrap().len(), 3);
}

#[test]
fn the_failure_reason_of_an_action_is_stored_through_the_history_trait() {
    let store = Store::open_in_memory().unwrap();
    let history: &dyn HistoryWriter = &store;
    history
        .record_dispatch(&DispatchRecord {
            wallet: wallet(4),
            coordination_block: 900,
            proposal: sweep(),
            start_block: 910,
            expiry_block: 1500,
            status: DispatchStatus::Running,
            reason: None,
        })
        .unwrap();
    history
        .set_dispatch_status_with_reason(
            &wallet(4),
            900,
            DispatchStatus::Expired,
            1500,
            "node was down",
        )
        .unwrap();
    let row = HistoryReader::dispatch(&store, &wallet(4), 900)
        .unwrap()
        .unwrap();
    assert_eq!(row.status, DispatchStatus::Expired);
    assert_eq!(row.finished_block, Some(1500));
    assert_eq!(row.reason.as_deref(), Some("node was down"));
    assert!(history.open_dispatches().unwrap().is_empty());
}

#[test]
fn a_reader_has_its_own_connection_and_sees_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let store = Store::open(&path).unwrap();
    let reader = store.reader().unwrap();
    assert!(!Arc::ptr_eq(&store.conn, &reader.store.conn));
    assert_eq!(
        HistoryReader::count_faults(&reader, &FaultFilter::default()).unwrap(),
        0
    );
    store
        .record_result(&result_for(
            1,
            900,
            3,
            vec![fault(FaultType::LeaderIdleness, 3)],
        ))
        .unwrap();
    // While the writer is inside a write transaction, the reader reads (WAL), and sees only
    // what was committed.
    {
        let mut conn = store.conn().unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute(
            "INSERT INTO windows (coordination_block, status, late, observed_block, recorded_at)
             VALUES (2700, 'started', 0, 2700, 0)",
            [],
        )
        .unwrap();
        assert!(HistoryReader::windows(&reader, 10).unwrap().is_empty());
        assert_eq!(
            HistoryReader::count_faults(&reader, &FaultFilter::default()).unwrap(),
            1
        );
        tx.commit().unwrap();
    }
    store
        .record_window(1800, WindowStatus::Started, false, 1800)
        .unwrap();
    let rows = HistoryReader::faults(
        &reader,
        &FaultFilter::default(),
        FaultOrder::NewestFirst,
        0,
        10,
    )
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(HistoryReader::windows(&reader, 10).unwrap().len(), 2);
    assert!(HistoryReader::result(&reader, &wallet(1), 900)
        .unwrap()
        .is_some());

    // In memory the reader shares the writer's connection.
    let memory = Store::open_in_memory().unwrap();
    let memory_reader = memory.reader().unwrap();
    assert!(Arc::ptr_eq(&memory.conn, &memory_reader.store.conn));
    memory
        .record_result(&result_for(2, 900, 3, vec![]))
        .unwrap();
    assert_eq!(
        HistoryReader::results(&memory_reader, None, 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_write_through_a_read_only_store_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store
            .record_window(900, WindowStatus::Started, false, 900)
            .unwrap();
    }
    // Beside a running writer.
    let writer = Store::open(&path).unwrap();
    {
        let read_only = Store::open_read_only(&path).unwrap();
        assert_eq!(read_only.windows(10).unwrap().len(), 1);
        let err = HistoryWriter::record_result(
            &read_only,
            &result_for(1, 900, 3, vec![fault(FaultType::LeaderIdleness, 3)]),
        )
        .unwrap_err();
        assert!(err.is_write(), "{err:?}");
        assert!(err.message().contains("recording a result"), "{err}");
        assert!(read_only
            .record_window(1800, WindowStatus::Started, false, 1800)
            .is_err());
        assert!(
            HistoryWriter::set_window_status(&read_only, 900, WindowStatus::Completed, None)
                .unwrap_err()
                .is_write()
        );
        assert!(read_only.set_meta("k", "v").is_err());
    }
    assert_eq!(writer.count_faults(&FaultFilter::default()).unwrap(), 0);
    assert!(writer.results(None, 10).unwrap().is_empty());
    let windows = writer.windows(10).unwrap();
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].status, WindowStatus::Started);
    assert_eq!(writer.get_meta("k").unwrap(), None);
    drop(writer);
    // With no writer open (no WAL files left), a read-only open still reads.
    let alone = Store::open_read_only(&path).unwrap();
    assert_eq!(alone.windows(10).unwrap().len(), 1);
    assert!(alone
        .record_window(2700, WindowStatus::Missed, false, 2800)
        .is_err());
}

#[test]
fn a_read_only_open_neither_creates_nor_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sqlite");
    assert!(matches!(
        Store::open_read_only(&missing).unwrap_err(),
        StoreError::Open { .. }
    ));
    assert!(!missing.exists());
    let old = dir.path().join("v1.sqlite");
    drop(v1_file(&old));
    let err = Store::open_read_only(&old).unwrap_err();
    assert!(
        matches!(err, StoreError::OlderSchema { found: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("start the node once"), "{err}");
    drop(Store::open(&old).unwrap());
    assert!(Store::open_read_only(&old).is_ok());
}

#[test]
fn fault_block_bounds_above_i64_max_do_not_wrap() {
    let store = Store::open_in_memory().unwrap();
    for cb in [900, 1800] {
        store
            .record_result(&result_for(
                1,
                cb,
                3,
                vec![fault(FaultType::LeaderIdleness, 3)],
            ))
            .unwrap();
    }
    let above = i64::MAX as u64 + 1;
    let cases = [
        (Some(above), None, 0),
        (Some(u64::MAX), None, 0),
        (Some(above), Some(u64::MAX), 0),
        (None, Some(above), 2),
        (None, Some(u64::MAX), 2),
        (Some(900), Some(u64::MAX), 2),
        (Some(1000), Some(above), 1),
        (Some(0), Some(i64::MAX as u64), 2),
    ];
    for (from_block, to_block, expected) in cases {
        let filter = FaultFilter {
            from_block,
            to_block,
            ..Default::default()
        };
        let what = format!("{from_block:?}..={to_block:?}");
        assert_eq!(store.count_faults(&filter).unwrap(), expected, "{what}");
        for order in FaultOrder::ALL {
            assert_eq!(
                store.faults(&filter, order, 0, 10).unwrap().len() as u64,
                expected,
                "{what} {order:?}"
            );
        }
        let summed: u64 = store
            .fault_summary(&filter)
            .unwrap()
            .iter()
            .map(|s| s.total)
            .sum();
        assert_eq!(summed, expected, "{what}");
    }
}

#[test]
fn members_connected_is_kept_with_the_result_and_none_stays_none() {
    let store = Store::open_in_memory().unwrap();
    let measured = CoordinationResult {
        members_connected: Some(0),
        ..result_for(1, 900, 2, Vec::new())
    };
    let idle = CoordinationResult {
        members_connected: Some(4),
        ..result_for(2, 900, 2, vec![fault(FaultType::LeaderIdleness, 2)])
    };
    for r in [&measured, &idle, &result_for(3, 900, 2, Vec::new())] {
        assert!(store.record_result(r).unwrap());
    }
    let read = |w: u8| store.result(&wallet(w), 900).unwrap().unwrap();
    assert_eq!(read(1).members_connected, Some(0), "an unheard window");
    assert_eq!(read(2).members_connected, Some(4));
    assert_eq!(read(2).fault_count, 1);
    assert_eq!(read(3).members_connected, None, "not measured");
}

#[test]
fn dispatches_list_newest_window_first_then_by_wallet_whatever_the_order_they_were_made() {
    let store = Store::open_in_memory().unwrap();
    let d = |w: u8, cb: u64| DispatchRecord {
        wallet: wallet(w),
        coordination_block: cb,
        proposal: sweep(),
        start_block: cb + 100,
        expiry_block: cb + 700,
        status: DispatchStatus::Dispatched,
        reason: None,
    };
    for (w, cb) in [(1, 1800), (1, 900), (3, 1800), (2, 1800)] {
        store.record_dispatch(&d(w, cb)).unwrap();
    }
    let listed: Vec<(u64, WalletPkh)> = store
        .dispatches(0, 10)
        .unwrap()
        .iter()
        .map(|r| (r.coordination_block, r.wallet))
        .collect();
    assert_eq!(
        listed,
        vec![
            (1800, wallet(1)),
            (1800, wallet(2)),
            (1800, wallet(3)),
            (900, wallet(1))
        ]
    );
}
