//! Figures of the control socket and the attached console:
//!
//! - `latency`: a devnet node in this process serves its socket; one console attached over
//!   it (the real `RemoteNode` and `App`, drawing on ratatui's `TestBackend`) draws a frame
//!   for every block. Measures, per block, the time from the node's bus (a subscriber in the
//!   node's process sees the event) to the attached console's frame being drawn; the same for
//!   a console in the node's process, for comparison. The real console paces its frames to
//!   about 30 a second, which adds up to 33 ms on top.
//! - `cpu`: a real `tbtc-coord run --headless` node process; its CPU share over `--seconds`
//!   with no console attached, then with 5 real consoles (`tbtc-coord console --attach`, in
//!   tmux) attached, in one run.
//!
//! ```sh
//! cargo build --release --bin tbtc-coord --example attach_bench
//! target/release/examples/attach_bench latency --blocks 3000 --block-ms 10
//! target/release/examples/attach_bench cpu --seconds 30 --block-ms 100
//! ```
//!
//! Prints one JSON object.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;
use tbtc_coord::control::{self, RemoteNode};
use tbtc_coord::devnet::DevnetConfig;
use tbtc_coord::devnet::{DevnetNetwork, DevnetNetworkConfig};
use tbtc_coord::engine::{Event, EventBus, NodeApi, NodeConfig, Update};
use tbtc_coord::store::Store;
use tbtc_coord::tui::app::{App, NodeLink};
use tbtc_coord::tui::theme::Theme;
use tbtc_coord::tui::views;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use common::percentile;
use common::process::{cpu_share, tbtc_coord};

struct Args {
    mode: String,
    blocks: u64,
    block_ms: u64,
    seconds: u64,
    consoles: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().context("a mode: latency or cpu")?;
    let mut args = Args {
        mode,
        blocks: 3000,
        block_ms: 10,
        seconds: 30,
        consoles: 5,
    };
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--blocks" => args.blocks = value.parse()?,
            "--block-ms" => args.block_ms = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--consoles" => args.consoles = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(args)
}

/// Folds `api`'s updates into a console and draws a frame after every block; returns when
/// each block number's frame was drawn.
async fn draw_blocks(api: Arc<dyn NodeApi>, link: NodeLink, blocks: u64) -> HashMap<u64, Instant> {
    let mut updates = api.subscribe().await;
    let mut app = App::new(api, link, Theme::dark());
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("a test terminal");
    let mut drawn = HashMap::new();
    while (drawn.len() as u64) < blocks {
        let Some(update) = updates.next().await else {
            break;
        };
        let block = match &update {
            Update::Event(Event::Block { block }) => Some(block.number),
            _ => None,
        };
        app.on_update(update, Instant::now());
        if let Some(n) = block {
            let now = Instant::now();
            terminal
                .draw(|f| views::render(f, &app, now))
                .expect("drawing");
            drawn.insert(n, Instant::now());
        }
    }
    drawn
}

fn latencies_us(bus: &HashMap<u64, Instant>, drawn: &HashMap<u64, Instant>) -> Vec<u64> {
    let mut us: Vec<u64> = drawn
        .iter()
        .filter_map(|(n, at)| Some(at.saturating_duration_since(*bus.get(n)?).as_micros() as u64))
        .collect();
    us.sort_unstable();
    us
}

