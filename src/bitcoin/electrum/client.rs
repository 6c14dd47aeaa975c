//! The client the node holds: requests go to the current server's session, a request that
//! times out or finds the session closed is retried on the next server of the list within the
//! retry window, and a status and a per-method observer tell the console and the metrics how
//! it goes. Its background tasks (keepalive pings, replacing a session the server ended, the
//! return to the first server) end on
//! `shutdown()`, or when the last clone is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

use super::connection::Connection;
use super::{failover, BitcoinNetwork, ElectrumConfig, ElectrumError, ServerUrl};

/// Told every request's method, latency and whether it was answered with a result.
pub type CallObserver = Arc<dyn Fn(&str, Duration, bool) + Send + Sync>;

/// The chain tip a server reports (`blockchain.headers.subscribe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTip {
    pub height: u64,
    /// The 80-byte header in hex.
    pub header_hex: String,
}

/// What the console shows of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectrumStatus {
    /// The current server as `scheme://host:port`.
    pub server: String,
    /// Whether the current server is the first of the list.
    pub primary: bool,
    pub connected: bool,
    /// The latest failure, kept after the client recovers.
    pub last_error: Option<String>,
    /// The latency of the latest answered request.
    pub last_latency: Option<Duration>,
}

/// An Electrum client over a list of servers; clones share one client.
#[derive(Clone)]
pub struct ElectrumClient {
    inner: Arc<Inner>,
    /// Cancels the background tasks when the last clone is dropped.
    _guard: Arc<DropGuard>,
}

/// The server in use and its session, if one is open.
struct Active {
    index: usize,
    connection: Option<Connection>,
}

pub(super) struct Inner {
    pub(super) servers: Vec<ServerUrl>,
    pub(super) network: BitcoinNetwork,
    pub(super) config: ElectrumConfig,
    active: tokio::sync::Mutex<Active>,
    status: Mutex<ElectrumStatus>,
    observer: OnceLock<CallObserver>,
    pub(super) headers: watch::Sender<Option<HeaderTip>>,
    pub(super) cancel: CancellationToken,
    pub(super) tracker: TaskTracker,
    serial: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ElectrumClient {
    /// Connects to the first server of `servers` that answers (trying the list in order
    /// within the connect retry window) and starts the keepalive and failover tasks.
    pub async fn connect(
        servers: Vec<ServerUrl>,
        network: BitcoinNetwork,
        config: ElectrumConfig,
    ) -> Result<ElectrumClient, ElectrumError> {
        let first = servers.first().ok_or(ElectrumError::NoServers)?;
        let cancel = CancellationToken::new();
        let inner = Arc::new(Inner {
            status: Mutex::new(ElectrumStatus {
                server: first.display_short(),
                primary: true,
                connected: false,
                last_error: None,
                last_latency: None,
            }),
            servers,
            network,
            config,
            active: tokio::sync::Mutex::new(Active {
                index: 0,
                connection: None,
            }),
            observer: OnceLock::new(),
            headers: watch::Sender::new(None),
            cancel: cancel.clone(),
            tracker: TaskTracker::new(),
            serial: AtomicU64::new(0),
        });
        let client = ElectrumClient {
            inner: inner.clone(),
            _guard: Arc::new(cancel.drop_guard()),
        };
        if let Err(e) = inner.connection().await {
            client.shutdown().await;
            return Err(e);
        }
        inner.tracker.spawn(keepalive(inner.clone()));
        inner.tracker.spawn(stay_connected(inner.clone()));
        if inner.servers.len() > 1 {
            inner
                .tracker
                .spawn(failover::return_to_primary(inner.clone()));
        }
        Ok(client)
    }

    /// One JSON-RPC request: its `result`, or an error naming the server and what failed.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ElectrumError> {
        self.inner.call(method, params).await
    }

    /// The tip of the current server, updated as it announces new blocks.
    pub fn subscribe_headers(&self) -> watch::Receiver<Option<HeaderTip>> {
        self.inner.headers.subscribe()
    }

    pub fn status(&self) -> ElectrumStatus {
        lock(&self.inner.status).clone()
    }

    /// Tells `observer` about every request from now on (the first observer set stays).
    pub fn observe_calls(&self, observer: CallObserver) {
        let _ = self.inner.observer.set(observer);
    }

