//! The history store (SPEC §7.1, §10): every coordination window seen, every result, every
//! fault, every dispatched action and every dry run, kept in one SQLite file so that the fault
//! history and the proposal history survive restarts and can be queried by the console.
//!
//! One connection behind a mutex: writes are small and rare (a few per window), and the engine
//! writes a fact here *before* announcing it, so a crash never loses what the operator saw.
//! The file runs in WAL mode with `synchronous=NORMAL`, which keeps every committed transaction
//! across a process crash (kill -9); only an OS crash or power loss may drop the last commits.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, ErrorCode, OptionalExtension, Row};

// transitional: engine/node.rs still imports these from here
pub use crate::engine::records::*;

use crate::engine::history::{HistoryError, HistoryReader, HistoryWriter};

use crate::protocol::action::join_names;
use crate::protocol::{ActionType, CoordinationResult, FaultType, Role, WalletPkh};

/// The schema version this build writes; `PRAGMA user_version` of an up-to-date file.
pub const SCHEMA_VERSION: i64 = 1;

/// `PRAGMA application_id` of our files ("tbtc" in ASCII), so that another program's SQLite
/// file is recognised as such instead of being migrated into.
const APPLICATION_ID: i64 = 0x7462_7463;

/// Waits this long for another connection's write lock before failing with "busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations by version: `MIGRATIONS[i]` takes a file from version `i` to `i + 1`.
/// Never edit a released entry; append a new one instead.
const MIGRATIONS: &[&str] = &[SCHEMA_V1];

/// Block numbers are u64 but SQLite integers are i64: every block number is stored as
/// `b as i64` and read back as `v as u64`. The cast is a bijection, so any u64 round-trips,
/// and it keeps the order (which the indexes and ORDER BY rely on) for every height below
/// 2^63 — far beyond any real chain.
const SCHEMA_V1: &str = r#"
CREATE TABLE windows (
    coordination_block INTEGER PRIMARY KEY,
    status             TEXT    NOT NULL CHECK (status IN ('started', 'missed')),
    late               INTEGER NOT NULL CHECK (late IN (0, 1)),
    observed_block     INTEGER NOT NULL,
    recorded_at        INTEGER NOT NULL
);

CREATE TABLE results (
    id                  INTEGER PRIMARY KEY,
    wallet              TEXT    NOT NULL,
    coordination_block  INTEGER NOT NULL,
    safe_block_hash     TEXT    NOT NULL,
    seed                TEXT    NOT NULL,
    leader              TEXT    NOT NULL,
    leader_member_index INTEGER NOT NULL,
    role                TEXT    NOT NULL CHECK (role IN ('leader', 'follower')),
    checklist           TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    proposal            TEXT    NOT NULL,
    fault_count         INTEGER NOT NULL,
    recorded_at         INTEGER NOT NULL,
    UNIQUE (wallet, coordination_block)
);
CREATE INDEX results_by_block ON results (coordination_block);

-- Faults are queried by the console with any mix of filters and orders over possibly
-- hundreds of thousands of rows. Each index ends in (coordination_block, id), descending as
-- the orders of FaultOrder are, so "by operator / type / wallet, newest first" and "newest
-- first within one operator / type / wallet" are index walks, and a page never sorts the table.
CREATE TABLE faults (
    id                 INTEGER PRIMARY KEY,
    wallet             TEXT    NOT NULL,
    coordination_block INTEGER NOT NULL,
    culprit            TEXT    NOT NULL,
    fault_type         TEXT    NOT NULL,
    leader             TEXT    NOT NULL,
    recorded_at        INTEGER NOT NULL,
    FOREIGN KEY (wallet, coordination_block)
        REFERENCES results (wallet, coordination_block) ON DELETE CASCADE
);
CREATE INDEX faults_by_block   ON faults (coordination_block);
-- fault_type trails the culprit index so the per-operator summary reads only the index.
CREATE INDEX faults_by_culprit ON faults (culprit, coordination_block DESC, id DESC, fault_type);
CREATE INDEX faults_by_wallet  ON faults (wallet, coordination_block DESC, id DESC);
CREATE INDEX faults_by_type    ON faults (fault_type, coordination_block DESC, id DESC);

CREATE TABLE dispatches (
    id                 INTEGER PRIMARY KEY,
    wallet             TEXT    NOT NULL,
    coordination_block INTEGER NOT NULL,
    action             TEXT    NOT NULL,
    proposal           TEXT    NOT NULL,
    start_block        INTEGER NOT NULL,
    expiry_block       INTEGER NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN
        ('dispatched', 'running', 'completed', 'failed', 'expired', 'rejected')),
    reason             TEXT,
    finished_block     INTEGER,
    recorded_at        INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (wallet, coordination_block)
);
CREATE INDEX dispatches_by_block ON dispatches (coordination_block);
CREATE INDEX dispatches_by_status ON dispatches (status);

