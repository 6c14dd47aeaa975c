//! The console's history reads, off its run loop. A view that went stale hands out a
//! [`Load`] with everything it needs; the run loop runs it on a task and folds the
//! [`Loaded`] answer back in, so a slow node (or one at the other end of a socket) never
//! freezes the screen. A view has at most one load in flight, and an answer for a filter
//! that has changed since is dropped in favour of a fresh load.

use std::sync::Arc;

use crate::engine::api::{ApiError, NodeApi};
use crate::engine::query::HistoryQuery;
use crate::engine::records::{
    FaultFilter, FaultOrder, FaultRow, OperatorFaultSummary, ResultRow, WindowRow,
};
use crate::engine::snapshot::SNAPSHOT_HISTORY;
use crate::protocol::WalletPkh;

use super::app::{ProposalItem, FAULT_PAGE};

/// How many of each the Proposals tab lists.
const DISPATCHES_SHOWN: u64 = 200;
const DRY_RUNS_SHOWN: u64 = 100;
/// How many results the Overview reads with the recent windows: enough for the windows a
/// snapshot holds, at a few wallets each.
const RECENT_RESULTS: u64 = 512;

/// A history read a view is waiting for.
pub struct Load {
    pub api: Arc<dyn NodeApi>,
    pub what: LoadWhat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadWhat {
    /// The page of faults matching `filter` in `order` that `ask` says where to find.
    Faults {
        filter: FaultFilter,
        order: FaultOrder,
        ask: FaultsAsk,
    },
    Proposals,
    /// The stored result of the window a fault's details show.
    FaultWindow {
        wallet: WalletPkh,
        coordination_block: u64,
    },
    /// The newest windows and results, for the Overview.
    Recent,
}

/// A page of faults, with the selection kept inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultsPage {
    pub total: u64,
    /// The selection the load was asked for.
    pub asked: u64,
    /// Where the selected fault is now: `asked` unless faults recorded since moved it.
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
    Recent(Result<RecentRead, ApiError>),
}

/// The newest windows, results and faults in the history, each newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentRead {
    pub windows: Vec<WindowRow>,
    pub results: Vec<ResultRow>,
    pub faults: Vec<FaultRow>,
}

impl Load {
    pub async fn run(self) -> Loaded {
        let api = self.api.as_ref();
        match self.what {
            LoadWhat::Faults { filter, order, ask } => {
                let recount = ask.recount;
                let result = fault_page(api, &filter, order, ask).await;
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
            LoadWhat::Recent => Loaded::Recent(recent(api).await),
        }
    }
}

/// What a fault page load starts from: the view as it was when the load was asked for. The
/// page is the one around `selected`, or around the fault `selected_id` wherever it went;
/// `recount` also counts (and, with `summary`, summarises) the faults matching the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultsAsk {
    pub selected: u64,
    pub selected_id: Option<i64>,
    pub page_offset: u64,
    pub have_rows: bool,
    pub total: u64,
    pub recount: bool,
    pub summary: bool,
}

async fn fault_page(
    api: &dyn NodeApi,
    filter: &FaultFilter,
    order: FaultOrder,
    ask: FaultsAsk,
) -> Result<FaultsPage, ApiError> {
    let FaultsAsk {
        mut selected,
        selected_id,
        mut page_offset,
        have_rows,
        mut total,
        recount,
        summary,
    } = ask;
    let asked = selected;
    let before = total;
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
    let page = |offset: u64| {
        api.history(HistoryQuery::Faults {
            filter: filter.clone(),
            order,
            offset,
            limit: FAULT_PAGE,
        })
    };
    let mut rows = page(page_offset).await?.into_faults()?;
    // The selection is a fault, not an index: find where faults recorded since moved it.
    if let Some(id) = selected_id {
        let at = |rows: &[FaultRow]| rows.iter().position(|r| r.id == id).map(|i| i as u64);
        if let Some(i) = at(&rows) {
            selected = page_offset + i;
        } else if total > before {
            // Pushed out of the page: as far down as faults were added, if they all landed
            // above it (newest first).
            let guess = (asked + (total - before)).min(total - 1);
            let offset = guess.saturating_sub(FAULT_PAGE / 2);
            let there = page(offset).await?.into_faults()?;
            if let Some(i) = at(&there) {
                selected = offset + i;
                page_offset = offset;
                rows = there;
            }
        }
    }
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
        asked,
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

async fn recent(api: &dyn NodeApi) -> Result<RecentRead, ApiError> {
    let windows = api
        .history(HistoryQuery::Windows {
            limit: SNAPSHOT_HISTORY as u64,
        })
        .await?
        .into_windows()?;
    let results = api
        .history(HistoryQuery::Results {
            wallet: None,
            limit: RECENT_RESULTS,
        })
        .await?
        .into_results()?;
    let faults = api
        .history(HistoryQuery::Faults {
            filter: FaultFilter::default(),
            order: FaultOrder::NewestFirst,
            offset: 0,
            limit: SNAPSHOT_HISTORY as u64,
        })
        .await?
        .into_faults()?;
    Ok(RecentRead {
        windows,
        results,
        faults,
    })
}
