//! One session with one server: a task owns the transport, numbers the requests, matches the
//! answers by id (they may come out of order) and routes `blockchain.headers.subscribe`
//! notifications. Anything the server sends that is not a well-formed answer to a pending
//! request or a notification ends the session with an error naming it: a stream out of step
//! cannot be trusted for the next answer either.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::network::check_genesis;
use super::transport::{self, MessageSink, MessageStream};
use super::{
    BitcoinNetwork, ElectrumConfig, ElectrumError, HeaderTip, ServerUrl, PROTOCOL_VERSION,
};

/// How many requests may wait for the session task; callers beyond it wait their turn.
const QUEUE: usize = 64;

/// The longest excerpt of a bad message quoted in an error.
const EXCERPT: usize = 120;

struct Request {
    method: String,
    params: Value,
    reply: oneshot::Sender<Result<Value, ElectrumError>>,
}

/// What the session task shares with its handles.
struct Shared {
    /// Why the session ended, once it has.
    failure: Mutex<Option<ElectrumError>>,
    /// Whether tips go to the client's subscribers (only the active session's do).
    publish: AtomicBool,
    tip: Mutex<Option<HeaderTip>>,
    headers: watch::Sender<Option<HeaderTip>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn set_tip(&self, tip: HeaderTip) {
        *lock(&self.tip) = Some(tip.clone());
        if self.publish.load(Ordering::SeqCst) {
            self.headers.send_replace(Some(tip));
        }
    }
}

/// A handle on one session; clones share it.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) url: ServerUrl,
    /// Tells sessions apart (a failure ends only the session that failed).
    pub(crate) serial: u64,
    requests: mpsc::Sender<Request>,
    closed: CancellationToken,
    shared: Arc<Shared>,
}

impl Connection {
    /// Connects to `url`, agrees on protocol 1.4, checks the genesis block and subscribes to
    /// headers. The session task is tracked by `tracker` and ends when `parent` is cancelled.
    pub(crate) async fn open(
        url: &ServerUrl,
        network: BitcoinNetwork,
        config: &ElectrumConfig,
        headers: watch::Sender<Option<HeaderTip>>,
        tracker: &TaskTracker,
        parent: &CancellationToken,
        serial: u64,
    ) -> Result<Connection, ElectrumError> {
        if parent.is_cancelled() {
            return Err(ElectrumError::Shutdown);
        }
        let (sink, stream) = transport::open(url, config).await?;
        let (requests, queue) = mpsc::channel(QUEUE);
        let closed = parent.child_token();
        let shared = Arc::new(Shared {
            failure: Mutex::new(None),
            publish: AtomicBool::new(false),
            tip: Mutex::new(None),
            headers,
        });
        let session = Session {
            url: url.display_short(),
            sink,
            stream,
            queue,
            pending: HashMap::new(),
            next_id: 0,
            shared: shared.clone(),
        };
        tracker.spawn(session.run(closed.clone()));
        let connection = Connection {
            url: url.clone(),
            serial,
            requests,
            closed,
            shared,
        };
        match connection.handshake(network, config).await {
            Ok(()) => Ok(connection),
            Err(e) => {
                connection.close();
                Err(e)
            }
        }
    }

    async fn handshake(
        &self,
        network: BitcoinNetwork,
        config: &ElectrumConfig,
    ) -> Result<(), ElectrumError> {
        let client_name = format!("tbtc-coord {}", env!("CARGO_PKG_VERSION"));
        let version = self
            .request_within(
                config,
                "server.version",
                json!([client_name, PROTOCOL_VERSION]),
            )
            .await
            .map_err(|e| match e {
                ElectrumError::Server { message, .. } => ElectrumError::WrongVersion {
                    url: self.url.display_short(),
                    offered: format!("none it shares (it answered: {message})"),
                },
                e => e,
            })?;
        let offered = version.get(1).and_then(Value::as_str);
        if offered != Some(PROTOCOL_VERSION) {
            return Err(ElectrumError::WrongVersion {
                url: self.url.display_short(),
                offered: excerpt(&version.to_string()),
            });
        }
        let genesis = self
            .request_within(config, "blockchain.block.header", json!([0]))
            .await?;
        check_genesis(&self.url, network, &genesis)?;
        let tip = self
            .request_within(config, "blockchain.headers.subscribe", json!([]))
            .await?;
        let tip = parse_tip(&tip).ok_or_else(|| ElectrumError::Protocol {
            url: self.url.display_short(),
            detail: format!(
                "blockchain.headers.subscribe answered {}, expected {{\"height\", \"hex\"}}",
                excerpt(&tip.to_string())
            ),
        })?;
        self.shared.set_tip(tip);
        Ok(())
    }

    async fn request_within(
        &self,
        config: &ElectrumConfig,
        method: &str,
        params: Value,
    ) -> Result<Value, ElectrumError> {
        tokio::time::timeout(config.request_timeout, self.request(method, params))
            .await
            .map_err(|_| ElectrumError::Timeout {
                url: self.url.display_short(),
                what: method.to_string(),
                after: config.request_timeout,
            })?
    }

