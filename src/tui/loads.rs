//! The console's history reads, off its run loop. A view that went stale hands out a
//! [`Load`] with everything it needs; the run loop runs it on a task and folds the
//! [`Loaded`] answer back in, so a slow node (or one at the other end of a socket) never
//! freezes the screen. A view has at most one load in flight, and an answer for a filter
//! that has changed since is dropped in favour of a fresh load.

use std::sync::Arc;

use crate::engine::api::{ApiError, NodeApi};
use crate::engine::query::HistoryQuery;
use crate::engine::records::{FaultFilter, FaultOrder, FaultRow, OperatorFaultSummary, ResultRow};
use crate::protocol::WalletPkh;

use super::app::{ProposalItem, FAULT_PAGE};

/// How many of each the Proposals tab lists.
const DISPATCHES_SHOWN: u64 = 200;
const DRY_RUNS_SHOWN: u64 = 100;

/// A history read a view is waiting for.
pub struct Load {
    pub api: Arc<dyn NodeApi>,
    pub what: LoadWhat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadWhat {
    /// The page of faults around `selected`; `recount` also counts (and, with `summary`,
    /// summarises) the faults matching the filter.
    Faults {
        filter: FaultFilter,
        order: FaultOrder,
        selected: u64,
        page_offset: u64,
        have_rows: bool,
        total: u64,
        recount: bool,
        summary: bool,
    },
    Proposals,
    /// The stored result of the window a fault's details show.
    FaultWindow {
        wallet: WalletPkh,
        coordination_block: u64,
    },
}

/// A page of faults, with the selection kept inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultsPage {
    pub total: u64,
    pub selected: u64,
    pub page_offset: u64,
    pub rows: Vec<FaultRow>,
    /// Only when the load recounted with the summary on.
    pub summary: Option<Vec<OperatorFaultSummary>>,
}

/// The answer to a [`Load`].
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    Faults {
        filter: FaultFilter,
        order: FaultOrder,
        recount: bool,
        result: Result<FaultsPage, ApiError>,
    },
    Proposals(Result<Vec<ProposalItem>, ApiError>),
    FaultWindow {
        wallet: WalletPkh,
        coordination_block: u64,
        result: Result<Option<ResultRow>, ApiError>,
    },
}

impl Load {
    pub async fn run(self) -> Loaded {
        let api = self.api.as_ref();
        match self.what {
            LoadWhat::Faults {
                filter,
                order,
                selected,
                page_offset,
                have_rows,
                total,
                recount,
                summary,
            } => {
                let result = fault_page(
                    api,
                    &filter,
                    order,
                    (selected, page_offset, have_rows, total),
                    recount,
                    summary,
                )
                .await;
                Loaded::Faults {
                    filter,
                    order,
                    recount,
                    result,
                }
            }
            LoadWhat::Proposals => Loaded::Proposals(proposals(api).await),
            LoadWhat::FaultWindow {
                wallet,
                coordination_block,
            } => {
                let result = api
                    .history(HistoryQuery::Result {
                        wallet,
                        coordination_block,
                    })
                    .await
                    .and_then(|page| Ok(page.into_result()?));
                Loaded::FaultWindow {
                    wallet,
                    coordination_block,
                    result,
                }
            }
        }
    }
}

async fn fault_page(
    api: &dyn NodeApi,
    filter: &FaultFilter,
    order: FaultOrder,
    (mut selected, mut page_offset, have_rows, mut total): (u64, u64, bool, u64),
    recount: bool,
    summary: bool,
) -> Result<FaultsPage, ApiError> {
    if recount {
        total = api
            .history(HistoryQuery::CountFaults {
                filter: filter.clone(),
            })
            .await?
            .into_count()?;
    }
    if total == 0 {
        selected = 0;
    } else if selected >= total {
        selected = total - 1;
    }
    // Keep the selection inside the loaded page, with room on both sides.
    if selected < page_offset || selected >= page_offset + FAULT_PAGE || !have_rows {
        page_offset = selected.saturating_sub(FAULT_PAGE / 2);
    }
    let rows = api
        .history(HistoryQuery::Faults {
            filter: filter.clone(),
            order,
            offset: page_offset,
            limit: FAULT_PAGE,
        })
        .await?
        .into_faults()?;
    let summary = if summary && recount {
        Some(
            api.history(HistoryQuery::FaultSummary {
                filter: filter.clone(),
            })
            .await?
            .into_fault_summary()?,
        )
    } else {
        None
    };
    Ok(FaultsPage {
        total,
        selected,
        page_offset,
        rows,
        summary,
    })
}

async fn proposals(api: &dyn NodeApi) -> Result<Vec<ProposalItem>, ApiError> {
    let dispatches = api
        .history(HistoryQuery::Dispatches {
            offset: 0,
            limit: DISPATCHES_SHOWN,
        })
        .await?
        .into_dispatches()?;
    let dry_runs = api
        .history(HistoryQuery::DryRuns {
            offset: 0,
            limit: DRY_RUNS_SHOWN,
        })
        .await?
        .into_dry_runs()?;
    let mut items: Vec<ProposalItem> = dispatches
        .into_iter()
        .map(ProposalItem::Dispatch)
        .chain(dry_runs.into_iter().map(ProposalItem::DryRun))
        .collect();
    // Newest window first; within a window, dispatches before dry runs.
    items.sort_by_key(|i| {
        (
            std::cmp::Reverse(i.coordination_block()),
            matches!(i, ProposalItem::DryRun(_)),
        )
    });
    Ok(items)
}
