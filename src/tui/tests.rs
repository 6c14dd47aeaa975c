//! The console's reducer against a history held in memory: selections follow what was chosen
//! when rows arrive above it, in every list; `q` asks before stopping a node mid-window; the
//! `r` prompt; the paused block clock; the Overview's reads of the history.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::time::{Duration, Instant};

use super::app::{App, NodeLink, Popup, ProposalState, Request, Tab};
use super::state::{DryRunOutcome, FaultInput, ProposalItem};
use crate::engine::api::{ApiError, ErrorCode, NodeApi, NodeStatus, Subscription, Update};
use crate::engine::events::Event;
use crate::engine::network_view::MessageTransport;
use crate::engine::query::{HistoryPage, HistoryQuery};
use crate::engine::records::{
    DispatchRow, DispatchStatus, DryRunRecord, DryRunRow, FaultRow, ResultRow, WindowRow,
    WindowStatus,
};
use crate::engine::snapshot::NodeSnapshot;
use crate::engine::DryRunWindow;
use crate::protocol::{
    ActionOutcome, ActionType, Address, BlockHashRule, BlockRef, FaultType, Hash32, Role, Seed,
    WalletInfo, WalletPkh,
};

/// A node's history in memory, ordered as the store orders it (newest first, ties by id).
#[derive(Default)]
struct History {
    faults: Mutex<Vec<FaultRow>>,
    dispatches: Mutex<Vec<DispatchRow>>,
    dry_runs: Mutex<Vec<DryRunRow>>,
    windows: Mutex<Vec<WindowRow>>,
    results: Mutex<Vec<ResultRow>>,
}

struct NoUpdates;

#[async_trait]
impl Subscription for NoUpdates {
    async fn next(&mut self) -> Option<Update> {
        None
    }
}

fn page<T: Clone>(rows: &[T], offset: u64, limit: u64) -> Vec<T> {
    rows.iter()
        .skip(offset as usize)
        .take(limit as usize)
        .cloned()
        .collect()
}

#[async_trait]
impl NodeApi for History {
    async fn subscribe(&self) -> Box<dyn Subscription> {
        Box::new(NoUpdates)
    }

    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, ApiError> {
        Ok(match query {
            HistoryQuery::Faults { offset, limit, .. } => {
                let mut rows = self.faults.lock().unwrap().clone();
                rows.sort_by_key(|r| std::cmp::Reverse((r.coordination_block, r.id)));
                HistoryPage::Faults(page(&rows, offset, limit))
            }
            HistoryQuery::CountFaults { .. } => {
                HistoryPage::CountFaults(self.faults.lock().unwrap().len() as u64)
            }
            HistoryQuery::FaultSummary { .. } => HistoryPage::FaultSummary(Vec::new()),
            HistoryQuery::Dispatches { offset, limit } => {
                let mut rows = self.dispatches.lock().unwrap().clone();
                rows.sort_by_key(|r| (std::cmp::Reverse(r.coordination_block), r.wallet));
                HistoryPage::Dispatches(page(&rows, offset, limit))
            }
            HistoryQuery::DryRuns { offset, limit } => {
                let mut rows = self.dry_runs.lock().unwrap().clone();
                rows.sort_by_key(|r| std::cmp::Reverse(r.id));
                HistoryPage::DryRuns(page(&rows, offset, limit))
            }
            HistoryQuery::Windows { limit } => {
                let mut rows = self.windows.lock().unwrap().clone();
                rows.sort_by_key(|r| std::cmp::Reverse(r.coordination_block));
                HistoryPage::Windows(page(&rows, 0, limit))
            }
            HistoryQuery::Results { limit, .. } => {
                let mut rows = self.results.lock().unwrap().clone();
                rows.sort_by_key(|r| (std::cmp::Reverse(r.coordination_block), r.wallet));
                HistoryPage::Results(page(&rows, 0, limit))
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("not kept here: {}", other.name()),
                ))
            }
        })
    }

    async fn dry_run(
        &self,
        _wallet: WalletPkh,
        _window: DryRunWindow,
    ) -> Result<DryRunRecord, ApiError> {
        Err(ApiError::new(ErrorCode::DryRun, "no dry runs here"))
    }

    async fn status(&self, _last_faults: u64) -> Result<NodeStatus, ApiError> {
        Err(ApiError::new(ErrorCode::Unavailable, "no status here"))
    }
}

