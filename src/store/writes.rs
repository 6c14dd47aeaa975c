//! What the engine writes: windows, results with their faults, dispatches, dry runs and meta
//! values, and the reads a node needs to resume. The store's [`HistoryWriter`] impl: each write
//! is one statement or one transaction.

use rusqlite::{params, OptionalExtension};

use super::history::{reading, writing};
use super::queries::{dispatch_row, window_row, DISPATCH_COLUMNS, WINDOW_COLUMNS};
use super::{
    block_from_sql, block_to_sql, collect_rows, count_to_sql, json_list, now_unix, sql, Store,
    StoreError,
};
use crate::engine::history::{HistoryError, HistoryWriter};
use crate::engine::records::{
    DispatchRecord, DispatchRow, DispatchStatus, DryRunRecord, WindowRow, WindowStatus,
};
use crate::protocol::action::join_names;
use crate::protocol::WalletInfo;
use crate::protocol::{CoordinationResult, FaultEvidence, WalletPkh};

impl HistoryWriter for Store {
    /// Records that a window started or was missed. The first record of a window wins; later
    /// changes go through [`HistoryWriter::set_window_status`].
    fn record_window(
        &self,
        coordination_block: u64,
        status: WindowStatus,
        late: bool,
        observed_block: u64,
    ) -> Result<(), HistoryError> {
        writing(|| {
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
        })
    }

