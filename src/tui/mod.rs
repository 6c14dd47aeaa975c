//! The operator console: a ratatui front end over a running node. The node runs on background
//! tasks, in this process or another one; the console reaches it only through
//! [`NodeApi`]: a subscription of its updates, history reads and dry runs.
//!
//! Drawing is event-driven: a frame is drawn when something changed (an event, a key, a
//! countdown second), at most about 30 times a second, and not at all otherwise. The terminal
//! is restored on every exit path, including a panic in any task.

pub mod app;
pub mod detail;
pub mod keys;
pub mod loads;
pub mod log_layer;
pub mod node_log;
pub mod recent;
pub mod scroll;
pub mod state;
#[cfg(test)]
mod tests;
pub mod theme;
pub mod views;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::Event as TermEvent;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::engine::NodeApi;
use app::{App, NodeLink, Request};
use theme::Theme;

/// The shortest time between two frames (about 30 per second).
pub const FRAME_BUDGET: Duration = Duration::from_millis(33);

/// Set by the panic hook: some thread panicked and the terminal has been restored.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Restores the terminal when dropped, whichever way the console ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Chains a hook after ratatui's own (which restores the terminal, then prints the panic):
/// remember that a panic happened, so the console stops instead of drawing over the message.
fn install_panic_flag() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        previous(info);
    }));
}