fn wallet(n: u8) -> WalletPkh {
    WalletPkh([n; 20])
}

fn operator(n: u8) -> Address {
    Address([n; 20])
}

/// Fault `id` of window `cb`, by operator `id % 7`.
fn fault(id: i64, cb: u64) -> FaultRow {
    FaultRow {
        id,
        wallet: wallet(1),
        coordination_block: cb,
        culprit: operator((id % 7) as u8 + 1),
        fault: FaultType::LeaderIdleness,
        leader: operator((id % 7) as u8 + 1),
        recorded_at: 0,
        proposed_action: None,
    }
}

fn block(n: u64) -> Event {
    Event::Block {
        block: BlockRef {
            number: n,
            hash: Hash32([n as u8; 32]),
            parent_hash: Hash32::default(),
            timestamp: 12 * n,
        },
    }
}

fn started(wallets: &[WalletPkh]) -> Event {
    Event::NodeStarted {
        chain: "devnet-1".into(),
        operator: operator(9),
        observer: false,
        block_hash_rule: BlockHashRule::KeepV2,
        wallets: wallets
            .iter()
            .map(|w| WalletInfo {
                wallet: *w,
                public_key: None,
                operators: vec![operator(9), operator(2)],
            })
            .collect(),
        transport: MessageTransport::PeerNetwork,
        bootstrap_peers: 0,
    }
}

fn peer(id: &str) -> Event {
    Event::PeerConnected {
        peer: id.to_string(),
        operator: None,
        admitted: "operator".into(),
        bootstrap: false,
    }
}

fn app_on(history: &Arc<History>, link: NodeLink) -> App {
    App::new(history.clone(), link, super::theme::Theme::dark())
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

async fn press(app: &mut App, code: KeyCode) -> Option<Request> {
    let r = app.on_key(key(code));
    app.refresh().await;
    r
}

/// `n` more faults, each of a newer window than any before: the store lists them first.
fn record_faults(app: &mut App, history: &History, n: usize) {
    let mut faults = history.faults.lock().unwrap();
    for _ in 0..n {
        let id = faults.len() as i64 + 1;
        let row = fault(id, 900 * id as u64);
        app.on_event(
            &Event::Fault {
                wallet: row.wallet,
                coordination_block: row.coordination_block,
                culprit: row.culprit,
                fault: row.fault,
            },
            Instant::now(),
        );
        faults.push(row);
    }
}

#[tokio::test]
async fn the_fault_selection_follows_the_fault_when_newer_faults_arrive() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    record_faults(&mut app, &history, 10);
    press(&mut app, KeyCode::Char('4')).await;
    assert_eq!(app.faults.total, 10);
    press(&mut app, KeyCode::Down).await;
    press(&mut app, KeyCode::Down).await;
    // Newest first: the third row is fault 8.
    let chosen = app.faults.selected_row().cloned().unwrap();
    assert_eq!(chosen.id, 8);

    record_faults(&mut app, &history, 3);
    app.refresh().await;
    assert_eq!(app.faults.total, 13);
    assert_eq!(app.faults.selected_row(), Some(&chosen));
    assert_eq!(app.faults.selected, 5);
    assert_eq!(app.faults.new_marker().as_deref(), Some("3 new ↑ (g)"));

    // Moving up past new faults counts them as seen; back down is the chosen fault again.
    for _ in 0..3 {
        press(&mut app, KeyCode::Up).await;
    }
    assert_eq!(app.faults.new_above, 2);
    for _ in 0..3 {
        press(&mut app, KeyCode::Down).await;
    }
    assert_eq!(app.faults.selected_row(), Some(&chosen));
    assert_eq!(app.faults.new_above, 2);

    // What acts on the selection acts on the chosen fault.
    press(&mut app, KeyCode::Enter).await;
    assert_eq!(
        app.popup,
        Some(Popup::FaultDetail(Box::new(chosen.clone())))
    );
    press(&mut app, KeyCode::Esc).await;
    press(&mut app, KeyCode::Char('o')).await;
    assert_eq!(app.faults.filter.operator, Some(chosen.culprit));
}

