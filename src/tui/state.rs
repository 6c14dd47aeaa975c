//! What the console shows besides the node's snapshot: the tabs, popups and dialogs, the
//! history views' pages, where the node is ([`NodeLink`]), and the measured block clock. Plain
//! data; [`super::app::App`] changes it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::records::{
    DispatchRow, DryRunRecord, DryRunRow, FaultFilter, FaultOrder, FaultRow, OperatorFaultSummary,
};
use crate::engine::DryRunWindow;
use crate::protocol::WalletPkh;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Wallets,
    Network,
    Faults,
    Proposals,
    Logs,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Wallets,
        Tab::Network,
        Tab::Faults,
        Tab::Proposals,
        Tab::Logs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Wallets => "Wallets",
            Tab::Network => "Network",
            Tab::Faults => "Faults",
            Tab::Proposals => "Proposals",
            Tab::Logs => "Logs",
        }
    }

    pub(super) fn offset(self, by: isize) -> Tab {
        cycle(&Tab::ALL, self, by)
    }
}

/// The item `by` steps from `current` in `all`, wrapping around both ends.
pub(super) fn cycle<T: Copy + PartialEq>(all: &[T], current: T, by: isize) -> T {
    let n = all.len() as isize;
    let i = all.iter().position(|x| *x == current).unwrap_or(0) as isize;
    all[(i + by).rem_euclid(n) as usize]
}

/// Which window a dry run dialog will use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRunChoice {
    Next,
    Current,
    Block,
}

impl DryRunChoice {
    pub const ALL: [DryRunChoice; 3] = [
        DryRunChoice::Next,
        DryRunChoice::Current,
        DryRunChoice::Block,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunDialog {
    pub wallet: WalletPkh,
    pub choice: DryRunChoice,
    /// The typed coordination block, when `choice` is `Block`.
    pub block_input: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DryRunOutcome {
    Pending { wallet: WalletPkh },
    Done(Box<DryRunRecord>),
    Failed { wallet: WalletPkh, error: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Popup {
    Help,
    DryRunDialog(DryRunDialog),
    DryRun(DryRunOutcome),
    FaultDetail(Box<FaultRow>),
    /// `q` on a console that owns its node, while quitting would cut something off.
    ConfirmQuit(QuitWarning),
}

/// What quitting a console that owns its node would stop, beyond the console itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuitWarning {
    /// A window in its active phase: (coordination block, blocks left in the phase).
    pub active_window: Option<(u64, u64)>,
    /// Clients attached over the control socket, which lose the node.
    pub clients: usize,
    /// Wallets whose dispatched action has not finished.
    pub actions: usize,
}

impl QuitWarning {
    /// Nothing but the console would stop: quit without asking.
    pub fn is_empty(&self) -> bool {
        self.active_window.is_none() && self.clients == 0
    }

    /// One sentence per thing that stops.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((cb, left)) = self.active_window {
            out.push(format!(
                "Window {cb} is in its active phase ({left} blocks left): this node's part in it stops."
            ));
        }
        if self.clients > 0 {
            out.push(format!(
                "{} attached over the control socket lose{} the node.",
                plural(self.clients, "client"),
                if self.clients == 1 { "s" } else { "" }
            ));
        }
        if self.actions > 0 {
            out.push(format!(
                "{} not finished stop{} with it.",
                plural(self.actions, "dispatched action"),
                if self.actions == 1 { "s" } else { "" }
            ));
        }
        out
    }
}

/// `1 client`, `2 clients`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What the run loop must do for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    DryRun {
        wallet: WalletPkh,
        window: DryRunWindow,
    },
    Quit,
}

/// A text field being edited in the Faults tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultInput {
    Search,
    /// `FROM-TO` coordination blocks; either side may be empty.
    WindowRange,
}

/// Rows loaded around the selection; the store is paged, never loaded whole.
pub const FAULT_PAGE: u64 = 200;

