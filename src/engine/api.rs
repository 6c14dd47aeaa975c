//! What a front end may ask of a node, whichever process the node runs in.
//!
//! The console is written against [`NodeApi`] alone. [`NodeCommands`] implements it for a
//! node in this process; the control socket's client implements it for a node in another
//! one. Both hand out the same records and events, and a [`Subscription`] that starts with a
//! snapshot and starts over from a fresh one whenever it could not keep up, so no front end
//! ever folds a stream with holes in it.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::dry_run::DryRunWindow;
use super::events::Event;
use super::handle::NodeCommands;
use super::network_view::MessageTransport;
use super::query::{HistoryPage, HistoryQuery, WrongPage};
use super::records::{DryRunRecord, FaultFilter, FaultOrder, FaultRow};
use super::snapshot::{DispatcherState, ExecutorState, NodeSnapshot};
use crate::protocol::window::next_window_after;
use crate::protocol::{Address, WalletPkh};
use crate::protocol::{BlockRef, ChainStatus};

/// Why a request failed. Serializable, so a remote node's answer keeps its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Reading the history failed.
    History,
    /// The dry run could not be made (unknown wallet, safe block not mined, …).
    DryRun,
    /// The request was malformed or out of bounds.
    BadRequest,
    /// The node cannot be reached (not running, restarting, refused us).
    Unavailable,
    /// Too many requests (or clients) at once.
    Busy,
    /// The client may not use the control socket (another user).
    Forbidden,
    /// The client speaks another version of the control protocol.
    UnsupportedVersion,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// One change a subscriber must fold in.
// Nearly every update is an event: boxing it would allocate once per event to shrink the
// rare ones.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The node's whole state: fold what follows into this one, and forget what came before.
    /// The first update of every subscription, and the one after a gap (falling behind, or
    /// the node coming back). `pid` names the node's process when it runs in another one.
    Snapshot {
        snapshot: Box<NodeSnapshot>,
        pid: Option<u32>,
    },
    Event(Event),
    /// The chain back end's health changed.
    ChainStatus(ChainStatus),
    /// The node went away. Updates resume with a [`Update::Snapshot`] when it is back.
    Disconnected {
        reason: String,
    },
}

/// A stream of [`Update`]s.
#[async_trait]
pub trait Subscription: Send {
    /// The next update; `None` once there will be none (the node in this process stopped).
    async fn next(&mut self) -> Option<Update>;
}

/// Everything a front end may ask of a running node.
#[async_trait]
pub trait NodeApi: Send + Sync {
    /// The node's updates, from a snapshot on.
    async fn subscribe(&self) -> Box<dyn Subscription>;

    /// A read of the node's history.
    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, ApiError>;

    /// A dry run, recorded in the node's history and announced on its bus.
    async fn dry_run(
        &self,
        wallet: WalletPkh,
        window: DryRunWindow,
    ) -> Result<DryRunRecord, ApiError>;

    /// What `tbtc-coord status` prints, with the `last_faults` newest faults.
    async fn status(&self, last_faults: u64) -> Result<NodeStatus, ApiError>;
}

