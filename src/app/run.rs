//! The run modes on the embedded devnet: `run --headless` (events printed) and the console
//! (attached to a running node, or on a node of its own), and what they share with Ethereum
//! mode's: printing until the node has stopped, stopping the side tasks, the console's
//! history handles.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{ethereum, metrics_endpoint, node_socket, signals, Settings};
use crate::cli::{HeadlessArgs, RunArgs, UsageError};
use crate::devnet::DevnetNetwork;
use crate::engine::context::HistoryHandles;
use crate::engine::EventBus;
use crate::headless::{print_events, PrintEnd, PrintOptions};
use crate::store::Store;

/// `run --headless`: a devnet network, its local node's events printed.
pub async fn run_headless(settings: Settings, args: &RunArgs) -> anyhow::Result<()> {
    if let Some(eth) = settings.ethereum.clone() {
        return ethereum::run_headless(settings, eth, args).await;
    }
    let _lock = settings.lock_history()?;
    let socket = node_socket::bind(&settings)?;
    let store = settings.open_store().await?;
    let bus = EventBus::default();
    let events = bus.subscribe();
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    signals::spawn_listener(cancel.clone(), || {}).context("cannot listen for signals")?;
    let endpoint = metrics_endpoint::bind(&settings)?;
    metrics_endpoint::start(endpoint, &settings, &bus, store.clone(), &cancel, &tasks).await?;
    let network = DevnetNetwork::start(
        settings.network_config(),
        console_history(&store).await?,
        bus.clone(),
        cancel.clone(),
    )
    .await
    .context("cannot start the devnet")?;
    node_socket::record_operator(&store, network.local.operator()).await?;
    let server = socket.serve(network.local.commands());
    let stopping = cancel.clone();
    let shutdown = async move {
        network.shutdown().await;
        server.shutdown().await;
        stop_tasks(&stopping, tasks).await;
    };
    print_until_done(events, bus, &args.output, cancel, shutdown).await
}

/// Prints a node's events until it has stopped. The node is stopped (`shutdown`) when
/// `--stop-after-windows` is reached, on SIGINT or SIGTERM (both cancel `cancel`), or when
/// the output goes away; the printer then drains the bus up to `node_stopped`.
pub(crate) async fn print_until_done(
    events: tokio::sync::broadcast::Receiver<crate::engine::Event>,
    bus: EventBus,
    args: &HeadlessArgs,
    cancel: CancellationToken,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut printer = tokio::spawn(print_events(
        events,
        bus,
        PrintOptions {
            json: args.json,
            all_events: args.all_events,
        },
        args.stop_after_windows,
        cancel.clone(),
    ));
    let ended_early = tokio::select! {
        r = &mut printer => Some(r),
        _ = cancel.cancelled() => None,
    };
    shutdown.await;
    let printed = match ended_early {
        Some(r) => r,
        None => printer.await,
    };
    match printed {
        Ok(Ok(PrintEnd::NodeStopped | PrintEnd::BusClosed | PrintEnd::OutputClosed)) => Ok(()),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context("cannot write the events to stdout")),
        Err(e) => Err(anyhow::anyhow!("the event printer failed: {e}")),
    }
}

/// The console: attached to the node already running on this data directory (or serving
/// `attach`), else on a node of its own, which quitting the console stops.
pub async fn run_console(
    settings: Settings,
    attach: Option<PathBuf>,
    theme: crate::tui::theme::Theme,
    logs: String,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    signals::spawn_listener(cancel.clone(), crate::tui::restore_terminal)
        .context("cannot listen for signals")?;
    if let Some(socket) = attach {
        // Named explicitly: it must answer now (later outages are retried).
        if node_socket::running_node(&socket, "tbtc-coord console")
            .await?
            .is_none()
        {
            return Err(UsageError(format!(
                "--attach {}: no node is serving that socket",
                socket.display()
            ))
            .into());
        }
        return node_socket::attach_console(socket, theme, logs, cancel, started).await;
    }
    // In Ethereum mode the socket is named after the chain id, known here only if given.
    if settings.ethereum.is_none() || settings.chain_id.is_some() {
        let socket = settings.socket_path();
        if node_socket::running_node(&socket, "tbtc-coord console")
            .await?
            .is_some()
        {
            return node_socket::attach_console(socket, theme, logs, cancel, started).await;
        }
    }
    if let Some(eth) = settings.ethereum.clone() {
        return ethereum::run_console(settings, eth, theme, logs, cancel, started).await;
    }
    let _lock = settings.lock_history()?;
    let socket = node_socket::bind(&settings)?;
    let store = settings.open_store().await?;
    let bus = EventBus::default();
    let tasks = TaskTracker::new();
    let endpoint = metrics_endpoint::bind(&settings)?;
    metrics_endpoint::start(endpoint, &settings, &bus, store.clone(), &cancel, &tasks).await?;
    let network = DevnetNetwork::start(
        settings.network_config(),
        console_history(&store).await?,
        bus,
        cancel.clone(),
    )
    .await
    .context("cannot start the devnet")?;
    node_socket::record_operator(&store, network.local.operator()).await?;
    let commands = network.local.commands();
    let server = socket.serve(commands.clone());
    let result = crate::tui::run(
        Arc::new(commands),
        crate::tui::app::NodeLink::InProcess,
        Some(server.attached()),
        theme,
        cancel.clone(),
        started,
    )
    .await;
    network.shutdown().await;
    server.shutdown().await;
    stop_tasks(&cancel, tasks).await;
    result
}

/// Ends the tasks a run mode spawned beside its node (the metrics endpoint, the peer
/// network) and waits for each of them.
pub(crate) async fn stop_tasks(cancel: &CancellationToken, tasks: TaskTracker) {
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
}

/// The node writes through `store`; the console reads through a connection of its own, so
/// that paging through the fault history never waits behind (or holds up) a write.
pub(crate) async fn console_history(store: &Arc<Store>) -> anyhow::Result<HistoryHandles> {
    let opening = store.clone();
    let reader = tokio::task::spawn_blocking(move || opening.reader())
        .await
        .context("opening a read connection to the history")?
        .context("cannot open a read connection to the history")?;
    Ok(HistoryHandles {
        writer: store.clone(),
        reader: Arc::new(reader),
    })
}