#[tokio::test]
async fn the_fault_selection_follows_the_fault_out_of_its_page() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    record_faults(&mut app, &history, 5);
    press(&mut app, KeyCode::Char('4')).await;
    let chosen = app.faults.selected_row().cloned().unwrap();
    assert_eq!(chosen.id, 5);

    // More new faults than a page holds land above it.
    record_faults(&mut app, &history, 450);
    app.refresh().await;
    assert_eq!(app.faults.selected, 450);
    assert_eq!(app.faults.selected_row(), Some(&chosen));
    assert_eq!(app.faults.new_above, 450);
    // `g` goes to the newest and has seen them all.
    press(&mut app, KeyCode::Char('g')).await;
    assert_eq!((app.faults.selected, app.faults.new_marker()), (0, None));
}

#[tokio::test]
async fn a_key_pressed_while_faults_load_moves_from_the_chosen_fault() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    record_faults(&mut app, &history, 10);
    press(&mut app, KeyCode::Char('4')).await;
    app.faults.select(3);
    // Fault 7 is chosen; two newer faults are recorded and a load starts.
    record_faults(&mut app, &history, 2);
    let load = app.take_load().unwrap();
    // The operator moves down one before the answer comes: to the fault below fault 7.
    app.on_key(key(KeyCode::Down));
    app.on_loaded(load.run().await);
    app.refresh().await;
    assert_eq!(app.faults.selected, 6);
    assert_eq!(app.faults.selected_row().map(|r| r.id), Some(6));
}

fn dispatch(w: WalletPkh, cb: u64, status: DispatchStatus) -> DispatchRow {
    DispatchRow {
        wallet: w,
        coordination_block: cb,
        action: ActionType::Heartbeat,
        proposal_json: r#"{"action":"Heartbeat","message":"0x00"}"#.into(),
        start_block: cb + 100,
        expiry_block: cb + 400,
        status,
        reason: None,
        finished_block: None,
        recorded_at: 0,
        updated_at: 0,
    }
}

