//! Writing the history: windows and their status, results and the faults they carry, meta
//! values; what each write keeps and that recording twice changes nothing.

use super::*;

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
fn a_leader_s_refused_candidates_are_kept_with_its_result() {
    let store = Store::open_in_memory().unwrap();
    let refusals = vec![
        crate::protocol::Refusal {
            action: ActionType::Redemption,
            reason: "refused: Redemption request min age not achieved yet".into(),
        },
        crate::protocol::Refusal {
            action: ActionType::Heartbeat,
            reason: "validator error: no answer within 30s".into(),
        },
    ];
    let refused = CoordinationResult {
        role: Role::Leader,
        refusals: refusals.clone(),
        ..result_for(1, 900, 2, Vec::new())
    };
    assert!(store.record_result(&refused).unwrap());
    assert!(store
        .record_result(&result_for(2, 900, 2, Vec::new()))
        .unwrap());
    let read = |w: u8| store.result(&wallet(w), 900).unwrap().unwrap();
    assert_eq!(read(1).refusals, refusals);
    assert!(read(2).refusals.is_empty());
}
