//! One client's session on the control socket, from its admission to its end: its requests
//! read and answered, its subscription streamed, everything it is sent queued.
//!
//! Every client is bounded: its request lines (at most [`MAX_REQUEST_LINE`] bytes; a longer
//! one, or one that is not UTF-8, is answered with an error and the connection closed), its
//! requests in flight ([`MAX_IN_FLIGHT`]), and its send queue ([`SEND_QUEUE`] lines). A
//! client whose queue fills is dropped with a reason: the node never waits for a reader, so
//! a slow console cannot slow coordination or the other consoles. The node's log, if asked
//! for, has a queue of its own (`logs`), written only when nothing else waits, and losing
//! its oldest lines rather than the client.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::logs::{self, LogQueue};
use super::protocol::{
    Hello, Notice, Outcome, Reply, Request, RequestLine, SnapshotReason, MAX_PAGE, VERSION,
};
use super::server::Shared;
use crate::engine::api::{ApiError, ErrorCode, NodeApi, Update};
use crate::engine::NodeCommands;

/// The longest request line read; a longer one is answered with an error, and the
/// connection closed.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;
/// Lines queued for one client before it counts as too slow and is dropped.
pub const SEND_QUEUE: usize = 1024;
/// Requests of one client answered at once (a dry run reads the chain).
pub const MAX_IN_FLIGHT: usize = 4;
/// How long a new connection has to say `hello`.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How long a client dropped for reading too slowly keeps its connection (and its place
/// among the clients) to read the line in progress and the notice saying why.
pub const DROP_NOTICE_WITHIN: Duration = Duration::from_secs(60);

/// A client's request lines.
type Requests = FramedRead<OwnedReadHalf, LinesCodec>;

/// Serves one admitted client until it leaves, the node stops, or it is dropped (the reason
/// is returned).
pub(super) async fn serve_client(stream: UnixStream, shared: &Shared) -> Option<String> {
    let (read, write) = stream.into_split();
    let mut requests = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_REQUEST_LINE));
    let cancel = shared.closed.child_token();
    let (outbox, writer) = Outbox::open(write, cancel.clone(), shared.closed.clone());
    let mut session = Session {
        shared,
        outbox,
        cancel,
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        answers: TaskTracker::new(),
        stream_task: None,
        log_task: None,
        greeted: false,
        hello_by: Instant::now() + HELLO_WITHIN,
    };
    while let Some(line) = session.next_line(&mut requests).await {
        if session.handle_line(&line).await.is_break() {
            break;
        }
    }
    // Answers still in flight are sent (or, once the node closes the session, given up).
    session.answers.close();
    session.answers.wait().await;
    // A stream ends at `node_stopped` (or when cut off); then the queue drains and closes.
    drop(session.outbox);
    if let Some((_, task)) = session.stream_task {
        let _ = task.await;
    }
    if let Some((stop, task)) = session.log_task {
        stop.cancel();
        let _ = task.await;
    }
    writer.await.ok().flatten()
}

/// A session's state between two lines. A handler returning `Break` ends the session.
struct Session<'a> {
    shared: &'a Shared,
    outbox: Outbox,
    /// This client's: cancelled when it is dropped or the node closes every session.
    cancel: CancellationToken,
    in_flight: Arc<Semaphore>,
    /// Requests are answered concurrently; the session ends only once every answer has.
    answers: TaskTracker,
    /// The subscription being streamed, if any: its stop token and its task.
    stream_task: Option<(CancellationToken, JoinHandle<()>)>,
    /// The node's log being streamed, if asked for: its stop token and its task.
    log_task: Option<(CancellationToken, JoinHandle<()>)>,
    greeted: bool,
    hello_by: Instant,
}

