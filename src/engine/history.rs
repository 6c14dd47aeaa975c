//! The engine's history, as traits: what the engine writes (windows, results, dispatches, dry
//! runs) and what it and the console query. The SQLite store implements them; the engine and
//! the console only know these traits and the records of [`super::records`].
//!
//! The methods block (SQLite): the engine calls them through `spawn_blocking`, never on an
//! async worker. Both traits are object safe, so a node holds an `Arc<dyn HistoryWriter>`.

use super::query::{HistoryPage, HistoryQuery};
use super::records::{
    DispatchRecord, DispatchRow, DispatchStatus, DryRunRecord, WindowRow, WindowStatus,
};
use crate::protocol::WalletInfo;
use crate::protocol::{CoordinationResult, WalletPkh};

/// Why the history failed. The message is the store's own; the variant says whether a fact
/// may have been lost (a write that did not take) or only a read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// A write did not take: the fact it carried is not kept and must not be announced.
    #[error("{0}")]
    Write(String),
    /// A read failed; nothing was lost.
    #[error("{0}")]
    Read(String),
}

impl HistoryError {
    /// Whether a write failed (the fact is not kept).
    pub fn is_write(&self) -> bool {
        matches!(self, HistoryError::Write(_))
    }

    pub fn message(&self) -> &str {
        match self {
            HistoryError::Write(m) | HistoryError::Read(m) => m,
        }
    }
}

/// A page for another query is a read that went wrong.
impl From<super::query::WrongPage> for HistoryError {
    fn from(e: super::query::WrongPage) -> Self {
        HistoryError::Read(e.to_string())
    }
}

/// What the engine writes, and the reads it needs to resume after a restart.
pub trait HistoryWriter: Send + Sync {
    /// Records that a window started or was missed. The first record of a window wins.
    fn record_window(
        &self,
        coordination_block: u64,
        status: WindowStatus,
        late: bool,
        observed_block: u64,
    ) -> Result<(), HistoryError>;

    /// Moves a recorded window to `status` (completed, interrupted, missed), replacing its
    /// reason; records it if it was not (with `late` false and the observed block unknown,
    /// stored as its coordination block).
    fn set_window_status(
        &self,
        coordination_block: u64,
        status: WindowStatus,
        reason: Option<&str>,
    ) -> Result<(), HistoryError>;

    /// The highest coordination block recorded, whatever its status.
    fn last_window(&self) -> Result<Option<u64>, HistoryError>;

    /// Windows that started but never completed (status started or interrupted), oldest
    /// first: what a restarted node resumes or reports missed.
    fn unfinished_windows(&self) -> Result<Vec<WindowRow>, HistoryError>;

    /// Records a result and its faults in one transaction, one fault per (wallet, window,
    /// culprit, fault type). Returns `false` (writing nothing) if this wallet's result for
    /// this window is already stored.
    fn record_result(&self, result: &CoordinationResult) -> Result<bool, HistoryError>;

    /// Records the signing groups of the wallets the node coordinates, so that its fault
    /// evidence can be checked against its own history later.
    fn record_wallets(&self, wallets: &[WalletInfo]) -> Result<(), HistoryError>;

    /// Records a dispatch (or a rejection). The first record of (wallet, window) wins.
    fn record_dispatch(&self, dispatch: &DispatchRecord) -> Result<(), HistoryError>;

    /// Moves a dispatch to `status` as of `block`, keeping its reason. A dispatch that was
    /// never recorded is an error.
    fn set_dispatch_status(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
    ) -> Result<(), HistoryError>;

    /// [`HistoryWriter::set_dispatch_status`], also replacing the reason (why it failed or
    /// expired).
    fn set_dispatch_status_with_reason(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
        status: DispatchStatus,
        block: u64,
        reason: &str,
    ) -> Result<(), HistoryError>;

    /// Dispatches not yet finished (dispatched or running), oldest first.
    fn open_dispatches(&self) -> Result<Vec<DispatchRow>, HistoryError>;

    /// Records a dry run; returns its id.
    fn record_dry_run(&self, dry_run: &DryRunRecord) -> Result<i64, HistoryError>;

    fn get_meta(&self, key: &str) -> Result<Option<String>, HistoryError>;

    fn set_meta(&self, key: &str, value: &str) -> Result<(), HistoryError>;
}

/// What the console, the headless commands and the control socket read: every read is one
/// [`HistoryQuery`], answered with the [`HistoryPage`] of the same name. Every error is a
/// [`HistoryError::Read`].
pub trait HistoryReader: Send + Sync {
    fn query(&self, query: &HistoryQuery) -> Result<HistoryPage, HistoryError>;
}

/// Both halves, for a holder that writes and reads through one handle.
pub trait History: HistoryWriter + HistoryReader {}

impl<T: HistoryWriter + HistoryReader + ?Sized> History for T {}
