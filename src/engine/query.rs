//! History reads as one request type. A front end asks a [`HistoryQuery`] and gets a
//! [`HistoryPage`], in this process or over the control socket, and the history answers it in
//! one place: a new query is a variant here, its SQL in the store, and the view that shows
//! it, with nothing to forward in between.

use serde::{Deserialize, Serialize};

use super::records::{
    DispatchRow, DryRunRow, FaultFilter, FaultOrder, FaultRow, OperatorFaultSummary, ResultRow,
    WindowRow,
};
use crate::protocol::WalletPkh;

/// One read of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "snake_case", deny_unknown_fields)]
pub enum HistoryQuery {
    /// A page of the faults matching `filter`, in `order`, skipping `offset`.
    Faults {
        #[serde(default)]
        filter: FaultFilter,
        #[serde(default)]
        order: FaultOrder,
        #[serde(default)]
        offset: u64,
        limit: u64,
    },
    /// How many faults match `filter`.
    CountFaults {
        #[serde(default)]
        filter: FaultFilter,
    },
    /// Per culprit among the faults matching `filter`, most faults first.
    FaultSummary {
        #[serde(default)]
        filter: FaultFilter,
    },
    /// A page of the dispatches, newest window first.
    Dispatches {
        #[serde(default)]
        offset: u64,
        limit: u64,
    },
    /// A page of the dry runs, newest first.
    DryRuns {
        #[serde(default)]
        offset: u64,
        limit: u64,
    },
    /// One wallet's dispatch for one window.
    Dispatch {
        wallet: WalletPkh,
        coordination_block: u64,
    },
    /// The newest windows.
    Windows { limit: u64 },
    /// The newest results (ties by wallet), optionally of one wallet.
    Results {
        #[serde(default)]
        wallet: Option<WalletPkh>,
        limit: u64,
    },
    /// One wallet's result for one window.
    Result {
        wallet: WalletPkh,
        coordination_block: u64,
    },
}

impl HistoryQuery {
    /// The rows a paged query asks for; `None` for one that is not paged.
    pub fn page_limit(&self) -> Option<u64> {
        match self {
            HistoryQuery::Faults { limit, .. }
            | HistoryQuery::Dispatches { limit, .. }
            | HistoryQuery::DryRuns { limit, .. }
            | HistoryQuery::Windows { limit }
            | HistoryQuery::Results { limit, .. } => Some(*limit),
            HistoryQuery::CountFaults { .. }
            | HistoryQuery::FaultSummary { .. }
            | HistoryQuery::Dispatch { .. }
            | HistoryQuery::Result { .. } => None,
        }
    }

    /// The query's name, as on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            HistoryQuery::Faults { .. } => "faults",
            HistoryQuery::CountFaults { .. } => "count_faults",
            HistoryQuery::FaultSummary { .. } => "fault_summary",
            HistoryQuery::Dispatches { .. } => "dispatches",
            HistoryQuery::DryRuns { .. } => "dry_runs",
            HistoryQuery::Dispatch { .. } => "dispatch",
            HistoryQuery::Windows { .. } => "windows",
            HistoryQuery::Results { .. } => "results",
            HistoryQuery::Result { .. } => "result",
        }
    }
}

/// What a [`HistoryQuery`] returns: the variant of the same name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "query", content = "rows", rename_all = "snake_case")]
pub enum HistoryPage {
    Faults(Vec<FaultRow>),
    CountFaults(u64),
    FaultSummary(Vec<OperatorFaultSummary>),
    Dispatches(Vec<DispatchRow>),
    DryRuns(Vec<DryRunRow>),
    Dispatch(Option<DispatchRow>),
    Windows(Vec<WindowRow>),
    Results(Vec<ResultRow>),
    Result(Option<ResultRow>),
}

/// A page that does not answer the query it was meant for (a node of another build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("asked for {asked}, got an answer to {got}")]
pub struct WrongPage {
    pub asked: &'static str,
    pub got: &'static str,
}

