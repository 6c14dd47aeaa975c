//! Wiring: turns the command line and the config file into settings, and runs the commands.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chain::Chain;
use crate::cli::{ChainArgs, DryRunArgs, FaultsArgs, InspectCommand, RunArgs, UsageError};
use crate::config::{default_data_dir, parse_block_time, FileConfig};
use crate::devnet::{resume_block, DevnetNetwork, DevnetNetworkConfig, DevnetTransport};
use crate::devnet::{Devnet, DevnetConfig};
use crate::engine::context::HistoryHandles;
use crate::engine::history::HistoryWriter;
use crate::engine::records::{DryRunRecord, FaultFilter, FaultOrder};
use crate::engine::{dry_run, DryRunWindow};
use crate::engine::{EventBus, NodeConfig};
use crate::headless::{print_events, PrintEnd, PrintOptions};
use crate::protocol::action::join_names;
use crate::protocol::leader::SigningGroup;
use crate::protocol::window::{next_window_after, window_at_or_before, Phase};
use crate::protocol::{checklist, coordination_seed, CoordinationWindow, ProposalParams};
use crate::store::Store;
use crate::tui::theme::no_color_requested;

mod ethereum;
mod evidence;
pub mod exit;
mod key;
mod lock;
mod metrics_endpoint;
mod network;
mod node_socket;

pub use evidence::verify_evidence_command;
pub use key::key_command;
pub use node_socket::status_command;
mod signals;
pub use ethereum::EthereumSettings;
pub use lock::{lock_history, lock_path, HistoryLock, LockError};

/// Everything a command needs to know about the chain and the history.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub devnet: DevnetConfig,
    pub devnet_transport: DevnetTransport,
    pub fault_rate: f64,
    pub node: NodeConfigSettings,
    /// Ethereum mode: the chain id the node must serve; names the history file.
    pub chain_id: Option<u64>,
    /// Ethereum mode (`--rpc-url`) instead of the devnet.
    pub ethereum: Option<EthereumSettings>,
    /// The peer network, if the node joins one.
    pub peer_network: Option<network::PeerNetworkSettings>,
    /// The metrics endpoint, if asked for.
    pub metrics: Option<metrics_endpoint::MetricsSettings>,
}

#[derive(Debug, Clone, Default)]
pub struct NodeConfigSettings {
    pub block_hash_rule: crate::protocol::BlockHashRule,
    pub btc_fee_rate: Option<u64>,
}

impl Settings {
    /// Flags win over the file, the file over defaults.
    pub fn resolve(
        file: &FileConfig,
        chain: &ChainArgs,
        run: Option<&RunArgs>,
    ) -> anyhow::Result<Settings> {
        let data_dir = match (&chain.data_dir, &file.data_dir) {
            (Some(d), _) => checked_data_dir(d, "--data-dir")?,
            (None, Some(d)) => checked_data_dir(d, "the config file's data_dir")?,
            (None, None) => default_data_dir()
                .context("no home directory to keep the history in: pass --data-dir")?,
        };
        let mut devnet = DevnetConfig::default();
        if let Some(seed) = chain.devnet_seed.or(file.devnet.seed) {
            devnet.seed = seed;
        }
        if let Some(w) = chain.devnet_wallets.or(file.devnet.wallets) {
            devnet.wallets = w;
        }
        if let Some(o) = chain.devnet_operators.or(file.devnet.operators) {
            devnet.operators = o;
        }
        if let Some(p) = file.devnet.prague {
            devnet.prague = p;
        }
        let file_block_time = file
            .devnet
            .block_time
            .as_deref()
            .map(parse_block_time)
            .transpose()?;
        if let Some(bt) = run.and_then(|r| r.block_time).or(file_block_time) {
            devnet.block_time = bt;
        }
        let fault_rate = run
            .and_then(|r| r.devnet_fault_rate)
            .or(file.devnet.fault_rate)
            .unwrap_or(DEFAULT_FAULT_RATE);
        let devnet_transport = run
            .and_then(|r| r.devnet_transport)
            .or(file.devnet.transport)
            .unwrap_or_default();
        let ethereum = run
            .map(|r| EthereumSettings::from_args(&r.ethereum))
            .transpose()?
            .flatten();
        if ethereum.is_some() && run.and_then(|r| r.devnet_transport).is_some() {
            bail!("--devnet-transport is for the embedded devnet; in Ethereum mode the peer network is set by --p2p-listen and --p2p-peers");
        }
        if run.is_some() && ethereum.is_none() && chain.chain_id.is_some() {
            bail!("--chain-id is for Ethereum mode: pass --rpc-url too");
        }
        let peer_network = match run {
            Some(r) if ethereum.is_some() => {
                network::PeerNetworkSettings::resolve(&r.network, &file.network)?
            }
            Some(r) => {
                let n = &r.network;
                if n.p2p_listen.is_some() || !n.p2p_peers.is_empty() || !n.p2p_allow.is_empty() {
                    bail!("--p2p-listen, --p2p-peers and --p2p-allow are for Ethereum mode: pass --rpc-url too");
                }
                None
            }
            None => None,
        };
        let metrics = match run {
            Some(r) => metrics_endpoint::MetricsSettings::resolve(r.metrics_addr, &file.metrics)?,
            None => None,
        };
        let settings = Settings {
            metrics,
            data_dir,
            devnet,
            devnet_transport,
            fault_rate,
            node: NodeConfigSettings {
                block_hash_rule: chain
                    .block_hash_rule
                    .or(file.block_hash_rule)
                    .unwrap_or_default(),
                btc_fee_rate: chain.btc_fee_rate.or(file.btc_fee_rate),
            },
            chain_id: chain.chain_id,
            ethereum,
            peer_network,
        };
        settings.check_socket_path()?;
        Ok(settings)
    }

