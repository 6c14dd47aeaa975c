//! Errors of the store: corrupt rows, a poisoned lock, which operation failed, and how
//! store errors reach the engine through the history traits.

use super::*;
use crate::engine::history::HistoryError;

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
    let poisoned = StoreError::Poisoned.to_string();
    assert_eq!(
        store.last_window().unwrap_err(),
        HistoryError::Read(poisoned.clone())
    );
    assert_eq!(
        store.set_meta("k", "v").unwrap_err(),
        HistoryError::Write(poisoned)
    );
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
        read(
            &*history,
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
