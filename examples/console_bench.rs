//! Console figures with a large history: fills a history database with synthetic faults, then
//! renders the Faults tab frame after frame on a test terminal (`--size`, 80x24 by default)
//! while paging through it.
//!
//!     cargo run --release --example console_bench -- --faults 100000
//!     cargo run --release --example console_bench -- --faults 100000 --seed-only DIR
//!
//! With `--seed-only DIR` it only writes `DIR/devnet-1.sqlite3`, for measuring the real binary
//! on it (see `scripts/console-figures`).
//!
//!     cargo run --release --example console_bench -- --store-under-console
//!
//! measures how long a node takes to process its windows (window started → completed) on a
//! fast devnet of 100 wallets, first with the console idle, then with the console paging
//! through the Faults tab as fast as it can, in one run: the history's writes run off the
//! async workers and the console reads through a connection of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use clap::Parser;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tbtc_coord::devnet::DevnetConfig;
use tbtc_coord::devnet::{DevnetNetwork, DevnetNetworkConfig};
use tbtc_coord::engine::context::HistoryHandles;
use tbtc_coord::engine::{Event, EventBus};
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
    /// The test terminal's size, COLSxROWS (80x24 is the console's design size).
    #[arg(long, default_value = "80x24")]
    size: String,
    /// Only write the history into this data directory, then exit.
    #[arg(long)]
    seed_only: Option<PathBuf>,
    /// Window processing time with an idle console against a paging one.
    #[arg(long)]
    store_under_console: bool,
    /// Windows measured in each half of --store-under-console.
    #[arg(long, default_value_t = 8)]
    windows: usize,
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
        common::history::fill(&store, args.faults);
        println!(
            "wrote {} faults in {:.1}s",
            args.faults,
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(&dir.path().join("devnet-1.sqlite3"))?);
    common::history::fill(&store, args.faults);
    if args.store_under_console {
        return store_under_console(store, &args).await;
    }
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
    let mut app = App::new(
        std::sync::Arc::new(network.local.commands()),
        tbtc_coord::tui::app::NodeLink::InProcess,
        Theme::dark(),
    );
    app.on_key(KeyEvent::new(KeyCode::Char('4'), KeyModifiers::NONE));
    app.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::NONE));
    app.refresh().await;
    let (cols, rows) = args
        .size
        .split_once('x')
        .and_then(|(c, r)| Some((c.parse::<u16>().ok()?, r.parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--size {:?}: expected COLSxROWS", args.size))?;
    let mut terminal = Terminal::new(TestBackend::new(cols, rows))?;
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
        app.refresh().await;
        let now = tokio::time::Instant::now();
        terminal.draw(|f| views::render(f, &app, now))?;
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[(times.len() as f64 * 0.99) as usize];
    println!(
        "faults={} frames={} terminal={}x{}",
        app.faults.total, args.frames, cols, rows
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

/// Milliseconds from each window's start to its completion, for the next `windows` windows.
async fn window_times(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    windows: usize,
) -> Vec<f64> {
    let mut started = std::collections::HashMap::new();
    let mut times = Vec::with_capacity(windows);
    while times.len() < windows {
        match events.recv().await {
            Ok(Event::WindowStarted {
                coordination_block, ..
            }) => {
                started.insert(coordination_block, Instant::now());
            }
            Ok(Event::WindowCompleted {
                coordination_block, ..
            }) => {
                if let Some(t) = started.remove(&coordination_block) {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
    times
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn store_under_console(store: Arc<Store>, args: &Args) -> anyhow::Result<()> {
    let history = HistoryHandles {
        writer: store.clone(),
        reader: Arc::new(store.reader()?),
    };
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let cancel = CancellationToken::new();
    let network = DevnetNetwork::start(
        DevnetNetworkConfig {
            devnet: DevnetConfig {
                block_time: Duration::from_millis(1),
                wallets: 100,
                operators: 20,
                start_block: Some(10 * 900 - 40),
                ..DevnetConfig::default()
            },
            fault_rate: 0.0,
            ..DevnetNetworkConfig::default()
        },
        history,
        bus,
        cancel.clone(),
    )
    .await?;
    // One window to warm up, then the idle console.
    window_times(&mut events, 1).await;
    let idle = window_times(&mut events, args.windows).await;

    // The console pages through the Faults tab without pause, on the runtime as it runs.
    let mut app = App::new(
        std::sync::Arc::new(network.local.commands()),
        tbtc_coord::tui::app::NodeLink::InProcess,
        Theme::dark(),
    );
    app.on_key(KeyEvent::new(KeyCode::Char('4'), KeyModifiers::NONE));
    let stop = CancellationToken::new();
    let pager = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test terminal");
            let mut frames = 0u64;
            while !stop.is_cancelled() {
                let code = if frames % 500 == 499 {
                    KeyCode::Home
                } else {
                    KeyCode::PageDown
                };
                app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
                app.refresh().await;
                let now = tokio::time::Instant::now();
                let _ = terminal.draw(|f| views::render(f, &app, now));
                frames += 1;
                tokio::task::yield_now().await;
            }
            frames
        })
    };
    let paging = window_times(&mut events, args.windows).await;
    stop.cancel();
    let frames = pager.await?;
    let (idle_ms, paging_ms) = (median(idle), median(paging));
    println!(
        "faults={} wallets=100 windows={} console_frames_while_paging={frames}",
        args.faults, args.windows
    );
    println!(
        "window_processing_median_ms idle={idle_ms:.1} paging={paging_ms:.1} ratio={:.2}",
        paging_ms / idle_ms
    );
    network.shutdown().await;
    Ok(())
}
