//! The store as the engine's history: the trait impls, and its errors as the engine sees them.

use super::{Store, StoreError, StoreReader};
use crate::engine::history::{HistoryError, HistoryReader, HistoryWriter};
use crate::engine::records::{
    DispatchRecord, DispatchRow, DispatchStatus, DryRunRecord, DryRunRow, FaultFilter, FaultOrder,
    FaultRow, OperatorFaultSummary, ResultRow, WindowRow, WindowStatus,
};
use crate::protocol::{CoordinationResult, WalletPkh};

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

    fn set_window_status(
        &self,
        coordination_block: u64,
        status: WindowStatus,
        reason: Option<&str>,
    ) -> Result<(), HistoryError> {
        Store::set_window_status(self, coordination_block, status, reason).map_err(write_failed)
    }

    fn record_wallets(&self, wallets: &[crate::protocol::WalletInfo]) -> Result<(), HistoryError> {
        Store::record_wallets(self, wallets).map_err(write_failed)
    }

    fn last_window(&self) -> Result<Option<u64>, HistoryError> {
        Ok(Store::last_window(self)?)
    }

    fn unfinished_windows(&self) -> Result<Vec<WindowRow>, HistoryError> {
        Ok(Store::unfinished_windows(self)?)
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

    fn dispatches(&self, offset: u64, limit: u64) -> Result<Vec<DispatchRow>, HistoryError> {
        Ok(Store::dispatches(self, offset, limit)?)
    }

    fn dispatch(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
    ) -> Result<Option<DispatchRow>, HistoryError> {
        Ok(Store::dispatch(self, wallet, coordination_block)?)
    }

    fn dry_runs(&self, offset: u64, limit: u64) -> Result<Vec<DryRunRow>, HistoryError> {
        Ok(Store::dry_runs(self, offset, limit)?)
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

/// The same queries on the reader's own connection.
impl HistoryReader for StoreReader {
    fn faults(
        &self,
        filter: &FaultFilter,
        order: FaultOrder,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<FaultRow>, HistoryError> {
        Ok(Store::faults(&self.store, filter, order, offset, limit)?)
    }

    fn count_faults(&self, filter: &FaultFilter) -> Result<u64, HistoryError> {
        Ok(Store::count_faults(&self.store, filter)?)
    }

    fn fault_summary(
        &self,
        filter: &FaultFilter,
    ) -> Result<Vec<OperatorFaultSummary>, HistoryError> {
        Ok(Store::fault_summary(&self.store, filter)?)
    }

    fn dispatches(&self, offset: u64, limit: u64) -> Result<Vec<DispatchRow>, HistoryError> {
        Ok(Store::dispatches(&self.store, offset, limit)?)
    }

    fn dispatch(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
    ) -> Result<Option<DispatchRow>, HistoryError> {
        Ok(Store::dispatch(&self.store, wallet, coordination_block)?)
    }

    fn dry_runs(&self, offset: u64, limit: u64) -> Result<Vec<DryRunRow>, HistoryError> {
        Ok(Store::dry_runs(&self.store, offset, limit)?)
    }

    fn windows(&self, limit: u64) -> Result<Vec<WindowRow>, HistoryError> {
        Ok(Store::windows(&self.store, limit)?)
    }

    fn results(
        &self,
        wallet: Option<&WalletPkh>,
        limit: u64,
    ) -> Result<Vec<ResultRow>, HistoryError> {
        Ok(Store::results(&self.store, wallet, limit)?)
    }

    fn result(
        &self,
        wallet: &WalletPkh,
        coordination_block: u64,
    ) -> Result<Option<ResultRow>, HistoryError> {
        Ok(Store::result(&self.store, wallet, coordination_block)?)
    }
}