fn dry_run_row(id: i64, cb: u64) -> DryRunRow {
    DryRunRow {
        id,
        wallet: wallet(3),
        coordination_block: cb,
        current_block: cb - 10,
        safe_block: cb - 32,
        safe_block_hash: Hash32([7; 32]),
        hash_rule: "keep-v2".into(),
        seed: Seed::default(),
        leader: operator(2),
        leader_is_self: false,
        role: Role::Follower,
        checklist: vec![ActionType::Heartbeat],
        proposal_json: Some(r#"{"action":"Noop"}"#.into()),
        reason: None,
        actions: Vec::new(),
        recorded_at: 0,
    }
}

#[tokio::test]
async fn the_proposal_selection_follows_its_row_and_enter_reopens_a_dry_run() {
    let history = Arc::new(History::default());
    history.dispatches.lock().unwrap().extend([
        dispatch(wallet(1), 1800, DispatchStatus::Completed),
        dispatch(wallet(2), 1800, DispatchStatus::Completed),
    ]);
    history.dry_runs.lock().unwrap().push(dry_run_row(1, 900));
    let mut app = app_on(&history, NodeLink::InProcess);
    press(&mut app, KeyCode::Char('5')).await;
    assert_eq!(app.proposals.items.len(), 3);
    press(&mut app, KeyCode::Char('G')).await;
    let Some(ProposalItem::DryRun(chosen)) = app.proposals.selected_item().cloned() else {
        panic!("the last row is the dry run: {:?}", app.proposals.items);
    };

    // A newer window's dispatch lands above it.
    history
        .dispatches
        .lock()
        .unwrap()
        .push(dispatch(wallet(1), 2700, DispatchStatus::Dispatched));
    app.on_event(
        &Event::ProposalDispatched {
            wallet: wallet(1),
            coordination_block: 2700,
            action: ActionType::Heartbeat,
            start_block: 2800,
            expiry_block: 3100,
        },
        Instant::now(),
    );
    app.refresh().await;
    assert_eq!(app.proposals.items.len(), 4);
    assert_eq!(app.proposals.selected, 3);
    assert_eq!(app.proposals.new_marker().as_deref(), Some("1 new ↑ (g)"));

    // Enter shows that dry run again.
    press(&mut app, KeyCode::Enter).await;
    let Some(Popup::DryRun(DryRunOutcome::Done(record))) = &app.popup else {
        panic!("no dry run shown: {:?}", app.popup);
    };
    assert_eq!(record.coordination_block, chosen.coordination_block);
    assert_eq!(record.seed, chosen.seed);
    assert_eq!(record.proposal, Some(crate::protocol::Proposal::Noop));
    press(&mut app, KeyCode::Esc).await;
    press(&mut app, KeyCode::Char('g')).await;
    assert_eq!(app.proposals.new_marker(), None);
}

#[tokio::test]
async fn the_wallet_selection_follows_the_wallet_through_a_resync() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    app.on_event(&started(&[wallet(2), wallet(3), wallet(4)]), Instant::now());
    press(&mut app, KeyCode::Char('2')).await;
    press(&mut app, KeyCode::Down).await;
    assert_eq!(app.wallet_id, Some(wallet(3)));

    // The node's snapshot now lists a wallet before it.
    let mut snapshot = NodeSnapshot::default();
    snapshot.apply(&started(&[wallet(1), wallet(2), wallet(3), wallet(4)]));
    app.on_update(
        Update::Snapshot {
            snapshot: Box::new(snapshot),
            pid: None,
        },
        Instant::now(),
    );
    assert_eq!(app.wallet_selected, 2);
    assert_eq!(app.view().wallets[app.wallet_selected].wallet, wallet(3));
    // `d` dry-runs that wallet.
    press(&mut app, KeyCode::Char('d')).await;
    let Some(Popup::DryRunDialog(dialog)) = &app.popup else {
        panic!("no dialog: {:?}", app.popup);
    };
    assert_eq!(dialog.wallet, wallet(3));
}

#[tokio::test]
async fn the_peer_list_keeps_its_top_peer_when_peers_connect_above_it() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    for p in ["p2", "p4", "p6", "p8"] {
        app.on_event(&peer(p), Instant::now());
    }
    press(&mut app, KeyCode::Char('3')).await;
    press(&mut app, KeyCode::Down).await;
    assert_eq!(app.peer_anchor.as_deref(), Some("p4"));
    app.on_event(&peer("p1"), Instant::now());
    app.on_event(&peer("p3"), Instant::now());
    assert_eq!(app.peer_scroll, 3);
    let top = app
        .view()
        .network
        .peers
        .keys()
        .nth(app.peer_scroll)
        .cloned();
    assert_eq!(top.as_deref(), Some("p4"));
    // The anchor leaving keeps the list where it was.
    app.on_event(
        &Event::PeerDisconnected { peer: "p4".into() },
        Instant::now(),
    );
    let top = app
        .view()
        .network
        .peers
        .keys()
        .nth(app.peer_scroll)
        .cloned();
    assert_eq!(top.as_deref(), Some("p6"));

    // At the top, a peer connecting above shows.
    for _ in 0..5 {
        press(&mut app, KeyCode::Up).await;
    }
    assert_eq!((app.peer_scroll, app.peer_anchor.clone()), (0, None));
    app.on_event(&peer("p0"), Instant::now());
    assert_eq!(app.peer_scroll, 0);
}