    pub fn network(&self) -> BitcoinNetwork {
        self.inner.network
    }

    /// Ends every session and background task and waits for them; later calls fail.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
    }
}

impl std::fmt::Debug for ElectrumClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElectrumClient")
            .field("status", &self.status())
            .finish()
    }
}

impl Inner {
    async fn call(&self, method: &str, params: Value) -> Result<Value, ElectrumError> {
        let started = Instant::now();
        let outcome = self.call_with_retries(method, params, started).await;
        if let Some(observer) = self.observer.get() {
            observer(method, started.elapsed(), outcome.is_ok());
        }
        outcome
    }

    async fn call_with_retries(
        &self,
        method: &str,
        params: Value,
        started: Instant,
    ) -> Result<Value, ElectrumError> {
        let config = &self.config;
        loop {
            let connection = self.connection().await?;
            let sent = Instant::now();
            let answer = tokio::time::timeout(
                config.request_timeout,
                connection.request(method, params.clone()),
            )
            .await
            .unwrap_or_else(|_| {
                Err(ElectrumError::Timeout {
                    url: connection.url.display_short(),
                    what: method.to_string(),
                    after: config.request_timeout,
                })
            });
            let error = match answer {
                Ok(result) => {
                    lock(&self.status).last_latency = Some(sent.elapsed());
                    return Ok(result);
                }
                Err(e) if e.is_server_answer() => {
                    lock(&self.status).last_latency = Some(sent.elapsed());
                    return Err(e);
                }
                Err(e) => e,
            };
            self.fail(&connection, &error).await;
            // A server out of step with the protocol is the caller's to know about; a slow or
            // lost connection is worth another try elsewhere.
            let retry = matches!(
                error,
                ElectrumError::Timeout { .. } | ElectrumError::Closed { .. }
            );
            if self.cancel.is_cancelled() {
                return Err(ElectrumError::Shutdown);
            }
            if !retry {
                return Err(error);
            }
            if started.elapsed() >= config.request_retry_window {
                return Err(ElectrumError::Unavailable {
                    window: config.request_retry_window,
                    last: Box::new(error),
                });
            }
        }
    }

    /// The current session, connecting (to the current server, then the next ones) if none
    /// is open.
    async fn connection(&self) -> Result<Connection, ElectrumError> {
        if self.cancel.is_cancelled() {
            return Err(ElectrumError::Shutdown);
        }
        let mut active = self.active.lock().await;
        if let Some(connection) = &active.connection {
            if !connection.is_closed() {
                return Ok(connection.clone());
            }
            // Closed while idle (the server hung up): the next server's turn.
            active.connection = None;
            active.index = (active.index + 1) % self.servers.len();
        }
        let started = Instant::now();
        let n = self.servers.len();
        let mut refused = vec![false; n];
        let mut warned = vec![false; n];
        let mut last: Option<ElectrumError> = None;
        loop {
            let first = active.index;
            for k in 0..n {
                let index = (first + k) % n;
                if refused[index] {
                    continue;
                }
                let url = &self.servers[index];
                let opened = tokio::select! {
                    _ = self.cancel.cancelled() => return Err(ElectrumError::Shutdown),
                    opened = self.open(url) => opened,
                };
                match opened {
                    Ok(connection) => {
                        connection.activate();
                        active.index = index;
                        active.connection = Some(connection.clone());
                        let mut status = lock(&self.status);
                        status.server = url.display_short();
                        status.primary = index == 0;
                        status.connected = true;
                        tracing::info!(server = %status.server, "Electrum server connected");
                        return Ok(connection);
                    }
                    Err(e) => {
                        // Each server's first failure of a round is worth a warning; its
                        // retries within the round say the same again.
                        if std::mem::replace(&mut warned[index], true) {
                            tracing::debug!("{e}");
                        } else {
                            tracing::warn!("{e}");
                        }
                        refused[index] = e.is_refusal();
                        let mut status = lock(&self.status);
                        status.connected = false;
                        status.last_error = Some(e.to_string());
                        last = Some(e);
                    }
                }
                if started.elapsed() >= self.config.connect_retry_window {
                    break;
                }
            }
            let last = last.clone().unwrap_or(ElectrumError::NoServers);
            if refused.iter().all(|r| *r) {
                return Err(last);
            }
            if started.elapsed() >= self.config.connect_retry_window {
                return Err(ElectrumError::Unavailable {
                    window: self.config.connect_retry_window,
                    last: Box::new(last),
                });
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(ElectrumError::Shutdown),
                _ = tokio::time::sleep(self.config.retry_delay) => {}
            }
        }
    }