#[derive(Debug, Clone, Default)]
pub struct FaultsView {
    pub filter: FaultFilter,
    pub order: FaultOrder,
    pub total: u64,
    /// Absolute index of the first loaded row.
    pub page_offset: u64,
    pub rows: Vec<FaultRow>,
    /// Absolute index of the selected row.
    pub selected: u64,
    /// The selected fault's record id: the selection follows the fault, not the index, when
    /// faults recorded since land above it.
    pub selected_id: Option<i64>,
    /// Faults that arrived above the selection and that the cursor has not passed since.
    pub new_above: u64,
    pub summary: Vec<OperatorFaultSummary>,
    pub show_summary: bool,
    pub input: Option<(FaultInput, String)>,
    /// Why the text in the open input was not applied, shown beside it.
    pub input_error: Option<String>,
    pub error: Option<String>,
    /// The loaded page no longer covers the selection: reload it before the next frame.
    pub stale: bool,
    /// The store or the filter changed: recount (and re-summarise) too. Paging alone does
    /// not, which keeps scrolling through a large history cheap.
    pub counts_stale: bool,
    /// A load is in flight (see [`super::loads`]).
    pub loading: bool,
}

impl FaultsView {
    pub fn selected_row(&self) -> Option<&FaultRow> {
        self.selected
            .checked_sub(self.page_offset)
            .and_then(|i| self.rows.get(i as usize))
    }

    /// "3 new" while faults arrived above the selection, else nothing.
    pub fn new_marker(&self) -> Option<String> {
        (self.new_above > 0).then(|| format!("{} new ↑ (g)", self.new_above))
    }

    /// Moves the selection to the absolute index `to`, forgetting the new rows it passed.
    pub fn select(&mut self, to: u64) {
        self.selected = to;
        self.selected_id = self.selected_row().map(|r| r.id);
        self.new_above = self.new_above.min(to);
        if to < self.page_offset || to >= self.page_offset + self.rows.len() as u64 {
            self.stale = true;
        }
    }

    /// The window range filter as the `r` prompt shows it: `900-5400`, `900-`, `1800`.
    pub fn range_text(&self) -> String {
        let show = |b: Option<u64>| b.map(|b| b.to_string()).unwrap_or_default();
        match (self.filter.from_block, self.filter.to_block) {
            (None, None) => String::new(),
            (Some(a), Some(b)) if a == b => a.to_string(),
            (from, to) => format!("{}-{}", show(from), show(to)),
        }
    }

