//! The node's side of the control socket: one listener, one task per client.
//!
//! Every client is bounded: its request lines (at most [`MAX_REQUEST_LINE`] bytes; a longer
//! one, or one that is not UTF-8, is answered with an error and the connection closed), its
//! requests in flight ([`MAX_IN_FLIGHT`]), and its send queue ([`SEND_QUEUE`] lines). A
//! client whose queue fills is dropped with a reason: the node never waits for a reader, so
//! a slow console cannot slow coordination or the other consoles.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::protocol::{
    Hello, Notice, Outcome, Reply, Request, RequestLine, SnapshotReason, MAX_PAGE, VERSION,
};
use crate::engine::api::{ApiError, ErrorCode, NodeApi, Update};
use crate::engine::NodeCommands;

/// The longest request line read; a longer one is answered with an error, and the
/// connection closed.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;
/// Clients served at once; one more is told so and closed.
pub const MAX_CLIENTS: usize = 16;
/// Lines queued for one client before it counts as too slow and is dropped.
pub const SEND_QUEUE: usize = 1024;
/// Requests of one client answered at once (a dry run reads the chain).
pub const MAX_IN_FLIGHT: usize = 4;
/// How long a new connection has to say `hello`.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How long, at shutdown, clients have to receive what was queued for them.
const GOODBYE_WITHIN: Duration = Duration::from_secs(2);
/// The longest a Unix socket path may be (`sun_path`, less its terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the control socket path {} is {len} bytes long: the limit is {MAX_SOCKET_PATH} (use a shorter --data-dir)", path.display())]
    PathTooLong { path: PathBuf, len: usize },
    #[error("{} exists and is not a socket: not replaced (move it away)", .0.display())]
    NotASocket(PathBuf),
    #[error("another process serves {}: is a node running on this data directory without its lock?", .0.display())]
    InUse(PathBuf),
    #[error("cannot serve the control socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A bound control socket, not yet serving.
pub struct Bound {
    listener: UnixListener,
    file: SocketFile,
    /// The uid the socket file belongs to: ours.
    owner: u32,
}

/// Removes the socket file when dropped, if it is still the one this node created.
struct SocketFile {
    path: PathBuf,
    inode: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Refuses a socket path the kernel cannot bind (checked before a node creates anything).
pub fn check_socket_path(path: &Path) -> Result<(), ControlError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ControlError::PathTooLong {
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// Binds the socket at `path`, mode 0600. A socket left there by a node that crashed is
/// replaced: the caller holds the history's lock, so no live node of this history serves
/// it (and one that still answers is refused rather than stolen from).
pub fn bind(path: &Path) -> Result<Bound, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    check_socket_path(path)?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse(path.to_path_buf()));
            }
            tracing::info!(socket = %path.display(), "replacing the control socket a stopped node left behind");
            std::fs::remove_file(path).map_err(io)?;
        }
        Ok(_) => return Err(ControlError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    // Until this, the umask decided; the peer check below covers that instant.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let meta = std::fs::metadata(path).map_err(io)?;
    Ok(Bound {
        listener,
        file: SocketFile {
            path: path.to_path_buf(),
            inode: meta.ino(),
        },
        owner: meta.uid(),
    })
}

/// A serving control socket. [`ControlServer::shutdown`] stops it and removes the file.
pub struct ControlServer {
    path: PathBuf,
    cancel: CancellationToken,
    closed: CancellationToken,
    clients: TaskTracker,
    accept: tokio::task::JoinHandle<SocketFile>,
}

struct Shared {
    commands: NodeCommands,
    owner: u32,
    clients: AtomicUsize,
    /// Cancelled at shutdown: stop reading requests, finish the streams.
    closing: CancellationToken,
    /// Cancelled when the goodbye time is up: close everything.
    closed: CancellationToken,
}