    pub(super) async fn open(&self, url: &ServerUrl) -> Result<Connection, ElectrumError> {
        Connection::open(
            url,
            self.network,
            &self.config,
            self.headers.clone(),
            &self.tracker,
            &self.cancel,
            self.serial.fetch_add(1, Ordering::Relaxed),
        )
        .await
    }

    /// Ends a session that failed and moves on to the next server (unless another caller
    /// already has).
    async fn fail(&self, connection: &Connection, error: &ElectrumError) {
        connection.close();
        let mut active = self.active.lock().await;
        let current = active
            .connection
            .as_ref()
            .is_some_and(|c| c.serial == connection.serial);
        if current {
            tracing::warn!("{error}");
            active.connection = None;
            active.index = (active.index + 1) % self.servers.len();
            let mut status = lock(&self.status);
            status.connected = false;
            status.last_error = Some(error.to_string());
        }
    }

    /// Whether the client is on the first server of its list.
    pub(super) async fn on_primary(&self) -> bool {
        self.active.lock().await.index == 0
    }

    /// Makes `connection` (to the first server, checked) the current session.
    pub(super) async fn switch_to_primary(&self, connection: Connection) {
        let mut active = self.active.lock().await;
        connection.activate();
        if let Some(old) = active.connection.replace(connection) {
            old.close();
        }
        active.index = 0;
        let mut status = lock(&self.status);
        status.server = self.servers[0].display_short();
        status.primary = true;
        status.connected = true;
        tracing::info!(server = %status.server, "back on the first Electrum server");
    }
}

/// A session the server ends (a restart, an idle drop) is replaced at once, not at the next
/// request: the new session subscribes to headers again, so the tip keeps following the
/// server, and the status says "disconnected" while there is none.
async fn stay_connected(inner: Arc<Inner>) {
    // Between rounds of connection attempts while no server answers: doubling from the retry
    // delay up to the ping interval, so a long outage costs a warning every few minutes.
    let mut pause = inner.config.retry_delay;
    loop {
        let connection = match inner.connection().await {
            Ok(connection) => connection,
            Err(ElectrumError::Shutdown) => return,
            Err(e) => {
                tracing::warn!(
                    "no Electrum server answers; trying again in {}: {e}",
                    humantime::format_duration(pause)
                );
                tokio::select! {
                    _ = inner.cancel.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = next_pause(pause, &inner.config);
                continue;
            }
        };
        pause = inner.config.retry_delay;
        tokio::select! {
            _ = inner.cancel.cancelled() => return,
            _ = connection.closed() => {}
        }
        // Ends nothing if the client already moved on (a failover closed it).
        inner.fail(&connection, &connection.failure()).await;
    }
}

/// The pause after `pause` between rounds of reconnection: twice as long, at most the ping
/// interval (never below the retry delay).
fn next_pause(pause: Duration, config: &ElectrumConfig) -> Duration {
    pause
        .saturating_mul(2)
        .min(config.ping_interval.max(config.retry_delay))
}

/// `server.ping` every ping interval keeps the session (servers drop idle ones) and finds a
/// dead one before a request does.
async fn keepalive(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            _ = inner.cancel.cancelled() => return,
            _ = tokio::time::sleep(inner.config.ping_interval) => {}
        }
        tokio::select! {
            _ = inner.cancel.cancelled() => return,
            answer = inner.call("server.ping", json!([])) => {
                if let Err(e) = answer {
                    tracing::debug!("Electrum keepalive: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnection_rounds_back_off_to_the_ping_interval() {
        let config = ElectrumConfig::default();
        let mut pause = config.retry_delay;
        let mut pauses = Vec::new();
        for _ in 0..12 {
            pauses.push(pause.as_secs());
            pause = next_pause(pause, &config);
        }
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        // A ping interval shorter than the retry delay does not make the pause shorter.
        let odd = ElectrumConfig {
            ping_interval: Duration::from_millis(10),
            ..ElectrumConfig::default()
        };
        assert_eq!(next_pause(odd.retry_delay, &odd), odd.retry_delay);
    }
}