    /// Sends one request and waits for its answer, with no timeout of its own.
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, ElectrumError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            method: method.to_string(),
            params,
            reply,
        };
        if self.requests.send(request).await.is_err() {
            return Err(self.failure());
        }
        answer.await.unwrap_or_else(|_| Err(self.failure()))
    }

    /// Resolves when the session has ended, whoever ended it.
    pub(crate) async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Why the session ended (or that it did).
    pub(crate) fn failure(&self) -> ElectrumError {
        lock(&self.shared.failure)
            .clone()
            .unwrap_or_else(|| ElectrumError::Closed {
                url: self.url.display_short(),
                detail: "the session ended".to_string(),
            })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    pub(crate) fn close(&self) {
        self.closed.cancel();
    }

    /// Makes this the session whose tips the client's subscribers see, and tells them its
    /// latest one.
    pub(crate) fn activate(&self) {
        self.shared.publish.store(true, Ordering::SeqCst);
        if let Some(tip) = lock(&self.shared.tip).clone() {
            self.shared.headers.send_replace(Some(tip));
        }
    }
}

fn parse_tip(value: &Value) -> Option<HeaderTip> {
    Some(HeaderTip {
        height: value.get("height")?.as_u64()?,
        header_hex: value.get("hex")?.as_str()?.to_string(),
    })
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The task that owns one session's transport.
struct Session {
    url: String,
    sink: MessageSink,
    stream: MessageStream,
    queue: mpsc::Receiver<Request>,
    pending: HashMap<u64, Request>,
    next_id: u64,
    shared: Arc<Shared>,
}

impl Session {
    async fn run(mut self, closed: CancellationToken) {
        let url = self.url.clone();
        let failure = tokio::select! {
            _ = closed.cancelled() => ElectrumError::Closed {
                url,
                detail: "closed by the client".to_string(),
            },
            e = self.serve() => e,
        };
        tracing::debug!(server = %self.url, "Electrum session ended: {failure}");
        *lock(&self.shared.failure) = Some(failure.clone());
        closed.cancel();
        for (_, request) in self.pending.drain() {
            let _ = request.reply.send(Err(failure.clone()));
        }
        self.queue.close();
        while let Ok(request) = self.queue.try_recv() {
            let _ = request.reply.send(Err(failure.clone()));
        }
    }

    /// Serves requests until the session fails; returns why.
    async fn serve(&mut self) -> ElectrumError {
        loop {
            tokio::select! {
                request = self.queue.recv() => {
                    let Some(request) = request else {
                        return ElectrumError::Closed {
                            url: self.url.clone(),
                            detail: "no client handle left".to_string(),
                        };
                    };
                    let id = self.next_id;
                    self.next_id += 1;
                    let message = json!({
                        "jsonrpc": "2.0",
                        "id": id,
                        "method": request.method,
                        "params": request.params,
                    });
                    self.pending.insert(id, request);
                    if let Err(e) = self.sink.send(message.to_string()).await {
                        return e;
                    }
                }
                message = self.stream.next() => match message {
                    None => return ElectrumError::Closed {
                        url: self.url.clone(),
                        detail: "by the server".to_string(),
                    },
                    Some(Err(e)) => return e,
                    Some(Ok(text)) => {
                        if let Err(e) = self.receive(&text) {
                            return e;
                        }
                    }
                },
            }
        }
    }

    /// Handles one message from the server.
    fn receive(&mut self, text: &str) -> Result<(), ElectrumError> {
        let protocol = |detail: String| ElectrumError::Protocol {
            url: self.url.clone(),
            detail,
        };
        let message: Value = serde_json::from_str(text).map_err(|e| {
            protocol(format!(
                "sent {:?}, expected a JSON-RPC message ({e})",
                excerpt(text)
            ))
        })?;
        let Some(object) = message.as_object() else {
            return Err(protocol(format!(
                "sent {}, expected a JSON-RPC object",
                excerpt(text)
            )));
        };
        match object.get("id") {
            Some(id) if !id.is_null() => {
                let request = id
                    .as_u64()
                    .and_then(|id| self.pending.remove(&id))
                    .ok_or_else(|| {
                        protocol(format!(
                            "answered id {}, expected one of the {} pending request ids",
                            excerpt(&id.to_string()),
                            self.pending.len()
                        ))
                    })?;
                let answer = match (object.get("error"), object.get("result")) {
                    (Some(error), _) if !error.is_null() => Err(ElectrumError::Server {
                        url: self.url.clone(),
                        method: request.method.clone(),
                        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                        message: excerpt(
                            &error
                                .get("message")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| error.to_string()),
                        ),
                    }),
                    (_, Some(result)) => Ok(result.clone()),
                    (_, None) => Err(protocol(format!(
                        "answered {} to {} with neither result nor error",
                        excerpt(text),
                        request.method
                    ))),
                };
                let _ = request.reply.send(answer);
                Ok(())
            }
            _ => match object.get("method").and_then(Value::as_str) {
                Some("blockchain.headers.subscribe") => {
                    let tip = object
                        .get("params")
                        .and_then(|p| p.get(0))
                        .and_then(parse_tip)
                        .ok_or_else(|| {
                            protocol(format!(
                                "notified {}, expected a header {{\"height\", \"hex\"}}",
                                excerpt(text)
                            ))
                        })?;
                    self.shared.set_tip(tip);
                    Ok(())
                }
                // Other notifications (script hashes) are not subscribed to yet.
                Some(_) => Ok(()),
                None => Err(protocol(format!(
                    "sent {}, expected an answer or a notification",
                    excerpt(text)
                ))),
            },
        }
    }
}