CREATE TABLE dry_runs (
    id                 INTEGER PRIMARY KEY,
    wallet             TEXT    NOT NULL,
    coordination_block INTEGER NOT NULL,
    current_block      INTEGER NOT NULL,
    safe_block         INTEGER NOT NULL,
    safe_block_hash    TEXT    NOT NULL,
    hash_rule          TEXT    NOT NULL,
    seed               TEXT    NOT NULL,
    leader             TEXT    NOT NULL,
    leader_is_self     INTEGER NOT NULL CHECK (leader_is_self IN (0, 1)),
    role               TEXT    NOT NULL CHECK (role IN ('leader', 'follower')),
    checklist          TEXT    NOT NULL,
    proposal           TEXT,
    reason             TEXT,
    recorded_at        INTEGER NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

/// Why the history store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history store: {op}: {source}")]
    Sqlite {
        op: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("history store {}: cannot open: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("history store {}: {op}: {source}", .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a tbtc-coord history store: expected an SQLite database file ({source})",
        .path.display()
    )]
    NotADatabase {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{} is an SQLite database of another program, not a tbtc-coord history store: {detail}",
        .path.display()
    )]
    Foreign { path: PathBuf, detail: String },
    #[error(
        "{} has history schema version {found}, but this build of tbtc-coord knows versions up \
         to {supported}: use a newer tbtc-coord, or another data directory",
        .path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("history store holds corrupt data: {table}.{column} = {value:?}: {detail}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        value: String,
        detail: String,
    },
    #[error("no dispatch recorded for wallet {wallet} at coordination block {coordination_block}")]
    NoSuchDispatch {
        wallet: WalletPkh,
        coordination_block: u64,
    },
    #[error("encoding a proposal as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("history store is unusable: a thread panicked while holding its lock")]
    Poisoned,
}

/// Wraps an SQLite error with the operation that failed.
fn sql(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { op, source }
}

/// See the note on [`SCHEMA_V1`]: a bijective cast, order-preserving below 2^63.
fn block_to_sql(block: u64) -> i64 {
    block as i64
}

/// The inverse of [`block_to_sql`].
fn block_from_sql(value: i64) -> u64 {
    value as u64
}

/// Limits and offsets beyond i64 mean "all": clamp rather than fail.
fn count_to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn now_unix() -> i64 {
    // A clock before 1970 is a misconfigured host; 0 still sorts and displays sensibly.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn parse_checklist(text: &str) -> Result<Vec<ActionType>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|name| name.parse::<ActionType>().map_err(|e| e.to_string()))
        .collect()
}

fn role_from_name(name: &str) -> Result<Role, String> {
    [Role::Leader, Role::Follower]
        .into_iter()
        .find(|r| r.name() == name)
        .ok_or_else(|| "expected leader or follower".to_string())
}

/// Reads typed columns of one row of `table`, turning anything unexpected into
/// [`StoreError::Corrupt`] naming the column, instead of a panic.
struct Columns<'a, 'r> {
    row: &'a Row<'r>,
    table: &'static str,
}

impl Columns<'_, '_> {
    fn corrupt(&self, column: &'static str, value: String, detail: String) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            column,
            value,
            detail,
        }
    }

    fn get<T: rusqlite::types::FromSql>(&self, column: &'static str) -> Result<T, StoreError> {
        self.row.get::<_, T>(column).map_err(|e| match e {
            // A column missing from the query is our bug, not bad data.
            rusqlite::Error::InvalidColumnName(_) | rusqlite::Error::InvalidColumnIndex(_) => {
                StoreError::Sqlite {
                    op: "reading a row",
                    source: e,
                }
            }
            e => {
                let value = match self.row.get_ref(column) {
                    Ok(v) => format!("{v:?}"),
                    Err(_) => String::new(),
                };
                self.corrupt(column, value, e.to_string())
            }
        })
    }

    fn text(&self, column: &'static str) -> Result<String, StoreError> {
        self.get::<String>(column)
    }

    fn opt_text(&self, column: &'static str) -> Result<Option<String>, StoreError> {
        self.get::<Option<String>>(column)
    }

    fn int(&self, column: &'static str) -> Result<i64, StoreError> {
        self.get::<i64>(column)
    }

    fn block(&self, column: &'static str) -> Result<u64, StoreError> {
        self.int(column).map(block_from_sql)
    }

    fn opt_block(&self, column: &'static str) -> Result<Option<u64>, StoreError> {
        Ok(self.get::<Option<i64>>(column)?.map(block_from_sql))
    }

    fn count(&self, column: &'static str) -> Result<u64, StoreError> {
        let n = self.int(column)?;
        u64::try_from(n).map_err(|_| self.corrupt(column, n.to_string(), "negative count".into()))
    }

    fn boolean(&self, column: &'static str) -> Result<bool, StoreError> {
        match self.int(column)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(self.corrupt(column, n.to_string(), "expected 0 or 1".into())),
        }
    }

    /// A text column parsed with `FromStr` (addresses, hashes, action and fault names).
    fn parse<T>(&self, column: &'static str) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let text = self.text(column)?;
        text.parse::<T>()
            .map_err(|e| self.corrupt(column, text.clone(), e.to_string()))
    }

    fn with<T>(
        &self,
        column: &'static str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, StoreError> {
        let text = self.text(column)?;
        f(&text).map_err(|detail| self.corrupt(column, text.clone(), detail))
    }

    fn checklist(&self, column: &'static str) -> Result<Vec<ActionType>, StoreError> {
        self.with(column, parse_checklist)
    }

    fn role(&self, column: &'static str) -> Result<Role, StoreError> {
        self.with(column, role_from_name)
    }
}

/// Runs a query and converts every row, stopping at the first bad one.
fn collect_rows<T>(
    conn: &Connection,
    op: &'static str,
    table: &'static str,
    query: &str,
    params: impl rusqlite::Params,
    convert: impl Fn(&Columns) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(query).map_err(sql(op))?;
    let mut rows = stmt.query(params).map_err(sql(op))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql(op))? {
        out.push(convert(&Columns { row, table })?);
    }
    Ok(out)
}

/// The history store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Store {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    /// [`MAX_SEARCH_VALUES`]; a field so that tests can force the per-row search.
    max_search_values: usize,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// How the store names its file in errors; in-memory stores have none.
fn display_path(path: Option<&Path>) -> PathBuf {
    path.map_or_else(|| PathBuf::from(":memory:"), Path::to_path_buf)
}