impl Bound {
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Serves `commands` to clients until [`ControlServer::shutdown`].
    pub fn serve(self, commands: NodeCommands) -> ControlServer {
        let cancel = CancellationToken::new();
        let closed = CancellationToken::new();
        let clients = TaskTracker::new();
        let shared = Arc::new(Shared {
            commands,
            owner: self.owner,
            clients: AtomicUsize::new(0),
            closing: cancel.clone(),
            closed: closed.clone(),
        });
        let path = self.file.path.clone();
        tracing::info!(socket = %path.display(), "control socket listening");
        let accept = tokio::spawn(accept_loop(self, shared, clients.clone()));
        ControlServer {
            path,
            cancel,
            closed,
            clients,
            accept,
        }
    }
}

impl ControlServer {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting, lets every client receive what it was sent (the node's last events
    /// included) for a moment, closes them, and removes the socket file.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let file = self.accept.await.ok();
        self.clients.close();
        // The streams end at `node_stopped`; a client that stopped reading is cut off.
        if tokio::time::timeout(GOODBYE_WITHIN, self.clients.wait())
            .await
            .is_err()
        {
            self.closed.cancel();
            self.clients.wait().await;
        }
        drop(file);
    }
}

async fn accept_loop(bound: Bound, shared: Arc<Shared>, clients: TaskTracker) -> SocketFile {
    let Bound { listener, file, .. } = bound;
    loop {
        let stream = tokio::select! {
            _ = shared.closing.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "control socket: accepting a client failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        clients.spawn(async move { admit(stream, shared).await });
    }
    file
}

/// Who may use the socket: its owner (the node's user) and root.
pub fn peer_allowed(peer_uid: u32, owner: u32) -> bool {
    peer_uid == owner || peer_uid == 0
}

/// Writes one line to a client that will not be served, and closes it.
async fn refuse(stream: UnixStream, error: ApiError) {
    let mut out = FramedWrite::new(stream, LinesCodec::new());
    let line = reply_line(None, Err(error));
    let _ = tokio::time::timeout(Duration::from_secs(1), out.send(line)).await;
}

async fn admit(stream: UnixStream, shared: Arc<Shared>) {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "control socket: cannot tell who connected; refused");
            return;
        }
    };
    if !peer_allowed(cred.uid(), shared.owner) {
        tracing::warn!(
            uid = cred.uid(),
            pid = cred.pid(),
            "control socket: refused a client of another user"
        );
        let message = format!(
            "uid {} may not use this socket: only its owner (uid {}) and root may",
            cred.uid(),
            shared.owner
        );
        refuse(stream, ApiError::new(ErrorCode::Forbidden, message)).await;
        return;
    }
    if shared.clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
        shared.clients.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(
            max = MAX_CLIENTS,
            "control socket: refused a client, too many attached"
        );
        let message =
            format!("{MAX_CLIENTS} clients are attached already: the most this node serves");
        refuse(stream, ApiError::new(ErrorCode::Busy, message)).await;
        return;
    }
    let pid = cred.pid();
    tracing::debug!(?pid, "control socket: client connected");
    let reason = serve_client(stream, &shared).await;
    shared.clients.fetch_sub(1, Ordering::SeqCst);
    match reason {
        Some(reason) => {
            tracing::warn!(?pid, %reason, "control socket: client dropped")
        }
        None => tracing::debug!(?pid, "control socket: client left"),
    }
}

/// A client's send queue. Sending never waits: a full queue drops the client.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<String>,
    dropped: Arc<Mutex<Option<String>>>,
    cancel: CancellationToken,
}

