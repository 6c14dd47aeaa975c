//! The console's state, as a reducer of the node's updates and of keys. No terminal here: the
//! run loop feeds updates and keys in, carries out the [`Request`]s and loads that come
//! back, and draws. The view-state types live in [`super::state`], the key handlers in
//! [`super::keys`].

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::loads::{Load, LoadWhat, Loaded};
use super::theme::Theme;
use crate::engine::api::{NodeApi, Update};
use crate::engine::events::Event;
use crate::engine::records::DryRunRecord;
use crate::engine::snapshot::NodeSnapshot;
use crate::protocol::window::{next_window_after, window_at_or_before};
use crate::protocol::ChainStatus;
use crate::protocol::{Address, CoordinationWindow, WalletPkh};

pub use super::state::{
    BlockClock, DryRunChoice, DryRunDialog, DryRunOutcome, FaultInput, FaultsView, NodeLink, Popup,
    ProposalItem, ProposalsView, Request, Tab, FAULT_PAGE,
};

pub struct App {
    pub api: Arc<dyn NodeApi>,
    pub link: NodeLink,
    pub theme: Theme,
    /// The live state, folded from events.
    pub live: NodeSnapshot,
    /// What is shown while the view is paused.
    pub frozen: Option<NodeSnapshot>,
    pub tab: Tab,
    pub popup: Option<Popup>,
    pub wallet_selected: usize,
    /// The first peer row shown on the Network tab.
    pub peer_scroll: usize,
    /// How many of the node's wallets each operator holds a seat in, built when the wallets
    /// are known (they do not change while the node runs), so a frame never walks every
    /// wallet's seats per peer.
    pub wallets_of_operator: HashMap<Address, usize>,
    pub faults: FaultsView,
    pub proposals: ProposalsView,
    pub clock: BlockClock,
    pub chain_status: ChainStatus,
    pub logs: tui_logger::TuiWidgetState,
    pub should_quit: bool,
    /// Set when an event arrived that changes what is shown.
    pub dirty: bool,
    /// Events missed by lagging behind the bus, resynced from the snapshot.
    pub resyncs: u64,
    /// Scroll offsets of the help, the details popups and the seat grid.
    pub scroll: super::scroll::Scrolls,
    /// The stored result of the window an open fault's details show.
    pub fault_window: super::detail::FaultWindow,
}

impl App {
    /// A console on `api`; `link` says where that node runs. What it shows comes from the
    /// updates of a subscription (see [`App::on_update`]), starting with a snapshot.
    pub fn new(api: Arc<dyn NodeApi>, link: NodeLink, theme: Theme) -> App {
        let mut app = App {
            api,
            link,
            theme,
            live: NodeSnapshot::default(),
            frozen: None,
            tab: Tab::Overview,
            popup: None,
            wallet_selected: 0,
            peer_scroll: 0,
            wallets_of_operator: HashMap::new(),
            faults: FaultsView {
                stale: true,
                counts_stale: true,
                ..FaultsView::default()
            },
            proposals: ProposalsView {
                stale: true,
                ..ProposalsView::default()
            },
            clock: BlockClock::default(),
            chain_status: ChainStatus::default(),
            logs: tui_logger::TuiWidgetState::new()
                .set_default_display_level(tui_logger::LevelFilter::Info),
            should_quit: false,
            dirty: true,
            resyncs: 0,
            scroll: Default::default(),
            fault_window: Default::default(),
        };
        app.index_wallets();
        app
    }

    /// Rebuilds [`App::wallets_of_operator`] from the live wallets.
    fn index_wallets(&mut self) {
        let mut index: HashMap<Address, usize> = HashMap::new();
        for w in &self.live.wallets {
            let distinct: std::collections::HashSet<&Address> = w.operators.iter().collect();
            for operator in distinct {
                *index.entry(*operator).or_default() += 1;
            }
        }
        self.wallets_of_operator = index;
    }

    /// What the screen shows: the frozen state while paused, else the live one.
    pub fn view(&self) -> &NodeSnapshot {
        self.frozen.as_ref().unwrap_or(&self.live)
    }

    pub fn paused(&self) -> bool {
        self.frozen.is_some()
    }

    pub fn head(&self) -> Option<u64> {
        self.view().head.map(|h| h.number)
    }

    /// Folds one engine event in.
    pub fn on_event(&mut self, event: &Event, now: Instant) {
        self.live.apply(event);
        match event {
            Event::Block { .. } => self.clock.observe(now),
            Event::NodeStarted { .. } => self.index_wallets(),
            Event::Fault { .. } => {
                self.faults.stale = true;
                self.faults.counts_stale = true;
            }
            Event::ProposalDispatched { .. }
            | Event::DispatchRejected { .. }
            | Event::ActionStarted { .. }
            | Event::ActionFinished { .. }
            | Event::DryRun(_) => self.proposals.stale = true,
            _ => {}
        }
        if !self.paused() {
            self.dirty = true;
        }
    }

    /// After lagging behind the bus: take the node's snapshot as the truth.
    pub fn resync(&mut self, snapshot: NodeSnapshot) {
        self.live = snapshot;
        self.index_wallets();
        self.resyncs += 1;
        self.faults.stale = true;
        self.faults.counts_stale = true;
        self.proposals.stale = true;
        self.dirty = true;
    }