async fn latency(args: &Args) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let store_path = dir.path().join("devnet-1.sqlite3");
    let store = Arc::new(Store::open(&store_path)?);
    let bound = control::bind(&control::socket_path(&store_path))?;
    let bus = EventBus::default();
    // The reference clock: when a subscriber in the node's process sees each block.
    let mut seen = bus.subscribe();
    let network = DevnetNetwork::start(
        DevnetNetworkConfig {
            devnet: DevnetConfig {
                block_time: Duration::from_millis(args.block_ms),
                ..DevnetConfig::default()
            },
            node: NodeConfig::default(),
            ..DevnetNetworkConfig::default()
        },
        store,
        bus.clone(),
        CancellationToken::new(),
    )
    .await?;
    let server = bound.serve(network.local.commands());
    let wanted = args.blocks + 50;
    let on_bus = tokio::spawn(async move {
        let mut at = HashMap::new();
        while (at.len() as u64) < wanted {
            match seen.recv().await {
                Ok(Event::Block { block }) => {
                    at.insert(block.number, Instant::now());
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        at
    });
    let cancel = CancellationToken::new();
    let remote = RemoteNode::start(server.path().to_path_buf(), cancel.clone());
    let local: Arc<dyn NodeApi> = Arc::new(network.local.commands());
    let (attached, in_process) = tokio::join!(
        draw_blocks(remote, NodeLink::Connecting, args.blocks),
        draw_blocks(local, NodeLink::InProcess, args.blocks),
    );
    let bus_at = on_bus.await?;
    cancel.cancel();
    network.shutdown().await;
    server.shutdown().await;
    let a = latencies_us(&bus_at, &attached);
    let b = latencies_us(&bus_at, &in_process);
    if a.is_empty() || b.is_empty() {
        bail!("no block was drawn");
    }
    Ok(json!({
        "mode": "latency",
        "block_ms": args.block_ms,
        "blocks": a.len(),
        "attached_median_us": percentile(&a, 50.0),
        "attached_p99_us": percentile(&a, 99.0),
        "in_process_median_us": percentile(&b, 50.0),
        "in_process_p99_us": percentile(&b, 99.0),
    }))
}

/// A tmux server of its own, killed on drop.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let ok = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?
            .success();
        if !ok {
            bail!("tmux {args:?} failed");
        }
        Ok(())
    }

    fn screen(&self, session: &str) -> String {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(["capture-pane", "-p", "-t", session])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn cpu(args: &Args) -> anyhow::Result<serde_json::Value> {
    let bin = tbtc_coord()?;
    let home = tempfile::tempdir()?;
    let data = home.path().join("data");
    let mut node = Command::new(&bin)
        .env("HOME", home.path())
        .args(["run", "--headless", "--block-time"])
        .arg(format!("{}ms", args.block_ms))
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let socket = data.join("devnet-1.sock");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !socket.exists() {
        if std::time::Instant::now() > deadline {
            bail!("the node never served {}", socket.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Settled: the node's start-up is not part of either share.
    std::thread::sleep(Duration::from_secs(3));
    let span = Duration::from_secs(args.seconds);
    let alone = cpu_share(node.id(), span)?;

    let tmux = Tmux(format!("attach-bench-{}", std::process::id()));
    let attached = format!("attached to pid {}", node.id());
    for i in 0..args.consoles {
        let session = format!("c{i}");
        let command = format!(
            "HOME={} {} console --attach {}",
            home.path().display(),
            bin.display(),
            socket.display()
        );
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "40",
            &command,
        ])?;
    }
    for i in 0..args.consoles {
        let session = format!("c{i}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !tmux.screen(&session).contains(&attached) {
            if std::time::Instant::now() > deadline {
                bail!("console {i} never attached:\n{}", tmux.screen(&session));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let with_consoles = cpu_share(node.id(), span)?;
    drop(tmux);
    let _ = node.kill();
    let _ = node.wait();
    Ok(json!({
        "mode": "cpu",
        "block_ms": args.block_ms,
        "seconds": args.seconds,
        "consoles": args.consoles,
        "node_cpu_alone": (alone * 10_000.0).round() / 10_000.0,
        "node_cpu_with_consoles": (with_consoles * 10_000.0).round() / 10_000.0,
        "ratio": ((with_consoles / alone.max(1e-9)) * 100.0).round() / 100.0,
    }))
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let out = match args.mode.as_str() {
        "latency" => tokio::runtime::Runtime::new()?.block_on(latency(&args))?,
        "cpu" => cpu(&args)?,
        other => bail!("unknown mode {other}: latency or cpu"),
    };
    println!("{out}");
    Ok(())
}