impl Outbox {
    /// Queues `line`; false if the client is gone or was just dropped for being slow.
    fn send(&self, line: String) -> bool {
        match self.tx.try_send(line) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if let Ok(mut d) = self.dropped.lock() {
                    d.get_or_insert_with(|| {
                        format!("its send queue filled ({SEND_QUEUE} lines): it reads too slowly")
                    });
                }
                self.cancel.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

fn reply_line(id: Option<u64>, result: Result<serde_json::Value, ApiError>) -> String {
    let outcome = match result {
        Ok(v) => Outcome::Ok(v),
        Err(e) => Outcome::Error(e),
    };
    serde_json::to_string(&Reply { id, outcome }).unwrap_or_else(|e| {
        format!(r#"{{"id":null,"error":{{"code":"bad_request","message":"cannot encode the reply: {e}"}}}}"#)
    })
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

/// Serves one admitted client until it leaves, the node stops, or it is dropped (the reason
/// is returned).
async fn serve_client(stream: UnixStream, shared: &Arc<Shared>) -> Option<String> {
    let (read, write) = stream.into_split();
    let mut requests = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_REQUEST_LINE));
    let (tx, rx) = mpsc::channel(SEND_QUEUE);
    let cancel = shared.closed.child_token();
    let outbox = Outbox {
        tx,
        dropped: Arc::new(Mutex::new(None)),
        cancel: cancel.clone(),
    };
    let writer = tokio::spawn(write_lines(
        FramedWrite::new(write, LinesCodec::new()),
        rx,
        outbox.dropped.clone(),
        cancel.clone(),
    ));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // Requests are answered concurrently; the session ends only once every answer has.
    let answers = TaskTracker::new();
    let mut stream_task: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
    let mut greeted = false;
    let hello_by = tokio::time::Instant::now() + HELLO_WITHIN;
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = shared.closing.cancelled() => break,
            _ = tokio::time::sleep_until(hello_by), if !greeted => {
                outbox.send(reply_line(None, Err(bad(format!("no hello within {} s", HELLO_WITHIN.as_secs())))));
                break;
            }
            next = requests.next() => next,
        };
        let line = match next {
            None => break,
            Some(Ok(line)) => line,
            Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                // A framed stream ends at its codec's first error: say why, and close.
                let e = bad(format!(
                    "line longer than {MAX_REQUEST_LINE} bytes: closing the connection"
                ));
                outbox.send(reply_line(None, Err(e)));
                break;
            }
            Some(Err(LinesCodecError::Io(e))) => {
                // Not UTF-8, or the connection broke: the stream cannot go on.
                outbox.send(reply_line(None, Err(bad(format!("unreadable input: {e}")))));
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let RequestLine { id, request } = match serde_json::from_str::<RequestLine>(&line) {
            Ok(r) => r,
            Err(e) => {
                if !outbox.send(reply_line(None, Err(bad(format!("not a request: {e}"))))) {
                    break;
                }
                continue;
            }
        };
        match request {
            Request::Hello { version, client } => {
                if version != VERSION {
                    let e = ApiError::new(
                        ErrorCode::UnsupportedVersion,
                        format!(
                            "this node speaks control protocol version {VERSION}, not {version}"
                        ),
                    );
                    outbox.send(reply_line(id, Err(e)));
                    break;
                }
                greeted = true;
                tracing::debug!(%client, "control socket: hello");
                let snapshot = shared.commands.snapshot();
                let hello = Hello {
                    version: VERSION,
                    node: format!("tbtc-coord {}", env!("CARGO_PKG_VERSION")),
                    pid: std::process::id(),
                    chain: snapshot.chain,
                    operator: snapshot.operator,
                };
                if !outbox.send(reply_line(id, to_value(&hello))) {
                    break;
                }
            }
            _ if !greeted => {
                if !outbox.send(reply_line(
                    id,
                    Err(bad(format!(
                        "say hello first: {{\"type\":\"hello\",\"version\":{VERSION}}}"
                    ))),
                )) {
                    break;
                }
            }
            Request::Subscribe => {
                // Again: start over from a fresh snapshot.
                if let Some((stop, task)) = stream_task.take() {
                    stop.cancel();
                    let _ = task.await;
                }
                if !outbox.send(reply_line(id, Ok(serde_json::Value::Null))) {
                    break;
                }
                let stop = cancel.child_token();
                let task = tokio::spawn(stream_updates(
                    shared.commands.clone(),
                    outbox.clone(),
                    stop.clone(),
                ));
                stream_task = Some((stop, task));
            }
            request => {
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    let e = ApiError::new(
                        ErrorCode::Busy,
                        format!("{MAX_IN_FLIGHT} requests of this client are in flight already"),
                    );
                    if !outbox.send(reply_line(id, Err(e))) {
                        break;
                    }
                    continue;
                };
                let commands = shared.commands.clone();
                let outbox = outbox.clone();
                let cancel = cancel.clone();
                answers.spawn(async move {
                    let result = tokio::select! {
                        r = answer(&commands, request) => r,
                        _ = cancel.cancelled() => return,
                    };
                    outbox.send(reply_line(id, result));
                    drop(permit);
                });
            }
        }
    }
    // Answers still in flight are sent (or, once the node closes the session, given up).
    answers.close();
    answers.wait().await;
    // A stream ends at `node_stopped` (or when cut off); then the queue drains and closes.
    drop(outbox);
    if let Some((_, task)) = stream_task {
        let _ = task.await;
    }
    writer.await.ok().flatten()
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| bad(format!("cannot encode the reply: {e}")))
}