    /// Folds one update of the node's subscription in.
    pub fn on_update(&mut self, update: Update, now: Instant) {
        match update {
            Update::Snapshot { snapshot, pid } => {
                let first = matches!(self.link, NodeLink::Connecting | NodeLink::InProcess)
                    && self.live == NodeSnapshot::default();
                if let Some(pid) = pid {
                    self.link = NodeLink::Attached { pid };
                }
                if first {
                    self.live = *snapshot;
                    self.index_wallets();
                    self.faults.stale = true;
                    self.faults.counts_stale = true;
                    self.proposals.stale = true;
                    self.dirty = true;
                } else {
                    self.resync(*snapshot);
                }
                // Block times measured before the gap say nothing about the node now.
                self.clock = BlockClock::default();
            }
            Update::Event(event) => self.on_event(&event, now),
            Update::ChainStatus(status) => self.on_chain_status(status),
            Update::Disconnected { reason } => {
                let pid = match &self.link {
                    NodeLink::Attached { pid } => Some(*pid),
                    NodeLink::Disconnected { pid, .. } => *pid,
                    _ => None,
                };
                if !matches!(self.link, NodeLink::Disconnected { .. }) {
                    self.link = NodeLink::Disconnected {
                        pid,
                        since: now,
                        reason,
                    };
                }
                // A frozen view would hide that the node is gone.
                self.frozen = None;
                self.dirty = true;
            }
        }
    }

    pub fn on_chain_status(&mut self, status: ChainStatus) {
        if status != self.chain_status {
            self.chain_status = status;
            self.dirty = true;
        }
    }

    pub fn on_dry_run_result(&mut self, wallet: WalletPkh, result: Result<DryRunRecord, String>) {
        let outcome = match result {
            Ok(record) => DryRunOutcome::Done(Box::new(record)),
            Err(error) => DryRunOutcome::Failed { wallet, error },
        };
        // Only if the operator is still waiting for it.
        if matches!(self.popup, Some(Popup::DryRun(DryRunOutcome::Pending { wallet: w })) if w == wallet)
        {
            self.popup = Some(Popup::DryRun(outcome));
        }
        self.proposals.stale = true;
        self.dirty = true;
    }

    /// The history read the shown view is waiting for, if any (see [`super::loads`]):
    /// none while paused, none for a view whose last load is still in flight, and only for
    /// the visible tab (the other stays stale until it is shown).
    pub fn take_load(&mut self) -> Option<Load> {
        // An open fault's window: a read of what is stored, paused or not.
        if let Some(what) = self.fault_window.wanted(self.popup.as_ref()) {
            return Some(Load {
                api: self.api.clone(),
                what,
            });
        }
        if self.paused() {
            return None;
        }
        let what = match self.tab {
            Tab::Faults if self.faults.stale && !self.faults.loading => {
                let f = &mut self.faults;
                f.stale = false;
                f.loading = true;
                LoadWhat::Faults {
                    filter: f.filter.clone(),
                    order: f.order,
                    selected: f.selected,
                    page_offset: f.page_offset,
                    have_rows: !f.rows.is_empty(),
                    total: f.total,
                    recount: std::mem::take(&mut f.counts_stale),
                    summary: f.show_summary,
                }
            }
            Tab::Proposals if self.proposals.stale && !self.proposals.loading => {
                self.proposals.stale = false;
                self.proposals.loading = true;
                LoadWhat::Proposals
            }
            _ => return None,
        };
        Some(Load {
            api: self.api.clone(),
            what,
        })
    }

    /// Folds the answer to a [`Load`] in.
    pub fn on_loaded(&mut self, loaded: Loaded) {
        self.dirty = true;
        match loaded {
            Loaded::Faults {
                filter,
                order,
                recount,
                result,
            } => {
                let f = &mut self.faults;
                f.loading = false;
                if filter != f.filter || order != f.order {
                    // Asked for before the filter changed: load again for the new one.
                    f.stale = true;
                    f.counts_stale = true;
                    return;
                }
                match result {
                    Ok(page) => {
                        f.total = page.total;
                        f.selected = f.selected.min(page.total.saturating_sub(1));
                        if page.selected != f.selected
                            && (f.selected < page.page_offset
                                || f.selected >= page.page_offset + FAULT_PAGE)
                        {
                            // The selection moved out of this page meanwhile.
                            f.stale = true;
                        }
                        f.page_offset = page.page_offset;
                        f.rows = page.rows;
                        if let Some(summary) = page.summary {
                            f.summary = summary;
                        }
                        f.error = None;
                    }
                    Err(e) => {
                        f.counts_stale |= recount;
                        f.error = Some(e.to_string());
                    }
                }
            }
            Loaded::FaultWindow {
                wallet,
                coordination_block,
                result,
            } => self.fault_window.loaded(
                wallet,
                coordination_block,
                result.map_err(|e| e.to_string()),
            ),
            Loaded::Proposals(result) => {
                let p = &mut self.proposals;
                p.loading = false;
                match result {
                    Ok(items) => {
                        p.items = items;
                        p.selected = p.selected.min(p.items.len().saturating_sub(1));
                        p.error = None;
                    }
                    Err(e) => p.error = Some(e.to_string()),
                }
            }
        }
    }

    /// Loads what the shown view is waiting for and folds it in, in one go (for tests and
    /// tools; the run loop runs loads on tasks instead).
    pub async fn refresh(&mut self) {
        while let Some(load) = self.take_load() {
            let loaded = load.run().await;
            self.on_loaded(loaded);
        }
    }

    /// The windows worth showing: recent ones from the snapshot, then upcoming ones.
    pub fn upcoming_windows(&self, count: usize) -> Vec<CoordinationWindow> {
        let Some(head) = self.head() else {
            return Vec::new();
        };
        let mut w = next_window_after(head);
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(w);
            w = w.next();
        }
        out
    }

    /// The window whose phases matter now: the latest started one if its window is not over,
    /// else none.
    pub fn current_window(&self) -> Option<CoordinationWindow> {
        let head = self.head()?;
        window_at_or_before(head).filter(|w| head < w.end_block())
    }
}
