//! The history store (SPEC §7.1, §10): every coordination window seen, every result, every
//! fault, every dispatched action and every dry run, kept in one SQLite file so that the fault
//! history and the proposal history survive restarts and can be queried by the console.
//!
//! One write connection behind a mutex: writes are small and rare (a few per window), and the
//! engine writes a fact here *before* announcing it, so a crash never loses what the operator
//! saw. Queries that must not wait behind it (the console's pages) use a [`StoreReader`], a
//! read-only connection of their own.
//! The file runs in WAL mode with `synchronous=NORMAL`, which keeps every committed transaction
//! across a process crash (kill -9); only an OS crash or power loss may drop the last commits.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OpenFlags, Row};

use crate::protocol::{ActionType, Role, WalletPkh};

#[cfg(test)]
mod evidence_tests;
mod faults;
mod history;
mod queries;
mod schema;
#[cfg(test)]
mod tests;
mod writes;

use faults::MAX_SEARCH_VALUES;
pub use schema::SCHEMA_VERSION;
use schema::{APPLICATION_ID, BUSY_TIMEOUT};

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
    #[error(
        "{} has history schema version {found}, older than this build's {supported}; it \
         cannot be upgraded read-only: start the node once with this build of tbtc-coord",
        .path.display()
    )]
    OlderSchema {
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

/// See the note on `SCHEMA_V1` in `schema.rs`: a bijective cast, order-preserving below 2^63.
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

    /// A nullable text column parsed with `FromStr`; NULL reads as `None`.
    fn opt_parse<T>(&self, column: &'static str) -> Result<Option<T>, StoreError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.opt_text(column)?
            .map(|text| {
                text.parse::<T>()
                    .map_err(|e| self.corrupt(column, text.clone(), e.to_string()))
            })
            .transpose()
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

    /// A JSON list written by [`json_list`]; NULL reads as empty.
    fn json_list<T: serde::de::DeserializeOwned>(
        &self,
        column: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        match self.opt_text(column)? {
            None => Ok(Vec::new()),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| self.corrupt(column, text.clone(), e.to_string())),
        }
    }
}

/// A list kept as JSON text, NULL when empty.
fn json_list<T: serde::Serialize>(items: &[T]) -> Result<Option<String>, serde_json::Error> {
    if items.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(items).map(Some)
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
    /// Shared with the readers of an in-memory store, which have no file to open.
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    /// [`MAX_SEARCH_VALUES`]; a field so that tests can force the per-row search.
    max_search_values: usize,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// A read connection of a [`Store`] (see [`Store::reader`]): queries only, through
/// [`crate::engine::history::HistoryReader`].
#[derive(Debug)]
pub struct StoreReader {
    store: Store,
}

/// `file:PATH?immutable=1`, with the characters a URI gives meaning to escaped.
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'%' | b'?' | b'#' => uri.push_str(&format!("%{b:02X}")),
            _ if b.is_ascii() => uri.push(b as char),
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// How the store names its file in errors; in-memory stores have none.
fn display_path(path: Option<&Path>) -> PathBuf {
    path.map_or_else(|| PathBuf::from(":memory:"), Path::to_path_buf)
}

impl Store {
    /// Opens (creating if needed) the store at `path`, with its parent directories (0700),
    /// and brings its schema up to date. The file is the node's own: created 0600 (SQLite
    /// gives its journal files the same mode), made so if it was not, and never reached
    /// through a symlink.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let io = |op: &'static str| {
            move |source| StoreError::Io {
                path: path.to_path_buf(),
                op,
                source,
            }
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::files::create_private_dir(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                op: "creating the data directory",
                source,
            })?;
        }
        let file = crate::files::open_own_file(path).map_err(|e| StoreError::Io {
            path: path.to_path_buf(),
            op: "opening the history file",
            source: match e {
                crate::files::FileError::Open(e) => e,
                other => std::io::Error::other(other),
            },
        })?;
        let meta = file.metadata().map_err(io("reading the file's metadata"))?;
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io("making the history private (0600)"))?;
        }
        drop(file);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::default() | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::init(conn, Some(path.to_path_buf()), false)
    }

    /// Opens the store at `path` for reading only, beside a node that may be writing it (WAL
    /// lets a reader read while the writer writes). Nothing is created or migrated: a file
    /// of an older schema is refused, and every write through this store fails.
    ///
    /// SQLite would create the `-wal` and `-shm` files of a history whose node stopped
    /// cleanly (it removes them on exit). Without a `-wal` file every commit is in the main
    /// file, so it is opened `immutable` instead, which reads that file alone.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        Store::open_read_only_as(path, true)
    }

    /// [`Store::open_read_only`]; `immutable_if_closed` is false for the node's own reader,
    /// opened beside its writer, which must see every later commit.
    fn open_read_only_as(path: &Path, immutable_if_closed: bool) -> Result<Store, StoreError> {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let opened = if !immutable_if_closed || Path::new(&wal).exists() {
            Connection::open_with_flags(path, flags)
        } else {
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        };
        let conn = opened.map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::init(conn, Some(path.to_path_buf()), true)
    }

    /// Reads the history at `path` if there is one: a missing or empty file (a node that
    /// never wrote) reads as an empty history, held in memory, and nothing is created.
    pub fn open_read_only_or_empty(path: &Path) -> Result<Store, StoreError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Store::open_in_memory(),
            Ok(meta) if meta.is_file() && meta.len() == 0 => return Store::open_in_memory(),
            _ => {}
        }
        match Store::open_read_only(path) {
            Err(StoreError::OlderSchema { found: 0, .. }) => Store::open_in_memory(),
            other => other,
        }
    }

    /// A read connection of its own to the same file, for queries that must not wait behind
    /// the writer (the console's fault pages). In memory there is no file to open again, so
    /// the reader shares this store's connection.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        let store = match &self.path {
            Some(path) => Store {
                max_search_values: self.max_search_values,
                ..Store::open_read_only_as(path, false)?
            },
            None => Store {
                conn: Arc::clone(&self.conn),
                path: None,
                max_search_values: self.max_search_values,
            },
        };
        Ok(StoreReader { store })
    }

    /// A store that lives only as long as this value: for tests and throwaway runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(sql("opening an in-memory database"))?;
        Store::init(conn, None, false)
    }

    /// The file behind the store, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn init(
        mut conn: Connection,
        path: Option<PathBuf>,
        read_only: bool,
    ) -> Result<Store, StoreError> {
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

        if read_only {
            // A reader cannot migrate, and the queries expect the current schema.
            if version != SCHEMA_VERSION {
                return Err(StoreError::OlderSchema {
                    path: shown,
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            return Ok(Store {
                conn: Arc::new(Mutex::new(conn)),
                path,
                max_search_values: MAX_SEARCH_VALUES,
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

        schema::migrate(&mut conn, version)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path,
            max_search_values: MAX_SEARCH_VALUES,
        })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        // A panic while the lock was held may have left a statement half done; refuse rather
        // than guess. (SQLite itself rolls back an unfinished transaction.)
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}