#[tokio::test]
async fn q_asks_before_stopping_a_node_mid_window_or_under_other_clients() {
    let history = Arc::new(History::default());
    let clients = Arc::new(AtomicUsize::new(0));
    let mut app = app_on(&history, NodeLink::InProcess);
    app.control_clients = Some(clients.clone());
    app.on_event(&started(&[wallet(1)]), Instant::now());

    // Between windows, alone: q quits.
    app.on_event(&block(1050), Instant::now());
    assert_eq!(app.quit_warning(), None);

    // In window 1800's active phase: q asks, says what stops, and n keeps the node.
    app.on_event(&block(1830), Instant::now());
    assert_eq!(press(&mut app, KeyCode::Char('q')).await, None);
    let Some(Popup::ConfirmQuit(warning)) = app.popup.clone() else {
        panic!("q did not ask: {:?}", app.popup);
    };
    assert_eq!(warning.active_window, Some((1800, 50)));
    assert_eq!(
        warning.lines(),
        ["Window 1800 is in its active phase (50 blocks left): this node's part in it stops."]
    );
    assert_eq!(press(&mut app, KeyCode::Char('n')).await, None);
    assert_eq!(app.popup, None);
    assert!(!app.should_quit);

    // Past the active phase, with two clients attached: asked again, and y quits.
    app.on_event(&block(1885), Instant::now());
    clients.store(2, Ordering::SeqCst);
    press(&mut app, KeyCode::Char('q')).await;
    let Some(Popup::ConfirmQuit(warning)) = app.popup.clone() else {
        panic!("q did not ask: {:?}", app.popup);
    };
    assert_eq!(
        warning.lines(),
        ["2 clients attached over the control socket lose the node."]
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('y')).await,
        Some(Request::Quit)
    );
    assert!(app.should_quit);
}

#[tokio::test]
async fn q_detaches_an_attached_console_at_once_and_names_the_node_left_running() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::Connecting);
    let mut snapshot = NodeSnapshot::default();
    snapshot.apply(&block(1830));
    app.on_update(
        Update::Snapshot {
            snapshot: Box::new(snapshot),
            pid: Some(4242),
        },
        Instant::now(),
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('q')).await,
        Some(Request::Quit)
    );
    assert_eq!(
        super::detach_note(&app.link).as_deref(),
        Some("Detached. The node runs on (pid 4242).")
    );
    assert_eq!(super::detach_note(&NodeLink::InProcess), None);
}

#[tokio::test]
async fn the_window_prompt_says_what_is_wrong_while_open_and_reopens_filled() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    press(&mut app, KeyCode::Char('4')).await;
    press(&mut app, KeyCode::Char('r')).await;
    for c in "abc".chars() {
        press(&mut app, KeyCode::Char(c)).await;
    }
    press(&mut app, KeyCode::Enter).await;
    assert_eq!(
        app.faults.input,
        Some((FaultInput::WindowRange, "abc".to_string()))
    );
    assert_eq!(
        app.faults.input_error.as_deref(),
        Some("\"abc\" is not a block number")
    );
    // Editing clears it; Esc leaves no error behind.
    press(&mut app, KeyCode::Backspace).await;
    assert_eq!(app.faults.input_error, None);
    press(&mut app, KeyCode::Enter).await;
    press(&mut app, KeyCode::Esc).await;
    assert_eq!(
        (app.faults.input.clone(), app.faults.input_error.clone()),
        (None, None)
    );

    press(&mut app, KeyCode::Char('r')).await;
    for _ in 0..3 {
        press(&mut app, KeyCode::Backspace).await;
    }
    for c in "900-5400".chars() {
        press(&mut app, KeyCode::Char(c)).await;
    }
    press(&mut app, KeyCode::Enter).await;
    assert_eq!(
        (app.faults.filter.from_block, app.faults.filter.to_block),
        (Some(900), Some(5400))
    );
    press(&mut app, KeyCode::Char('r')).await;
    assert_eq!(
        app.faults.input,
        Some((FaultInput::WindowRange, "900-5400".to_string()))
    );
}

#[tokio::test(start_paused = true)]
async fn while_paused_the_block_age_is_the_frozen_block_s() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    let t0 = Instant::now();
    app.on_event(&block(100), t0);
    app.on_event(&block(101), t0 + Duration::from_secs(1));
    press(&mut app, KeyCode::Char('p')).await;
    // Live blocks keep coming; the shown block is still 101, seen at t0 + 1 s.
    for i in 2..6 {
        app.on_event(&block(100 + i), t0 + Duration::from_secs(i));
    }
    let now = t0 + Duration::from_secs(6);
    assert_eq!(app.head(), Some(101));
    assert_eq!(app.clock.age(now), Some(Duration::from_secs(5)));
    press(&mut app, KeyCode::Char('p')).await;
    assert_eq!(app.head(), Some(105));
    assert_eq!(app.clock.age(now), Some(Duration::from_secs(1)));
    assert_eq!(app.clock.average(), Some(Duration::from_secs(1)));
}

