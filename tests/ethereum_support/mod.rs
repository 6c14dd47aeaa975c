//! Shared helpers of the Ethereum-mode tests: a real anvil on a free loopback port (killed on
//! drop), JSON-RPC calls, the real tBTC v2 contracts (`real`, with `lifecycle`, `moved_funds`,
//! `outcomes` and `staking`), the one Solidity fixture left (TokenStaking; committed artifacts, see
//! `scripts/build-fixtures`), a fake node and bounded waits (the cuttable TCP proxy, free
//! ports and the tool cache come from the binary's `loopback_support`). All traffic stays on
//! 127.0.0.1. Time is blocks: tests mine with `anvil_mine` and wait for block numbers with
//! deadlines, never for fixed sleeps.

#![allow(dead_code)]

pub mod lifecycle;
pub mod moved_funds;
pub mod outcomes;
pub mod real;
pub mod staking;

// Not every test binary uses each.
#[allow(unused_imports)]
pub use crate::loopback_support::{cache_dir, free_port, install_test_deps, Proxy};

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ethers_core::abi::{Contract, Token};
use ethers_providers::{Http, Provider};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use tbtc_coord::chain::ethereum::{CacheError, DiscoveryCache};
use tbtc_coord::protocol::Address;

/// anvil's first development account (unlocked: `eth_sendTransaction` needs no key).
pub const DEV_ACCOUNT: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// Generous: a loaded CI machine can be slow, and every wait ends as soon as its condition
/// holds.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Where `scripts/install-test-deps` puts anvil.
fn tools_dir() -> PathBuf {
    if let Ok(d) = std::env::var("TBTC_COORD_TOOLS") {
        return PathBuf::from(d);
    }
    cache_dir().join("npm")
}

fn installed_anvil() -> PathBuf {
    tools_dir().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// anvil: `$TBTC_COORD_ANVIL`, then PATH, then the install location; installed there by
/// `scripts/install-test-deps` when missing.
pub fn anvil_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("TBTC_COORD_ANVIL") {
                return PathBuf::from(p);
            }
            if let Some(p) = on_path("anvil") {
                return p;
            }
            let installed = installed_anvil();
            if !installed.is_file() {
                install_test_deps();
            }
            assert!(
                installed.is_file(),
                "anvil not found at {}",
                installed.display()
            );
            installed
        })
        .clone()
}

/// A running anvil, killed when dropped.
pub struct Anvil {
    child: Option<Child>,
    pub port: u16,
    /// Where anvil writes the states it moves out of memory as the chain grows (about a
    /// gigabyte for a few thousand blocks of the real contracts). Its own directory, removed
    /// with the guard: left in anvil's default `~/.foundry/anvil/tmp`, a killed anvil's
    /// states stay there forever.
    pub cache: tempfile::TempDir,
}

impl Anvil {
    pub async fn start(args: &[&str]) -> Anvil {
        Anvil::start_on(free_port(), args).await
    }

    pub async fn start_on(port: u16, args: &[&str]) -> Anvil {
        let cache = tempfile::tempdir().expect("a directory for anvil's states");
        let child = Command::new(anvil_binary())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
                "--cache-path",
            ])
            .arg(cache.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting anvil");
        let anvil = Anvil {
            child: Some(child),
            port,
            cache,
        };
        let url = anvil.http_url();
        wait_for("anvil to answer", || {
            let url = url.clone();
            async move { try_rpc(&url, "eth_chainId", json!([])).await.is_ok() }
        })
        .await;
        anvil
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, so anvil writes its `--state` file, then waits for it to exit.
    pub fn stop_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + DEADLINE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How long a test waits for one of its own RPC calls. Mining hundreds of blocks while
/// several anvils and nodes share two loaded cores can take tens of seconds; this bounds a
/// hang, it measures nothing.
const TEST_RPC_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn try_rpc(url: &str, method: &str, params: Value) -> Result<Value, String> {
    let provider = Provider::<Http>::try_from(url).map_err(|e| e.to_string())?;
    tokio::time::timeout(
        TEST_RPC_TIMEOUT,
        provider.request::<_, Value>(method, params),
    )
    .await
    .map_err(|_| "timeout".to_string())?
    .map_err(|e| e.to_string())
}

pub async fn rpc(url: &str, method: &str, params: Value) -> Value {
    match try_rpc(url, method, params.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{method} {params}: {e}"),
    }
}

pub fn quantity(v: &Value) -> u64 {
    let s = v.as_str().expect("a quantity");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex quantity")
}

pub async fn block_number(url: &str) -> u64 {
    quantity(&rpc(url, "eth_blockNumber", json!([])).await)
}

/// Mines `n` blocks, `interval` seconds of chain time apart.
pub async fn mine(url: &str, n: u64, interval: u64) {
    rpc(
        url,
        "anvil_mine",
        json!([format!("{n:#x}"), format!("{interval:#x}")]),
    )
    .await;
}

/// Mines up to block `target` (12 s apart, like mainnet).
pub async fn mine_to(url: &str, target: u64) {
    let head = block_number(url).await;
    if target > head {
        mine(url, target - head, 12).await;
    }
}

/// Polls `check` until it holds; panics naming `what` at the deadline.
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The compiled fixture (TokenStaking; see `staking.rs`).
pub struct Artifacts {
    value: Value,
}

impl Artifacts {
    pub fn load() -> Artifacts {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/contracts/artifacts.json");
        let text = std::fs::read_to_string(&path).expect("reading the fixture artifacts");
        Artifacts {
            value: serde_json::from_str(&text).expect("artifacts JSON"),
        }
    }

    pub fn abi(&self, name: &str) -> Contract {
        serde_json::from_value(self.value["contracts"][name]["abi"].clone()).expect("fixture ABI")
    }

    pub fn bytecode(&self, name: &str) -> String {
        self.value["contracts"][name]["bytecode"]
            .as_str()
            .expect("fixture bytecode")
            .to_string()
    }
}

/// Sends a transaction from the development account (anvil mines it at once) and returns
/// its receipt.
pub async fn send(url: &str, to: Option<&str>, data: &[u8]) -> Value {
    send_from(url, DEV_ACCOUNT, to, data).await
}

/// Sends a transaction from `from`, an unlocked or impersonated account, and returns its
/// receipt.
pub async fn send_from(url: &str, from: &str, to: Option<&str>, data: &[u8]) -> Value {
    let mut tx =
        json!({"from": from, "data": format!("0x{}", hex::encode(data)), "gas": "0x1c9c380"});
    if let Some(to) = to {
        tx["to"] = json!(to);
    }
    let hash = rpc(url, "eth_sendTransaction", json!([tx])).await;
    // anvil mines it at once, but the receipt may show up a moment later.
    let deadline = Instant::now() + DEADLINE;
    let receipt = loop {
        let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash.clone()])).await;
        if !receipt.is_null() {
            break receipt;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        receipt["status"],
        json!("0x1"),
        "transaction failed: {receipt}"
    );
    receipt
}