impl Store {
    /// Opens (creating if needed) the store at `path`, with its parent directories, and brings
    /// its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                op: "creating the data directory",
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::init(conn, Some(path.to_path_buf()))
    }

    /// A store that lives only as long as this value: for tests and throwaway runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(sql("opening an in-memory database"))?;
        Store::init(conn, None)
    }

    /// The file behind the store, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        let shown = display_path(path.as_deref());
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("setting the busy timeout"))?;

        // One read transaction, so that the version, the id and the tables are one snapshot
        // even while another process migrates the same new file. Its first read of the header
        // is where a file that is not SQLite shows itself.
        let (version, application_id, tables) = {
            let tx = conn
                .transaction()
                .map_err(sql("starting to read the schema"))?;
            let version: i64 = tx
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(|source| {
                    if source.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
                        StoreError::NotADatabase {
                            path: shown.clone(),
                            source,
                        }
                    } else {
                        StoreError::Sqlite {
                            op: "reading the schema version",
                            source,
                        }
                    }
                })?;
            let application_id: i64 = tx
                .pragma_query_value(None, "application_id", |row| row.get(0))
                .map_err(sql("reading the application id"))?;
            let tables: i64 = tx
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                    [],
                    |row| row.get(0),
                )
                .map_err(sql("listing tables"))?;
            (version, application_id, tables)
        };
        // Checked before anything is written, so a newer or foreign file is left untouched.
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: shown,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if application_id != 0 && application_id != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: shown,
                detail: format!("application_id is {application_id:#x}"),
            });
        }
        if version < 0 {
            return Err(StoreError::Foreign {
                path: shown,
                detail: format!("schema version {version}"),
            });
        }
        if version == 0 && tables > 0 {
            return Err(StoreError::Foreign {
                path: shown,
                detail: format!("it has {tables} tables but no tbtc-coord schema version"),
            });
        }

        // WAL + NORMAL: a commit is durable once in the WAL, which survives a process crash;
        // FULL would only add safety against power loss at an fsync per commit.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(sql("switching to WAL journal mode"))?;
        // In memory there is no journal file; on disk a refusal (e.g. some network file
        // systems) still leaves a working, if slower and less concurrent, store.
        if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %shown.display(), mode, "history store is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql("setting synchronous=NORMAL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql("enabling foreign keys"))?;

        Store::migrate(&mut conn, version)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
            max_search_values: MAX_SEARCH_VALUES,
        })
    }

    /// Applies every migration after `from`, each in its own transaction with its version
    /// bump, so a crash mid-way leaves the file at a consistent version.
    fn migrate(conn: &mut Connection, from: i64) -> Result<(), StoreError> {
        let start = usize::try_from(from).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
                .map_err(sql("starting a schema migration"))?;
            // Another process opening the same new file may have migrated it while we waited
            // for the lock; its version, read under the lock, decides.
            let current: i64 = tx
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .map_err(sql("reading the schema version"))?;
            if usize::try_from(current).unwrap_or(0) > index {
                continue;
            }
            tx.execute_batch(migration)
                .map_err(sql("migrating the schema"))?;
            tx.pragma_update(None, "user_version", index + 1)
                .map_err(sql("recording the schema version"))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(sql("recording the application id"))?;
            tx.commit().map_err(sql("committing a schema migration"))?;
        }
        Ok(())
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        // A panic while the lock was held may have left a statement half done; refuse rather
        // than guess. (SQLite itself rolls back an unfinished transaction.)
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Records that a window started or was missed. The first record of a window wins.
    pub fn record_window(
        &self,
        coordination_block: u64,
        status: WindowStatus,
        late: bool,
        observed_block: u64,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO windows
                 (coordination_block, status, late, observed_block, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                block_to_sql(coordination_block),
                status.name(),
                late,
                block_to_sql(observed_block),
                now_unix(),
            ])
        })
        .map_err(sql("recording a window"))?;
        Ok(())
    }

    /// The highest coordination block recorded (started or missed).
    pub fn last_window(&self) -> Result<Option<u64>, StoreError> {
        let conn = self.conn()?;
        let max: Option<i64> = conn
            .query_row("SELECT max(coordination_block) FROM windows", [], |row| {
                row.get(0)
            })
            .map_err(sql("reading the last window"))?;
        Ok(max.map(block_from_sql))
    }

    /// Records a result and its faults in one transaction. Returns `false` (writing nothing)
    /// if this wallet's result for this window is already stored.
    pub fn record_result(&self, result: &CoordinationResult) -> Result<bool, StoreError> {
        let proposal = serde_json::to_string(&result.proposal)?;
        let wallet = result.wallet.to_hex();
        let cb = block_to_sql(result.window.coordination_block);
        let leader = result.leader.to_checksum();
        let now = now_unix();
        let op = "recording a result";

        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql(op))?;
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO results
                     (wallet, coordination_block, safe_block_hash, seed, leader,
                      leader_member_index, role, checklist, action, proposal, fault_count,
                      recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    wallet,
                    cb,
                    result.safe_block_hash.to_hex(),
                    result.seed.to_hex(),
                    leader,
                    result.leader_member_index,
                    result.role.name(),
                    join_names(&result.checklist),
                    result.proposal.action_type().name(),
                    proposal,
                    count_to_sql(result.faults.len() as u64),
                    now,
                ])
            })
            .map_err(sql(op))?;
        if inserted == 0 {
            // Dropping the transaction rolls back; nothing was written anyway.
            return Ok(false);
        }
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO faults
                         (wallet, coordination_block, culprit, fault_type, leader, recorded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(sql("recording a fault"))?;
            for fault in &result.faults {
                stmt.execute(params![
                    wallet,
                    cb,
                    fault.culprit.to_checksum(),
                    fault.fault.name(),
                    leader,
                    now,
                ])
                .map_err(sql("recording a fault"))?;
            }
        }
        tx.commit().map_err(sql(op))?;
        Ok(true)
    }

    /// Records a dispatch (or a rejection). The first record of (wallet, window) wins; later
    /// changes go through [`Store::set_dispatch_status`].
    pub fn record_dispatch(&self, d: &DispatchRecord) -> Result<(), StoreError> {
        let proposal = serde_json::to_string(&d.proposal)?;
        let now = now_unix();
        let conn = self.conn()?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO dispatches
                 (wallet, coordination_block, action, proposal, start_block, expiry_block,
                  status, reason, finished_block, recorded_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?9)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                d.wallet.to_hex(),
                block_to_sql(d.coordination_block),
                d.proposal.action_type().name(),
                proposal,
                block_to_sql(d.start_block),
                block_to_sql(d.expiry_block),
                d.status.name(),
                d.reason,
                now,
            ])
        })
        .map_err(sql("recording a dispatch"))?;
        Ok(())
    }

    /// Moves a dispatch to `status` as of `block`. A finished status (completed, failed,
    /// expired, rejected) sets the finished block; an unfinished one clears it. The reason is
    /// kept.
    pub fn set_dispatch_status(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
    ) -> Result<(), StoreError> {
        self.update_dispatch(wallet, coordination_block, status, block, None)
    }

    /// [`Store::set_dispatch_status`], also replacing the reason (e.g. why it failed).
    pub fn set_dispatch_status_with_reason(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.update_dispatch(wallet, coordination_block, status, block, Some(reason))
    }

    fn update_dispatch(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished = status.is_finished().then_some(block_to_sql(block));
        let conn = self.conn()?;
        let changed = conn
            .prepare_cached(
                "UPDATE dispatches
                 SET status = ?3, finished_block = ?4, reason = coalesce(?5, reason),
                     updated_at = ?6
                 WHERE wallet = ?1 AND coordination_block = ?2",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    wallet.to_hex(),
                    block_to_sql(coordination_block),
                    status.name(),
                    finished,
                    reason,
                    now_unix(),
                ])
            })
            .map_err(sql("updating a dispatch"))?;
        if changed == 0 {
            return Err(StoreError::NoSuchDispatch {
                wallet: *wallet,
                coordination_block,
            });
        }
        Ok(())
    }

    /// Records a dry run; returns its id.
    pub fn record_dry_run(&self, r: &DryRunRecord) -> Result<i64, StoreError> {
        let proposal = r.proposal.as_ref().map(serde_json::to_string).transpose()?;
        let conn = self.conn()?;
        conn.prepare_cached(
            "INSERT INTO dry_runs
                 (wallet, coordination_block, current_block, safe_block, safe_block_hash,
                  hash_rule, seed, leader, leader_is_self, role, checklist, proposal, reason,
                  recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                r.wallet.to_hex(),
                block_to_sql(r.coordination_block),
                block_to_sql(r.current_block),
                block_to_sql(r.safe_block),
                r.safe_block_hash.to_hex(),
                r.hash_rule,
                r.seed.to_hex(),
                r.leader.to_checksum(),
                r.leader_is_self,
                r.role.name(),
                join_names(&r.checklist),
                proposal,
                r.reason,
                now_unix(),
            ])
        })
        .map_err(sql("recording a dry run"))?;
        Ok(conn.last_insert_rowid())
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.conn()?;
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
            row.get(0)
        })
        .optional()
        .map_err(sql("reading a meta value"))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )
        .map_err(sql("writing a meta value"))?;
        Ok(())
    }

    /// One page of faults: those matching `filter`, in `order`, skipping `offset`.
    pub fn faults(
        &self,
        filter: &FaultFilter,
        order: FaultOrder,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<FaultRow>, StoreError> {
        let conn = self.conn()?;
        let (query, values) = self.fault_page_query(&conn, filter, order, offset, limit)?;
        collect_rows(
            &conn,
            "listing faults",
            "faults",
            &query,
            params_from_iter(values),
            |c| {
                Ok(FaultRow {
                    id: c.int("id")?,
                    wallet: c.parse("wallet")?,
                    coordination_block: c.block("coordination_block")?,
                    culprit: c.parse("culprit")?,
                    fault: c.parse("fault_type")?,
                    leader: c.parse("leader")?,
                    recorded_at: c.int("recorded_at")?,
                })
            },
        )
    }

    /// The SQL and positional values of one page of faults.
    fn fault_page_query(
        &self,
        conn: &Connection,
        filter: &FaultFilter,
        order: FaultOrder,
        offset: u64,
        limit: u64,
    ) -> Result<(String, Vec<Value>), StoreError> {
        let block_order = matches!(order, FaultOrder::NewestFirst | FaultOrder::OldestFirst);
        let conditions = FaultConditions::new(conn, filter, block_order, self.max_search_values)?;
        let mut values = conditions.values.clone();
        values.push(Value::Integer(count_to_sql(limit)));
        values.push(Value::Integer(count_to_sql(offset)));
        let query = format!(
            "SELECT id, wallet, coordination_block, culprit, fault_type, leader, recorded_at
             FROM faults {} ORDER BY {} LIMIT ? OFFSET ?",
            conditions.where_clause(),
            order_by(order)
        );
        Ok((query, values))
    }

    /// How many faults match `filter` (for "page 3 of 12").
    pub fn count_faults(&self, filter: &FaultFilter) -> Result<u64, StoreError> {
        let conn = self.conn()?;
        let conditions = FaultConditions::new(&conn, filter, true, self.max_search_values)?;
        let n: i64 = conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM faults {}",
                conditions.where_clause()
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params_from_iter(conditions.values), |row| row.get(0))
            })
            .map_err(sql("counting faults"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Per culprit among the faults matching `filter`: counts per type, total, and the latest
    /// fault; most faults first (ties: latest fault first, then address).
    pub fn fault_summary(
        &self,
        filter: &FaultFilter,
    ) -> Result<Vec<OperatorFaultSummary>, StoreError> {
        let conn = self.conn()?;
        let conditions = FaultConditions::new(&conn, filter, true, self.max_search_values)?;
        // `g` counts per culprit in one walk of the culprit index; the subquery then finds
        // each culprit's latest matching fault (highest block, then highest id: the same
        // "latest" as FaultOrder::NewestFirst) with one index seek per culprit. The filter
        // appears twice, so its values are bound twice, in that order.
        let per_type: String = FaultType::ALL
            .iter()
            .zip(TYPE_COUNT_COLUMNS)
            .map(|(f, column)| format!(", sum(fault_type = '{}') AS {column}", f.name()))
            .collect();
        let query = format!(
            "WITH g AS (
                 SELECT culprit, count(*) AS total {per_type}
                 FROM faults {} GROUP BY culprit)
             SELECT g.*, l.fault_type AS last_fault, l.coordination_block AS last_block
             FROM g JOIN faults AS l ON l.id = (
                 SELECT id FROM faults WHERE culprit = g.culprit {}
                 ORDER BY coordination_block DESC, id DESC LIMIT 1)",
            conditions.where_clause(),
            conditions.and_clause(),
        );
        let values = conditions
            .values
            .iter()
            .chain(&conditions.values)
            .cloned()
            .collect::<Vec<_>>();
        let mut out = collect_rows(
            &conn,
            "summarising faults",
            "faults",
            &query,
            params_from_iter(values),
            |c| {
                let mut by_type = BTreeMap::new();
                for (f, column) in FaultType::ALL.into_iter().zip(TYPE_COUNT_COLUMNS) {
                    by_type.insert(f, c.count(column)?);
                }
                Ok(OperatorFaultSummary {
                    operator: c.parse("culprit")?,
                    total: c.count("total")?,
                    by_type,
                    last_coordination_block: c.block("last_block")?,
                    last_fault: c.parse("last_fault")?,
                })
            },
        )?;
        drop(conn);
        out.sort_by(|a, b| {
            b.total
                .cmp(&a.total)
                .then(b.last_coordination_block.cmp(&a.last_coordination_block))
                .then(a.operator.to_checksum().cmp(&b.operator.to_checksum()))
        });
        Ok(out)
    }

    /// Results, newest window first (ties by wallet), optionally of one wallet.
    pub fn results(
        &self,
        wallet: Option<&WalletPkh>,
        limit: u64,
    ) -> Result<Vec<ResultRow>, StoreError> {
        let conn = self.conn()?;
        let limit = count_to_sql(limit);
        match wallet {
            Some(w) => collect_rows(
                &conn,
                "listing results",
                "results",
                &format!(
                    "SELECT {RESULT_COLUMNS} FROM results WHERE wallet = ?1
                     ORDER BY coordination_block DESC LIMIT ?2"
                ),
                params![w.to_hex(), limit],
                result_row,
            ),
            None => collect_rows(
                &conn,
                "listing results",
                "results",
                &format!(
                    "SELECT {RESULT_COLUMNS} FROM results
                     ORDER BY coordination_block DESC, wallet ASC LIMIT ?1"
                ),
                params![limit],
                result_row,
            ),
        }
    }

    /// One wallet's result for one window.
    pub fn result(&self, wallet: &WalletPkh, cb: u64) -> Result<Option<ResultRow>, StoreError> {
        let conn = self.conn()?;
        let mut rows = collect_rows(
            &conn,
            "reading a result",
            "results",
            &format!(
                "SELECT {RESULT_COLUMNS} FROM results
                 WHERE wallet = ?1 AND coordination_block = ?2"
            ),
            params![wallet.to_hex(), block_to_sql(cb)],
            result_row,
        )?;
        Ok(rows.pop())
    }

    /// Dispatches, newest window first.
    pub fn dispatches(&self, limit: u64) -> Result<Vec<DispatchRow>, StoreError> {
        let conn = self.conn()?;
        collect_rows(
            &conn,
            "listing dispatches",
            "dispatches",
            &format!(
                "SELECT {DISPATCH_COLUMNS} FROM dispatches
                 ORDER BY coordination_block DESC, id DESC LIMIT ?1"
            ),
            params![count_to_sql(limit)],
            dispatch_row,
        )
    }

    /// One wallet's dispatch for one window.
    pub fn dispatch(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
    ) -> Result<Option<DispatchRow>, StoreError> {
        let conn = self.conn()?;
        let mut rows = collect_rows(
            &conn,
            "reading a dispatch",
            "dispatches",
            &format!(
                "SELECT {DISPATCH_COLUMNS} FROM dispatches
                 WHERE wallet = ?1 AND coordination_block = ?2"
            ),
            params![wallet.to_hex(), block_to_sql(coordination_block)],
            dispatch_row,
        )?;
        Ok(rows.pop())
    }

    /// Dispatches not yet finished (dispatched or running), oldest first: what a restarted
    /// dispatcher must pick up again, and which wallets are busy.
    pub fn open_dispatches(&self) -> Result<Vec<DispatchRow>, StoreError> {
        let conn = self.conn()?;
        collect_rows(
            &conn,
            "listing open dispatches",
            "dispatches",
            &format!(
                "SELECT {DISPATCH_COLUMNS} FROM dispatches
                 WHERE status IN ('dispatched', 'running')
                 ORDER BY coordination_block ASC, id ASC"
            ),
            [],
            dispatch_row,
        )
    }

    /// Dry runs, newest first.
    pub fn dry_runs(&self, limit: u64) -> Result<Vec<DryRunRow>, StoreError> {
        let conn = self.conn()?;
        collect_rows(
            &conn,
            "listing dry runs",
            "dry_runs",
            "SELECT id, wallet, coordination_block, current_block, safe_block, safe_block_hash,
                    hash_rule, seed, leader, leader_is_self, role, checklist, proposal, reason,
                    recorded_at
             FROM dry_runs ORDER BY id DESC LIMIT ?1",
            params![count_to_sql(limit)],
            |c| {
                Ok(DryRunRow {
                    id: c.int("id")?,
                    wallet: c.parse("wallet")?,
                    coordination_block: c.block("coordination_block")?,
                    current_block: c.block("current_block")?,
                    safe_block: c.block("safe_block")?,
                    safe_block_hash: c.parse("safe_block_hash")?,
                    hash_rule: c.text("hash_rule")?,
                    seed: c.parse("seed")?,
                    leader: c.parse("leader")?,
                    leader_is_self: c.boolean("leader_is_self")?,
                    role: c.role("role")?,
                    checklist: c.checklist("checklist")?,
                    proposal_json: c.opt_text("proposal")?,
                    reason: c.opt_text("reason")?,
                    recorded_at: c.int("recorded_at")?,
                })
            },
        )
    }

    /// Windows, newest first.
    pub fn windows(&self, limit: u64) -> Result<Vec<WindowRow>, StoreError> {
        let conn = self.conn()?;
        collect_rows(
            &conn,
            "listing windows",
            "windows",
            "SELECT coordination_block, status, late, observed_block, recorded_at
             FROM windows ORDER BY coordination_block DESC LIMIT ?1",
            params![count_to_sql(limit)],
            |c| {
                Ok(WindowRow {
                    coordination_block: c.block("coordination_block")?,
                    status: c.with("status", |s| {
                        WindowStatus::from_name(s)
                            .ok_or_else(|| "expected started or missed".into())
                    })?,
                    late: c.boolean("late")?,
                    observed_block: c.block("observed_block")?,
                    recorded_at: c.int("recorded_at")?,
                })
            },
        )
    }
}

