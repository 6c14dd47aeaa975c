//! Helpers of the Electrum client tests: short timeouts, a certificate for `ssl://` and
//! `wss://`, a fake Electrum server that misbehaves on request, and the loopback TCP proxy
//! (started on a given port, and cut).

#![allow(dead_code)]

// Not every test binary uses each.
#[allow(unused_imports)]
pub use crate::loopback_support::Proxy;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::consensus::encode::serialize_hex;
use serde_json::{json, Value};
use tbtc_coord::bitcoin::electrum::{ElectrumClient, ElectrumConfig, ElectrumStatus};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Generous: every wait ends as soon as its condition holds.
pub const DEADLINE: Duration = Duration::from_secs(60);

const POLL: Duration = Duration::from_millis(20);

/// Short timeouts and intervals, so that failures and failover show within seconds.
pub fn test_config() -> ElectrumConfig {
    ElectrumConfig {
        connect_timeout: Duration::from_secs(5),
        connect_retry_window: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        request_retry_window: Duration::from_secs(20),
        retry_delay: Duration::from_millis(50),
        ping_interval: Duration::from_millis(500),
        primary_ping_interval: Duration::from_millis(200),
        ..ElectrumConfig::default()
    }
}

/// Waits until `client`'s status satisfies `condition`; panics with the status at the deadline.
pub async fn wait_for_status(
    client: &ElectrumClient,
    what: &str,
    condition: impl Fn(&ElectrumStatus) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let status = client.status();
        if condition(&status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {status:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A self-signed certificate for 127.0.0.1 in PEM files, and its DER for the client to trust.
pub struct TestCertificate {
    pub dir: tempfile::TempDir,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub der: Vec<u8>,
}

impl TestCertificate {
    pub fn new() -> TestCertificate {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
            .expect("a self-signed certificate");
        let dir = tempfile::tempdir().expect("a directory for the certificate");
        let cert_file = dir.path().join("server.crt");
        let key_file = dir.path().join("server.key");
        std::fs::write(&cert_file, certified.cert.pem()).expect("writing the certificate");
        std::fs::write(&key_file, certified.key_pair.serialize_pem()).expect("writing the key");
        TestCertificate {
            dir,
            cert_file,
            key_file,
            der: certified.cert.der().to_vec(),
        }
    }
}

/// Regtest's block 0 header in hex, as a server of that network answers it.
pub fn regtest_genesis_header() -> String {
    serialize_hex(&bitcoin::constants::genesis_block(bitcoin::Network::Regtest).header)
}

/// What the fake server does with one request.
pub enum Reply {
    /// Answers with this result.
    Result(Value),
    /// Answers with this error object.
    Error(i64, &'static str),
    /// Answers with neither result nor error.
    Empty,
    /// Sends this text as it is (a newline is added).
    Raw(String),
    /// Sends this many bytes with no newline, then waits to be disconnected.
    Endless(usize),
    /// Never answers.
    Silent,
    /// Answers only after the next request has been answered.
    AfterNext(Value),
}

/// A fake Electrum server on loopback: the handshake a regtest server gives, then whatever
/// `handler` says for each other request. Stops when dropped.
pub struct FakeServer {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    /// `server.ping` requests received.
    pub pings: Arc<AtomicUsize>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl FakeServer {
    pub async fn start(
        version: &'static str,
        handler: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake server bind");
        let port = listener.local_addr().expect("fake server address").port();
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let connections = Arc::new(AtomicUsize::new(0));
        let pings = Arc::new(AtomicUsize::new(0));
        let handler = Arc::new(handler);
        let (s, t, c, p) = (
            stop.clone(),
            tracker.clone(),
            connections.clone(),
            pings.clone(),
        );
        tracker.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = s.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((stream, _)) = accepted else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let (handler, s, p) = (handler.clone(), s.clone(), p.clone());
                t.spawn(async move {
                    tokio::select! {
                        _ = s.cancelled() => {}
                        _ = serve(stream, version, &*handler, &p) => {}
                    }
                });
            }
        });
        FakeServer {
            port,
            connections,
            pings,
            stop,
            tracker,
        }
    }

    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.cancel();
        self.tracker.close();
    }
}

async fn serve(
    stream: TcpStream,
    version: &str,
    handler: &(dyn Fn(&str) -> Reply + Send + Sync),
    pings: &AtomicUsize,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read.take(1 << 20)).lines();
    let mut held: Option<(Value, Value)> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(request) = serde_json::from_str::<Value>(&line) else {
            return;
        };
        let id = request["id"].clone();
        let method = request["method"].as_str().unwrap_or_default().to_string();
        let reply = match method.as_str() {
            "server.version" => Reply::Result(json!(["fake", version])),
            "blockchain.block.header" => Reply::Result(json!(regtest_genesis_header())),
            "blockchain.headers.subscribe" => {
                Reply::Result(json!({"height": 0, "hex": regtest_genesis_header()}))
            }
            "server.ping" => {
                pings.fetch_add(1, Ordering::SeqCst);
                Reply::Result(Value::Null)
            }
            m => handler(m),
        };
        let mut out = match reply {
            Reply::Result(result) => {
                json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
            }
            Reply::Error(code, message) => json!({
                "jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}
            })
            .to_string(),
            Reply::Empty => json!({"jsonrpc": "2.0", "id": id}).to_string(),
            Reply::Raw(text) => text,
            Reply::Endless(n) => {
                let chunk = vec![b'x'; 64 << 10];
                let mut sent = 0;
                while sent < n {
                    if write.write_all(&chunk).await.is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
                // Hold the connection open: the client must end it.
                let _ = lines.next_line().await;
                return;
            }
            Reply::Silent => continue,
            Reply::AfterNext(result) => {
                held = Some((id, result));
                continue;
            }
        };
        out.push('\n');
        if let Some((id, result)) = held.take() {
            out.push_str(&json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string());
            out.push('\n');
        }
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}
