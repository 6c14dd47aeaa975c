//! The console's frame time on the Network tab with 100 peers and a wallet of 100 seats: the
//! app is folded from synthetic events (a node on a peer network, 100 connected operators
//! with pings, the wallet's seats heard, a few windows of rejections) and the tab is drawn
//! frame after frame into a 200x60 `TestBackend`. Reports the median and p99 of the draw.
//!
//!     cargo run --release --example network_tab_bench -- --frames 2000

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tbtc_coord::devnet::DevnetConfig;
use tbtc_coord::devnet::{DevnetNetwork, DevnetNetworkConfig};
use tbtc_coord::engine::events::CoordinationResultEvent;
use tbtc_coord::engine::network_view::MessageTransport;
use tbtc_coord::engine::router::RejectReason;
use tbtc_coord::engine::{Event, EventBus};
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::BlockRef;
use tbtc_coord::protocol::WalletInfo;
use tbtc_coord::protocol::{ActionType, BlockHashRule, Hash32, Proposal, Role, WalletPkh};
use tbtc_coord::store::Store;
use tbtc_coord::tui::app::App;
use tbtc_coord::tui::theme::Theme;
use tbtc_coord::tui::views;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 2000)]
    frames: usize,
    #[arg(long, default_value_t = 100)]
    peers: usize,
    #[arg(long, default_value_t = 100)]
    seats: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // A real node only for its command handle; the screen is fed the synthetic events below.
    let network = DevnetNetwork::start(
        DevnetNetworkConfig {
            devnet: DevnetConfig {
                seed: 3,
                block_time: Duration::from_secs(3600),
                operators: 4,
                wallets: 1,
                ..DevnetConfig::default()
            },
            ..DevnetNetworkConfig::default()
        },
        Arc::new(Store::open_in_memory()?),
        EventBus::default(),
        CancellationToken::new(),
    )
    .await?;
    let mut app = App::new(
        std::sync::Arc::new(network.local.commands()),
        tbtc_coord::tui::app::NodeLink::InProcess,
        Theme::dark(),
    );
    let keys: Vec<OperatorKey> = (0..args.peers).map(|_| OperatorKey::generate()).collect();
    let me = OperatorKey::generate().address();
    // Seat i is held by peer i (cycling), the last seat by this node.
    let mut operators: Vec<_> = (0..args.seats - 1)
        .map(|i| keys[i % keys.len()].address())
        .collect();
    operators.push(me);
    let wallet = WalletPkh([7; 20]);
    let now = tokio::time::Instant::now();
    let events = [
        Event::NodeStarted {
            chain: "bench".into(),
            operator: me,
            observer: false,
            block_hash_rule: BlockHashRule::KeepV2,
            wallets: vec![WalletInfo {
                wallet,
                public_key: None,
                operators: operators.clone(),
            }],
            transport: MessageTransport::PeerNetwork,
            bootstrap_peers: 3,
        },
        Event::Block {
            block: BlockRef {
                number: 8105,
                hash: Hash32([2; 32]),
                parent_hash: Hash32([1; 32]),
                timestamp: 0,
            },
        },
    ];
    for e in &events {
        app.on_event(e, now);
    }
    for (i, key) in keys.iter().enumerate() {
        app.on_event(
            &Event::PeerConnected {
                peer: key.peer_id().to_base58(),
                operator: Some(key.address()),
                admitted: "a staked operator on chain".into(),
                bootstrap: i < 3,
            },
            now,
        );
        app.on_event(
            &Event::PeerPing {
                peer: key.peer_id().to_base58(),
                rtt_us: 800 + 37 * i as u64,
            },
            now,
        );
    }
    for cb in (1..=8).map(|i| 900 * i) {
        app.on_event(
            &Event::WindowRejections {
                coordination_block: cb,
                rejected: [
                    (RejectReason::Signature, cb / 900),
                    (RejectReason::NotAMember, 2),
                ]
                .into(),
            },
            now,
        );
    }
    let cb = 8100;
    app.on_event(
        &Event::MembersHeard {
            wallet,
            coordination_block: cb,
            seats: (1..=u8::try_from(args.seats / 2).unwrap_or(u8::MAX)).collect(),
        },
        now,
    );
    app.on_event(
        &Event::CoordinationResult(CoordinationResultEvent {
            wallet,
            coordination_block: cb,
            safe_block_hash: Hash32([1; 32]),
            seed: "00".repeat(32),
            leader: operators[4],
            leader_member_index: 5,
            role: Role::Follower,
            checklist: vec![ActionType::Redemption],
            action: ActionType::Noop,
            proposal: Proposal::Noop,
            faults: vec![],
            members_connected: Some(u32::try_from(args.peers).unwrap_or(u32::MAX)),
            unheard: false,
            refusals: vec![],
        }),
        now,
    );
    app.on_key(KeyEvent::new(KeyCode::Char('3'), KeyModifiers::NONE));

    let mut terminal = Terminal::new(TestBackend::new(200, 60))?;
    let mut draws = Vec::with_capacity(args.frames);
    for i in 0..args.frames {
        // Scroll through the peers, so frames are not all the same.
        app.peer_scroll = i % args.peers;
        let t0 = Instant::now();
        terminal.draw(|f| views::render(f, &app, now))?;
        draws.push(t0.elapsed());
    }
    draws.sort_unstable();
    let pick = |q: f64| draws[((draws.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "network tab, {} peers, a {}-seat wallet, 200x60: {} frames, median {:.3} ms, p99 {:.3} ms",
        args.peers,
        args.seats,
        draws.len(),
        pick(0.5).as_secs_f64() * 1000.0,
        pick(0.99).as_secs_f64() * 1000.0
    );
    network.shutdown().await;
    Ok(())
}