impl Session<'_> {
    /// The client's next line, or `None` once the session is over: the client left or sent
    /// what cannot be read (told why), said no hello in time (told so), or is cut off.
    async fn next_line(&self, requests: &mut Requests) -> Option<String> {
        let next = tokio::select! {
            _ = self.cancel.cancelled() => return None,
            _ = self.shared.closing.cancelled() => return None,
            _ = tokio::time::sleep_until(self.hello_by), if !self.greeted => {
                self.outbox.send(reply_line(None, Err(bad(format!("no hello within {} s", HELLO_WITHIN.as_secs())))));
                return None;
            }
            next = requests.next() => next,
        };
        match next {
            None => None,
            Some(Ok(line)) => Some(line),
            Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                // A framed stream ends at its codec's first error: say why, and close.
                let e = bad(format!(
                    "line longer than {MAX_REQUEST_LINE} bytes: closing the connection"
                ));
                self.outbox.send(reply_line(None, Err(e)));
                None
            }
            Some(Err(LinesCodecError::Io(e))) => {
                // Not UTF-8, or the connection broke: the stream cannot go on.
                self.outbox
                    .send(reply_line(None, Err(bad(format!("unreadable input: {e}")))));
                None
            }
        }
    }

    /// One line: blank ones are skipped, and nothing but `hello` is answered before it.
    async fn handle_line(&mut self, line: &str) -> ControlFlow<()> {
        if line.trim().is_empty() {
            return ControlFlow::Continue(());
        }
        let RequestLine { id, request } = match serde_json::from_str::<RequestLine>(line) {
            Ok(r) => r,
            Err(e) => return self.reply(None, Err(bad(format!("not a request: {e}")))),
        };
        match request {
            Request::Hello { version, client } => self.hello(id, version, client),
            _ if !self.greeted => self.reply(
                id,
                Err(bad(format!(
                    "say hello first: {{\"type\":\"hello\",\"version\":{VERSION}}}"
                ))),
            ),
            Request::Subscribe => self.subscribe(id).await,
            Request::Logs { filter } => self.logs(id, filter.as_deref()).await,
            request => self.dispatch(id, request),
        }
    }

    /// Queues a reply; `Break` if the client is gone or was just dropped for being slow.
    fn reply(
        &self,
        id: Option<u64>,
        result: Result<serde_json::Value, ApiError>,
    ) -> ControlFlow<()> {
        if self.outbox.send(reply_line(id, result)) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// `hello`: a client of another protocol version is told so and closed.
    fn hello(&mut self, id: Option<u64>, version: u32, client: String) -> ControlFlow<()> {
        if version != VERSION {
            let e = ApiError::new(
                ErrorCode::UnsupportedVersion,
                format!("this node speaks control protocol version {VERSION}, not {version}"),
            );
            self.outbox.send(reply_line(id, Err(e)));
            return ControlFlow::Break(());
        }
        self.greeted = true;
        tracing::debug!(%client, "control socket: hello");
        let snapshot = self.shared.commands.snapshot();
        let hello = Hello {
            version: VERSION,
            node: format!("tbtc-coord {}", env!("CARGO_PKG_VERSION")),
            pid: std::process::id(),
            chain: snapshot.chain,
            operator: snapshot.operator,
        };
        self.reply(id, to_value(&hello))
    }

    /// `subscribe`: acknowledged, then streamed. Again: start over from a fresh snapshot.
    async fn subscribe(&mut self, id: Option<u64>) -> ControlFlow<()> {
        if let Some((stop, task)) = self.stream_task.take() {
            stop.cancel();
            let _ = task.await;
        }
        self.reply(id, Ok(serde_json::Value::Null))?;
        let stop = self.cancel.child_token();
        let task = tokio::spawn(stream_updates(
            self.shared.commands.clone(),
            self.outbox.clone(),
            stop.clone(),
        ));
        self.stream_task = Some((stop, task));
        ControlFlow::Continue(())
    }

    /// `logs`: acknowledged, then the node's log lines that `filter` takes are streamed.
    /// Again: the new filter replaces the old.
    async fn logs(&mut self, id: Option<u64>, filter: Option<&str>) -> ControlFlow<()> {
        let targets = match logs::parse_filter(filter.unwrap_or("")) {
            Ok(t) => t,
            Err(e) => return self.reply(id, Err(bad(e))),
        };
        if let Some((stop, task)) = self.log_task.take() {
            stop.cancel();
            let _ = task.await;
        }
        // Subscribed before the reply: every line logged after it is the client's.
        let lines = logs::subscribe();
        self.reply(id, Ok(serde_json::Value::Null))?;
        let stop = self.cancel.child_token();
        let task = tokio::spawn(stream_logs(
            lines,
            targets,
            self.outbox.logs.clone(),
            stop.clone(),
        ));
        self.log_task = Some((stop, task));
        ControlFlow::Continue(())
    }

    /// Any other request: answered in a task of its own, so that a slow one (a dry run)
    /// holds up neither the client's other requests nor its stream; one too many is refused.
    fn dispatch(&self, id: Option<u64>, request: Request) -> ControlFlow<()> {
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            let e = ApiError::new(
                ErrorCode::Busy,
                format!("{MAX_IN_FLIGHT} requests of this client are in flight already"),
            );
            return self.reply(id, Err(e));
        };
        let commands = self.shared.commands.clone();
        let outbox = self.outbox.clone();
        let cancel = self.cancel.clone();
        self.answers.spawn(async move {
            let result = tokio::select! {
                r = answer(&commands, request) => r,
                _ = cancel.cancelled() => return,
            };
            outbox.send(reply_line(id, result));
            drop(permit);
        });
        ControlFlow::Continue(())
    }
}

