//! Console figures with a large history: fills a history database with synthetic faults, then
//! renders the Faults tab frame after frame on a 200x60 test terminal while paging through it.
//!
//!     cargo run --release --example console_bench -- --faults 100000
//!     cargo run --release --example console_bench -- --faults 100000 --seed-only DIR
//!
//! With `--seed-only DIR` it only writes `DIR/devnet-1.sqlite3`, for measuring the real binary
//! on it (see `scripts/console-figures`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tbtc_coord::chain::devnet::DevnetConfig;
use tbtc_coord::engine::devnet_network::{DevnetNetwork, DevnetNetworkConfig};
use tbtc_coord::engine::EventBus;
use tbtc_coord::protocol::{
    Address, CoordinationResult, CoordinationWindow, Fault, FaultType, Hash32, Proposal, Role,
    Seed, WalletPkh,
};
use tbtc_coord::store::Store;
use tbtc_coord::tui::app::App;
use tbtc_coord::tui::theme::Theme;
use tbtc_coord::tui::views;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// Faults to put in the history.
    #[arg(long, default_value_t = 100_000)]
    faults: u64,
    /// Frames to render.
    #[arg(long, default_value_t = 2000)]
    frames: usize,
    /// Only write the history into this data directory, then exit.
    #[arg(long)]
    seed_only: Option<PathBuf>,
}

/// Synthetic history: ten faults per result, over 50 wallets and 40 operators.
fn fill(store: &Store, faults: u64) {
    let results = faults.div_ceil(10);
    for i in 0..results {
        let cb = 900 * (i / 50 + 1);
        let wallet = WalletPkh([(i % 50) as u8 + 1; 20]);
        let leader = Address([(i % 40) as u8 + 1; 20]);
        let n = (faults - i * 10).min(10);
        let faults = (0..n)
            .map(|k| Fault {
                fault: FaultType::ALL[(k % 3) as usize],
                culprit: Address([((i + k) % 40) as u8 + 1; 20]),
            })
            .collect();
        store
            .record_result(&CoordinationResult {
                wallet,
                window: CoordinationWindow::new(cb),
                safe_block_hash: Hash32([7; 32]),
                seed: Seed([9; 32]),
                leader,
                leader_member_index: 1,
                role: Role::Follower,
                checklist: vec![],
                proposal: Proposal::Noop,
                faults,
            })
            .expect("record");
    }
}

fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.seed_only {
        std::fs::create_dir_all(dir)?;
        let store = Store::open(&dir.join("devnet-1.sqlite3"))?;
        let t = Instant::now();
        fill(&store, args.faults);
        println!(
            "wrote {} faults in {:.1}s",
            args.faults,
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(&dir.path().join("devnet-1.sqlite3"))?);
    fill(&store, args.faults);
    let bus = EventBus::default();
    let cancel = CancellationToken::new();
    let network = DevnetNetwork::start(
        DevnetNetworkConfig {
            devnet: DevnetConfig {
                block_time: Duration::from_secs(3600),
                ..DevnetConfig::default()
            },
            ..DevnetNetworkConfig::default()
        },
        store,
        bus,
        cancel.clone(),
    )
    .await?;
    let mut app = App::new(network.local.commands(), Theme::dark());
    app.on_key(KeyEvent::new(KeyCode::Char('3'), KeyModifiers::NONE));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::NONE));
    app.refresh();
    let mut terminal = Terminal::new(TestBackend::new(200, 60))?;
    let mut times = Vec::with_capacity(args.frames);
    for i in 0..args.frames {
        // Page down through the history, and now and then jump back to the top.
        let code = if i % 500 == 499 {
            KeyCode::Home
        } else {
            KeyCode::PageDown
        };
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
        let t = Instant::now();
        app.refresh();
        let now = tokio::time::Instant::now();
        terminal.draw(|f| views::render(f, &app, now))?;
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[(times.len() as f64 * 0.99) as usize];
    println!(
        "faults={} frames={} terminal=200x60",
        app.faults.total, args.frames
    );
    println!(
        "frame_median_us={} frame_p99_us={} rss_mb={:.1}",
        median.as_micros(),
        p99.as_micros(),
        rss_mb().unwrap_or(f64::NAN)
    );
    network.shutdown().await;
    Ok(())
}
