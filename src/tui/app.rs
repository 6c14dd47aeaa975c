//! The console's state, as a reducer of the node's updates and of keys. No terminal here: the
//! run loop feeds updates and keys in, carries out the [`Request`]s and loads that come
//! back, and draws. The view-state types live in [`super::state`].

use std::collections::HashMap;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::time::Instant;

use super::loads::{Load, LoadWhat, Loaded};
use super::theme::Theme;
use crate::engine::api::{NodeApi, Update};
use crate::engine::events::{Event, NodeSnapshot};
use crate::engine::records::ChainStatus;
use crate::engine::records::{DryRunRecord, FaultFilter, FaultOrder};
use crate::engine::DryRunWindow;
use crate::protocol::window::{next_window_after, window_at_or_before};
use crate::protocol::{Address, CoordinationWindow, FaultType, WalletPkh};

use super::state::cycle;
pub use super::state::{
    BlockClock, DryRunChoice, DryRunDialog, DryRunOutcome, FaultInput, FaultsView, Link, Popup,
    ProposalItem, ProposalsView, Request, Tab, FAULT_PAGE,
};

pub struct App {
    pub api: Arc<dyn NodeApi>,
    pub link: Link,
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
}

impl App {
    /// A console on `api`; `link` says where that node runs. What it shows comes from the
    /// updates of a subscription (see [`App::on_update`]), starting with a snapshot.
    pub fn new(api: Arc<dyn NodeApi>, link: Link, theme: Theme) -> App {
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
                let first = matches!(self.link, Link::Connecting | Link::InProcess)
                    && self.live == NodeSnapshot::default();
                if let Some(pid) = pid {
                    self.link = Link::Attached { pid };
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
                    Link::Attached { pid } => Some(*pid),
                    Link::Disconnected { pid, .. } => *pid,
                    _ => None,
                };
                if !matches!(self.link, Link::Disconnected { .. }) {
                    self.link = Link::Disconnected {
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

    fn move_fault_selection(&mut self, by: i64) {
        let f = &mut self.faults;
        if f.total == 0 {
            return;
        }
        let target = (f.selected as i64 + by).clamp(0, f.total as i64 - 1) as u64;
        f.selected = target;
        if target < f.page_offset || target >= f.page_offset + f.rows.len() as u64 {
            f.stale = true;
        }
    }

    fn set_fault_filter(&mut self, change: impl FnOnce(&mut FaultFilter)) {
        change(&mut self.faults.filter);
        self.faults.selected = 0;
        self.faults.page_offset = 0;
        self.faults.rows.clear();
        self.faults.stale = true;
        self.faults.counts_stale = true;
    }

    /// Handles one key. Returns what the run loop must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Request> {
        // Only presses: terminals that report releases and repeats would double every key.
        if key.kind != KeyEventKind::Press {
            return None;
        }
        self.dirty = true;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.should_quit = true;
            return Some(Request::Quit);
        }
        if let Some(popup) = self.popup.take() {
            return self.on_popup_key(popup, key);
        }
        if self.tab == Tab::Faults && self.faults.input.is_some() {
            self.on_fault_input_key(key);
            return None;
        }
        match key.code {
            KeyCode::Char('q') => {
                self.should_quit = true;
                return Some(Request::Quit);
            }
            KeyCode::Char('?') => self.popup = Some(Popup::Help),
            KeyCode::Char('p') => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(self.live.clone()),
                };
                if !self.paused() {
                    self.faults.stale = true;
                    self.faults.counts_stale = true;
                    self.proposals.stale = true;
                }
            }
            KeyCode::Tab => self.tab = self.tab.offset(1),
            KeyCode::BackTab => self.tab = self.tab.offset(-1),
            KeyCode::Char(c @ '1'..='6') => self.tab = Tab::ALL[(c as usize) - ('1' as usize)],
            _ => return self.on_tab_key(key),
        }
        None
    }

    fn on_tab_key(&mut self, key: KeyEvent) -> Option<Request> {
        match self.tab {
            Tab::Overview | Tab::Wallets => {
                let n = self.view().wallets.len();
                match key.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.wallet_selected = self.wallet_selected.saturating_sub(1)
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.wallet_selected = (self.wallet_selected + 1).min(n.saturating_sub(1))
                    }
                    KeyCode::Home | KeyCode::Char('g') => self.wallet_selected = 0,
                    KeyCode::End | KeyCode::Char('G') => self.wallet_selected = n.saturating_sub(1),
                    KeyCode::Char('d') => {
                        // The next window's leader is known once its safe block exists;
                        // until then the current window is the useful default.
                        let next_known = self
                            .head()
                            .is_some_and(|h| next_window_after(h).safe_block() <= h);
                        let has_current = self.head().and_then(window_at_or_before).is_some();
                        let choice = if next_known || !has_current {
                            DryRunChoice::Next
                        } else {
                            DryRunChoice::Current
                        };
                        if let Some(w) = self.view().wallets.get(self.wallet_selected) {
                            self.popup = Some(Popup::DryRunDialog(DryRunDialog {
                                wallet: w.wallet,
                                choice,
                                block_input: String::new(),
                                error: None,
                            }));
                        }
                    }
                    _ => {}
                }
            }
            Tab::Network => {
                let peers = self.view().network.peers.len();
                let wallets = self.view().wallets.len();
                match key.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.peer_scroll = self.peer_scroll.saturating_sub(1)
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.peer_scroll = (self.peer_scroll + 1).min(peers.saturating_sub(1))
                    }
                    // The seat grid shows the selected wallet, the same one as on Wallets.
                    KeyCode::Left | KeyCode::Char('h') => {
                        self.wallet_selected = self.wallet_selected.saturating_sub(1)
                    }
                    KeyCode::Right | KeyCode::Char('l') => {
                        self.wallet_selected =
                            (self.wallet_selected + 1).min(wallets.saturating_sub(1))
                    }
                    _ => {}
                }
            }
            Tab::Faults => self.on_faults_key(key),
            Tab::Proposals => {
                let n = self.proposals.items.len();
                match key.code {
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.proposals.selected = self.proposals.selected.saturating_sub(1)
                    }
                    KeyCode::Down | KeyCode::Char('j') => {
                        self.proposals.selected =
                            (self.proposals.selected + 1).min(n.saturating_sub(1))
                    }
                    KeyCode::Home | KeyCode::Char('g') => self.proposals.selected = 0,
                    KeyCode::End | KeyCode::Char('G') => {
                        self.proposals.selected = n.saturating_sub(1)
                    }
                    _ => {}
                }
            }
            Tab::Logs => {
                use tui_logger::TuiWidgetEvent as E;
                let event = match key.code {
                    KeyCode::Char('h') => Some(E::HideKey),
                    KeyCode::Char('f') => Some(E::FocusKey),
                    KeyCode::Up => Some(E::UpKey),
                    KeyCode::Down => Some(E::DownKey),
                    KeyCode::Left => Some(E::LeftKey),
                    KeyCode::Right => Some(E::RightKey),
                    KeyCode::Char('+') => Some(E::PlusKey),
                    KeyCode::Char('-') => Some(E::MinusKey),
                    KeyCode::PageUp => Some(E::PrevPageKey),
                    KeyCode::PageDown => Some(E::NextPageKey),
                    KeyCode::Esc => Some(E::EscapeKey),
                    KeyCode::Char(' ') => Some(E::SpaceKey),
                    _ => None,
                };
                if let Some(e) = event {
                    self.logs.transition(e);
                }
            }
        }
        None
    }

    fn on_faults_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_fault_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_fault_selection(1),
            KeyCode::PageUp => self.move_fault_selection(-20),
            KeyCode::PageDown => self.move_fault_selection(20),
            KeyCode::Home | KeyCode::Char('g') => self.move_fault_selection(i64::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_fault_selection(i64::MAX / 2),
            KeyCode::Enter => {
                if let Some(row) = self.faults.selected_row() {
                    self.popup = Some(Popup::FaultDetail(Box::new(row.clone())));
                }
            }
            KeyCode::Char('/') => {
                let current = self.faults.filter.search.clone().unwrap_or_default();
                self.faults.input = Some((FaultInput::Search, current));
            }
            KeyCode::Char('r') => {
                self.faults.input = Some((FaultInput::WindowRange, String::new()))
            }
            KeyCode::Char('t') => self.set_fault_filter(|f| {
                f.fault = match f.fault {
                    None => Some(FaultType::LeaderIdleness),
                    Some(FaultType::LeaderIdleness) => Some(FaultType::LeaderMistake),
                    Some(FaultType::LeaderMistake) => Some(FaultType::LeaderImpersonation),
                    Some(FaultType::LeaderImpersonation) => None,
                }
            }),
            KeyCode::Char('o') => {
                let culprit = self.faults.selected_row().map(|r| r.culprit);
                self.set_fault_filter(|f| {
                    f.operator = if f.operator.is_some() { None } else { culprit }
                });
            }
            KeyCode::Char('w') => {
                let wallet = self.faults.selected_row().map(|r| r.wallet);
                self.set_fault_filter(|f| {
                    f.wallet = if f.wallet.is_some() { None } else { wallet }
                });
            }
            KeyCode::Char('c') => self.set_fault_filter(|f| *f = FaultFilter::default()),
            KeyCode::Char('s') => {
                self.faults.order = cycle(&FaultOrder::ALL, self.faults.order, 1);
                self.set_fault_filter(|_| {});
            }
            KeyCode::Char('u') => {
                self.faults.show_summary = !self.faults.show_summary;
                self.faults.stale = true;
                self.faults.counts_stale = true;
            }
            _ => {}
        }
    }

    fn on_fault_input_key(&mut self, key: KeyEvent) {
        let Some((kind, mut text)) = self.faults.input.take() else {
            return;
        };
        match key.code {
            KeyCode::Esc => return,
            KeyCode::Enter => {
                match kind {
                    FaultInput::Search => {
                        let search = (!text.trim().is_empty()).then(|| text.trim().to_string());
                        self.set_fault_filter(|f| f.search = search);
                    }
                    FaultInput::WindowRange => match parse_range(&text) {
                        Ok((from, to)) => self.set_fault_filter(|f| {
                            f.from_block = from;
                            f.to_block = to;
                        }),
                        Err(e) => {
                            self.faults.error = Some(e);
                            self.faults.input = Some((kind, text));
                        }
                    },
                }
                return;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) if text.chars().count() < 64 => text.push(c),
            _ => {}
        }
        self.faults.input = Some((kind, text));
    }

    fn on_popup_key(&mut self, popup: Popup, key: KeyEvent) -> Option<Request> {
        match popup {
            Popup::DryRunDialog(mut dialog) => match key.code {
                KeyCode::Esc => {}
                KeyCode::Up | KeyCode::BackTab => {
                    dialog.choice = cycle(&DryRunChoice::ALL, dialog.choice, -1);
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Down | KeyCode::Tab => {
                    dialog.choice = cycle(&DryRunChoice::ALL, dialog.choice, 1);
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char('n') if dialog.choice != DryRunChoice::Block => {
                    dialog.choice = DryRunChoice::Next;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char('c') if dialog.choice != DryRunChoice::Block => {
                    dialog.choice = DryRunChoice::Current;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char('b') if dialog.choice != DryRunChoice::Block => {
                    dialog.choice = DryRunChoice::Block;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Char(c) if c.is_ascii_digit() => {
                    dialog.choice = DryRunChoice::Block;
                    if dialog.block_input.len() < 20 {
                        dialog.block_input.push(c);
                    }
                    dialog.error = None;
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Backspace => {
                    dialog.block_input.pop();
                    self.popup = Some(Popup::DryRunDialog(dialog));
                }
                KeyCode::Enter => {
                    let window = match dialog.choice {
                        DryRunChoice::Next => DryRunWindow::Next,
                        DryRunChoice::Current => DryRunWindow::Current,
                        DryRunChoice::Block => match dialog.block_input.parse::<u64>() {
                            Ok(cb) if crate::protocol::window::is_coordination_block(cb) => {
                                DryRunWindow::At(cb)
                            }
                            _ => {
                                dialog.error = Some(format!(
                                    "{:?} is not a coordination block: expected a positive multiple of 900",
                                    dialog.block_input
                                ));
                                self.popup = Some(Popup::DryRunDialog(dialog));
                                return None;
                            }
                        },
                    };
                    self.popup = Some(Popup::DryRun(DryRunOutcome::Pending {
                        wallet: dialog.wallet,
                    }));
                    return Some(Request::DryRun {
                        wallet: dialog.wallet,
                        window,
                    });
                }
                _ => self.popup = Some(Popup::DryRunDialog(dialog)),
            },
            // Help, results and details: Esc (or q, Enter) closes; anything else keeps it.
            other => {
                if !matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?')
                ) {
                    self.popup = Some(other);
                }
            }
        }
        None
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

/// `FROM-TO`, either side optional: "900-5400", "900-", "-5400", "1800".
pub fn parse_range(text: &str) -> Result<(Option<u64>, Option<u64>), String> {
    let text = text.trim();
    let parse = |s: &str| -> Result<Option<u64>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse()
            .map(Some)
            .map_err(|_| format!("{s:?} is not a block number"))
    };
    let (from, to) = match text.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let one = parse(text)?;
            (one, one)
        }
    };
    if let (Some(a), Some(b)) = (from, to) {
        if a > b {
            return Err(format!(
                "window range {a}-{b} is empty: FROM must not exceed TO"
            ));
        }
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("900-5400"), Ok((Some(900), Some(5400))));
        assert_eq!(parse_range("900-"), Ok((Some(900), None)));
        assert_eq!(parse_range("-5400"), Ok((None, Some(5400))));
        assert_eq!(parse_range("1800"), Ok((Some(1800), Some(1800))));
        assert_eq!(parse_range(""), Ok((None, None)));
        assert!(parse_range("x-1").is_err());
        assert!(parse_range("5400-900").is_err());
    }
}