/// Reads terminal input on its own thread (crossterm's reads block) until told to stop.
fn spawn_input_thread(stop: Arc<AtomicBool>) -> mpsc::Receiver<TermEvent> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match crossterm::event::poll(Duration::from_millis(100)) {
                Ok(true) => match crossterm::event::read() {
                    Ok(event) => {
                        if tx.blocking_send(event).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    rx
}

/// Runs the console until the operator quits (or detaches), the node in this process stops,
/// or a task panics. `link` says where the node runs: [`NodeLink::InProcess`], or
/// [`NodeLink::Connecting`] for one reached over its control socket. `control_clients`
/// counts the clients of the control socket of a node this console owns: quitting asks
/// first while there are any.
pub async fn run(
    api: Arc<dyn NodeApi>,
    link: NodeLink,
    control_clients: Option<Arc<AtomicUsize>>,
    theme: Theme,
    cancel: CancellationToken,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let mut updates = api.subscribe().await;
    let mut app = App::new(api.clone(), link, theme);
    app.control_clients = control_clients;
    let mut terminal = ratatui::init();
    let guard = TerminalGuard;
    install_panic_flag();
    let stop_input = Arc::new(AtomicBool::new(false));
    let mut input = spawn_input_thread(stop_input.clone());
    let (dry_tx, mut dry_rx) = mpsc::channel(8);
    let (load_tx, mut load_rx) = mpsc::channel(8);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_draw: Option<Instant> = None;
    let mut stats = FrameStats::default();

    let result = loop {
        if PANICKED.load(Ordering::SeqCst) {
            break Err(anyhow::anyhow!(
                "a task panicked (message above); the console stopped"
            ));
        }
        if app.should_quit {
            break Ok(());
        }
        let redraw_at = app
            .dirty
            .then(|| last_draw.map_or_else(Instant::now, |t| t + FRAME_BUDGET));
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break Ok(()),
            _ = async { tokio::time::sleep_until(redraw_at.unwrap_or_else(Instant::now)).await }, if redraw_at.is_some() => {
                let t0 = Instant::now();
                while let Some(load) = app.take_load() {
                    let tx = load_tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(load.run().await).await;
                    });
                }
                let now = Instant::now();
                terminal
                    .draw(|frame| views::render(frame, &app, now))
                    .context("drawing the console")?;
                stats.record(t0.elapsed(), started);
                if last_draw.is_none() {
                    tracing::info!(ms = started.elapsed().as_millis() as u64, "first frame drawn");
                }
                last_draw = Some(now);
                app.dirty = false;
            }
            update = updates.next() => match update {
                Some(u) => app.on_update(u, Instant::now()),
                None => break Ok(()),
            },
            Some(loaded) = load_rx.recv() => app.on_loaded(loaded),
            key = input.recv() => match key {
                Some(TermEvent::Key(key)) => match app.on_key(key) {
                    Some(Request::Quit) => break Ok(()),
                    Some(Request::DryRun { wallet, window }) => {
                        let api = api.clone();
                        let tx = dry_tx.clone();
                        tokio::spawn(async move {
                            let result = api.dry_run(wallet, window).await.map_err(|e| e.to_string());
                            let _ = tx.send((wallet, result)).await;
                        });
                    }
                    None => {}
                },
                Some(TermEvent::Resize(..)) => app.dirty = true,
                Some(_) => {}
                None => break Err(anyhow::anyhow!("terminal input closed")),
            },
            Some((wallet, result)) = dry_rx.recv() => app.on_dry_run_result(wallet, result),
            _ = second.tick() => {
                // Ages and countdowns move every second.
                app.dirty = true;
            }
        }
    };
    stop_input.store(true, Ordering::Relaxed);
    drop(terminal);
    // Back on the main screen, where what is printed stays.
    drop(guard);
    if let (Ok(()), Some(note)) = (&result, detach_note(&app.link)) {
        println!("{note}");
    }
    if let Some(path) = std::env::var_os(STATS_ENV) {
        if let Err(e) = std::fs::write(&path, stats.to_json()) {
            eprintln!(
                "cannot write console stats to {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
    result
}

/// What a console attached to a node in another process says when it ends: that node runs on.
pub fn detach_note(link: &NodeLink) -> Option<String> {
    match link {
        NodeLink::Attached { pid } => Some(format!("Detached. The node runs on (pid {pid}).")),
        NodeLink::Disconnected { pid: Some(pid), .. } => Some(format!(
            "Detached. The node (pid {pid}) was not reachable when the console ended."
        )),
        _ => None,
    }
}

/// Names a file the console writes its frame statistics to when it exits (for measurements).
pub const STATS_ENV: &str = "TBTC_COORD_CONSOLE_STATS";

/// Draw times (refresh plus render plus terminal output) and the time to the first frame.
#[derive(Debug, Default)]
struct FrameStats {
    first_frame_ms: Option<u128>,
    draws_us: Vec<u64>,
}

impl FrameStats {
    fn record(&mut self, took: Duration, started: std::time::Instant) {
        self.first_frame_ms
            .get_or_insert_with(|| started.elapsed().as_millis());
        // Bounded: a day of drawing at full rate would otherwise grow without end.
        if self.draws_us.len() < 1_000_000 {
            self.draws_us.push(took.as_micros() as u64);
        }
    }

    fn to_json(&self) -> String {
        let mut sorted = self.draws_us.clone();
        sorted.sort_unstable();
        let pick = |q: f64| {
            sorted
                .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        serde_json::json!({
            "first_frame_ms": self.first_frame_ms,
            "frames": sorted.len(),
            "draw_median_us": pick(0.5),
            "draw_p99_us": pick(0.99),
        })
        .to_string()
    }
}

/// Sends `tracing` to the console's Logs tab instead of the terminal. The filter is the
/// one headless mode would use (`--log-level`, `RUST_LOG`, the config file), already checked.
/// The same lines go to consoles attached to a node this console runs (`control::logs`).
pub fn init_logging(filter: tracing_subscriber::EnvFilter) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tui_logger::init_logger(tui_logger::LevelFilter::Trace);
    tui_logger::set_default_level(tui_logger::LevelFilter::Trace);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(log_layer::ConsoleLogLayer)
        .with(crate::control::logs::layer())
        .try_init();
}

/// Leaves raw mode and the alternate screen. For a forced exit (a second signal), which
/// skips the console's own guard.
pub fn restore_terminal() {
    ratatui::restore();
}
