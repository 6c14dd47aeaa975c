//! What every test against servers on loopback shares: where `scripts/install-test-deps`
//! keeps the tools (and running it), a free port, and a TCP proxy a test can cut and restore. Included by the
//! support modules of the Ethereum, Bitcoin and Electrum tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// `${XDG_CACHE_HOME:-$HOME/.cache}/tbtc-coord`, where `scripts/install-test-deps` installs
/// what the tests run.
pub fn cache_dir() -> PathBuf {
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("tbtc-coord")
}

/// Runs `scripts/install-test-deps`, for a test that finds a tool missing.
pub fn install_test_deps() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new("bash")
        .arg(root.join("scripts/install-test-deps"))
        .status()
        .expect("running scripts/install-test-deps");
    assert!(status.success(), "scripts/install-test-deps failed");
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A loopback TCP proxy in front of a server: `cut` drops every open connection, and while
/// cut it closes new ones at once, so a test can take the server away and give it back.
pub struct Proxy {
    pub port: u16,
    /// Connections accepted and passed on to the server.
    pub connections: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    generation: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Proxy {
    /// A proxy on a free port.
    pub async fn start(upstream_port: u16) -> Proxy {
        Proxy::start_on(0, upstream_port).await
    }

    /// A proxy on `port` (0: a free one) to `upstream_port`.
    pub async fn start_on(port: u16, upstream_port: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("proxy bind");
        let port = listener.local_addr().expect("proxy address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (c, d, g, s) = (
            connections.clone(),
            down.clone(),
            generation.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = s.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown().await;
                    continue;
                }
                c.fetch_add(1, Ordering::SeqCst);
                let token = g.lock().expect("proxy lock").clone();
                tokio::spawn(async move {
                    let Ok(mut upstream) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                    }
                });
            }
        });
        Proxy {
            port,
            connections,
            down,
            generation,
            stop,
        }
    }

    /// Drops every open connection and closes new ones until `restore`.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        let mut g = self.generation.lock().expect("proxy lock");
        g.cancel();
        *g = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.cut();
    }
}