    /// The control socket's path must fit a Unix socket address, checked before a node
    /// creates anything in the data directory. In Ethereum mode before the chain id is known,
    /// the shortest name (`chain-1.sock`) is checked here, and the real one once connected.
    pub fn check_socket_path(&self) -> anyhow::Result<()> {
        let path = match (&self.ethereum, self.chain_id) {
            (Some(_), None) => self.data_dir.join("chain-1.sock"),
            _ => self.socket_path(),
        };
        crate::control::check_socket_path(&path).map_err(|e| UsageError(e.to_string()))?;
        Ok(())
    }

    pub fn network_config(&self) -> DevnetNetworkConfig {
        DevnetNetworkConfig {
            devnet: self.devnet.clone(),
            fault_rate: self.fault_rate,
            node: self.node_config(),
            transport: self.devnet_transport,
        }
    }

    pub fn node_config(&self) -> NodeConfig {
        let mut params = ProposalParams::default();
        if let Some(rate) = self.node.btc_fee_rate {
            params.btc_fee_rate = rate;
        }
        NodeConfig {
            block_hash_rule: self.node.block_hash_rule,
            proposal_params: params,
            ..NodeConfig::default()
        }
    }

    /// One history database per chain.
    pub fn store_path(&self) -> PathBuf {
        match self.chain_id {
            Some(id) => self.data_dir.join(format!("chain-{id}.sqlite3")),
            None => self
                .data_dir
                .join(format!("devnet-{}.sqlite3", self.devnet.seed)),
        }
    }

    /// The node's control socket, beside its history.
    pub fn socket_path(&self) -> PathBuf {
        crate::control::socket_path(&self.store_path())
    }

    /// Takes the history's lock, for a node: see [`lock_history`].
    pub fn lock_history(&self) -> anyhow::Result<HistoryLock> {
        Ok(lock_history(&self.store_path())?)
    }

    /// Opens (and if need be creates or migrates) the history, off the async workers.
    pub async fn open_store(&self) -> anyhow::Result<Arc<Store>> {
        let path = self.store_path();
        let opening = path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&opening))
            .await
            .context("opening the history")?
            .with_context(|| format!("cannot open the history at {}", path.display()))?;
        Ok(Arc::new(store))
    }
}

/// A data directory given by the operator: an empty path would put the history in whatever
/// directory the node happens to start in.
fn checked_data_dir(dir: &std::path::Path, source: &str) -> anyhow::Result<PathBuf> {
    if dir.as_os_str().is_empty() {
        bail!(UsageError(format!(
            "{source}: expected a directory, got an empty path"
        )));
    }
    Ok(dir.to_path_buf())
}

/// The example config file, every key commented: what `config init` writes.
pub const CONFIG_EXAMPLE: &str = include_str!("../assets/config.example.toml");

