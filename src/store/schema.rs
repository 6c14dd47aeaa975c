//! The history's schema: its SQL, version by version, and the migrations that bring a file up
//! to date.

use std::time::Duration;

use rusqlite::Connection;

use super::{sql, StoreError};

/// The schema version this build writes; `PRAGMA user_version` of an up-to-date file.
pub const SCHEMA_VERSION: i64 = 6;

/// `PRAGMA application_id` of our files ("tbtc" in ASCII), so that another program's SQLite
/// file is recognised as such instead of being migrated into.
pub(super) const APPLICATION_ID: i64 = 0x7462_7463;

/// Waits this long for another connection's write lock before failing with "busy".
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations by version: `MIGRATIONS[i]` takes a file from version `i` to `i + 1`.
/// Never edit a released entry; append a new one instead.
const MIGRATIONS: &[&str] = &[
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6,
];

/// Block numbers are u64 but SQLite integers are i64: every block number is stored as
/// `b as i64` and read back as `v as u64`. The cast is a bijection, so any u64 round-trips,
/// and it keeps the order (which the indexes and ORDER BY rely on) for every height below
/// 2^63 — far beyond any real chain.
pub(super) const SCHEMA_V1: &str = r#"
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

/// Version 2: windows that completed or were interrupted, with a reason; one fault per
/// (wallet, window, culprit, fault type).
///
/// SQLite cannot alter a CHECK constraint, so `windows` is rebuilt (no table refers to it).
/// Version 1 never recorded completion: every started window but the newest went by long
/// ago, so those are marked completed (their results are what was kept), and only the newest
/// stays for a restarted node to resume or report. Duplicate faults keep their first row,
/// and each result's fault_count becomes what it now has.
pub(super) const SCHEMA_V2: &str = r#"
CREATE TABLE windows_v2 (
    coordination_block INTEGER PRIMARY KEY,
    status             TEXT    NOT NULL CHECK (status IN
        ('started', 'missed', 'completed', 'interrupted')),
    late               INTEGER NOT NULL CHECK (late IN (0, 1)),
    observed_block     INTEGER NOT NULL,
    reason             TEXT,
    recorded_at        INTEGER NOT NULL
);
INSERT INTO windows_v2 (coordination_block, status, late, observed_block, reason, recorded_at)
    SELECT coordination_block,
           CASE WHEN status = 'started'
                     AND coordination_block < (SELECT max(coordination_block) FROM windows)
                THEN 'completed' ELSE status END,
           late, observed_block, NULL, recorded_at
    FROM windows;
DROP TABLE windows;
ALTER TABLE windows_v2 RENAME TO windows;

DELETE FROM faults WHERE id NOT IN (
    SELECT min(id) FROM faults GROUP BY wallet, coordination_block, culprit, fault_type);
CREATE UNIQUE INDEX faults_once ON faults (wallet, coordination_block, culprit, fault_type);
UPDATE results SET fault_count = (
    SELECT count(*) FROM faults AS f
    WHERE f.wallet = results.wallet AND f.coordination_block = results.coordination_block)
WHERE fault_count != (
    SELECT count(*) FROM faults AS f
    WHERE f.wallet = results.wallet AND f.coordination_block = results.coordination_block);
"#;

/// Version 3: how many of the wallet's other members a follower on the peer network was
/// connected to (NULL where not measured: leaders, the in-process hub, and every result
/// recorded before the peer network existed). Zero is an unheard window.
pub(super) const SCHEMA_V3: &str = r#"
ALTER TABLE results ADD COLUMN members_connected INTEGER CHECK (members_connected >= 0);
"#;

/// Version 4: fault evidence. An impersonation or a mistake keeps the offending signed
/// pubsub message as received (`evidence_message`); an idleness keeps what the follower saw
/// (`evidence_context`, JSON: the blocks listened, the members connected, the messages heard).
/// Faults recorded before version 4 have neither. `wallet_seats` keeps the signing groups the
/// node coordinated (operators in seat order, EIP-55, comma-separated), so that its evidence
/// can be checked against the node's own history.
pub(super) const SCHEMA_V4: &str = r#"
ALTER TABLE faults ADD COLUMN evidence_message BLOB;
ALTER TABLE faults ADD COLUMN evidence_context TEXT;
CREATE TABLE wallet_seats (
    wallet      TEXT    PRIMARY KEY,
    public_key  TEXT,
    operators   TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
);
"#;

/// Version 5: the on-chain validator's verdicts (SPEC §12). A leader's result keeps the
/// candidates the validator refused or could not judge (`refusals`, a JSON list of
/// `{action, reason}`); a dry run keeps every checklist action with its candidate and verdict
/// (`actions`, JSON). NULL for rows recorded before version 5, and where there is none.
pub(super) const SCHEMA_V5: &str = r#"
ALTER TABLE results ADD COLUMN refusals TEXT;
ALTER TABLE dry_runs ADD COLUMN actions TEXT;
"#;

/// Version 6: the action a mistake or an impersonation proposed (`proposed_action`, an action
/// name), as the follower decoded it from the message it kept, so that the history answers
/// "what did the culprit propose" without decoding the evidence. NULL for an idleness, and for
/// faults recorded before version 6 (their kept message still says it).
pub(super) const SCHEMA_V6: &str = r#"
ALTER TABLE faults ADD COLUMN proposed_action TEXT;
"#;

/// Applies every migration after `from`, each in its own transaction with its version
/// bump, so a crash mid-way leaves the file at a consistent version.
pub(super) fn migrate(conn: &mut Connection, from: i64) -> Result<(), StoreError> {
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