fn result_row(w: WalletPkh, cb: u64, faults: u64) -> ResultRow {
    ResultRow {
        wallet: w,
        coordination_block: cb,
        safe_block_hash: Hash32::default(),
        seed: Seed::default(),
        leader: operator(2),
        leader_member_index: 1,
        role: Role::Follower,
        checklist: vec![ActionType::Heartbeat],
        action: ActionType::Heartbeat,
        proposal_json: r#"{"action":"Noop"}"#.into(),
        fault_count: faults,
        recorded_at: 0,
        members_connected: None,
        refusals: Vec::new(),
    }
}

fn window_row(cb: u64, status: WindowStatus) -> WindowRow {
    WindowRow {
        coordination_block: cb,
        status,
        late: false,
        observed_block: cb,
        reason: None,
        recorded_at: 0,
    }
}

#[tokio::test]
async fn after_a_restart_the_overview_shows_windows_and_results_from_the_history() {
    let history = Arc::new(History::default());
    history.windows.lock().unwrap().extend([
        window_row(900, WindowStatus::Completed),
        window_row(1800, WindowStatus::Interrupted),
    ]);
    history.results.lock().unwrap().extend([
        result_row(wallet(1), 900, 0),
        result_row(wallet(2), 900, 2),
        result_row(wallet(1), 1800, 0),
    ]);
    history
        .faults
        .lock()
        .unwrap()
        .extend([fault(1, 900), fault(2, 900), fault(3, 2700)]);
    let mut app = app_on(&history, NodeLink::InProcess);
    // The restarted node: its snapshot begins at window 2700.
    let mut snapshot = NodeSnapshot::default();
    snapshot.apply(&started(&[wallet(1), wallet(2)]));
    snapshot.apply(&block(2700));
    snapshot.apply(&Event::WindowStarted {
        coordination_block: 2700,
        index: 3,
        late: false,
        observed_block: 2700,
        safe_block: 2668,
        safe_block_hash: Hash32([3; 32]),
        other_rule_hash: None,
    });
    // Fault 3 was stored, then announced: it is both in the history and in the snapshot.
    let announced = fault(3, 2700);
    snapshot.apply(&Event::Fault {
        wallet: announced.wallet,
        coordination_block: announced.coordination_block,
        culprit: announced.culprit,
        fault: announced.fault,
    });
    app.on_update(
        Update::Snapshot {
            snapshot: Box::new(snapshot),
            pid: None,
        },
        Instant::now(),
    );
    app.refresh().await;
    let windows: Vec<_> = app
        .recent_windows()
        .iter()
        .map(|w| {
            (
                w.coordination_block,
                w.completed,
                w.interrupted,
                w.results,
                w.faults,
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            (900, true, false, 2, 2),
            (1800, false, true, 1, 0),
            (2700, false, false, 0, 1)
        ]
    );
    let results: Vec<_> = app
        .latest_results()
        .iter()
        .map(|r| (r.wallet, r.coordination_block, r.faulty))
        .collect();
    assert_eq!(results, [(wallet(1), 1800, false), (wallet(2), 900, true)]);
    let faults: Vec<_> = app
        .latest_faults()
        .iter()
        .map(|f| (f.coordination_block, f.culprit))
        .collect();
    assert_eq!(
        faults,
        [
            (2700, fault(3, 2700).culprit),
            (900, fault(2, 900).culprit),
            (900, fault(1, 900).culprit)
        ]
    );
    assert_eq!(app.tab, Tab::Overview);
}

#[tokio::test]
async fn a_dispatched_action_and_its_end_read_as_one_line() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    app.on_event(&started(&[wallet(1), wallet(2)]), Instant::now());
    for (w, cb) in [(wallet(1), 900), (wallet(2), 900), (wallet(1), 1800)] {
        app.on_event(
            &Event::ProposalDispatched {
                wallet: w,
                coordination_block: cb,
                action: ActionType::Heartbeat,
                start_block: cb + 100,
                expiry_block: cb + 400,
            },
            Instant::now(),
        );
    }
    app.on_event(
        &Event::ActionFinished {
            wallet: wallet(1),
            coordination_block: 900,
            action: ActionType::Heartbeat,
            outcome: ActionOutcome::Completed,
            block: 1010,
        },
        Instant::now(),
    );
    let lines: Vec<_> = app
        .latest_proposals()
        .iter()
        .map(|l| (l.coordination_block, l.wallet, l.state))
        .collect();
    assert_eq!(
        lines,
        [
            (1800, wallet(1), ProposalState::Dispatched),
            (
                900,
                wallet(1),
                ProposalState::Finished(ActionOutcome::Completed)
            ),
            (900, wallet(2), ProposalState::Dispatched),
        ]
    );
}

