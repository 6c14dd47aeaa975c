//! Read-only use: a reader's own connection beside the writer, a read-only open that
//! refuses every write, and one that neither creates nor migrates a file.

use std::sync::Arc;

use super::*;

#[test]
fn a_reader_has_its_own_connection_and_sees_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let store = Store::open(&path).unwrap();
    let reader = store.reader().unwrap();
    assert!(!Arc::ptr_eq(&store.conn, &reader.store.conn));
    assert_eq!(fault_count(&reader), 0);
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
        assert!(read(&reader, HistoryQuery::Windows { limit: 10 })
            .into_windows()
            .unwrap()
            .is_empty());
        assert_eq!(fault_count(&reader), 1);
        tx.commit().unwrap();
    }
    store
        .record_window(1800, WindowStatus::Started, false, 1800)
        .unwrap();
    let rows = read(
        &reader,
        HistoryQuery::Faults {
            filter: FaultFilter::default(),
            order: FaultOrder::NewestFirst,
            offset: 0,
            limit: 10,
        },
    )
    .into_faults()
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        read(&reader, HistoryQuery::Windows { limit: 10 })
            .into_windows()
            .unwrap()
            .len(),
        2
    );
    assert!(read(
        &reader,
        HistoryQuery::Result {
            wallet: wallet(1),
            coordination_block: 900
        }
    )
    .into_result()
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
        read(
            &memory_reader,
            HistoryQuery::Results {
                wallet: None,
                limit: 10
            }
        )
        .into_results()
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