/// A client's send queue. Sending never waits: a full queue drops the client.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<String>,
    /// The node's log lines for this client, written when nothing else waits.
    logs: Arc<LogQueue>,
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

    /// A client's queue, and the task writing it out to `write` (see [`write_lines`]).
    fn open(
        write: OwnedWriteHalf,
        cancel: CancellationToken,
        closed: CancellationToken,
    ) -> (Outbox, JoinHandle<Option<String>>) {
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let outbox = Outbox {
            tx,
            logs: Arc::new(LogQueue::default()),
            dropped: Arc::new(Mutex::new(None)),
            cancel: cancel.clone(),
        };
        let writer = tokio::spawn(write_lines(
            FramedWrite::new(write, LinesCodec::new()),
            rx,
            outbox.logs.clone(),
            outbox.dropped.clone(),
            cancel,
            closed,
        ));
        (outbox, writer)
    }
}

/// One reply line; its `id` is `None` when it answers no request (a refusal, a line that
/// cannot be read).
pub(super) fn reply_line(id: Option<u64>, result: Result<serde_json::Value, ApiError>) -> String {
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
        Request::Hello { .. } | Request::Subscribe | Request::Logs { .. } => {
            Err(bad("handled by the connection"))
        }
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

/// Queues the node's log lines that `targets` takes for one client, until stopped. It only
/// moves lines from the broadcast into the client's log queue, so it keeps up; lines the
/// broadcast lost for it all the same are counted as dropped.
async fn stream_logs(
    mut lines: tokio::sync::broadcast::Receiver<logs::LogLine>,
    targets: tracing_subscriber::filter::Targets,
    queue: Arc<LogQueue>,
    stop: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let line = tokio::select! {
            _ = stop.cancelled() => return,
            l = lines.recv() => l,
        };
        match line {
            Ok(line) => {
                let wanted = line
                    .level()
                    .is_some_and(|level| targets.would_enable(&line.target, &level));
                if !wanted {
                    continue;
                }
                if let Ok(text) = serde_json::to_string(&Notice::Log(line)) {
                    queue.push(text);
                }
            }
            Err(RecvError::Lagged(n)) => queue.lost(n),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Writes queued lines until every sender is gone or the client is cut off; returns why the
/// client was dropped, if it was. A line is written whole or not at all: once a client is cut
/// off, the line in progress and then the notice saying why still go out, within
/// [`DROP_NOTICE_WITHIN`], so a client that reads again learns the reason; the node closing
/// ends the wait at once.
async fn write_lines(
    mut out: FramedWrite<OwnedWriteHalf, LinesCodec>,
    mut rx: mpsc::Receiver<String>,
    logs: Arc<LogQueue>,
    dropped: Arc<Mutex<Option<String>>>,
    cut: CancellationToken,
    closed: CancellationToken,
) -> Option<String> {
    let give_up = async {
        tokio::select! {
            _ = closed.cancelled() => {}
            _ = async {
                cut.cancelled().await;
                tokio::time::sleep(DROP_NOTICE_WITHIN).await;
            } => {}
        }
    };
    tokio::pin!(give_up);
    let reason = || dropped.lock().ok().and_then(|d| d.clone());
    loop {
        let line = tokio::select! {
            biased;
            _ = cut.cancelled() => break,
            line = rx.recv() => match line {
                Some(l) => l,
                None => break,
            },
            line = logs.next() => line,
        };
        let sent = tokio::select! {
            _ = &mut give_up => return reason(),
            r = out.send(line) => r,
        };
        if sent.is_err() {
            return reason();
        }
    }
    let reason = reason();
    if let Some(reason) = &reason {
        let notice = Notice::Dropped {
            reason: reason.clone(),
        };
        if let Ok(line) = serde_json::to_string(&notice) {
            tokio::select! {
                _ = &mut give_up => {}
                _ = out.send(line) => {}
            }
        }
    }
    reason
}