/// A node at a glance: what `tbtc-coord status` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// A node answered (`true`), or the history was read because none runs (`false`).
    pub running: bool,
    /// The node's process, when one answered.
    pub pid: Option<u32>,
    pub chain: String,
    pub operator: Option<Address>,
    pub observer: bool,
    pub head: Option<BlockRef>,
    pub next_window: Option<NextWindow>,
    pub wallets: Vec<WalletStatus>,
    pub executors: ExecutorCounts,
    pub peers: PeerCounts,
    pub windows: WindowCounts,
    /// The newest faults in the history, newest first.
    pub last_faults: Vec<FaultRow>,
    pub faults_total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextWindow {
    pub coordination_block: u64,
    pub index: u64,
    pub blocks_away: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalletStatus {
    pub wallet: WalletPkh,
    /// Member indices this node holds.
    pub seats: Vec<u8>,
    pub members: usize,
    /// `None` when read from the history.
    pub executor: Option<ExecutorState>,
    pub dispatcher: Option<DispatcherState>,
    /// The next window's leader, once its safe block is mined.
    pub next_leader: Option<Address>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorCounts {
    pub idle: usize,
    pub running: usize,
    pub busy: usize,
    pub done: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCounts {
    pub transport: MessageTransport,
    pub connected: u64,
    pub bootstrap_connected: usize,
    pub bootstrap_configured: usize,
    pub refused: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    pub started: u64,
    pub completed: u64,
    pub missed: u64,
    pub interrupted: u64,
    /// What was counted: a running node's windows since it started, or every window in the
    /// history.
    #[serde(default)]
    pub counted: WindowsCounted,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowsCounted {
    #[default]
    SinceStart,
    InHistory,
}

impl NodeStatus {
    /// The status of a running node, from its snapshot and the newest faults.
    pub fn of_snapshot(
        snapshot: &NodeSnapshot,
        pid: Option<u32>,
        last_faults: Vec<FaultRow>,
        faults_total: u64,
    ) -> NodeStatus {
        let head = snapshot.head;
        let next_window = head.map(|h| {
            let w = next_window_after(h.number);
            NextWindow {
                coordination_block: w.coordination_block,
                index: w.index(),
                blocks_away: w.coordination_block - h.number,
            }
        });
        let mut executors = ExecutorCounts::default();
        for w in &snapshot.wallets {
            match w.executor {
                ExecutorState::Idle => executors.idle += 1,
                ExecutorState::Running { .. } => executors.running += 1,
                ExecutorState::Busy { .. } => executors.busy += 1,
                ExecutorState::Done { .. } => executors.done += 1,
                ExecutorState::Failed { .. } => executors.failed += 1,
            }
        }
        let next_cb = next_window.map(|w| w.coordination_block);
        let wallets = snapshot
            .wallets
            .iter()
            .map(|w| WalletStatus {
                wallet: w.wallet,
                seats: w.seats.clone(),
                members: w.operators.len(),
                executor: Some(w.executor),
                dispatcher: Some(w.dispatcher),
                next_leader: w
                    .next_leader
                    .filter(|(cb, _, _)| Some(*cb) == next_cb)
                    .map(|(_, leader, _)| leader),
            })
            .collect();
        NodeStatus {
            running: true,
            pid,
            chain: snapshot.chain.clone(),
            operator: snapshot.operator,
            observer: snapshot.observer,
            head,
            next_window,
            wallets,
            executors,
            peers: PeerCounts {
                transport: snapshot.network.transport,
                connected: snapshot.peers_connected,
                bootstrap_connected: snapshot.network.bootstrap_connected(),
                bootstrap_configured: snapshot.network.bootstrap_peers,
                refused: snapshot.peers_refused,
            },
            windows: WindowCounts {
                started: snapshot.windows_started,
                completed: snapshot.windows_completed,
                missed: snapshot.windows_missed,
                interrupted: snapshot.windows_interrupted,
                counted: WindowsCounted::SinceStart,
            },
            last_faults,
            faults_total,
        }
    }
}

/// How often an in-process subscription checks the chain back end's health.
const CHAIN_STATUS_EVERY: Duration = Duration::from_secs(1);

/// An in-process node's updates: its bus, resynced from its snapshot after a lag.
struct LocalSubscription {
    commands: NodeCommands,
    events: broadcast::Receiver<Event>,
    first: Option<NodeSnapshot>,
    chain_status: Option<ChainStatus>,
    tick: tokio::time::Interval,
}

#[async_trait]
impl Subscription for LocalSubscription {
    async fn next(&mut self) -> Option<Update> {
        if let Some(snapshot) = self.first.take() {
            return Some(Update::Snapshot {
                snapshot: Box::new(snapshot),
                pid: None,
            });
        }
        loop {
            tokio::select! {
                event = self.events.recv() => return match event {
                    Ok(e) => Some(Update::Event(e)),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "fell behind the node's events; starting over from its snapshot");
                        // The fresh receiver and the snapshot are taken together: no event
                        // falls between them or is in both.
                        let (events, snapshot) = self.commands.subscribe_with_snapshot();
                        self.events = events;
                        Some(Update::Snapshot { snapshot: Box::new(snapshot), pid: None })
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                },
                _ = self.tick.tick() => {
                    let status = self.commands.chain_status();
                    if self.chain_status.as_ref() != Some(&status) {
                        self.chain_status = Some(status.clone());
                        return Some(Update::ChainStatus(status));
                    }
                }
            }
        }
    }
}

fn history_error(e: super::history::HistoryError) -> ApiError {
    ApiError::new(ErrorCode::History, e.to_string())
}

/// A node that answered another query than the one asked.
impl From<WrongPage> for ApiError {
    fn from(e: WrongPage) -> Self {
        ApiError::new(ErrorCode::BadRequest, e.to_string())
    }
}

/// Runs a history read off the async workers (SQLite blocks).
async fn read<T: Send + 'static>(
    commands: &NodeCommands,
    f: impl FnOnce(&NodeCommands) -> Result<T, super::history::HistoryError> + Send + 'static,
) -> Result<T, ApiError> {
    let commands = commands.clone();
    tokio::task::spawn_blocking(move || f(&commands))
        .await
        .map_err(|e| ApiError::new(ErrorCode::History, format!("reading the history: {e}")))?
        .map_err(history_error)
}

#[async_trait]
impl NodeApi for NodeCommands {
    async fn subscribe(&self) -> Box<dyn Subscription> {
        let (events, snapshot) = self.subscribe_with_snapshot();
        let mut tick = tokio::time::interval(CHAIN_STATUS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Box::new(LocalSubscription {
            commands: self.clone(),
            events,
            first: Some(snapshot),
            chain_status: None,
            tick,
        })
    }

    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, ApiError> {
        read(self, move |c| c.history(&query)).await
    }

    async fn dry_run(
        &self,
        wallet: WalletPkh,
        window: DryRunWindow,
    ) -> Result<DryRunRecord, ApiError> {
        NodeCommands::dry_run(self, wallet, window)
            .await
            .map_err(|e| ApiError::new(ErrorCode::DryRun, e.to_string()))
    }

    async fn status(&self, last_faults: u64) -> Result<NodeStatus, ApiError> {
        let snapshot = self.snapshot();
        let all = FaultFilter::default();
        let (faults, total) = read(self, move |c| {
            let newest = HistoryQuery::Faults {
                filter: all.clone(),
                order: FaultOrder::NewestFirst,
                offset: 0,
                limit: last_faults,
            };
            let count = HistoryQuery::CountFaults { filter: all };
            Ok((
                c.history(&newest)?.into_faults()?,
                c.history(&count)?.into_count()?,
            ))
        })
        .await?;
        Ok(NodeStatus::of_snapshot(&snapshot, None, faults, total))
    }
}
