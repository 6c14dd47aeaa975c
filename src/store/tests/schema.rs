//! Opening a store: the connection settings, the refusal of files that are not this
//! program's history (or are newer than it), and the in-place migration of older files.

use super::*;

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
    assert_eq!(version, 6, "through versions 2 to 6");

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
    let kept: Vec<_> = faults
        .iter()
        .map(|f| (f.fault, f.recorded_at, f.proposed_action))
        .collect();
    // Version 6's proposed action is unknown for a fault from before it.
    assert_eq!(
        kept,
        vec![
            (FaultType::LeaderIdleness, 5, None),
            (FaultType::LeaderImpersonation, 7, None)
        ]
    );
    let migrated = store.result(&wallet(1), 900).unwrap().unwrap();
    assert_eq!(migrated.fault_count, 2);
    // Version 5's column reads as "no refusals" for a result from before it.
    assert!(migrated.refusals.is_empty());
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