/// Result columns of the per-type counts in `fault_summary`, in the order of `FaultType::ALL`.
const TYPE_COUNT_COLUMNS: [&str; FaultType::ALL.len()] =
    ["leader_idleness", "leader_mistake", "leader_impersonation"];

const RESULT_COLUMNS: &str = "wallet, coordination_block, safe_block_hash, seed, leader, \
     leader_member_index, role, checklist, action, proposal, fault_count, recorded_at";

fn result_row(c: &Columns) -> Result<ResultRow, StoreError> {
    let index = c.int("leader_member_index")?;
    Ok(ResultRow {
        wallet: c.parse("wallet")?,
        coordination_block: c.block("coordination_block")?,
        safe_block_hash: c.parse("safe_block_hash")?,
        seed: c.parse("seed")?,
        leader: c.parse("leader")?,
        leader_member_index: u8::try_from(index).map_err(|_| {
            c.corrupt(
                "leader_member_index",
                index.to_string(),
                "expected a member index 0..=255".into(),
            )
        })?,
        role: c.role("role")?,
        checklist: c.checklist("checklist")?,
        action: c.parse("action")?,
        proposal_json: c.text("proposal")?,
        fault_count: c.count("fault_count")?,
        recorded_at: c.int("recorded_at")?,
    })
}