fn page_limit(limit: u64) -> Result<u64, ApiError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(bad(format!("limit {limit}: expected 1 to {MAX_PAGE}")));
    }
    Ok(limit)
}

async fn answer(commands: &NodeCommands, request: Request) -> Result<serde_json::Value, ApiError> {
    match request {
        Request::History { query } => {
            if let Some(limit) = query.page_limit() {
                page_limit(limit)?;
            }
            to_value(&NodeApi::history(commands, query).await?)
        }
        Request::DryRun { wallet, window } => {
            to_value(&NodeApi::dry_run(commands, wallet, window).await?)
        }
        Request::Status { last_faults } => {
            if last_faults > MAX_PAGE {
                return Err(bad(format!(
                    "last_faults {last_faults}: expected at most {MAX_PAGE}"
                )));
            }
            let mut status = NodeApi::status(commands, last_faults).await?;
            status.pid = Some(std::process::id());
            to_value(&status)
        }
        Request::Hello { .. } | Request::Subscribe => Err(bad("handled by the connection")),
    }
}

/// Streams a snapshot, then the node's events (a fresh snapshot after falling behind), into
/// the client's queue, until `node_stopped` has been queued or the stream is stopped.
async fn stream_updates(commands: NodeCommands, outbox: Outbox, stop: CancellationToken) {
    let mut updates = NodeApi::subscribe(&commands).await;
    let mut reason = SnapshotReason::Subscribed;
    loop {
        let update = tokio::select! {
            _ = stop.cancelled() => return,
            u = updates.next() => match u {
                Some(u) => u,
                None => return,
            },
        };
        let (line, last) = match update {
            Update::Snapshot { snapshot, .. } => {
                let notice = Notice::Snapshot { reason, snapshot };
                reason = SnapshotReason::Lagged;
                (serde_json::to_string(&notice), false)
            }
            Update::Event(event) => {
                let last = matches!(event, crate::engine::Event::NodeStopped);
                (serde_json::to_string(&event), last)
            }
            Update::ChainStatus(status) => (
                serde_json::to_string(&Notice::ChainStatus { status }),
                false,
            ),
            // An in-process subscription is never disconnected.
            Update::Disconnected { .. } => continue,
        };
        let Ok(line) = line else { continue };
        if !outbox.send(line) || last {
            return;
        }
    }
}

/// Writes queued lines until every sender is gone or the client is cut off; returns why the
/// client was dropped, if it was.
async fn write_lines(
    mut out: FramedWrite<tokio::net::unix::OwnedWriteHalf, LinesCodec>,
    mut rx: mpsc::Receiver<String>,
    dropped: Arc<Mutex<Option<String>>>,
    cancel: CancellationToken,
) -> Option<String> {
    loop {
        let line = tokio::select! {
            _ = cancel.cancelled() => break,
            line = rx.recv() => match line {
                Some(l) => l,
                None => break,
            },
        };
        let sent = tokio::select! {
            _ = cancel.cancelled() => break,
            r = out.send(line) => r,
        };
        if sent.is_err() {
            break;
        }
    }
    let reason = dropped.lock().ok().and_then(|d| d.clone());
    if let Some(reason) = &reason {
        // Best effort: a client too slow to read its queue may not read this either.
        let notice = Notice::Dropped {
            reason: reason.clone(),
        };
        if let Ok(line) = serde_json::to_string(&notice) {
            let _ = tokio::time::timeout(Duration::from_millis(200), out.send(line)).await;
        }
    }
    reason
}