/// `config init`: writes [`CONFIG_EXAMPLE`] to `explicit` (`--config FILE`) or the platform
/// config path, creating its directory. An existing file is never overwritten.
pub fn config_init(explicit: Option<&std::path::Path>) -> anyhow::Result<()> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => crate::config::default_config_path()
            .context("no home directory for the config file: pass --config FILE")?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    // Never overwrite, even a file that appears between a check and the write, and never
    // write through a symlink; 0600, as every file the node writes.
    let mut file = match crate::files::create_new_private(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(crate::cli::UsageError(format!(
                "{} already exists: not overwritten (edit it, or move it away first)",
                path.display()
            ))
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(CONFIG_EXAMPLE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// A little misbehaviour by default, so the devnet shows what faults look like.
pub const DEFAULT_FAULT_RATE: f64 = 0.05;

/// The log filter: `--log-level`, else `RUST_LOG`, else the config file's `log_level`, else
/// `default`. A filter that does not parse is bad input, named with where it came from.
pub fn log_filter(
    flag: Option<&str>,
    file: Option<&str>,
    default: &str,
) -> Result<tracing_subscriber::EnvFilter, UsageError> {
    let env = match std::env::var("RUST_LOG") {
        Ok(v) if v.trim().is_empty() => None,
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(UsageError("RUST_LOG: not valid UTF-8".into()))
        }
    };
    let (source, text) = match (flag, env, file) {
        (Some(f), _, _) => ("--log-level", f.to_string()),
        (None, Some(e), _) => ("RUST_LOG", e),
        (None, None, Some(f)) => ("config file log_level", f.to_string()),
        (None, None, None) => ("the default log filter", default.to_string()),
    };
    tracing_subscriber::EnvFilter::builder()
        .parse(&text)
        .map_err(|e| UsageError(format!("{source}: invalid log filter {text:?}: {e}")))
}

/// Headless logging: to stderr, coloured only for a terminal and never with `NO_COLOR`.
pub fn init_logging(filter: tracing_subscriber::EnvFilter) {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color_requested())
        // Its report of a failed write is an `eprintln!`, which panics (in whichever task
        // was logging) once stderr is a closed pipe: a log line that cannot be written is
        // dropped instead.
        .log_internal_errors(false)
        .try_init();
}

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
    let server = socket.serve(network.local.commands());
    let stopping = cancel.clone();
    let shutdown = async move {
        network.shutdown().await;
        server.shutdown().await;
        stop_tasks(&stopping, tasks).await;
    };
    print_until_done(events, bus, args, cancel, shutdown).await
}