const DISPATCH_COLUMNS: &str = "wallet, coordination_block, action, proposal, start_block, \
     expiry_block, status, reason, finished_block, recorded_at, updated_at";

fn dispatch_row(c: &Columns) -> Result<DispatchRow, StoreError> {
    Ok(DispatchRow {
        wallet: c.parse("wallet")?,
        coordination_block: c.block("coordination_block")?,
        action: c.parse("action")?,
        proposal_json: c.text("proposal")?,
        start_block: c.block("start_block")?,
        expiry_block: c.block("expiry_block")?,
        status: c.with("status", |s| {
            DispatchStatus::from_name(s).ok_or_else(|| "unknown dispatch status".into())
        })?,
        reason: c.opt_text("reason")?,
        finished_block: c.opt_block("finished_block")?,
        recorded_at: c.int("recorded_at")?,
        updated_at: c.int("updated_at")?,
    })
}

/// The ORDER BY of a fault order. Every order ends in the row id (see [`FaultOrder`]).
fn order_by(order: FaultOrder) -> &'static str {
    match order {
        FaultOrder::NewestFirst => "coordination_block DESC, id DESC",
        FaultOrder::OldestFirst => "coordination_block ASC, id ASC",
        FaultOrder::ByOperator => "culprit ASC, coordination_block DESC, id DESC",
        FaultOrder::ByType => "fault_type ASC, coordination_block DESC, id DESC",
        FaultOrder::ByWallet => "wallet ASC, coordination_block DESC, id DESC",
    }
}