    /// Moves a window to `status` with `reason` (replacing the one it had). A window not yet
    /// recorded is recorded, not late, as observed at its coordination block.
    fn set_window_status(
        &self,
        coordination_block: u64,
        status: WindowStatus,
        reason: Option<&str>,
    ) -> Result<(), HistoryError> {
        writing(|| {
            let conn = self.conn()?;
            conn.prepare_cached(
                "INSERT INTO windows
                     (coordination_block, status, late, observed_block, reason, recorded_at)
                 VALUES (?1, ?2, 0, ?1, ?3, ?4)
                 ON CONFLICT (coordination_block) DO UPDATE
                     SET status = excluded.status, reason = excluded.reason",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    block_to_sql(coordination_block),
                    status.name(),
                    reason,
                    now_unix(),
                ])
            })
            .map_err(sql("updating a window"))?;
            Ok(())
        })
    }

    /// Records a result and its faults in one transaction. Returns `false` (writing nothing)
    /// if this wallet's result for this window is already stored.
    fn record_result(&self, result: &CoordinationResult) -> Result<bool, HistoryError> {
        writing(|| {
            let proposal = serde_json::to_string(&result.proposal)?;
            let refusals = json_list(&result.refusals)?;
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
                          recorded_at, members_connected, refusals)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
                        result.members_connected,
                        refusals,
                    ])
                })
                .map_err(sql(op))?;
            if inserted == 0 {
                // Dropping the transaction rolls back; nothing was written anyway.
                return Ok(false);
            }
            // One fault per (wallet, window, culprit, type), whatever the result repeats: the
            // unique index drops the repeats, and fault_count counts what was kept.
            let mut stored = 0usize;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO faults
                             (wallet, coordination_block, culprit, fault_type, leader, recorded_at,
                              evidence_message, evidence_context, proposed_action)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .map_err(sql("recording a fault"))?;
                for fault in &result.faults {
                    let (message, context) = match result.evidence.get(fault) {
                        Some(FaultEvidence::Message(bytes)) => (Some(bytes.as_slice()), None),
                        Some(FaultEvidence::Idleness(c)) => (None, Some(serde_json::to_string(c)?)),
                        None => (None, None),
                    };
                    stored += stmt
                        .execute(params![
                            wallet,
                            cb,
                            fault.culprit.to_checksum(),
                            fault.fault.name(),
                            leader,
                            now,
                            message,
                            context,
                            result.proposed_actions.get(fault).map(|a| a.name()),
                        ])
                        .map_err(sql("recording a fault"))?;
                }
            }
            if stored != result.faults.len() {
                tx.prepare_cached(
                    "UPDATE results SET fault_count = ?3 WHERE wallet = ?1 AND coordination_block = ?2",
                )
                .and_then(|mut stmt| stmt.execute(params![wallet, cb, count_to_sql(stored as u64)]))
                .map_err(sql(op))?;
            }
            tx.commit().map_err(sql(op))?;
            Ok(true)
        })
    }

    /// Records the signing groups of the wallets the node coordinates (what a wallet's seats
    /// are never changes; a wallet listed again replaces its row).
    fn record_wallets(&self, wallets: &[WalletInfo]) -> Result<(), HistoryError> {
        writing(|| {
            let op = "recording wallet seats";
            let mut conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql(op))?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO wallet_seats (wallet, public_key, operators, recorded_at)
                         VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(sql(op))?;
                let now = now_unix();
                for w in wallets {
                    let operators: Vec<String> =
                        w.operators.iter().map(|o| o.to_checksum()).collect();
                    stmt.execute(params![
                        w.wallet.to_hex(),
                        w.public_key.map(|k| k.to_string()),
                        operators.join(","),
                        now,
                    ])
                    .map_err(sql(op))?;
                }
            }
            tx.commit().map_err(sql(op))?;
            Ok(())
        })
    }

    /// Records a dispatch (or a rejection). The first record of (wallet, window) wins; later
    /// changes go through [`HistoryWriter::set_dispatch_status`].
    fn record_dispatch(&self, d: &DispatchRecord) -> Result<(), HistoryError> {
        writing(|| {
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
        })
    }

    /// Moves a dispatch to `status` as of `block`. A finished status (completed, failed,
    /// expired, rejected) sets the finished block; an unfinished one clears it. The reason is
    /// kept.
    fn set_dispatch_status(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
    ) -> Result<(), HistoryError> {
        writing(|| self.update_dispatch(wallet, coordination_block, status, block, None))
    }

    /// [`HistoryWriter::set_dispatch_status`], also replacing the reason (e.g. why it failed).
    fn set_dispatch_status_with_reason(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
        reason: &str,
    ) -> Result<(), HistoryError> {
        writing(|| self.update_dispatch(wallet, coordination_block, status, block, Some(reason)))
    }

    /// Records a dry run; returns its id.
    fn record_dry_run(&self, r: &DryRunRecord) -> Result<i64, HistoryError> {
        writing(|| {
            let proposal = r.proposal.as_ref().map(serde_json::to_string).transpose()?;
            let actions = json_list(&r.actions)?;
            let conn = self.conn()?;
            conn.prepare_cached(
                "INSERT INTO dry_runs
                     (wallet, coordination_block, current_block, safe_block, safe_block_hash,
                      hash_rule, seed, leader, leader_is_self, role, checklist, proposal, reason,
                      recorded_at, actions)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
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
                    actions,
                ])
            })
            .map_err(sql("recording a dry run"))?;
            Ok(conn.last_insert_rowid())
        })
    }

    fn get_meta(&self, key: &str) -> Result<Option<String>, HistoryError> {
        reading(|| {
            let conn = self.conn()?;
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(sql("reading a meta value"))
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), HistoryError> {
        writing(|| {
            let conn = self.conn()?;
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .map_err(sql("writing a meta value"))?;
            Ok(())
        })
    }

    /// The highest coordination block recorded (started or missed).
    fn last_window(&self) -> Result<Option<u64>, HistoryError> {
        reading(|| {
            let conn = self.conn()?;
            let max: Option<i64> = conn
                .query_row("SELECT max(coordination_block) FROM windows", [], |row| {
                    row.get(0)
                })
                .map_err(sql("reading the last window"))?;
            Ok(max.map(block_from_sql))
        })
    }

    /// Windows that started but never completed (started or interrupted), oldest first.
    fn unfinished_windows(&self) -> Result<Vec<WindowRow>, HistoryError> {
        reading(|| {
            let conn = self.conn()?;
            collect_rows(
                &conn,
                "listing unfinished windows",
                "windows",
                &format!(
                    "SELECT {WINDOW_COLUMNS} FROM windows
                     WHERE status IN ('started', 'interrupted')
                     ORDER BY coordination_block ASC"
                ),
                [],
                window_row,
            )
        })
    }

    /// Dispatches not yet finished (dispatched or running), oldest first: what a restarted
    /// dispatcher must pick up again, and which wallets are busy.
    fn open_dispatches(&self) -> Result<Vec<DispatchRow>, HistoryError> {
        reading(|| {
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
        })
    }
}

impl Store {
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
}
