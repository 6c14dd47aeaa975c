//! Wiring of the control socket (`crate::control`): every node serves one, and the console
//! and the one-off commands use it when a node is running on their data directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::Settings;
use crate::cli::{StatusArgs, UsageError};
use crate::control::protocol::Request;
use crate::control::{self, ConnectError, ControlConnection, RemoteNode};
use crate::engine::api::{NodeStatus, WindowCounts, WindowsCounted};
use crate::engine::history::HistoryWriter;
use crate::engine::records::{FaultFilter, FaultOrder, WindowStatus};
use crate::protocol::{Address, SigningGroup};
use crate::store::Store;
use crate::tui::app::NodeLink;

/// Binds the node's control socket (the caller holds the history's lock). A path that cannot
/// be a socket is bad input.
pub(crate) fn bind(settings: &Settings) -> anyhow::Result<control::Bound> {
    let path = settings.socket_path();
    control::bind(&path).map_err(|e| match e {
        control::ControlError::Io { .. } => anyhow::Error::new(e),
        other => UsageError(other.to_string()).into(),
    })
}

/// A connection to the node serving `socket`, or `None` if no node is running there.
pub(crate) async fn running_node(
    socket: &Path,
    client: &str,
) -> anyhow::Result<Option<ControlConnection>> {
    if let Err(control::ControlError::PathTooLong { len, .. }) = control::check_socket_path(socket)
    {
        return Err(UsageError(format!(
            "{}: a socket path is at most {} bytes, this one is {len}",
            socket.display(),
            control::server::MAX_SOCKET_PATH
        ))
        .into());
    }
    match ControlConnection::open(socket, client).await {
        Ok((conn, _)) => Ok(Some(conn)),
        Err(ConnectError::NotRunning(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The console, attached to the node serving `socket`. `q` detaches; the node runs on.
pub(crate) async fn attach_console(
    socket: PathBuf,
    theme: crate::tui::theme::Theme,
    logs: String,
    cancel: CancellationToken,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let link = cancel.child_token();
    let node_log = crate::control::LogFeed {
        filter: logs,
        sink: Arc::new(crate::tui::node_log::show),
    };
    let api: Arc<RemoteNode> = RemoteNode::start_with_log(socket, link.clone(), node_log);
    let result = crate::tui::run(api, NodeLink::Connecting, None, theme, cancel, started).await;
    link.cancel();
    result
}

/// A dry run by the running node (which records it in its history).
pub(crate) async fn dry_run_on_node(
    node: &mut crate::control::ControlConnection,
    args: &crate::cli::DryRunArgs,
) -> anyhow::Result<()> {
    let window = match args.window {
        Some(cb) => crate::engine::DryRunWindow::At(cb),
        None => crate::engine::DryRunWindow::Upcoming,
    };
    let record: crate::engine::records::DryRunRecord = node
        .call_as(crate::control::protocol::Request::DryRun {
            wallet: args.wallet,
            window,
        })
        .await
        .with_context(|| format!("dry run of wallet {} by the running node", args.wallet))?;
    // The node chose at the head it reports, by the same rule.
    let choice = args
        .window
        .is_none()
        .then(|| crate::engine::choose_window(record.current_block));
    super::print_dry_run(&record, choice.as_ref(), args.json)
}

/// Reads every fault matching `filter` (at most `limit`) from the running node, a page at
/// a time.
pub(crate) async fn faults_from_node(
    node: &mut crate::control::ControlConnection,
    filter: &FaultFilter,
    limit: u64,
) -> anyhow::Result<Vec<crate::engine::records::FaultRow>> {
    use crate::control::protocol::{Request, MAX_PAGE};
    use crate::engine::query::{HistoryPage, HistoryQuery};
    let mut rows = Vec::new();
    while (rows.len() as u64) < limit {
        let want = (limit - rows.len() as u64).min(MAX_PAGE);
        let query = HistoryQuery::Faults {
            filter: filter.clone(),
            order: FaultOrder::NewestFirst,
            offset: rows.len() as u64,
            limit: want,
        };
        let page = node
            .call_as::<HistoryPage>(Request::History { query })
            .await
            .context("reading the faults from the running node")?
            .into_faults()
            .context("reading the faults from the running node")?;
        let got = page.len() as u64;
        rows.extend(page);
        if got < want {
            break;
        }
    }
    Ok(rows)
}

/// The history's meta key naming the operator its node runs as, so that `status` without a
/// running node shows that operator's seats.
const OPERATOR_KEY: &str = "node_operator";

/// Notes in the history which operator the node runs as (off the async workers).
pub(crate) async fn record_operator(store: &Arc<Store>, operator: Address) -> anyhow::Result<()> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.set_meta(OPERATOR_KEY, &operator.to_string()))
        .await
        .context("recording the node's operator")?
        .context("cannot record the node's operator in the history")
}

/// The operator the history's last node ran as, if it says.
fn recorded_operator(store: &Store) -> anyhow::Result<Option<Address>> {
    let value = store
        .get_meta(OPERATOR_KEY)
        .context("reading the node's operator from the history")?;
    Ok(value.and_then(|v| v.parse().ok()))
}

/// `status`: from the running node, else from the history.
pub async fn status_command(settings: Settings, args: &StatusArgs) -> anyhow::Result<()> {
    let socket = match &args.attach {
        Some(s) => s.clone(),
        None => settings.socket_path(),
    };
    let status = match running_node(&socket, "tbtc-coord status").await? {
        Some(mut conn) => conn
            .call_as::<NodeStatus>(Request::Status {
                last_faults: args.last_faults,
            })
            .await
            .with_context(|| format!("asking the node at {} for its status", socket.display()))?,
        None if args.attach.is_some() => {
            return Err(UsageError(format!(
                "--attach {}: no node is serving that socket",
                socket.display()
            ))
            .into())
        }
        None => status_from_history(&settings, args.last_faults)?,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
    } else {
        write_status(&mut out, &status)?;
    }
    Ok(())
}

/// What the history says when no node runs: its wallets, windows and newest faults.
fn status_from_history(settings: &Settings, last_faults: u64) -> anyhow::Result<NodeStatus> {
    let store = super::open_history_read_only(settings)?;
    let all = FaultFilter::default();
    let operator = recorded_operator(&store)?;
    let mut windows = WindowCounts {
        counted: WindowsCounted::InHistory,
        ..WindowCounts::default()
    };
    for w in store.windows(u64::MAX)? {
        windows.started += u64::from(w.status != WindowStatus::Missed);
        match w.status {
            WindowStatus::Completed => windows.completed += 1,
            WindowStatus::Missed => windows.missed += 1,
            WindowStatus::Interrupted => windows.interrupted += 1,
            _ => {}
        }
    }
    Ok(NodeStatus {
        running: false,
        pid: None,
        chain: chain_of(settings),
        operator,
        observer: false,
        head: None,
        next_window: None,
        wallets: store
            .wallet_seats()?
            .into_iter()
            .map(|w| crate::engine::api::WalletStatus {
                wallet: w.wallet,
                seats: operator
                    .and_then(|op| {
                        let group = SigningGroup::new(w.operators.clone()).ok()?;
                        Some(group.seats_of(&op))
                    })
                    .unwrap_or_default(),
                members: w.operators.len(),
                executor: None,
                dispatcher: None,
                next_leader: None,
            })
            .collect(),
        executors: Default::default(),
        peers: Default::default(),
        windows,
        last_faults: store.faults(&all, FaultOrder::NewestFirst, 0, last_faults)?,
        faults_total: store.count_faults(&all)?,
    })
}

fn chain_of(settings: &Settings) -> String {
    settings
        .store_path()
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write_status(out: &mut impl Write, s: &NodeStatus) -> std::io::Result<()> {
    match s.pid {
        Some(pid) => writeln!(out, "node       running (pid {pid}), chain {}", s.chain)?,
        None => writeln!(
            out,
            "node       not running; from the history of chain {}",
            s.chain
        )?,
    }
    if let Some(op) = s.operator {
        writeln!(
            out,
            "operator   {op}{}",
            if s.observer { " (observer)" } else { "" }
        )?;
    }
    match (s.head, s.next_window) {
        (Some(head), Some(next)) => {
            writeln!(out, "head       {}", head.number)?;
            writeln!(
                out,
                "next       window {} (#{}) in {} blocks",
                next.coordination_block, next.index, next.blocks_away
            )?;
        }
        _ if s.running => writeln!(out, "head       no block yet")?,
        _ => {}
    }
    writeln!(out, "wallets    {}", s.wallets.len())?;
    if s.running {
        let e = &s.executors;
        writeln!(
            out,
            "executors  {} idle, {} running, {} busy, {} done, {} failed",
            e.idle, e.running, e.busy, e.done, e.failed
        )?;
        let p = &s.peers;
        match p.transport {
            crate::engine::network_view::MessageTransport::PeerNetwork => writeln!(
                out,
                "peers      {} connected, bootstrap {}/{} reached, {} refused",
                p.connected, p.bootstrap_connected, p.bootstrap_configured, p.refused
            )?,
            crate::engine::network_view::MessageTransport::Hub => {
                writeln!(out, "peers      none: the devnet's in-process hub")?
            }
            _ => writeln!(out, "peers      no peer transport")?,
        }
    }
    let w = &s.windows;
    writeln!(
        out,
        "windows    {} started, {} completed, {} missed, {} interrupted {}",
        w.started,
        w.completed,
        w.missed,
        w.interrupted,
        match w.counted {
            WindowsCounted::SinceStart => "since the node started",
            WindowsCounted::InHistory => "in the whole history",
        }
    )?;
    writeln!(out, "faults     {} in the history", s.faults_total)?;
    for f in &s.last_faults {
        writeln!(
            out,
            "  window {:>10}  {}  {}  {}",
            f.coordination_block, f.wallet, f.culprit, f.fault
        )?;
    }
    for w in &s.wallets {
        let executor = w
            .executor
            .map(describe_executor)
            .unwrap_or_else(|| "-".into());
        let leader = w
            .next_leader
            .map(|l| format!(", next leader {l}"))
            .unwrap_or_default();
        let seats = describe_seats(s.operator, &w.seats, w.members);
        writeln!(
            out,
            "wallet {}  {seats}  executor {executor}{leader}",
            w.wallet
        )?;
    }
    Ok(())
}

/// The seats the node's operator holds in a wallet, as member indices: "seats #3, #17 of 80",
/// "no seat of 80", or, when the history names no operator, only the wallet's size.
fn describe_seats(operator: Option<Address>, seats: &[u8], members: usize) -> String {
    if operator.is_none() {
        return format!("{members} members, seats not known: the history names no operator");
    }
    if seats.is_empty() {
        return format!("no seat of {members}");
    }
    let list: Vec<String> = seats.iter().map(|s| format!("#{s}")).collect();
    let noun = if seats.len() == 1 { "seat" } else { "seats" };
    format!("{noun} {} of {members}", list.join(", "))
}

fn describe_executor(e: crate::engine::snapshot::ExecutorState) -> String {
    use crate::engine::snapshot::ExecutorState::*;
    match e {
        Idle => "idle".into(),
        Running {
            coordination_block,
            role,
        } => format!("running window {coordination_block} as {role:?}").to_lowercase(),
        Busy { coordination_block } => format!("busy in window {coordination_block}"),
        Done { coordination_block } => format!("done with window {coordination_block}"),
        Failed { coordination_block } => format!("failed in window {coordination_block}"),
    }
}
