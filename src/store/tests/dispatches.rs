//! Dispatched actions and dry runs: their round trips, status changes, reasons and the
//! order they are listed in.

use super::*;

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
    let expected = StoreError::NoSuchDispatch {
        wallet: wallet(2),
        coordination_block: 1800,
    };
    assert_eq!(missing, HistoryError::Write(expected.to_string()));
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
    // Every checklist action's verdict reads back as it was recorded.
    assert_eq!(r.actions, first.actions);
    assert_eq!(r.actions.len(), 2);
    let r = &rows[0];
    assert_eq!(r.proposal_json, None);
    assert!(!r.leader_is_self);
    assert_eq!(r.role, Role::Follower);
    assert_eq!(r.reason.as_deref(), Some("this node is not the leader"));
    assert_eq!(store.dry_runs(0, 1).unwrap().len(), 1);
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
    let row = read(
        &store,
        HistoryQuery::Dispatch {
            wallet: wallet(4),
            coordination_block: 900,
        },
    )
    .into_dispatch()
    .unwrap()
    .unwrap();
    assert_eq!(row.status, DispatchStatus::Expired);
    assert_eq!(row.finished_block, Some(1500));
    assert_eq!(row.reason.as_deref(), Some("node was down"));
    assert!(history.open_dispatches().unwrap().is_empty());
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