/// The conditions of a fault filter, with their positional values.
struct FaultConditions {
    terms: Vec<String>,
    values: Vec<Value>,
}

/// Beyond this many matching values a search term falls back to a substring test per row,
/// to stay far below SQLite's limit on bound parameters.
const MAX_SEARCH_VALUES: usize = 500;

/// Which values of one column a search matches.
enum SearchMatch {
    /// Every value: the column cannot narrow the search.
    All,
    /// These values (possibly none).
    Values(Vec<String>),
    /// Too many to list; test each row with `instr`.
    PerRow,
}

impl SearchMatch {
    fn of(candidates: Vec<String>, max: usize, matches: impl Fn(&str) -> bool) -> SearchMatch {
        let total = candidates.len();
        let hits: Vec<String> = candidates.into_iter().filter(|v| matches(v)).collect();
        if total > 0 && hits.len() == total {
            SearchMatch::All
        } else if hits.len() > max {
            SearchMatch::PerRow
        } else {
            SearchMatch::Values(hits)
        }
    }
}

/// The distinct values of an indexed fault column, found by one index seek per value (a skip
/// scan) instead of a walk over every fault.
fn distinct_fault_values(
    conn: &Connection,
    column: &'static str,
) -> Result<Vec<String>, StoreError> {
    let query = format!(
        "WITH RECURSIVE v(x) AS (
             SELECT min({column}) FROM faults
             UNION ALL
             SELECT (SELECT min({column}) FROM faults WHERE {column} > v.x)
             FROM v WHERE v.x IS NOT NULL)
         SELECT x FROM v WHERE x IS NOT NULL"
    );
    let mut stmt = conn
        .prepare_cached(&query)
        .map_err(sql("listing fault values for a search"))?;
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sql("listing fault values for a search"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(sql("listing fault values for a search"))
}

