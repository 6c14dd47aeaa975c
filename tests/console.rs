//! The console without a terminal: the app as a reducer of events and keys, and its screens
//! rendered on ratatui's `TestBackend` and compared with `insta` snapshots. The devnet behind
//! it has a fixed seed and runs on tokio's paused clock, so every screen is reproducible.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tbtc_coord::devnet::DevnetConfig;
use tbtc_coord::devnet::{DevnetNetwork, DevnetNetworkConfig};
use tbtc_coord::engine::{DryRunWindow, Event, EventBus, NodeApi, NodeConfig, Update};
use tbtc_coord::protocol::FaultType;
use tbtc_coord::store::Store;
use tbtc_coord::tui::app::{
    App, DryRunChoice, DryRunOutcome, FaultInput, NodeLink, Popup, Request, Tab,
};
use tbtc_coord::tui::theme::Theme;
use tbtc_coord::tui::views;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

struct Fixture {
    app: App,
    events: broadcast::Receiver<Event>,
    network: DevnetNetwork,
}

/// A devnet run through `windows` windows (plus a little), folded into a console app.
async fn fixture(windows: usize, theme: Theme) -> Fixture {
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let network = DevnetNetwork::start(
        DevnetNetworkConfig {
            devnet: DevnetConfig {
                seed: 7,
                block_time: Duration::from_millis(100),
                operators: 10,
                wallets: 4,
                ..DevnetConfig::default()
            },
            fault_rate: 0.4,
            node: NodeConfig::default(),
            ..DevnetNetworkConfig::default()
        },
        Arc::new(Store::open_in_memory().unwrap()),
        bus,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let mut app = App::new(
        Arc::new(network.local.commands()),
        NodeLink::InProcess,
        theme,
    );
    let mut completed = 0;
    // Stop at a fixed head past the last window's end, so every screen is the same.
    let stop_at = 900 * windows as u64 + 150;
    loop {
        let event = events.recv().await.unwrap();
        app.on_event(&event, Instant::now());
        if matches!(event, Event::WindowCompleted { .. }) {
            completed += 1;
        }
        if let Event::Block { block } = &event {
            if completed >= windows && block.number >= stop_at {
                break;
            }
        }
    }
    app.refresh().await;
    Fixture {
        app,
        events,
        network,
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

async fn press(app: &mut App, code: KeyCode) -> Option<Request> {
    let r = app.on_key(key(code));
    app.refresh().await;
    r
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| views::render(f, app, Instant::now()))
        .unwrap();
    terminal.backend().to_string()
}

#[tokio::test(start_paused = true)]
async fn tabs_switch_by_tab_shift_tab_and_digits() {
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    assert_eq!(app.tab, Tab::Overview);
    press(app, KeyCode::Tab).await;
    assert_eq!(app.tab, Tab::Wallets);
    press(app, KeyCode::BackTab).await;
    press(app, KeyCode::BackTab).await;
    assert_eq!(app.tab, Tab::Logs);
    let digits = [
        ('1', Tab::Overview),
        ('2', Tab::Wallets),
        ('3', Tab::Network),
        ('4', Tab::Faults),
        ('5', Tab::Proposals),
        ('6', Tab::Logs),
    ];
    for (digit, tab) in digits {
        press(app, KeyCode::Char(digit)).await;
        assert_eq!(app.tab, tab);
    }
    // Key releases are not presses.
    let mut release = key(KeyCode::Char('1'));
    release.kind = KeyEventKind::Release;
    assert_eq!(app.on_key(release), None);
    assert_eq!(app.tab, Tab::Logs);
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn help_opens_and_esc_closes_any_popup_and_q_quits() {
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('?')).await;
    assert_eq!(app.popup, Some(Popup::Help));
    // Other keys do not leak through a popup.
    assert_eq!(press(app, KeyCode::Char('3')).await, None);
    assert_eq!(app.tab, Tab::Overview);
    press(app, KeyCode::Esc).await;
    assert_eq!(app.popup, None);
    assert_eq!(press(app, KeyCode::Char('q')).await, Some(Request::Quit));
    assert!(app.should_quit);
    let mut ctrl_c = App::new(
        Arc::new(fx.network.local.commands()),
        NodeLink::InProcess,
        Theme::dark(),
    );
    assert_eq!(
        ctrl_c.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Request::Quit)
    );
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn pause_freezes_the_view_while_the_node_runs_on() {
    let mut fx = fixture(1, Theme::dark()).await;
    press(&mut fx.app, KeyCode::Char('p')).await;
    assert!(fx.app.paused());
    let frozen_head = fx.app.head();
    // Feed ten more blocks.
    let mut blocks = 0;
    while blocks < 10 {
        let e = fx.events.recv().await.unwrap();
        if matches!(e, Event::Block { .. }) {
            blocks += 1;
        }
        fx.app.on_event(&e, Instant::now());
    }
    assert_eq!(fx.app.head(), frozen_head, "the view stays put");
    assert!(
        fx.app.live.head.unwrap().number >= frozen_head.unwrap() + 10,
        "the node ran on"
    );
    assert!(screen(&fx.app, 120, 30).contains("PAUSED"));
    press(&mut fx.app, KeyCode::Char('p')).await;
    assert_eq!(fx.app.head(), fx.app.live.head.map(|h| h.number));
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_lagging_console_resyncs_from_the_snapshot() {
    // A bus far smaller than what one window publishes, and a console that does not read
    // while the node runs: its receiver lags for real.
    let bus = EventBus::new(16);
    let mut driver = bus.subscribe();
    let network = DevnetNetwork::start(
        DevnetNetworkConfig {
            devnet: DevnetConfig {
                seed: 7,
                block_time: Duration::from_millis(100),
                operators: 10,
                wallets: 4,
                ..DevnetConfig::default()
            },
            fault_rate: 0.4,
            node: NodeConfig::default(),
            ..DevnetNetworkConfig::default()
        },
        Arc::new(Store::open_in_memory().unwrap()),
        bus.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let api: Arc<dyn NodeApi> = Arc::new(network.local.commands());
    let mut updates = api.subscribe().await;
    let mut app = App::new(api.clone(), NodeLink::InProcess, Theme::dark());
    // Run the node through a window; stop right after it completes, so the events the
    // console's receiver still holds include counted ones (results, the completion).
    loop {
        match driver.recv().await {
            Ok(Event::WindowCompleted { .. }) => break,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the node stopped early"),
        }
    }
    network.shutdown().await;

    // The console's own loop: fold every update, up to the node's last event.
    let mut snapshots = 0;
    while !app.live.stopped {
        let update = updates.next().await.expect("the bus is open");
        snapshots += matches!(update, Update::Snapshot { .. }) as usize;
        app.on_update(update, Instant::now());
    }
    let lagged = snapshots - 1;
    assert_eq!(lagged, 1, "the receiver lagged");
    assert_eq!(app.resyncs, 1);
    let snapshot = bus.snapshot();
    assert!(snapshot.windows_completed >= 1);
    assert!(snapshot.stopped);
    assert_eq!(
        app.live, snapshot,
        "the console shows what the node has, nothing twice"
    );
}

#[tokio::test(start_paused = true)]
async fn dry_run_dialog_flow() {
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('2')).await;
    press(app, KeyCode::Down).await;
    let wallet = app.view().wallets[1].wallet;
    press(app, KeyCode::Char('d')).await;
    let Some(Popup::DryRunDialog(d)) = &app.popup else {
        panic!("no dialog: {:?}", app.popup)
    };
    assert_eq!(d.wallet, wallet);
    // A typed block that is not a coordination block is refused in the dialog.
    for c in "901".chars() {
        press(app, KeyCode::Char(c)).await;
    }
    assert_eq!(press(app, KeyCode::Enter).await, None);
    let Some(Popup::DryRunDialog(d)) = &app.popup else {
        panic!("dialog closed")
    };
    assert_eq!(d.choice, DryRunChoice::Block);
    assert!(d.error.as_deref().unwrap_or("").contains("901"));
    press(app, KeyCode::Backspace).await;
    press(app, KeyCode::Backspace).await;
    press(app, KeyCode::Backspace).await;
    press(app, KeyCode::Char('9')).await;
    press(app, KeyCode::Char('0')).await;
    press(app, KeyCode::Char('0')).await;
    let request = press(app, KeyCode::Enter).await;
    assert_eq!(
        request,
        Some(Request::DryRun {
            wallet,
            window: DryRunWindow::At(900)
        })
    );
    assert_eq!(
        app.popup,
        Some(Popup::DryRun(DryRunOutcome::Pending { wallet }))
    );
    // The run loop carries it out through the command handle.
    let result = app
        .api
        .dry_run(wallet, DryRunWindow::At(900))
        .await
        .map_err(|e| e.to_string());
    app.on_dry_run_result(wallet, result);
    let Some(Popup::DryRun(DryRunOutcome::Done(record))) = &app.popup else {
        panic!("no result: {:?}", app.popup)
    };
    assert_eq!(record.coordination_block, 900);
    // It is kept in the history and listed under Proposals.
    press(app, KeyCode::Esc).await;
    press(app, KeyCode::Char('5')).await;
    assert!(app
        .proposals
        .items
        .iter()
        .any(|i| matches!(i, tbtc_coord::tui::app::ProposalItem::DryRun(r) if r.wallet == wallet)));
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn fault_filters_search_sort_and_detail() {
    let mut fx = fixture(3, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('4')).await;
    let total = app.faults.total;
    assert!(total >= 3, "the fixture has faults: {total}");
    assert_eq!(app.faults.rows.len() as u64, total.min(200));

    // Type filter cycles and narrows.
    press(app, KeyCode::Char('t')).await;
    assert_eq!(app.faults.filter.fault, Some(FaultType::LeaderIdleness));
    assert!(app
        .faults
        .rows
        .iter()
        .all(|r| r.fault == FaultType::LeaderIdleness));
    for _ in 0..3 {
        press(app, KeyCode::Char('t')).await;
    }
    assert_eq!(app.faults.filter.fault, None);
    assert_eq!(app.faults.total, total);

    // Operator of the selected row.
    let culprit = app.faults.selected_row().unwrap().culprit;
    press(app, KeyCode::Char('o')).await;
    assert_eq!(app.faults.filter.operator, Some(culprit));
    assert!(app.faults.rows.iter().all(|r| r.culprit == culprit));
    press(app, KeyCode::Char('o')).await;
    assert_eq!(app.faults.filter.operator, None);

    // Search by typing; Esc cancels an input without applying it.
    press(app, KeyCode::Char('/')).await;
    assert!(matches!(app.faults.input, Some((FaultInput::Search, _))));
    for c in "Imperson".chars() {
        press(app, KeyCode::Char(c)).await;
    }
    press(app, KeyCode::Enter).await;
    assert_eq!(app.faults.filter.search.as_deref(), Some("Imperson"));
    assert!(app
        .faults
        .rows
        .iter()
        .all(|r| r.fault == FaultType::LeaderImpersonation));
    press(app, KeyCode::Char('c')).await;
    assert_eq!(app.faults.total, total);

    // Window range; a bad one is refused and stays open, saying why. It reopens filled.
    press(app, KeyCode::Char('r')).await;
    for c in "1800-1800".chars() {
        press(app, KeyCode::Char(c)).await;
    }
    press(app, KeyCode::Enter).await;
    assert!(app.faults.rows.iter().all(|r| r.coordination_block == 1800));
    press(app, KeyCode::Char('r')).await;
    for _ in "1800".chars() {
        press(app, KeyCode::Backspace).await;
    }
    for c in "99-1".chars() {
        press(app, KeyCode::Char(c)).await;
    }
    press(app, KeyCode::Enter).await;
    assert!(app.faults.input.is_some());
    assert!(app.faults.input_error.is_some());
    press(app, KeyCode::Esc).await;
    press(app, KeyCode::Char('c')).await;

    // Sorting changes the order; moving and Enter open the selected fault.
    press(app, KeyCode::Char('s')).await;
    assert_ne!(app.faults.order, Default::default());
    press(app, KeyCode::Char('G')).await;
    assert_eq!(app.faults.selected, app.faults.total - 1);
    let last = app.faults.selected_row().unwrap().clone();
    press(app, KeyCode::Enter).await;
    assert_eq!(app.popup, Some(Popup::FaultDetail(Box::new(last))));
    press(app, KeyCode::Esc).await;

    // Per-operator summary adds up.
    press(app, KeyCode::Char('u')).await;
    let summed: u64 = app.faults.summary.iter().map(|s| s.total).sum();
    assert_eq!(summed, total);
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn screens() {
    let mut fx = fixture(2, Theme::dark()).await;
    let app = &mut fx.app;
    insta::assert_snapshot!("overview", screen(app, 140, 36));
    press(app, KeyCode::Char('2')).await;
    insta::assert_snapshot!("wallets", screen(app, 140, 20));
    press(app, KeyCode::Char('3')).await;
    insta::assert_snapshot!("network_hub", screen(app, 140, 30));
    press(app, KeyCode::Char('4')).await;
    press(app, KeyCode::Char('u')).await;
    insta::assert_snapshot!("faults", screen(app, 140, 24));
    press(app, KeyCode::Enter).await;
    insta::assert_snapshot!("fault_detail", screen(app, 140, 24));
    press(app, KeyCode::Esc).await;
    press(app, KeyCode::Char('5')).await;
    insta::assert_snapshot!("proposals", screen(app, 140, 20));
    press(app, KeyCode::Char('6')).await;
    insta::assert_snapshot!("logs", screen(app, 100, 16));
    press(app, KeyCode::Char('?')).await;
    insta::assert_snapshot!("help", screen(app, 100, 40));
    press(app, KeyCode::Esc).await;
    press(app, KeyCode::Char('2')).await;
    press(app, KeyCode::Char('d')).await;
    insta::assert_snapshot!("dry_run_dialog", screen(app, 120, 24));
    press(app, KeyCode::Char('c')).await;
    let Some(Request::DryRun { wallet, window }) = press(app, KeyCode::Enter).await else {
        panic!("no dry run requested")
    };
    let result = app
        .api
        .dry_run(wallet, window)
        .await
        .map_err(|e| e.to_string());
    app.on_dry_run_result(wallet, result);
    insta::assert_snapshot!("dry_run_result", screen(app, 120, 24));
    fx.network.shutdown().await;
}

/// The fixture's node as if on a peer network: six of the nine other operators connected
/// (two of them bootstrap peers, of three), pings, a refusal and a window's rejections.
fn on_a_peer_network(fx: &mut Fixture) {
    use tbtc_coord::engine::network_view::MessageTransport;
    use tbtc_coord::engine::router::RejectReason;
    let app = &mut fx.app;
    app.live.network.transport = MessageTransport::PeerNetwork;
    app.live.network.bootstrap_peers = 3;
    let me = fx.network.local.operator();
    let others: Vec<_> = fx
        .network
        .devnet
        .operators()
        .iter()
        .filter(|o| o.address != me)
        .map(|o| o.key.clone())
        .collect();
    let now = Instant::now();
    for (i, key) in others.iter().take(6).enumerate() {
        app.on_event(
            &Event::PeerConnected {
                peer: key.peer_id().to_base58(),
                operator: Some(key.address()),
                admitted: "a staked operator on chain".into(),
                bootstrap: i < 2,
            },
            now,
        );
        if i % 2 == 0 {
            app.on_event(
                &Event::PeerPing {
                    peer: key.peer_id().to_base58(),
                    rtt_us: 1_250 + 1000 * i as u64,
                },
                now,
            );
        }
    }
    app.on_event(
        &Event::PeerRefused {
            peer: others[8].peer_id().to_base58(),
            reason: "not a member of any wallet, nor staked".into(),
        },
        now,
    );
    app.on_event(
        &Event::WindowRejections {
            coordination_block: 900,
            rejected: [(RejectReason::Signature, 3), (RejectReason::NotAMember, 1)].into(),
        },
        now,
    );
    app.on_event(
        &Event::MessagesRejected {
            reason: RejectReason::Signature,
            total: 1,
        },
        now,
    );
}

#[tokio::test(start_paused = true)]
async fn the_network_tab_shows_peers_seats_and_rejections() {
    let mut fx = fixture(2, Theme::dark()).await;
    on_a_peer_network(&mut fx);
    let app = &mut fx.app;
    press(app, KeyCode::Char('3')).await;
    assert_eq!(app.tab, Tab::Network);
    let text = screen(app, 140, 36);
    assert!(text.contains("6 peers connected"), "{text}");
    assert!(text.contains("bootstrap 2/3 reached"), "{text}");
    insta::assert_snapshot!("network_peers", text);
    // The grid follows the wallet selection.
    press(app, KeyCode::Right).await;
    assert_eq!(app.wallet_selected, 1);
    insta::assert_snapshot!("network_tiny", screen(app, 60, 16));
    // Small, the grid scrolls, and the leader's seats and this node's stay named.
    for (w, h) in [(80, 24), (60, 16)] {
        let text = screen(app, w, h);
        assert!(text.contains("leader #"), "{w}x{h}: {text}");
        assert!(text.contains("you #"), "{w}x{h}: {text}");
        assert!(!text.contains("bootstrap 0/"), "{text}");
        insta::assert_snapshot!(format!("network_peers_{w}x{h}"), text);
    }
    // The first wallet's hundred seats do not fit at 60x16: the grid starts at the leader's
    // row, PgDn scrolls it, and another wallet starts again at its leader.
    press(app, KeyCode::Left).await;
    let at_leader = screen(app, 60, 16);
    insta::assert_snapshot!("network_seats_scrolled_60x16", at_leader);
    press(app, KeyCode::PageDown).await;
    let scrolled = screen(app, 60, 16);
    assert_ne!(scrolled, at_leader, "PgDn scrolls the grid");
    assert!(scrolled.contains("leader #"), "{scrolled}");
    press(app, KeyCode::Right).await;
    press(app, KeyCode::Left).await;
    assert_eq!(screen(app, 60, 16), at_leader);
    assert_eq!(app.tab, Tab::Network);
    // The Wallets tab counts members online out of all members.
    press(app, KeyCode::Char('2')).await;
    insta::assert_snapshot!("wallets_on_a_peer_network", screen(app, 140, 16));
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_network_tab_in_the_light_theme() {
    let mut fx = fixture(1, Theme::light()).await;
    on_a_peer_network(&mut fx);
    press(&mut fx.app, KeyCode::Char('3')).await;
    let mut terminal = Terminal::new(TestBackend::new(100, 24)).unwrap();
    terminal
        .draw(|f| views::render(f, &fx.app, Instant::now()))
        .unwrap();
    insta::assert_debug_snapshot!("network_light_theme", terminal.backend().buffer());
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn tiny_terminals_say_so_and_never_panic() {
    let fx = fixture(1, Theme::dark()).await;
    insta::assert_snapshot!("too_small", screen(&fx.app, 20, 6));
    // Zero-sized: drawing must not panic (TestBackend cannot print an empty buffer).
    for (w, h) in [(0, 0), (0, 10), (10, 0)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal
            .draw(|f| views::render(f, &fx.app, Instant::now()))
            .unwrap();
    }
    let mut app = fx.app;
    for tab in Tab::ALL {
        app.tab = tab;
        for (w, h) in [(1, 1), (5, 2), (59, 40), (200, 15), (60, 16), (61, 17)] {
            let text = screen(&app, w, h);
            if w >= 60 && h >= 16 {
                assert!(!text.contains("too small"), "{tab:?} {w}x{h}");
            }
        }
    }
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn light_theme_and_no_color() {
    let fx = fixture(1, Theme::light()).await;
    let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
    terminal
        .draw(|f| views::render(f, &fx.app, Instant::now()))
        .unwrap();
    insta::assert_debug_snapshot!("light_theme", terminal.backend().buffer());
    let mono = App::new(
        Arc::new(fx.network.local.commands()),
        NodeLink::InProcess,
        Theme::monochrome(),
    );
    let mut terminal = Terminal::new(TestBackend::new(100, 20)).unwrap();
    terminal
        .draw(|f| views::render(f, &mono, Instant::now()))
        .unwrap();
    let buffer = terminal.backend().buffer();
    assert!(buffer
        .content()
        .iter()
        .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset));
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn window_range_bounds_above_i64_max_do_not_wrap() {
    let mut fx = fixture(3, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('4')).await;
    let total = app.faults.total;
    assert!(total > 0, "the fixture has faults");
    async fn range(app: &mut App, text: &str) {
        press(app, KeyCode::Char('r')).await;
        // It opens with the range applied now.
        while app
            .faults
            .input
            .as_ref()
            .is_some_and(|(_, t)| !t.is_empty())
        {
            press(app, KeyCode::Backspace).await;
        }
        for c in text.chars() {
            press(app, KeyCode::Char(c)).await;
        }
        press(app, KeyCode::Enter).await;
        assert_eq!(app.faults.input_error, None, "{text}");
        assert_eq!(app.faults.error, None, "{text}");
    }
    // From above i64::MAX: no stored window is that high.
    range(app, "9223372036854775808-").await;
    assert_eq!(app.faults.filter.from_block, Some(1 << 63));
    assert_eq!(app.faults.total, 0);
    assert!(app.faults.rows.is_empty());
    range(app, "18446744073709551615").await;
    assert_eq!(app.faults.total, 0);
    // To above i64::MAX: no upper bound.
    range(app, "0-18446744073709551615").await;
    assert_eq!(app.faults.total, total);
    assert_eq!(app.faults.rows.len() as u64, total.min(200));
    range(app, "-9223372036854775808").await;
    assert_eq!(app.faults.total, total);
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn attached_and_disconnected_headers() {
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    app.link = NodeLink::Attached { pid: 4242 };
    insta::assert_snapshot!("header_attached", screen(app, 120, 24));

    app.on_update(
        Update::Disconnected {
            reason: "the node closed the connection".into(),
        },
        Instant::now(),
    );
    tokio::time::advance(Duration::from_secs(12)).await;
    let gone = screen(app, 120, 24);
    insta::assert_snapshot!("header_disconnected", gone);

    // Back, as another process: the snapshot replaces what was shown.
    let mut fresh = app.live.clone();
    fresh.windows_completed += 1;
    app.on_update(
        Update::Snapshot {
            snapshot: Box::new(fresh.clone()),
            pid: Some(5151),
        },
        Instant::now(),
    );
    assert_eq!(app.link, NodeLink::Attached { pid: 5151 });
    assert_eq!(app.live, fresh);
    assert_eq!(app.resyncs, 1);
    let back = screen(app, 120, 24);
    assert!(back.contains("attached to pid 5151"), "{back}");
    assert!(!back.contains("disconnected"), "{back}");
    fx.network.shutdown().await;
}

/// What an attached console folds is what crossed the socket: the snapshot (peers, pings,
/// seats heard, rejections included) and every event of a run come back from JSON unchanged.
#[tokio::test(start_paused = true)]
async fn snapshots_and_events_survive_the_wire() {
    let mut fx = fixture(2, Theme::dark()).await;
    on_a_peer_network(&mut fx);
    let live = &fx.app.live;
    assert!(!live.network.peers.is_empty() && !live.network.heard.is_empty());
    let json = serde_json::to_string(live).unwrap();
    let back: tbtc_coord::engine::NodeSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, live);
    for event in live.recent_faults.iter().chain(&live.recent_dispatches) {
        let back: Event = serde_json::from_str(&serde_json::to_string(event).unwrap()).unwrap();
        assert_eq!(&back, event);
    }
    // The disconnected banner fits any terminal the console draws in.
    fx.app.on_update(
        Update::Disconnected {
            reason: "x".repeat(300),
        },
        Instant::now(),
    );
    for (w, h) in [(60, 16), (61, 17), (80, 24), (300, 80)] {
        let s = screen(&fx.app, w, h);
        assert!(s.contains("disconnected"), "{w}x{h}");
    }
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_leader_s_refused_candidates_are_shown_with_its_latest_result() {
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    let mut result = app
        .view()
        .wallets
        .iter()
        .find_map(|w| w.last_result.clone())
        .expect("a result after a window");
    assert!(!screen(app, 140, 36).contains('✗'));
    result.refusals = vec![tbtc_coord::protocol::Refusal {
        action: tbtc_coord::protocol::ActionType::Redemption,
        reason: "refused: Redemption request min age not achieved yet".into(),
    }];
    result.coordination_block += 900;
    app.on_event(&Event::CoordinationResult(result), Instant::now());
    let shown = screen(app, 140, 36);
    assert!(shown.contains("Redemption ✗Redemption"), "{shown}");
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_header_shows_the_bitcoin_server_its_tip_and_latency_or_why_it_is_down() {
    use tbtc_coord::protocol::chain::{BitcoinStatus, ChainStatus};
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    assert!(!screen(app, 140, 36).contains("btc "));
    let up = BitcoinStatus {
        server: "ssl://electrum.example:50002".into(),
        connected: true,
        tip: Some(870_123),
        latency_us: Some(41_500),
        error: None,
    };
    app.on_chain_status(ChainStatus {
        bitcoin: Some(up.clone()),
        ..ChainStatus::default()
    });
    let shown = screen(app, 140, 36);
    assert!(
        shown.contains("btc ssl://electrum.example:50002 tip 870123, 41.5 ms"),
        "{shown}"
    );
    app.on_chain_status(ChainStatus {
        bitcoin: Some(BitcoinStatus {
            connected: false,
            error: Some("no answer within 30s".into()),
            ..up
        }),
        ..ChainStatus::default()
    });
    let shown = screen(app, 140, 36);
    assert!(
        shown.contains("btc ssl://electrum.example:50002 DOWN: no answer within 30s"),
        "{shown}"
    );
    fx.network.shutdown().await;
}

/// Every tab at the design size (80x24) and at the smallest the console draws (60x16).
#[tokio::test(start_paused = true)]
async fn every_tab_at_80x24_and_60x16() {
    let mut fx = fixture(2, Theme::dark()).await;
    let app = &mut fx.app;
    for (w, h) in [(80, 24), (60, 16)] {
        let size = format!("{w}x{h}");
        press(app, KeyCode::Char('1')).await;
        insta::assert_snapshot!(format!("overview_{size}"), screen(app, w, h));
        press(app, KeyCode::Char('2')).await;
        insta::assert_snapshot!(format!("wallets_{size}"), screen(app, w, h));
        press(app, KeyCode::Char('3')).await;
        insta::assert_snapshot!(format!("network_hub_{size}"), screen(app, w, h));
        press(app, KeyCode::Char('4')).await;
        insta::assert_snapshot!(format!("faults_{size}"), screen(app, w, h));
        press(app, KeyCode::Enter).await;
        insta::assert_snapshot!(format!("fault_detail_{size}"), screen(app, w, h));
        press(app, KeyCode::Esc).await;
        press(app, KeyCode::Char('5')).await;
        insta::assert_snapshot!(format!("proposals_{size}"), screen(app, w, h));
        press(app, KeyCode::Char('6')).await;
        insta::assert_snapshot!(format!("logs_{size}"), screen(app, w, h));
        press(app, KeyCode::Char('?')).await;
        insta::assert_snapshot!(format!("help_{size}"), screen(app, w, h));
        press(app, KeyCode::Esc).await;
    }
    // The dry run dialog and its result.
    press(app, KeyCode::Char('2')).await;
    press(app, KeyCode::Char('d')).await;
    insta::assert_snapshot!("dry_run_dialog_60x16", screen(app, 60, 16));
    press(app, KeyCode::Char('c')).await;
    let Some(Request::DryRun { wallet, window }) = press(app, KeyCode::Enter).await else {
        panic!("no dry run requested")
    };
    let result = app
        .api
        .dry_run(wallet, window)
        .await
        .map_err(|e| e.to_string());
    app.on_dry_run_result(wallet, result);
    insta::assert_snapshot!("dry_run_result_80x24", screen(app, 80, 24));
    press(app, KeyCode::End).await;
    let end = screen(app, 80, 24);
    assert!(end.contains("Nothing was sent or dispatched."), "{end}");
    press(app, KeyCode::Esc).await;
    // What the issue found cut at 80x24 is whole.
    press(app, KeyCode::Char('1')).await;
    let overview = screen(app, 80, 24);
    assert!(overview.contains("in-process hub"), "{overview}");
    press(app, KeyCode::Char('5')).await;
    let proposals = screen(app, 80, 24);
    assert!(
        proposals.contains("expires in 550") || proposals.contains("ended at"),
        "{proposals}"
    );
    press(app, KeyCode::Char('6')).await;
    let logs = screen(app, 60, 16);
    for key in ["1-6 tabs", "? help", "q quit"] {
        assert!(logs.contains(key), "{key}: {logs}");
    }
    assert!(logs.contains("6 Logs"), "{logs}");
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn help_scrolls_and_cuts_no_line() {
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('?')).await;
    for (w, h) in [(60, 16), (80, 24), (120, 50)] {
        press(app, KeyCode::Home).await;
        let mut seen = String::new();
        let mut last = String::new();
        // Scroll down until the screen stops changing.
        for _ in 0..100 {
            let now = screen(app, w, h);
            if now == last {
                break;
            }
            seen.push_str(&now);
            last = now;
            press(app, KeyCode::Down).await;
        }
        assert_eq!(
            app.popup,
            Some(Popup::Help),
            "scrolling keeps the help open"
        );
        // The last key and the tail of the line that was cut ("(again: al") are in view.
        for words in ["clear", "all)", "captured", "scroll"] {
            assert!(
                seen.split(|c: char| c.is_whitespace() || c == '│' || c == '"')
                    .any(|w| w == words),
                "{w}x{h}: {words:?} never shown whole"
            );
        }
        // The popup's last line (how to scroll and close) stays in view at the end.
        assert!(last.contains("Esc closes"), "{w}x{h}: {last}");
    }
    // Up and PgUp go back to the top.
    press(app, KeyCode::PageUp).await;
    press(app, KeyCode::Home).await;
    let top = screen(app, 60, 16);
    assert!(top.contains("Everywhere"), "{top}");
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn fault_details_name_the_evidence_and_how_to_verify_it_and_scroll() {
    let mut fx = fixture(2, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('4')).await;
    press(app, KeyCode::Enter).await;
    let Some(Popup::FaultDetail(row)) = app.popup.clone() else {
        panic!("no details: {:?}", app.popup)
    };
    // Everything at once on a large screen: the sentence whole, evidence and commands.
    let big = screen(app, 120, 50);
    // The window's checklist and outcome come from the history: the live view has moved on
    // to a later window.
    assert!(app.view().wallets.iter().all(|w| w
        .last_result
        .as_ref()
        .is_none_or(|r| r.coordination_block != row.coordination_block)));
    for text in [
        "evidence",
        "checklist",
        "outcome",
        "tbtc-coord verify-evidence",
        "--data-dir",
    ] {
        assert!(big.contains(text), "{text}: {big}");
    }
    assert!(
        big.contains(&format!("verify-evidence fault-{}.json", row.id)),
        "{big}"
    );
    // At 60x16 it does not fit: the commands are below, reached by scrolling.
    let small = screen(app, 60, 16);
    assert!(!small.contains("verify-evidence"), "{small}");
    assert!(
        small.contains("scroll"),
        "the hint says it scrolls: {small}"
    );
    press(app, KeyCode::End).await;
    let end = screen(app, 60, 16);
    assert!(end.contains("verify-evidence"), "{end}");
    assert!(matches!(app.popup, Some(Popup::FaultDetail(_))));
    press(app, KeyCode::Home).await;
    assert!(screen(app, 60, 16).contains(row.fault.name()));
    // Closing and reopening starts at the top again.
    press(app, KeyCode::End).await;
    press(app, KeyCode::Esc).await;
    press(app, KeyCode::Enter).await;
    assert!(screen(app, 60, 16).contains(row.fault.name()));
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn fault_details_name_the_action_the_culprit_proposed() {
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('4')).await;
    // `t` cycles the type filter: idleness, then mistake, then impersonation.
    press(app, KeyCode::Char('t')).await;
    press(app, KeyCode::Char('t')).await;
    press(app, KeyCode::Enter).await;
    let Some(Popup::FaultDetail(row)) = app.popup.clone() else {
        panic!("no details: {:?}", app.popup)
    };
    assert_eq!(row.fault, FaultType::LeaderMistake);
    let proposed = row.proposed_action.expect("recorded with the fault");
    // At the design size, the proposed action and the checklist it is not on, whole.
    let screen80 = screen(app, 80, 24);
    assert!(
        screen80.contains(&format!(
            "proposed  {proposed}, not on this window's checklist"
        )),
        "{screen80}"
    );
    let checklist = screen80
        .lines()
        .find_map(|l| l.split("checklist ").nth(1))
        .expect("the checklist line");
    assert!(!checklist.contains(proposed.name()), "{screen80}");
    insta::assert_snapshot!("fault_detail_mistake_80x24", screen80);

    press(app, KeyCode::Esc).await;
    press(app, KeyCode::Char('t')).await;
    press(app, KeyCode::Enter).await;
    let Some(Popup::FaultDetail(row)) = app.popup.clone() else {
        panic!("no details: {:?}", app.popup)
    };
    assert_eq!(row.fault, FaultType::LeaderImpersonation);
    let proposed = row.proposed_action.expect("recorded with the fault");
    let screen80 = screen(app, 80, 24);
    assert!(
        screen80.contains(&format!(
            "proposed  {proposed}, from a seat that is not the leader's"
        )),
        "{screen80}"
    );
    fx.network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_wallet_details_show_the_main_utxo_its_confirmations_and_a_disagreement() {
    use tbtc_coord::engine::records::WalletBitcoin;
    use tbtc_coord::protocol::bitcoin_facts::MainUtxo;
    use tbtc_coord::protocol::Hash32;
    let mut fx = fixture(1, Theme::dark()).await;
    let app = &mut fx.app;
    press(app, KeyCode::Char('2')).await;
    let wallet = app.view().wallets[0].wallet;
    let reading = WalletBitcoin {
        wallet,
        block: 2700,
        has_main_utxo: true,
        main_utxo: Some(MainUtxo {
            tx_hash: Hash32([0x3f; 32]),
            output_index: 1,
            value: 150_000_001,
        }),
        confirmations: Some(1),
        synced: Some(false),
        warning: Some("the Bridge's main UTXO 3f3f…:1 is spent on Bitcoin".into()),
        error: None,
    };
    app.on_event(
        &Event::WalletBitcoin(Box::new(reading.clone())),
        Instant::now(),
    );
    let shown = screen(app, 80, 24);
    assert!(
        shown.contains("Main UTXO 1.50000001 BTC  3f3f3f…3f3f:1  1 confirmation "),
        "{shown}"
    );
    assert!(
        shown.contains("Not synced between chains: the Bridge's"),
        "{shown}"
    );
    // Unreadable: why, and no figure invented.
    app.on_event(
        &Event::WalletBitcoin(Box::new(WalletBitcoin {
            main_utxo: None,
            confirmations: None,
            synced: None,
            warning: None,
            error: Some("Bitcoin: no answer within 30s".into()),
            ..reading
        })),
        Instant::now(),
    );
    let shown = screen(app, 80, 24);
    assert!(
        shown.contains("Main UTXO not read at block 2700: Bitcoin: no answer"),
        "{shown}"
    );
    assert!(!shown.contains("confirmation"), "{shown}");
    fx.network.shutdown().await;
}
