//! The store as the engine's history reader, and its errors as the engine sees them. (The
//! writer's impl is the store's writes, in `writes.rs`.)

use super::{Store, StoreError, StoreReader};
use crate::engine::history::{HistoryError, HistoryReader};
use crate::engine::query::{HistoryPage, HistoryQuery};

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

/// A failed read (queries are what converts implicitly; writes say they failed, see `writing`).
impl From<StoreError> for HistoryError {
    fn from(e: StoreError) -> Self {
        e.into_history(false)
    }
}

/// Runs a write's steps: whatever fails in them, the fact is not kept.
pub(super) fn writing<T>(steps: impl FnOnce() -> Result<T, StoreError>) -> Result<T, HistoryError> {
    steps().map_err(|e| e.into_history(true))
}

/// Runs a read's steps.
pub(super) fn reading<T>(steps: impl FnOnce() -> Result<T, StoreError>) -> Result<T, HistoryError> {
    steps().map_err(|e| e.into_history(false))
}

/// Every read of the history, answered on this store's connection (for the console, its
/// reader connection, see [`Store::reader`]).
impl HistoryReader for Store {
    fn query(&self, query: &HistoryQuery) -> Result<HistoryPage, HistoryError> {
        Ok(match query {
            HistoryQuery::Faults {
                filter,
                order,
                offset,
                limit,
            } => HistoryPage::Faults(self.faults(filter, *order, *offset, *limit)?),
            HistoryQuery::CountFaults { filter } => {
                HistoryPage::CountFaults(self.count_faults(filter)?)
            }
            HistoryQuery::FaultSummary { filter } => {
                HistoryPage::FaultSummary(self.fault_summary(filter)?)
            }
            HistoryQuery::Dispatches { offset, limit } => {
                HistoryPage::Dispatches(self.dispatches(*offset, *limit)?)
            }
            HistoryQuery::DryRuns { offset, limit } => {
                HistoryPage::DryRuns(self.dry_runs(*offset, *limit)?)
            }
            HistoryQuery::Dispatch {
                wallet,
                coordination_block,
            } => HistoryPage::Dispatch(self.dispatch(wallet, *coordination_block)?),
            HistoryQuery::Windows { limit } => HistoryPage::Windows(self.windows(*limit)?),
            HistoryQuery::Results { wallet, limit } => {
                HistoryPage::Results(self.results(wallet.as_ref(), *limit)?)
            }
            HistoryQuery::Result {
                wallet,
                coordination_block,
            } => HistoryPage::Result(self.result(wallet, *coordination_block)?),
        })
    }
}

/// The same reads on the reader's own connection.
impl HistoryReader for StoreReader {
    fn query(&self, query: &HistoryQuery) -> Result<HistoryPage, HistoryError> {
        self.store.query(query)
    }
}
