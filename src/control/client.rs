//! The client side of the control socket: [`ControlConnection`] for one-off commands (`status`,
//! `dry-run`, `faults`), and [`RemoteNode`], the [`NodeApi`] an attached console uses. A
//! remote node keeps one connection, and when the node goes away it says so, retries, and
//! starts over from a fresh snapshot once the node is back. Given a [`LogFeed`], it also
//! reads the node's log and hands each line to the feed's sink (the console's Logs tab).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};
use tokio_util::sync::CancellationToken;

use super::logs::LogLine;
use super::protocol::{Hello, Notice, Outcome, Request, RequestLine, ServerLine, VERSION};
use crate::engine::api::{ApiError, ErrorCode, NodeApi, NodeStatus, Subscription, Update};
use crate::engine::query::{HistoryPage, HistoryQuery};
use crate::engine::records::DryRunRecord;
use crate::engine::DryRunWindow;
use crate::protocol::WalletPkh;

/// The longest line read from a node: a snapshot of a node in a thousand wallets of a
/// hundred seats is a few megabytes.
pub const MAX_SERVER_LINE: usize = 64 * 1024 * 1024;
/// How long connecting and the hello exchange may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(3);
/// How long a request may take; a dry run reads the chain, and gets longer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
const DRY_RUN_WITHIN: Duration = Duration::from_secs(60);
/// Retries after the node went away: the first soon, then at most this far apart.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Updates queued for the console; past that the link waits, and the node, whose queue for
/// this console then fills, drops it (and the console resyncs on reconnecting).
const UPDATE_QUEUE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No socket, or one nobody serves: no node is running there.
    #[error("no node is serving {}", .0.display())]
    NotRunning(PathBuf),
    #[error("cannot connect to {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the node at {} did not answer within {} s", path.display(), CONNECT_WITHIN.as_secs())]
    Timeout { path: PathBuf },
    #[error("the node at {} refused this client: {error}", path.display())]
    Refused { path: PathBuf, error: ApiError },
    #[error("the node at {} answered something else than the control protocol: {what}", path.display())]
    Protocol { path: PathBuf, what: String },
}

/// One connection to a node's control socket, after the hello exchange.
pub struct ControlConnection {
    read: FramedRead<tokio::net::unix::OwnedReadHalf, LinesCodec>,
    write: FramedWrite<tokio::net::unix::OwnedWriteHalf, LinesCodec>,
    next_id: u64,
}

fn unavailable(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, message)
}

impl ControlConnection {
    /// Connects to `path` and says hello; `client` names this program in the node's log.
    pub async fn open(
        path: &Path,
        client: &str,
    ) -> Result<(ControlConnection, Hello), ConnectError> {
        match tokio::time::timeout(CONNECT_WITHIN, Self::open_now(path, client)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout {
                path: path.to_path_buf(),
            }),
        }
    }

    async fn open_now(
        path: &Path,
        client: &str,
    ) -> Result<(ControlConnection, Hello), ConnectError> {
        let stream = match UnixStream::connect(path).await {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Err(ConnectError::NotRunning(path.to_path_buf()))
            }
            Err(source) => {
                return Err(ConnectError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let (read, write) = stream.into_split();
        let mut conn = ControlConnection {
            read: FramedRead::new(read, LinesCodec::new_with_max_length(MAX_SERVER_LINE)),
            write: FramedWrite::new(write, LinesCodec::new()),
            next_id: 1,
        };
        let protocol = |what: String| ConnectError::Protocol {
            path: path.to_path_buf(),
            what,
        };
        let hello = Request::Hello {
            version: VERSION,
            client: client.to_string(),
        };
        match conn.call(hello).await {
            Ok(value) => {
                let hello: Hello =
                    serde_json::from_value(value).map_err(|e| protocol(e.to_string()))?;
                Ok((conn, hello))
            }
            Err(error) if error.code == ErrorCode::Unavailable => Err(ConnectError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(error.message),
            }),
            Err(error) => Err(ConnectError::Refused {
                path: path.to_path_buf(),
                error,
            }),
        }
    }

    /// Sends a request; returns its id.
    pub async fn send(&mut self, request: Request) -> Result<u64, ApiError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&RequestLine {
            id: Some(id),
            request,
        })
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        self.write
            .send(line)
            .await
            .map_err(|e| unavailable(format!("the node went away: {e}")))?;
        Ok(id)
    }

    /// The next line from the node; `None` once it closed the connection.
    pub async fn next_line(&mut self) -> Option<Result<ServerLine, String>> {
        match self.read.next().await? {
            Ok(line) => Some(ServerLine::parse(&line).map_err(|e| format!("unreadable line: {e}"))),
            Err(e) => Some(Err(e.to_string())),
        }
    }

    /// Sends a request and waits for its answer, skipping any streamed lines.
    pub async fn call(&mut self, request: Request) -> Result<serde_json::Value, ApiError> {
        let id = self.send(request).await?;
        loop {
            match self.next_line().await {
                None => return Err(unavailable("the node closed the connection")),
                Some(Err(e)) => return Err(unavailable(e)),
                Some(Ok(ServerLine::Reply(reply)))
                    if reply.id == Some(id) || reply.id.is_none() =>
                {
                    return match reply.outcome {
                        Outcome::Ok(v) => Ok(v),
                        Outcome::Error(e) => Err(e),
                    }
                }
                Some(Ok(ServerLine::Notice(Notice::Dropped { reason }))) => {
                    return Err(unavailable(format!(
                        "the node dropped this client: {reason}"
                    )))
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// [`ControlConnection::call`], its answer decoded as `T`.
    pub async fn call_as<T: DeserializeOwned>(&mut self, request: Request) -> Result<T, ApiError> {
        decode(self.call(request).await?)
    }
}

fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("unexpected answer: {e}")))
}