impl HistoryPage {
    /// The name of the query this page answers.
    pub fn name(&self) -> &'static str {
        match self {
            HistoryPage::Faults(_) => "faults",
            HistoryPage::CountFaults(_) => "count_faults",
            HistoryPage::FaultSummary(_) => "fault_summary",
            HistoryPage::Dispatches(_) => "dispatches",
            HistoryPage::DryRuns(_) => "dry_runs",
            HistoryPage::Dispatch(_) => "dispatch",
            HistoryPage::Windows(_) => "windows",
            HistoryPage::Results(_) => "results",
            HistoryPage::Result(_) => "result",
        }
    }

    fn wrong(&self, asked: &'static str) -> WrongPage {
        WrongPage {
            asked,
            got: self.name(),
        }
    }

    pub fn into_faults(self) -> Result<Vec<FaultRow>, WrongPage> {
        match self {
            HistoryPage::Faults(rows) => Ok(rows),
            other => Err(other.wrong("faults")),
        }
    }

    pub fn into_count(self) -> Result<u64, WrongPage> {
        match self {
            HistoryPage::CountFaults(n) => Ok(n),
            other => Err(other.wrong("count_faults")),
        }
    }

    pub fn into_fault_summary(self) -> Result<Vec<OperatorFaultSummary>, WrongPage> {
        match self {
            HistoryPage::FaultSummary(rows) => Ok(rows),
            other => Err(other.wrong("fault_summary")),
        }
    }

    pub fn into_dispatches(self) -> Result<Vec<DispatchRow>, WrongPage> {
        match self {
            HistoryPage::Dispatches(rows) => Ok(rows),
            other => Err(other.wrong("dispatches")),
        }
    }

    pub fn into_dry_runs(self) -> Result<Vec<DryRunRow>, WrongPage> {
        match self {
            HistoryPage::DryRuns(rows) => Ok(rows),
            other => Err(other.wrong("dry_runs")),
        }
    }

    pub fn into_dispatch(self) -> Result<Option<DispatchRow>, WrongPage> {
        match self {
            HistoryPage::Dispatch(row) => Ok(row),
            other => Err(other.wrong("dispatch")),
        }
    }

    pub fn into_windows(self) -> Result<Vec<WindowRow>, WrongPage> {
        match self {
            HistoryPage::Windows(rows) => Ok(rows),
            other => Err(other.wrong("windows")),
        }
    }

    pub fn into_results(self) -> Result<Vec<ResultRow>, WrongPage> {
        match self {
            HistoryPage::Results(rows) => Ok(rows),
            other => Err(other.wrong("results")),
        }
    }

    pub fn into_result(self) -> Result<Option<ResultRow>, WrongPage> {
        match self {
            HistoryPage::Result(row) => Ok(row),
            other => Err(other.wrong("result")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_reads_from_its_wire_form_with_defaults() {
        let q: HistoryQuery =
            serde_json::from_str(r#"{"query":"faults","limit":5,"order":"oldest_first"}"#).unwrap();
        assert_eq!(
            q,
            HistoryQuery::Faults {
                filter: FaultFilter::default(),
                order: FaultOrder::OldestFirst,
                offset: 0,
                limit: 5
            }
        );
        assert_eq!(q.page_limit(), Some(5));
        let q: HistoryQuery = serde_json::from_str(r#"{"query":"count_faults"}"#).unwrap();
        assert_eq!(q.page_limit(), None);
        assert_eq!(q.name(), "count_faults");
        // A paged query must say how many rows it wants; unknown queries and fields are
        // refused, not ignored.
        assert!(serde_json::from_str::<HistoryQuery>(r#"{"query":"dispatches"}"#).is_err());
        assert!(serde_json::from_str::<HistoryQuery>(r#"{"query":"blocks","limit":1}"#).is_err());
        assert!(
            serde_json::from_str::<HistoryQuery>(r#"{"query":"dry_runs","limit":1,"x":1}"#)
                .is_err()
        );
    }

    #[test]
    fn a_page_names_the_query_it_answers_and_refuses_to_be_another() {
        let page: HistoryPage =
            serde_json::from_str(r#"{"query":"count_faults","rows":42}"#).unwrap();
        assert_eq!(page.name(), "count_faults");
        assert_eq!(page.clone().into_count(), Ok(42));
        assert_eq!(
            page.into_faults(),
            Err(WrongPage {
                asked: "faults",
                got: "count_faults"
            })
        );
        let page: HistoryPage = serde_json::from_str(r#"{"query":"dry_runs","rows":[]}"#).unwrap();
        assert_eq!(page.into_dry_runs(), Ok(Vec::new()));
    }
}