impl FaultConditions {
    /// `block_index: false` writes the block range as `+coordination_block`, which keeps
    /// SQLite from answering it with the block index. For the by-operator/type/wallet orders
    /// that is what keeps a deep page cheap: walking the order's index and checking the block
    /// (stored in that index) costs a few ms, where collecting a wide range through the block
    /// index and sorting it costs a full sort per page.
    /// `max_values` caps the `IN` lists of a search (see [`MAX_SEARCH_VALUES`]).
    fn new(
        conn: &Connection,
        filter: &FaultFilter,
        block_index: bool,
        max_values: usize,
    ) -> Result<FaultConditions, StoreError> {
        let mut terms: Vec<String> = Vec::new();
        let mut values = Vec::new();
        if let Some(wallet) = &filter.wallet {
            terms.push("wallet = ?".into());
            values.push(Value::Text(wallet.to_hex()));
        }
        if let Some(operator) = &filter.operator {
            terms.push("culprit = ?".into());
            values.push(Value::Text(operator.to_checksum()));
        }
        if let Some(fault) = filter.fault {
            terms.push("fault_type = ?".into());
            values.push(Value::Text(fault.name().to_string()));
        }
        let block = if block_index {
            "coordination_block"
        } else {
            "+coordination_block"
        };
        if let Some(from) = filter.from_block {
            terms.push(format!("{block} >= ?"));
            values.push(Value::Integer(block_to_sql(from)));
        }
        if let Some(to) = filter.to_block {
            terms.push(format!("{block} <= ?"));
            values.push(Value::Integer(block_to_sql(to)));
        }
        let needle = filter
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        if let Some(needle) = needle {
            // A substring test on every row is a full table scan per page. There are few
            // distinct wallets, operators and fault types, so the search is decided on those
            // here and becomes `IN` lists that the indexes answer.
            let wallets =
                SearchMatch::of(distinct_fault_values(conn, "wallet")?, max_values, |w| {
                    format!("0x{w}").contains(&needle)
                });
            let culprits =
                SearchMatch::of(distinct_fault_values(conn, "culprit")?, max_values, |c| {
                    c.to_lowercase().contains(&needle)
                });
            let types = SearchMatch::of(
                FaultType::ALL
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect(),
                max_values,
                |t| t.to_lowercase().contains(&needle),
            );
            let matches = [
                ("wallet", "'0x' || wallet", wallets),
                ("culprit", "lower(culprit)", culprits),
                ("fault_type", "lower(fault_type)", types),
            ];
            if !matches
                .iter()
                .any(|(_, _, m)| matches!(m, SearchMatch::All))
            {
                let mut alternatives = Vec::new();
                for (column, lowered, m) in matches {
                    match m {
                        SearchMatch::All => {}
                        SearchMatch::Values(list) if list.is_empty() => {}
                        SearchMatch::Values(list) => {
                            let marks = vec!["?"; list.len()].join(", ");
                            alternatives.push(format!("{column} IN ({marks})"));
                            values.extend(list.into_iter().map(Value::Text));
                        }
                        SearchMatch::PerRow => {
                            // instr, not LIKE, so '%' and '_' typed by the operator match
                            // themselves.
                            alternatives.push(format!("instr({lowered}, ?) > 0"));
                            values.push(Value::Text(needle.clone()));
                        }
                    }
                }
                terms.push(if alternatives.is_empty() {
                    "0".to_string()
                } else {
                    format!("({})", alternatives.join(" OR "))
                });
            }
        }
        Ok(FaultConditions { terms, values })
    }

    /// `WHERE a AND b`, or nothing.
    fn where_clause(&self) -> String {
        if self.terms.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.terms.join(" AND "))
        }
    }

    /// ` AND a AND b`, or nothing: for a query that has conditions of its own.
    fn and_clause(&self) -> String {
        self.terms.iter().map(|t| format!(" AND {t}")).collect()
    }
}

impl StoreError {
    /// This error as the engine sees it: `write` says whether a write failed.
    pub fn into_history(self, write: bool) -> HistoryError {
        let message = self.to_string();
        if write {
            HistoryError::Write(message)
        } else {
            HistoryError::Read(message)
        }
    }
}