/// Where an attached console wants the node's log: the filter it asks the node for, and what
/// takes each line.
#[derive(Clone)]
pub struct LogFeed {
    /// `--log-level`'s syntax: levels per target.
    pub filter: String,
    pub sink: Arc<dyn Fn(&LogLine) + Send + Sync>,
}

struct Call {
    request: Request,
    reply: oneshot::Sender<Result<serde_json::Value, ApiError>>,
}

/// A node in another process, reached over its control socket: the [`NodeApi`] of an
/// attached console.
pub struct RemoteNode {
    socket: PathBuf,
    calls: mpsc::Sender<Call>,
    updates: Mutex<Option<mpsc::Receiver<Update>>>,
}

impl RemoteNode {
    /// Starts the link to the node at `socket`; it runs until `cancel`.
    pub fn start(socket: PathBuf, cancel: CancellationToken) -> Arc<RemoteNode> {
        Self::start_link(socket, cancel, None)
    }

    /// [`RemoteNode::start`], also reading the node's log into `log`.
    pub fn start_with_log(
        socket: PathBuf,
        cancel: CancellationToken,
        log: LogFeed,
    ) -> Arc<RemoteNode> {
        Self::start_link(socket, cancel, Some(log))
    }

    fn start_link(
        socket: PathBuf,
        cancel: CancellationToken,
        log: Option<LogFeed>,
    ) -> Arc<RemoteNode> {
        let (calls_tx, calls_rx) = mpsc::channel(64);
        let (updates_tx, updates_rx) = mpsc::channel(UPDATE_QUEUE);
        tokio::spawn(run_link(socket.clone(), calls_rx, updates_tx, log, cancel));
        Arc::new(RemoteNode {
            socket,
            calls: calls_tx,
            updates: Mutex::new(Some(updates_rx)),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, ApiError> {
        let within = match request {
            Request::DryRun { .. } => DRY_RUN_WITHIN,
            _ => ANSWER_WITHIN,
        };
        let (tx, rx) = oneshot::channel();
        self.calls
            .send(Call { request, reply: tx })
            .await
            .map_err(|_| unavailable("the console's link to the node has stopped"))?;
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(result)) => decode(result?),
            Ok(Err(_)) => Err(unavailable("the node went away before answering")),
            Err(_) => Err(unavailable(format!(
                "the node did not answer within {} s",
                within.as_secs()
            ))),
        }
    }
}

/// Connects, and reconnects whenever the node goes away, until `cancel` (or until no one
/// listens for updates any more).
async fn run_link(
    socket: PathBuf,
    mut calls: mpsc::Receiver<Call>,
    updates: mpsc::Sender<Update>,
    log: Option<LogFeed>,
    cancel: CancellationToken,
) {
    let mut reported_outage = false;
    let mut retry = RETRY_FIRST;
    loop {
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return,
            a = ControlConnection::open(&socket, "tbtc-coord console") => a,
        };
        let reason = match attempt {
            Ok((conn, hello)) => {
                reported_outage = false;
                retry = RETRY_FIRST;
                tracing::info!(socket = %socket.display(), pid = hello.pid, "attached to the node");
                let link = serve_link(conn, hello.pid, &mut calls, &updates, log.as_ref(), &cancel);
                match link.await {
                    Some(reason) => reason,
                    None => return,
                }
            }
            Err(e) => e.to_string(),
        };
        if !reported_outage {
            reported_outage = true;
            tracing::warn!(socket = %socket.display(), %reason, "the node is not reachable; retrying");
            let update = Update::Disconnected {
                reason: reason.clone(),
            };
            if updates.send(update).await.is_err() {
                return;
            }
        }
        let until = tokio::time::Instant::now() + retry;
        retry = (retry * 2).min(RETRY_MAX);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(until) => break,
                call = calls.recv() => match call {
                    Some(call) => {
                        let _ = call.reply.send(Err(unavailable(format!("not connected to the node: {reason}"))));
                    }
                    None => return,
                },
            }
        }
    }
}