/// Prints a node's events until it has stopped. The node is stopped (`shutdown`) when
/// `--stop-after-windows` is reached, on SIGINT or SIGTERM (both cancel `cancel`), or when
/// the output goes away; the printer then drains the bus up to `node_stopped`.
pub(crate) async fn print_until_done(
    events: tokio::sync::broadcast::Receiver<crate::engine::Event>,
    bus: EventBus,
    args: &RunArgs,
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
        return node_socket::attach_console(socket, theme, cancel, started).await;
    }
    // In Ethereum mode the socket is named after the chain id, known here only if given.
    if settings.ethereum.is_none() || settings.chain_id.is_some() {
        let socket = settings.socket_path();
        if node_socket::running_node(&socket, "tbtc-coord console")
            .await?
            .is_some()
        {
            return node_socket::attach_console(socket, theme, cancel, started).await;
        }
    }
    if let Some(eth) = settings.ethereum.clone() {
        return ethereum::run_console(settings, eth, theme, cancel, started).await;
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
    let commands = network.local.commands();
    let server = socket.serve(commands.clone());
    let result = crate::tui::run(
        Arc::new(commands),
        crate::tui::app::NodeLink::InProcess,
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

/// The devnet a one-off command reads: where a node with this history would be now.
fn devnet_for_command(settings: &Settings, store: &Store) -> anyhow::Result<Devnet> {
    let mut config = settings.devnet.clone();
    if config.start_block.is_none() {
        config.start_block = resume_block(store as &dyn crate::engine::history::HistoryWriter)?;
    }
    Ok(Devnet::new(config)?)
}

/// How far ahead of the devnet's position a one-off dry run will simulate.
const MAX_FAST_FORWARD_BLOCKS: u64 = 200_000;

pub async fn dry_run_command(settings: Settings, args: &DryRunArgs) -> anyhow::Result<()> {
    if let Some(eth) = EthereumSettings::from_args(&args.ethereum)? {
        return ethereum::dry_run_command(settings, eth, args).await;
    }
    if settings.chain_id.is_some() {
        bail!("--chain-id is for Ethereum mode: pass --rpc-url too");
    }
    if let Some(mut node) =
        node_socket::running_node(&settings.socket_path(), "tbtc-coord dry-run").await?
    {
        return node_socket::dry_run_on_node(&mut node, args).await;
    }
    let store = settings.open_store().await?;
    let devnet = devnet_for_command(&settings, &store)?;
    let head = devnet.head().number;
    let window = match args.window {
        Some(cb) => cb,
        None => next_window_after(head).coordination_block,
    };
    // Simulate the chain up to the window's safe block (its start, if that is past).
    let target = CoordinationWindow::new(window).safe_block().max(head);
    if target - head > MAX_FAST_FORWARD_BLOCKS {
        bail!(
            "--window {window}: more than {MAX_FAST_FORWARD_BLOCKS} blocks past the devnet's head {head}"
        );
    }
    devnet.mine(target - head);
    let operator = devnet.local_operator().address;
    let chain: &dyn Chain = &devnet;
    let record = dry_run(
        chain,
        operator,
        &settings.node_config(),
        target,
        args.wallet,
        DryRunWindow::At(window),
    )
    .await
    .with_context(|| format!("dry run of wallet {} for window {window}", args.wallet))?;
    store.record_dry_run(&record)?;
    print_dry_run(&record, args.json)
}

/// Prints a dry run as one JSON object or as text.
pub(crate) fn print_dry_run(record: &DryRunRecord, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(record)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("sent".into(), json!(false));
            obj.insert("dispatched".into(), json!(false));
        }
        writeln!(out, "{value}")?;
    } else {
        let w = CoordinationWindow::new(record.coordination_block);
        writeln!(
            out,
            "dry run of wallet {} for window {} (#{})",
            record.wallet,
            record.coordination_block,
            w.index()
        )?;
        writeln!(
            out,
            "  safe block       {} (hash rule {})",
            record.safe_block, record.hash_rule
        )?;
        writeln!(out, "  safe block hash  {}", record.safe_block_hash)?;
        writeln!(out, "  seed             {}", record.seed)?;
        writeln!(
            out,
            "  leader           {}{}",
            record.leader,
            if record.leader_is_self { " (you)" } else { "" }
        )?;
        writeln!(out, "  checklist        {}", join_names(&record.checklist))?;
        if let Some(p) = &record.proposal {
            writeln!(out, "  your proposal    {}", p.summary())?;
        }
        if let Some(reason) = &record.reason {
            writeln!(out, "  why              {reason}")?;
        }
        writeln!(out, "  nothing was sent or dispatched")?;
    }
    Ok(())
}

/// Opens the history for reading, beside a running node or none. Nothing is written: a
/// missing or empty history reads as empty, and one of an older schema is refused with what
/// to do (a node upgrades it, under its lock).
pub(crate) fn open_history_read_only(settings: &Settings) -> anyhow::Result<Arc<Store>> {
    let path = settings.store_path();
    let store = Store::open_read_only_or_empty(&path)
        .with_context(|| format!("cannot read the history at {}", path.display()))?;
    if store.path().is_none() {
        tracing::info!(path = %path.display(), "no history there yet: it reads as empty");
    }
    Ok(Arc::new(store))
}

pub async fn faults_command(settings: Settings, args: &FaultsArgs) -> anyhow::Result<()> {
    let filter = FaultFilter {
        wallet: args.wallet,
        operator: args.operator,
        fault: args.fault_type,
        from_block: args.from,
        to_block: args.to,
        search: None,
    };
    let limit = args.limit.unwrap_or(i64::MAX as u64);
    if args.evidence {
        // Read from the history itself (read-only beside a running node): the control
        // socket serves the records the console shows, not the signed messages.
        let store = open_history_read_only(&settings)?;
        let entries: Vec<crate::evidence::EvidenceEntry> = store
            .fault_evidence(&filter, 0, limit)?
            .iter()
            .map(crate::evidence::EvidenceEntry::from_row)
            .collect();
        writeln!(
            std::io::stdout().lock(),
            "{}",
            serde_json::to_string(&entries)?
        )?;
        return Ok(());
    }
    let rows = match node_socket::running_node(&settings.socket_path(), "tbtc-coord faults").await?
    {
        Some(mut node) => node_socket::faults_from_node(&mut node, &filter, limit).await?,
        None => {
            open_history_read_only(&settings)?.faults(&filter, FaultOrder::NewestFirst, 0, limit)?
        }
    };
    // Taken once the rows are read: stdout's lock is never held across an await.
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&rows)?)?;
    } else if args.csv {
        write_faults_csv(&mut out, &rows)?;
    } else {
        writeln!(
            out,
            "{:>10}  {:<40}  {:<42}  {:<19}",
            "WINDOW", "WALLET", "CULPRIT", "FAULT"
        )?;
        for r in &rows {
            writeln!(
                out,
                "{:>10}  {:<40}  {:<42}  {:<19}",
                r.coordination_block, r.wallet, r.culprit, r.fault
            )?;
        }
        writeln!(out, "{} faults", rows.len())?;
    }
    Ok(())
}