fn address_of(receipt: &Value) -> Address {
    receipt["contractAddress"]
        .as_str()
        .expect("a contract address")
        .parse()
        .expect("an address")
}

pub fn token_address(a: &Address) -> Token {
    Token::Address(a.0.into())
}

/// A Bitcoin script as the Bridge takes and emits it: after its length.
pub fn length_prefixed(script: &[u8]) -> Vec<u8> {
    let length = u8::try_from(script.len()).expect("a standard script");
    [vec![length], script.to_vec()].concat()
}

/// The calldata of `function(args)` of `contract`.
pub fn call_data(contract: &Contract, function: &str, args: &[Token]) -> Vec<u8> {
    contract
        .function(function)
        .and_then(|f| f.encode_input(args))
        .unwrap_or_else(|e| panic!("encoding {function}: {e}"))
}

/// A deterministic operator address for sortition pool member id `id`.
pub fn operator(id: u32) -> Address {
    let mut a = [0u8; 20];
    a[0] = 0x0A;
    a[16..].copy_from_slice(&id.to_be_bytes());
    Address(a)
}

/// A loopback HTTP server that answers each JSON-RPC request with whatever `respond` returns
/// for it (the whole HTTP body; the request is given parsed, `Null` if it was not JSON). It
/// stands in for a broken, hostile or rate-limiting node.
pub struct FakeNode {
    pub port: u16,
    pub requests: Arc<std::sync::atomic::AtomicUsize>,
    stop: CancellationToken,
}

impl FakeNode {
    /// Answers with status 200 and `respond`'s body.
    pub async fn start<F>(respond: F) -> FakeNode
    where
        F: Fn(&Value) -> String + Send + Sync + 'static,
    {
        FakeNode::start_with_status(move |req| (200, respond(req))).await
    }

    /// Answers with `respond`'s HTTP status (e.g. 429) and body.
    pub async fn start_with_status<F>(respond: F) -> FakeNode
    where
        F: Fn(&Value) -> (u16, String) + Send + Sync + 'static,
    {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake node bind");
        let port = listener.local_addr().expect("fake node address").port();
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let respond = Arc::new(respond);
        let (count, s) = (requests.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = s.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((mut socket, _)) = accepted else {
                    continue;
                };
                let respond = respond.clone();
                let count = count.clone();
                tokio::spawn(async move {
                    // One request per connection is enough for these tests: keep reading
                    // requests until the client closes.
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        let Some(split) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let length = text[..split]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())
                                    .flatten()
                            })
                            .unwrap_or(0);
                        if buf.len() < split + 4 + length {
                            continue;
                        }
                        let body = String::from_utf8_lossy(&buf[split + 4..split + 4 + length])
                            .to_string();
                        buf.drain(..split + 4 + length);
                        count.fetch_add(1, Ordering::SeqCst);
                        let request = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
                        let (status, answer) = respond(&request);
                        let reason = if status == 200 { "OK" } else { "Error" };
                        let response = format!(
                            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                            answer.len(),
                            answer
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeNode {
            port,
            requests,
            stop,
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A discovery cache in memory, standing in for the history store's.
#[derive(Default)]
pub struct MemoryCache {
    values: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl MemoryCache {
    pub fn get(&self, key: &str) -> Option<String> {
        self.values.lock().unwrap().get(key).cloned()
    }
}

#[async_trait::async_trait]
impl DiscoveryCache for MemoryCache {
    async fn load(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self.get(key))
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), CacheError> {
        self.values
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_string());
        Ok(())
    }
}

/// A well-formed block header (hashes are not checked by the latest-block read).
pub fn fake_header(number: u64) -> Value {
    let word = format!("0x{}", "11".repeat(32));
    json!({
        "number": format!("0x{number:x}"),
        "hash": word,
        "parentHash": word,
        "sha3Uncles": word,
        "miner": format!("0x{}", "22".repeat(20)),
        "stateRoot": word,
        "transactionsRoot": word,
        "receiptsRoot": word,
        "logsBloom": format!("0x{}", "00".repeat(256)),
        "difficulty": "0x0",
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "timestamp": "0x6553f100",
        "extraData": "0x",
        "mixHash": word,
        "nonce": "0x0000000000000000",
        "baseFeePerGas": "0x7",
    })
}