/// A failed read (queries are what converts implicitly; writes go through
/// [`StoreError::into_history`] with `write: true`, as the [`HistoryWriter`] impl does).
impl From<StoreError> for HistoryError {
    fn from(e: StoreError) -> Self {
        e.into_history(false)
    }
}

fn write_failed(e: StoreError) -> HistoryError {
    e.into_history(true)
}

impl HistoryWriter for Store {
    fn record_window(
        &self,
        coordination_block: u64,
        status: WindowStatus,
        late: bool,
        observed_block: u64,
    ) -> Result<(), HistoryError> {
        Store::record_window(self, coordination_block, status, late, observed_block)
            .map_err(write_failed)
    }

    fn last_window(&self) -> Result<Option<u64>, HistoryError> {
        Ok(Store::last_window(self)?)
    }

    fn record_result(&self, result: &CoordinationResult) -> Result<bool, HistoryError> {
        Store::record_result(self, result).map_err(write_failed)
    }

    fn record_dispatch(&self, dispatch: &DispatchRecord) -> Result<(), HistoryError> {
        Store::record_dispatch(self, dispatch).map_err(write_failed)
    }

    fn set_dispatch_status(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
    ) -> Result<(), HistoryError> {
        Store::set_dispatch_status(self, wallet, coordination_block, status, block)
            .map_err(write_failed)
    }

    fn set_dispatch_status_with_reason(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
        reason: &str,
    ) -> Result<(), HistoryError> {
        Store::set_dispatch_status_with_reason(
            self,
            wallet,
            coordination_block,
            status,
            block,
            reason,
        )
        .map_err(write_failed)
    }

    fn open_dispatches(&self) -> Result<Vec<DispatchRow>, HistoryError> {
        Ok(Store::open_dispatches(self)?)
    }

    fn record_dry_run(&self, dry_run: &DryRunRecord) -> Result<i64, HistoryError> {
        Store::record_dry_run(self, dry_run).map_err(write_failed)
    }

    fn get_meta(&self, key: &str) -> Result<Option<String>, HistoryError> {
        Ok(Store::get_meta(self, key)?)
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), HistoryError> {
        Store::set_meta(self, key, value).map_err(write_failed)
    }
}

impl HistoryReader for Store {
    fn faults(
        &self,
        filter: &FaultFilter,
        order: FaultOrder,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<FaultRow>, HistoryError> {
        Ok(Store::faults(self, filter, order, offset, limit)?)
    }

    fn count_faults(&self, filter: &FaultFilter) -> Result<u64, HistoryError> {
        Ok(Store::count_faults(self, filter)?)
    }

    fn fault_summary(
        &self,
        filter: &FaultFilter,
    ) -> Result<Vec<OperatorFaultSummary>, HistoryError> {
        Ok(Store::fault_summary(self, filter)?)
    }

    fn dispatches(&self, limit: u64) -> Result<Vec<DispatchRow>, HistoryError> {
        Ok(Store::dispatches(self, limit)?)
    }

    fn dispatch(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
    ) -> Result<Option<DispatchRow>, HistoryError> {
        Ok(Store::dispatch(self, wallet, coordination_block)?)
    }

    fn dry_runs(&self, limit: u64) -> Result<Vec<DryRunRow>, HistoryError> {
        Ok(Store::dry_runs(self, limit)?)
    }

    fn windows(&self, limit: u64) -> Result<Vec<WindowRow>, HistoryError> {
        Ok(Store::windows(self, limit)?)
    }

    fn results(
        &self,
        wallet: Option<&WalletPkh>,
        limit: u64,
    ) -> Result<Vec<ResultRow>, HistoryError> {
        Ok(Store::results(self, wallet, limit)?)
    }

    fn result(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
    ) -> Result<Option<ResultRow>, HistoryError> {
        Ok(Store::result(self, wallet, coordination_block)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::proposal::HexBytes;
    use crate::protocol::{
        ActionOutcome, Address, CoordinationWindow, Fault, Hash32, Proposal, Seed,
    };

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
        let rows = store.dispatches(10).unwrap();
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
        let rows = store.dispatches(10).unwrap();
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
        assert_eq!(store.dispatches(1).unwrap().len(), 1);
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
        let rows = store.dry_runs(10).unwrap();
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
        assert_eq!(store.dry_runs(1).unwrap().len(), 1);
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
                        expected.push((
                            id,
                            wallet(w + 1),
                            cb,
                            f.culprit,
                            f.fault,
                            operator(leader),
                        ));
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
            FaultOrder::ByOperator => {
                rows.sort_by_key(|r| (r.3.to_checksum(), Reverse((r.2, r.0))))
            }
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
        let mut slowest = Duration::ZERO;
        for filter in &filters {
            let total = store.count_faults(filter).unwrap();
            assert!(total >= 50, "{filter:?} selects only {total}");
            for order in FaultOrder::ALL {
                for offset in [0, total / 2, total - 50] {
                    let started = std::time::Instant::now();
                    let page = store.faults(filter, order, offset, 50).unwrap();
                    slowest = slowest.max(started.elapsed());
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
        // Pages take a few ms to ~100 ms in a debug build; the bound is generous so that a
        // loaded CI box does not flake, yet a page that sorted or scanned badly would miss it.
        assert!(slowest < Duration::from_secs(1), "slowest page {slowest:?}");
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
                store.dispatches(100).unwrap(),
                store.dry_runs(100).unwrap(),
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
        assert_eq!(store.dispatches(100).unwrap(), dispatches);
        assert_eq!(store.dry_runs(100).unwrap(), dry_runs);
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
                    supported: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("version 7"), "{msg}");
        assert!(msg.contains("up to 1"), "{msg}");
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
}