/// One connection's life: subscribe, pass updates on and calls through. Returns why the
/// connection ended, or `None` when the link should stop.
async fn serve_link(
    mut conn: ControlConnection,
    pid: u32,
    calls: &mut mpsc::Receiver<Call>,
    updates: &mpsc::Sender<Update>,
    log: Option<&LogFeed>,
    cancel: &CancellationToken,
) -> Option<String> {
    let mut pending: HashMap<u64, oneshot::Sender<Result<serde_json::Value, ApiError>>> =
        HashMap::new();
    let gone = |pending: &mut HashMap<u64, _>, reason: &str| {
        for (_, reply) in pending.drain() {
            let reply: oneshot::Sender<Result<serde_json::Value, ApiError>> = reply;
            let _ = reply.send(Err(unavailable(format!("the node went away: {reason}"))));
        }
    };
    if let Err(e) = conn.send(Request::Subscribe).await {
        return Some(e.message);
    }
    if let Some(log) = log {
        let filter = Some(log.filter.clone());
        if let Err(e) = conn.send(Request::Logs { filter }).await {
            return Some(e.message);
        }
    }
    // Events before the first snapshot are in it already.
    let mut have_snapshot = false;
    loop {
        let update = tokio::select! {
            _ = cancel.cancelled() => return None,
            call = calls.recv() => {
                let call = call?;
                match conn.send(call.request).await {
                    Ok(id) => {
                        pending.insert(id, call.reply);
                    }
                    Err(e) => {
                        let _ = call.reply.send(Err(e.clone()));
                        gone(&mut pending, &e.message);
                        return Some(e.message);
                    }
                }
                continue;
            }
            line = conn.next_line() => match line {
                None => {
                    let reason = "the node closed the connection".to_string();
                    gone(&mut pending, &reason);
                    return Some(reason);
                }
                Some(Err(reason)) => {
                    gone(&mut pending, &reason);
                    return Some(reason);
                }
                Some(Ok(ServerLine::Reply(reply))) => {
                    let sender = reply.id.and_then(|id| pending.remove(&id));
                    match (sender, reply.outcome) {
                        (Some(tx), Outcome::Ok(v)) => { let _ = tx.send(Ok(v)); }
                        (Some(tx), Outcome::Error(e)) => { let _ = tx.send(Err(e)); }
                        (None, Outcome::Error(e)) => tracing::warn!(error = %e, "the node reported an error"),
                        (None, Outcome::Ok(_)) => {}
                    }
                    continue;
                }
                Some(Ok(ServerLine::Notice(Notice::Snapshot { snapshot, .. }))) => {
                    have_snapshot = true;
                    Update::Snapshot { snapshot, pid: Some(pid) }
                }
                Some(Ok(ServerLine::Notice(Notice::ChainStatus { status }))) => Update::ChainStatus(status),
                Some(Ok(ServerLine::Notice(Notice::Log(line)))) => {
                    if let Some(log) = log {
                        (log.sink)(&line);
                    }
                    continue;
                }
                Some(Ok(ServerLine::Notice(Notice::LogsDropped { count }))) => {
                    if let Some(log) = log {
                        (log.sink)(&LogLine {
                            level: "WARN".into(),
                            target: module_path!().into(),
                            message: format!("{count} lines of the node's log dropped: this console read them too slowly"),
                        });
                    }
                    continue;
                }
                Some(Ok(ServerLine::Notice(Notice::Dropped { reason }))) => {
                    let reason = format!("the node dropped this console: {reason}");
                    gone(&mut pending, &reason);
                    return Some(reason);
                }
                Some(Ok(ServerLine::Event(_))) if !have_snapshot => continue,
                Some(Ok(ServerLine::Event(event))) => Update::Event(*event),
            },
        };
        tokio::select! {
            _ = cancel.cancelled() => return None,
            sent = updates.send(update) => if sent.is_err() { return None },
        }
    }
}

/// The updates of a [`RemoteNode`].
struct RemoteSubscription {
    updates: Option<mpsc::Receiver<Update>>,
}

#[async_trait]
impl Subscription for RemoteSubscription {
    async fn next(&mut self) -> Option<Update> {
        self.updates.as_mut()?.recv().await
    }
}

#[async_trait]
impl NodeApi for RemoteNode {
    /// The link's updates. There is one stream per remote node: a second subscription ends
    /// at once.
    async fn subscribe(&self) -> Box<dyn Subscription> {
        let updates = self.updates.lock().ok().and_then(|mut u| u.take());
        Box::new(RemoteSubscription { updates })
    }

    async fn history(&self, query: HistoryQuery) -> Result<HistoryPage, ApiError> {
        self.call(Request::History { query }).await
    }

    async fn dry_run(
        &self,
        wallet: WalletPkh,
        window: DryRunWindow,
    ) -> Result<DryRunRecord, ApiError> {
        self.call(Request::DryRun { wallet, window }).await
    }

    async fn status(&self, last_faults: u64) -> Result<NodeStatus, ApiError> {
        self.call(Request::Status { last_faults }).await
    }
}
