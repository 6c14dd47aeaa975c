//! The other queries: windows, results, dispatches and dry runs.

use rusqlite::params;

use super::{block_to_sql, collect_rows, count_to_sql, Columns, Store, StoreError};
use crate::engine::records::{
    DispatchRow, DispatchStatus, DryRunRow, ResultRow, WindowRow, WindowStatus,
};
use crate::protocol::{Hash32, WalletPkh};

impl Store {
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

    /// The signing groups the node recorded (see [`HistoryWriter::record_wallets`](crate::engine::history::HistoryWriter::record_wallets)), by wallet.
    pub fn wallet_seats(&self) -> Result<Vec<crate::protocol::WalletInfo>, StoreError> {
        let conn = self.conn()?;
        collect_rows(
            &conn,
            "listing wallet seats",
            "wallet_seats",
            "SELECT wallet, public_key, operators FROM wallet_seats ORDER BY wallet",
            [],
            |c| {
                let public_key = match c.opt_text("public_key")? {
                    Some(_) => Some(c.parse("public_key")?),
                    None => None,
                };
                let operators = c.with("operators", |text| {
                    text.split(',')
                        .filter(|o| !o.is_empty())
                        .map(|o| o.parse().map_err(|e| format!("{e}")))
                        .collect()
                })?;
                Ok(crate::protocol::WalletInfo {
                    wallet: c.parse("wallet")?,
                    public_key,
                    operators,
                })
            },
        )
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

    /// The safe block hash that seeded one wallet's window, as the node's result for it
    /// recorded: an independent source for the hash an evidence export claims.
    pub fn safe_block_hash(
        &self,
        wallet: &WalletPkh,
        cb: u64,
    ) -> Result<Option<Hash32>, StoreError> {
        let conn = self.conn()?;
        let mut rows = collect_rows(
            &conn,
            "reading a safe block hash",
            "results",
            "SELECT safe_block_hash FROM results WHERE wallet = ?1 AND coordination_block = ?2",
            params![wallet.to_hex(), block_to_sql(cb)],
            |c| c.parse("safe_block_hash"),
        )?;
        Ok(rows.pop())
    }

    /// Dispatches, newest window first, then by wallet: one window's dispatches are made
    /// concurrently, so the order they were stored in says nothing.
    pub fn dispatches(&self, offset: u64, limit: u64) -> Result<Vec<DispatchRow>, StoreError> {
        let conn = self.conn()?;
        collect_rows(
            &conn,
            "listing dispatches",
            "dispatches",
            &format!(
                "SELECT {DISPATCH_COLUMNS} FROM dispatches
                 ORDER BY coordination_block DESC, wallet ASC LIMIT ?1 OFFSET ?2"
            ),
            params![count_to_sql(limit), count_to_sql(offset)],
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

    /// Dry runs, newest first.
    pub fn dry_runs(&self, offset: u64, limit: u64) -> Result<Vec<DryRunRow>, StoreError> {
        let conn = self.conn()?;
        collect_rows(
            &conn,
            "listing dry runs",
            "dry_runs",
            "SELECT id, wallet, coordination_block, current_block, safe_block, safe_block_hash,
                    hash_rule, seed, leader, leader_is_self, role, checklist, proposal, reason,
                    recorded_at, actions
             FROM dry_runs ORDER BY id DESC LIMIT ?1 OFFSET ?2",
            params![count_to_sql(limit), count_to_sql(offset)],
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
                    actions: c.json_list("actions")?,
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
            &format!(
                "SELECT {WINDOW_COLUMNS} FROM windows
                 ORDER BY coordination_block DESC LIMIT ?1"
            ),
            params![count_to_sql(limit)],
            window_row,
        )
    }
}

pub(super) const WINDOW_COLUMNS: &str =
    "coordination_block, status, late, observed_block, reason, recorded_at";

pub(super) fn window_row(c: &Columns) -> Result<WindowRow, StoreError> {
    Ok(WindowRow {
        coordination_block: c.block("coordination_block")?,
        status: c.with("status", |s| {
            WindowStatus::from_name(s).ok_or_else(|| "unknown window status".into())
        })?,
        late: c.boolean("late")?,
        observed_block: c.block("observed_block")?,
        reason: c.opt_text("reason")?,
        recorded_at: c.int("recorded_at")?,
    })
}

const RESULT_COLUMNS: &str = "wallet, coordination_block, safe_block_hash, seed, leader, \
     leader_member_index, role, checklist, action, proposal, fault_count, recorded_at, \
     members_connected, refusals";

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
        members_connected: c
            .get::<Option<i64>>("members_connected")?
            .map(|n| {
                u32::try_from(n).map_err(|_| {
                    c.corrupt(
                        "members_connected",
                        n.to_string(),
                        "expected a count".into(),
                    )
                })
            })
            .transpose()?,
        refusals: c.json_list("refusals")?,
    })
}

pub(super) const DISPATCH_COLUMNS: &str =
    "wallet, coordination_block, action, proposal, start_block, \
     expiry_block, status, reason, finished_block, recorded_at, updated_at";

pub(super) fn dispatch_row(c: &Columns) -> Result<DispatchRow, StoreError> {
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