/// `faults --csv`: a header line, then one record per fault.
fn write_faults_csv(
    out: impl Write,
    rows: &[crate::engine::records::FaultRow],
) -> anyhow::Result<()> {
    // A write error stays an `io::Error`, so a closed pipe is still told apart.
    let io = |e: csv::Error| -> anyhow::Error {
        match e.into_kind() {
            csv::ErrorKind::Io(e) => e.into(),
            other => anyhow::anyhow!("writing CSV: {other:?}"),
        }
    };
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record([
        "coordination_block",
        "wallet",
        "culprit",
        "fault",
        "leader",
        "recorded_at",
    ])
    .map_err(io)?;
    for r in rows {
        csv.write_record([
            r.coordination_block.to_string(),
            r.wallet.to_string(),
            r.culprit.to_string(),
            r.fault.to_string(),
            r.leader.to_string(),
            r.recorded_at.to_string(),
        ])
        .map_err(io)?;
    }
    csv.flush()?;
    Ok(())
}

fn window_json(w: CoordinationWindow, block: u64) -> serde_json::Value {
    json!({
        "coordination_block": w.coordination_block,
        "index": w.index(),
        "safe_block": w.safe_block(),
        "active_phase": [w.coordination_block, w.active_phase_end() - 1],
        "passive_phase": [w.active_phase_end(), w.end_block() - 1],
        "end_block": w.end_block(),
        "phase_at_block": w.phase_at(block),
    })
}

fn window_text(label: &str, w: CoordinationWindow, block: u64) -> String {
    let phase = match w.phase_at(block) {
        Phase::Before => "before",
        Phase::Active => "active",
        Phase::Passive => "passive",
        Phase::Ended => "ended",
    };
    format!(
        "{label} window {} (#{}): safe block {}, active {}..{}, passive {}..{}, ends {}; at block {block}: {phase}",
        w.coordination_block,
        w.index(),
        w.safe_block(),
        w.coordination_block,
        w.active_phase_end() - 1,
        w.active_phase_end(),
        w.end_block() - 1,
        w.end_block()
    )
}

pub fn inspect_command(command: &InspectCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        InspectCommand::Seed {
            wallet,
            safe_block_hash,
            json,
        } => {
            let seed = coordination_seed(wallet, safe_block_hash);
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({"wallet": wallet, "safe_block_hash": safe_block_hash, "seed": seed})
                )?;
            } else {
                writeln!(out, "{seed}")?;
            }
        }
        InspectCommand::Leader {
            seed,
            operators,
            json,
        } => {
            let group = SigningGroup::new(operators.clone())
                .map_err(|e| crate::cli::UsageError(format!("--operators: {e}")))?;
            let Some(leader) = group.leader(seed) else {
                bail!("--operators: expected at least one address");
            };
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "seed": seed,
                        "rng_seed": seed.rng_seed(),
                        "leader": leader.operator,
                        "member_index": leader.member_index,
                        "candidates": group.candidates(),
                    })
                )?;
            } else {
                writeln!(out, "{}", leader.operator)?;
            }
        }
        InspectCommand::Checklist { block, seed, json } => {
            let window = CoordinationWindow::new(*block);
            let actions = checklist(window, seed);
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({"coordination_block": block, "index": window.index(), "seed": seed, "checklist": actions})
                )?;
            } else {
                writeln!(out, "{}", join_names(&actions))?;
            }
        }
        InspectCommand::Window { block, json } => {
            let current = window_at_or_before(*block);
            let next = next_window_after(*block);
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "block": block,
                        "current": current.map(|w| window_json(w, *block)),
                        "next": window_json(next, *block),
                        "blocks_to_next": next.coordination_block - block,
                    })
                )?;
            } else {
                match current {
                    Some(w) => writeln!(out, "{}", window_text("current", w, *block))?,
                    None => writeln!(
                        out,
                        "current: none (block {block} is before the first window)"
                    )?,
                }
                writeln!(out, "{}", window_text("next", next, *block))?;
                writeln!(
                    out,
                    "blocks to next window: {}",
                    next.coordination_block - block
                )?;
            }
        }
    }
    Ok(())
}