/// The question is whole at the design size and at the smallest the console draws.
#[tokio::test]
async fn the_quit_question_fits_80x24_and_60x16() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    app.control_clients = Some(Arc::new(AtomicUsize::new(2)));
    app.on_event(&started(&[wallet(1)]), Instant::now());
    app.on_event(&block(1830), Instant::now());
    press(&mut app, KeyCode::Char('q')).await;
    for (w, h) in [(80, 24), (60, 16)] {
        let backend = ratatui::backend::TestBackend::new(w, h);
        let mut terminal = ratatui::Terminal::new(backend).unwrap();
        terminal
            .draw(|f| super::views::render(f, &app, Instant::now()))
            .unwrap();
        let screen = terminal.backend().to_string();
        for whole in [
            "Stop the node?",
            "Window 1800 is in its active phase (50 blocks left):",
            "2 clients attached",
            "y stops the node and quits · n or Esc keeps it running",
        ] {
            assert!(screen.contains(whole), "{w}x{h} cuts {whole:?}:\n{screen}");
        }
    }
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| super::views::render(f, app, Instant::now()))
        .unwrap();
    terminal.backend().to_string()
}

/// A mistake recorded since the history keeps proposed actions names it, in the details and in
/// the table where there is room; one recorded before says where it is instead.
#[tokio::test]
async fn fault_details_name_the_proposed_action_or_where_an_older_record_keeps_it() {
    let history = Arc::new(History::default());
    let mut app = app_on(&history, NodeLink::InProcess);
    let older = FaultRow {
        fault: FaultType::LeaderMistake,
        ..fault(1, 900)
    };
    let newer = FaultRow {
        fault: FaultType::LeaderMistake,
        proposed_action: Some(ActionType::MovedFundsSweep),
        ..fault(2, 1800)
    };
    for row in [&older, &newer] {
        app.on_event(
            &Event::Fault {
                wallet: row.wallet,
                coordination_block: row.coordination_block,
                culprit: row.culprit,
                fault: row.fault,
            },
            Instant::now(),
        );
    }
    history
        .faults
        .lock()
        .unwrap()
        .extend([older.clone(), newer.clone()]);
    press(&mut app, KeyCode::Char('4')).await;
    assert_eq!(app.faults.selected_row(), Some(&newer));

    let table = render(&app, 120, 24);
    let row_of = |cb: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!(" {cb} ")))
            .unwrap_or_else(|| panic!("no row of {cb}: {table}"))
            .to_string()
    };
    assert!(table.contains("Proposed"), "{table}");
    assert!(row_of("1800").contains("MovedFundsSweep"), "{table}");
    assert!(row_of("900").contains("leader ?"), "{table}");

    press(&mut app, KeyCode::Enter).await;
    let details = render(&app, 80, 30);
    assert!(
        details.contains("proposed  MovedFundsSweep, not on this window's checklist"),
        "{details}"
    );
    press(&mut app, KeyCode::Esc).await;
    press(&mut app, KeyCode::Down).await;
    press(&mut app, KeyCode::Enter).await;
    assert_eq!(app.popup, Some(Popup::FaultDetail(Box::new(older))));
    let details = render(&app, 80, 30);
    assert!(details.contains("recorded before it was kept"), "{details}");
    assert!(details.contains("claimed.action"), "{details}");
    assert!(!details.contains("MovedFundsSweep"), "{details}");
}
