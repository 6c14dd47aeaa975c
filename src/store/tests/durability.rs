//! A store shared and reopened: between threads, by several stores opening one new file,
//! across a restart, and after a process that never closed its store.

use super::*;

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
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