    pub fn describe_filter(&self) -> String {
        let f = &self.filter;
        let mut parts = Vec::new();
        if let Some(t) = f.fault {
            parts.push(format!("type={t}"));
        }
        if let Some(o) = f.operator {
            parts.push(format!("operator={}", o.short()));
        }
        if let Some(w) = f.wallet {
            parts.push(format!("wallet={}", w.short()));
        }
        match (f.from_block, f.to_block) {
            (None, None) => {}
            (from, to) => parts.push(format!(
                "windows={}-{}",
                from.map(|b| b.to_string()).unwrap_or_default(),
                to.map(|b| b.to_string()).unwrap_or_default()
            )),
        }
        if let Some(s) = &f.search {
            parts.push(format!("search={s:?}"));
        }
        if parts.is_empty() {
            "all".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// One line of the Proposals tab: a dispatch or a dry run.
#[derive(Debug, Clone, PartialEq)]
pub enum ProposalItem {
    Dispatch(DispatchRow),
    DryRun(DryRunRow),
}

/// What tells a Proposals row apart from every other: one dispatch per wallet and window;
/// dry runs by record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalKey {
    Dispatch(WalletPkh, u64),
    DryRun(i64),
}

impl ProposalItem {
    pub fn coordination_block(&self) -> u64 {
        match self {
            ProposalItem::Dispatch(d) => d.coordination_block,
            ProposalItem::DryRun(d) => d.coordination_block,
        }
    }

    pub fn key(&self) -> ProposalKey {
        match self {
            ProposalItem::Dispatch(d) => ProposalKey::Dispatch(d.wallet, d.coordination_block),
            ProposalItem::DryRun(d) => ProposalKey::DryRun(d.id),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProposalsView {
    pub items: Vec<ProposalItem>,
    pub selected: usize,
    /// The selected row: a reload keeps it selected wherever it lands.
    pub selected_key: Option<ProposalKey>,
    /// Rows that arrived above the selection and that the cursor has not passed since.
    pub new_above: usize,
    pub error: Option<String>,
    pub stale: bool,
    /// A load is in flight (see [`super::loads`]).
    pub loading: bool,
}

impl ProposalsView {
    pub fn selected_item(&self) -> Option<&ProposalItem> {
        self.items.get(self.selected)
    }

    /// "3 new" while rows arrived above the selection, else nothing.
    pub fn new_marker(&self) -> Option<String> {
        (self.new_above > 0).then(|| format!("{} new ↑ (g)", self.new_above))
    }

    /// Moves the selection to row `to` (clamped), forgetting the new rows it passed.
    pub fn select(&mut self, to: usize) {
        self.selected = to.min(self.items.len().saturating_sub(1));
        self.selected_key = self.selected_item().map(ProposalItem::key);
        self.new_above = self.new_above.min(self.selected);
    }

    /// Takes a fresh list, keeping the selected row selected and counting the rows new above it.
    pub fn replace_items(&mut self, items: Vec<ProposalItem>) {
        let known: std::collections::HashSet<ProposalKey> =
            self.items.iter().map(ProposalItem::key).collect();
        let at = self
            .selected_key
            .and_then(|k| items.iter().position(|i| i.key() == k));
        let selected = at.unwrap_or(self.selected.min(items.len().saturating_sub(1)));
        let arrived = items[..selected.min(items.len())]
            .iter()
            .filter(|i| !known.contains(&i.key()))
            .count();
        self.new_above = (self.new_above + arrived).min(selected);
        self.items = items;
        self.selected = selected;
        self.selected_key = self.selected_item().map(ProposalItem::key);
    }
}

/// Where the console's node is, as the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeLink {
    /// The node runs in this process: quitting the console stops it.
    InProcess,
    /// Waiting for the first snapshot of a node in another process.
    Connecting,
    /// Attached to a node in another process over its control socket.
    Attached { pid: u32 },
    /// The attached node went away at `since`; what is shown is from before.
    Disconnected {
        pid: Option<u32>,
        since: Instant,
        reason: String,
    },
}

impl NodeLink {
    /// Attached to (or trying to reach) a node in another process: `q` detaches.
    pub fn is_remote(&self) -> bool {
        !matches!(self, NodeLink::InProcess)
    }
}

/// How many recent block intervals the average block time is measured over.
const BLOCK_TIME_SAMPLES: usize = 32;

/// Measures block arrival: the age of the last block and the average block time.
#[derive(Debug, Clone, Default)]
pub struct BlockClock {
    pub last_block_at: Option<Instant>,
    intervals: VecDeque<Duration>,
}

impl BlockClock {
    pub fn observe(&mut self, at: Instant) {
        if let Some(last) = self.last_block_at {
            if self.intervals.len() == BLOCK_TIME_SAMPLES {
                self.intervals.pop_front();
            }
            self.intervals.push_back(at.saturating_duration_since(last));
        }
        self.last_block_at = Some(at);
    }

    pub fn average(&self) -> Option<Duration> {
        if self.intervals.is_empty() {
            return None;
        }
        Some(self.intervals.iter().sum::<Duration>() / self.intervals.len() as u32)
    }

    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last_block_at.map(|t| now.saturating_duration_since(t))
    }

    /// The last block is late: more than three average block times old (and over 2 s).
    pub fn is_stale(&self, now: Instant) -> bool {
        match (self.age(now), self.average()) {
            (Some(age), Some(avg)) => age > (avg * 3).max(Duration::from_secs(2)),
            (Some(age), None) => age > Duration::from_secs(30),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_clock_measures_average_and_staleness() {
        let t0 = Instant::now();
        let mut c = BlockClock::default();
        assert_eq!(c.average(), None);
        for i in 0..5 {
            c.observe(t0 + Duration::from_millis(100 * i));
        }
        assert_eq!(c.average(), Some(Duration::from_millis(100)));
        let last = t0 + Duration::from_millis(400);
        assert_eq!(
            c.age(last + Duration::from_millis(250)),
            Some(Duration::from_millis(250))
        );
        assert!(!c.is_stale(last + Duration::from_secs(1)));
        assert!(c.is_stale(last + Duration::from_secs(3)));
    }

    #[test]
    fn tabs_wrap_both_ways() {
        assert_eq!(Tab::Overview.offset(-1), Tab::Logs);
        assert_eq!(Tab::Logs.offset(1), Tab::Overview);
        assert_eq!(
            Tab::ALL.map(Tab::title),
            [
                "Overview",
                "Wallets",
                "Network",
                "Faults",
                "Proposals",
                "Logs"
            ]
        );
    }
}
