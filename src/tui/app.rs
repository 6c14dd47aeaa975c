//! The console's state, as a reducer of the node's updates and of keys. No terminal here: the
//! run loop feeds updates and keys in, carries out the [`Request`]s and loads that come
//! back, and draws. The view-state types live in [`super::state`], the key handlers in
//! [`super::keys`], what is read from the history beside the snapshot in [`super::recent`].

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::time::Instant;

use super::loads::{FaultsAsk, Load, LoadWhat, Loaded};
use super::theme::Theme;
use crate::engine::api::{NodeApi, Update};
use crate::engine::events::Event;
use crate::engine::records::DryRunRecord;
use crate::engine::snapshot::{DispatcherState, NodeSnapshot};
use crate::protocol::window::{next_window_after, window_at_or_before, Phase};
use crate::protocol::ChainStatus;
use crate::protocol::{Address, CoordinationWindow, WalletPkh};

pub use super::recent::{
    dry_run_record, FaultLine, ProposalLine, ProposalState, RecentHistory, ResultLine,
};
pub use super::state::{
    BlockClock, DryRunChoice, DryRunDialog, DryRunOutcome, FaultInput, FaultsView, NodeLink, Popup,
    ProposalItem, ProposalKey, ProposalsView, QuitWarning, Request, Tab, FAULT_PAGE,
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
    /// The index of the selected wallet in the shown wallets, kept on [`App::wallet_id`].
    pub wallet_selected: usize,
    /// The selected wallet: the selection follows it, not its index.
    pub wallet_id: Option<WalletPkh>,
    /// The first peer row shown on the Network tab, kept on [`App::peer_anchor`].
    pub peer_scroll: usize,
    /// The peer at the top of the Network tab's list once scrolled down: peers connecting
    /// above it do not scroll it away. `None` at the top, where new peers show.
    pub peer_anchor: Option<String>,
    /// How many of the node's wallets each operator holds a seat in, built when the wallets
    /// are known (they do not change while the node runs), so a frame never walks every
    /// wallet's seats per peer.
    pub wallets_of_operator: HashMap<Address, usize>,
    pub faults: FaultsView,
    pub proposals: ProposalsView,
    /// The block clock of what is shown: while paused, the frozen block's, whose age grows.
    pub clock: BlockClock,
    /// While paused, the live block clock, which measures on.
    pub live_clock: Option<BlockClock>,
    /// Control-socket clients of the node this console owns (none when attached).
    pub control_clients: Option<Arc<AtomicUsize>>,
    /// Windows and results from the history, for what the node's snapshot does not reach
    /// back to (a node restarted since them).
    pub history: RecentHistory,
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
            wallet_id: None,
            peer_scroll: 0,
            peer_anchor: None,
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
            live_clock: None,
            control_clients: None,
            history: RecentHistory {
                stale: true,
                ..RecentHistory::default()
            },
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
            Event::Block { .. } => self
                .live_clock
                .as_mut()
                .unwrap_or(&mut self.clock)
                .observe(now),
            Event::NodeStarted { .. } => {
                self.index_wallets();
                self.follow_selections();
            }
            Event::PeerConnected { .. }
            | Event::PeerDisconnected { .. }
            | Event::PeerRefused { .. } => self.follow_selections(),
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
        self.follow_selections();
        self.resyncs += 1;
        self.faults.stale = true;
        self.faults.counts_stale = true;
        self.proposals.stale = true;
        self.history.stale = true;
        self.dirty = true;
    }

    /// Pauses the view (a copy of the live state and its block clock), or resumes it.
    pub fn toggle_pause(&mut self) {
        if self.frozen.take().is_some() {
            if let Some(live) = self.live_clock.take() {
                self.clock = live;
            }
            self.faults.stale = true;
            self.faults.counts_stale = true;
            self.proposals.stale = true;
        } else {
            self.frozen = Some(self.live.clone());
            self.live_clock = Some(self.clock.clone());
        }
        self.follow_selections();
    }

    /// Puts the wallet and peer selections back on what was chosen after the shown lists
    /// changed (a node starting, a resync, peers coming and going, pausing).
    pub fn follow_selections(&mut self) {
        let view = self.frozen.as_ref().unwrap_or(&self.live);
        let wallets = &view.wallets;
        match self
            .wallet_id
            .and_then(|id| wallets.iter().position(|w| w.wallet == id))
        {
            Some(i) => self.wallet_selected = i,
            None => {
                self.wallet_selected = self.wallet_selected.min(wallets.len().saturating_sub(1));
                self.wallet_id = wallets.get(self.wallet_selected).map(|w| w.wallet);
            }
        }
        let peers = &view.network.peers;
        match &self.peer_anchor {
            // Where the anchor is, or would be if it left: peers are ordered by id.
            Some(anchor) => {
                self.peer_scroll = peers
                    .range::<str, _>((Bound::Unbounded, Bound::Excluded(anchor.as_str())))
                    .count()
                    .min(peers.len().saturating_sub(1));
            }
            // At the top: peers connecting above show.
            None => self.peer_scroll = 0,
        }
    }

    /// Selects the wallet at `index` of the shown wallets (clamped).
    pub fn select_wallet(&mut self, index: usize) {
        let wallets = &self.view().wallets;
        let index = index.min(wallets.len().saturating_sub(1));
        let id = wallets.get(index).map(|w| w.wallet);
        self.wallet_selected = index;
        self.wallet_id = id;
    }

    /// Scrolls the peer list so that the peer at `index` is its first row (clamped).
    pub fn scroll_peers(&mut self, index: usize) {
        let peers = &self.view().network.peers;
        let index = index.min(peers.len().saturating_sub(1));
        let anchor = peers.keys().nth(index).filter(|_| index > 0).cloned();
        self.peer_scroll = index;
        self.peer_anchor = anchor;
    }

    /// What quitting would stop besides the console, if it owns its node.
    pub fn quit_warning(&self) -> Option<QuitWarning> {
        if self.link != NodeLink::InProcess {
            return None;
        }
        let live = &self.live;
        let active_window = live.head.and_then(|h| {
            let w = window_at_or_before(h.number)?;
            (w.phase_at(h.number) == Phase::Active)
                .then(|| (w.coordination_block, w.active_phase_end() - h.number))
        });
        let clients = self
            .control_clients
            .as_ref()
            .map_or(0, |c| c.load(Ordering::SeqCst));
        let actions = live
            .wallets
            .iter()
            .filter(|w| {
                matches!(
                    w.dispatcher,
                    DispatcherState::Dispatched { .. } | DispatcherState::Running { .. }
                )
            })
            .count();
        let warning = QuitWarning {
            active_window,
            clients,
            actions,
        };
        (!warning.is_empty()).then_some(warning)
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
                    self.follow_selections();
                    self.history.stale = true;
                    self.faults.stale = true;
                    self.faults.counts_stale = true;
                    self.proposals.stale = true;
                    self.dirty = true;
                } else {
                    self.resync(*snapshot);
                }
                // Block times measured before the gap say nothing about the node now.
                *self.live_clock.as_mut().unwrap_or(&mut self.clock) = BlockClock::default();
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
                if let Some(live) = self.live_clock.take() {
                    self.clock = live;
                }
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
                    ask: FaultsAsk {
                        selected: f.selected,
                        selected_id: f.selected_id,
                        page_offset: f.page_offset,
                        have_rows: !f.rows.is_empty(),
                        total: f.total,
                        recount: std::mem::take(&mut f.counts_stale),
                        summary: f.show_summary,
                    },
                }
            }
            Tab::Proposals if self.proposals.stale && !self.proposals.loading => {
                self.proposals.stale = false;
                self.proposals.loading = true;
                LoadWhat::Proposals
            }
            Tab::Overview if self.history.stale && !self.history.loading => {
                self.history.stale = false;
                self.history.loading = true;
                LoadWhat::Recent
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
                        // Faults recorded since moved the selected one by `shift` rows; a key
                        // pressed meanwhile moved from where it was.
                        let shift = page.selected as i64 - page.asked as i64;
                        let selected = if f.selected == page.asked {
                            page.selected
                        } else {
                            f.selected.saturating_add_signed(shift)
                        };
                        f.selected = selected.min(page.total.saturating_sub(1));
                        f.new_above = (f.new_above + shift.max(0) as u64).min(f.selected);
                        if f.selected < page.page_offset
                            || f.selected >= page.page_offset + FAULT_PAGE
                        {
                            // The selection moved out of this page meanwhile.
                            f.stale = true;
                        }
                        f.page_offset = page.page_offset;
                        f.rows = page.rows;
                        if let Some(id) = f.selected_row().map(|r| r.id) {
                            f.selected_id = Some(id);
                        }
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
                        p.replace_items(items);
                        p.error = None;
                    }
                    Err(e) => p.error = Some(e.to_string()),
                }
            }
            Loaded::Recent(result) => {
                self.history.loading = false;
                match result {
                    Ok(read) => self.history.set(read),
                    // What the node's own snapshot holds is still shown; the next resync
                    // tries again.
                    Err(e) => tracing::debug!(error = %e, "cannot read recent windows"),
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
