//! Shared helpers of the Bitcoin tests: a real regtest Bitcoin node (bcoin 1.0.2, started by our
//! `tests/bitcoin/bcoin-regtest.js`) and a real Electrum server (ElectrumX, e-x 1.18.0, started
//! by `tests/bitcoin/electrumx-regtest.py`) in front of it, both on free loopback ports, each in
//! its own temporary directory, killed and removed when the guard drops. Installed by
//! `scripts/install-test-deps` (run by the first test that finds them missing). Time is blocks:
//! tests mine with `generatetoaddress` and wait for ElectrumX to report a height, with
//! deadlines, never for fixed sleeps.

#![allow(dead_code)]

// Not every test binary uses each.
#[allow(unused_imports)]
pub use crate::loopback_support::{cache_dir, free_port, install_test_deps};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, script, transaction, Address, CompressedPublicKey, Network, OutPoint, PrivateKey,
    PublicKey, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Generous: a loaded CI machine can be slow, and every wait ends as soon as its condition
/// holds.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How long one RPC or Electrum request may take. Mining a few hundred blocks on bcoin's
/// JavaScript crypto takes seconds on two loaded cores; this bounds a hang, it measures nothing.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest reply read from either server: enough for any block or history these tests make.
const MAX_REPLY: u64 = 32 << 20;

/// How often a wait looks again. The servers answer on loopback in about a millisecond.
const POLL: Duration = Duration::from_millis(20);

fn bcoin_modules() -> PathBuf {
    cache_dir().join("bcoin/node_modules")
}

fn electrumx_python() -> PathBuf {
    cache_dir().join("electrumx/bin/python")
}

fn launcher(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bitcoin")
        .join(name)
}

/// Installs bcoin and ElectrumX once per test binary when either is missing.
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let ready = || {
            bcoin_modules().join("bcoin/lib/node/fullnode.js").is_file()
                && electrumx_python().is_file()
        };
        if !ready() {
            install_test_deps();
        }
        assert!(
            ready(),
            "bcoin or ElectrumX missing under {}",
            cache_dir().display()
        );
    });
}

/// One server process: killed on drop, its directory (data and log) removed after it.
struct Service {
    name: &'static str,
    child: Child,
    dir: tempfile::TempDir,
}

impl Service {
    fn spawn(name: &'static str, mut command: Command) -> Service {
        let dir = tempfile::tempdir().expect("a directory for a test service");
        std::fs::create_dir(dir.path().join("data")).expect("a data directory");
        let log = std::fs::File::create(dir.path().join("output.log")).expect("a log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file handle"))
            .stderr(log)
            .current_dir(dir.path())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Service { name, child, dir }
    }

    /// Stops the process (SIGTERM, so it closes its index cleanly) and waits for it.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Starts `command` again in the same directory (so with the same data).
    fn respawn(&mut self, mut command: Command) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("output.log"))
            .expect("the log file");
        self.child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file handle"))
            .stderr(log)
            .current_dir(self.dir.path())
            .spawn()
            .unwrap_or_else(|e| panic!("restarting {}: {e}", self.name));
    }

    /// Waits until `ready` holds, polling; panics if the service exits first or the deadline
    /// passes.
    async fn wait_ready<F, Fut>(&mut self, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + DEADLINE;
        while !ready().await {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {}",
                self.name
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Panics with the end of the service's output if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log =
                std::fs::read_to_string(self.dir.path().join("output.log")).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!("{} exited ({status}):\n{tail}", self.name);
        }
    }

    /// Resident memory in KiB (Linux), for the figures a test may print.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ElectrumX for the regtest node on `rpc_port`, serving `tcp://` on `electrum_port` and
/// `services`, its index in `./data`.
fn electrumx_command(
    rpc_port: u16,
    api_key: &str,
    electrum_port: u16,
    services: &ElectrumServices,
) -> Command {
    let mut command = Command::new(electrumx_python());
    command
        .arg(launcher("electrumx-regtest.py"))
        .env("COIN", "Bitcoin")
        .env("NET", "regtest")
        .env(
            "DAEMON_URL",
            format!("http://tbtc-coord:{api_key}@127.0.0.1:{rpc_port}/"),
        )
        .env("DB_DIRECTORY", "data")
        .env(
            "SERVICES",
            std::iter::once(format!("tcp://127.0.0.1:{electrum_port}"))
                .chain(services.extra.iter().cloned())
                .collect::<Vec<_>>()
                .join(","),
        )
        // CI runs as root; ElectrumX refuses to unless told.
        .env("ALLOW_ROOT", "1")
        .env("PEER_DISCOVERY", "off")
        .env("PEER_ANNOUNCE", "")
        // New blocks and mempool transactions within a tenth of a second (default 5 s).
        .env("DAEMON_POLL_INTERVAL_BLOCKS", "100")
        .env("DAEMON_POLL_INTERVAL_MEMPOOL", "100")
        // Every test session comes from 127.0.0.1, one group whose cost would soon slow
        // and then drop its requests: no cost limits.
        .env("COST_SOFT_LIMIT", "0")
        .env("COST_HARD_LIMIT", "0")
        .env("REQUEST_SLEEP", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some((cert, key)) = &services.tls {
        command.env("SSL_CERTFILE", cert).env("SSL_KEYFILE", key);
    }
    command
}

/// A regtest bcoin and an ElectrumX indexing it, killed when dropped.
pub struct BitcoinNode {
    // Dropped in this order: the Electrum server before the node it reads.
    electrumx: Service,
    bcoin: Service,
    pub rpc_port: u16,
    pub electrum_port: u16,
    api_key: String,
    /// How long each took to answer after being started.
    pub bcoin_started_in: Duration,
    pub electrumx_started_in: Duration,
    services: ElectrumServices,
}

/// What ElectrumX serves besides its `tcp://` port.
#[derive(Debug, Clone, Default)]
pub struct ElectrumServices {
    /// More ElectrumX services, e.g. `ssl://127.0.0.1:PORT`, `ws://…`, `wss://…`.
    pub extra: Vec<String>,
    /// The PEM certificate and key files `ssl://` and `wss://` need.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl BitcoinNode {
    pub async fn start() -> BitcoinNode {
        BitcoinNode::start_with(ElectrumServices::default()).await
    }

    /// Starts the node and an ElectrumX that also serves `services`.
    pub async fn start_with(services: ElectrumServices) -> BitcoinNode {
        ensure_installed();
        let rpc_port = free_port();
        let api_key = format!("test-{}", uuid::Uuid::new_v4().simple());

        let began = Instant::now();
        let mut command = Command::new("node");
        command
            .arg(launcher("bcoin-regtest.js"))
            .arg(bcoin_modules())
            .arg("data")
            .arg(rpc_port.to_string())
            .arg(&api_key);
        let mut bcoin = Service::spawn("bcoin", command);
        let url = rpc_url(rpc_port);
        bcoin
            .wait_ready(|| async {
                try_rpc(&url, &api_key, "getblockcount", json!([]))
                    .await
                    .is_ok()
            })
            .await;
        let bcoin_started_in = began.elapsed();

        let electrum_port = free_port();
        let began = Instant::now();
        let command = electrumx_command(rpc_port, &api_key, electrum_port, &services);
        let mut electrumx = Service::spawn("ElectrumX", command);
        // ElectrumX opens its port only once it has caught up with the node.
        electrumx
            .wait_ready(|| async {
                try_electrum(electrum_port, "server.ping", json!([]))
                    .await
                    .is_ok()
            })
            .await;
        let electrumx_started_in = began.elapsed();

        BitcoinNode {
            electrumx,
            bcoin,
            rpc_port,
            electrum_port,
            api_key,
            bcoin_started_in,
            electrumx_started_in,
            services,
        }
    }

    /// A bcoin JSON-RPC call; panics on an error answer.
    /// Stops the Electrum server and starts it again on the same port and index, as an
    /// operator restarting it would; returns once it answers again.
    pub async fn restart_electrum(&mut self) {
        self.electrumx.stop();
        let command = electrumx_command(
            self.rpc_port,
            &self.api_key,
            self.electrum_port,
            &self.services,
        );
        self.electrumx.respawn(command);
        let port = self.electrum_port;
        self.electrumx
            .wait_ready(|| async { try_electrum(port, "server.ping", json!([])).await.is_ok() })
            .await;
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        match self.try_rpc(method, params.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("bcoin {method} {params}: {e}"),
        }
    }

    pub async fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        try_rpc(&rpc_url(self.rpc_port), &self.api_key, method, params).await
    }

    /// Mines `n` blocks paying `address` and returns their hashes.
    pub async fn mine(&self, n: u64, address: &str) -> Vec<String> {
        let hashes = self.rpc("generatetoaddress", json!([n, address])).await;
        serde_json::from_value(hashes).expect("generatetoaddress answers block hashes")
    }

    /// One Electrum request; panics on an error answer.
    pub async fn electrum(&self, method: &str, params: Value) -> Value {
        match try_electrum(self.electrum_port, method, params.clone()).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("electrum {method} {params}: error {e}"),
            Err(e) => panic!("electrum {method} {params}: {e}"),
        }
    }

    /// One Electrum request: the server's `result`, or its `error` object.
    pub async fn try_electrum(&self, method: &str, params: Value) -> Result<Value, Value> {
        try_electrum(self.electrum_port, method, params)
            .await
            .unwrap_or_else(|e| panic!("electrum {method}: {e}"))
    }

    /// Waits until ElectrumX reports a tip at `height` or above and returns its header.
    pub async fn wait_for_tip(&self, height: u64) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let tip = self
                .electrum("blockchain.headers.subscribe", json!([]))
                .await;
            if tip["height"].as_u64().is_some_and(|h| h >= height) {
                return tip;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for ElectrumX to reach height {height} (at {})",
                tip["height"]
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Resident memory of bcoin and of ElectrumX, in KiB.
    pub fn rss_kib(&self) -> (Option<u64>, Option<u64>) {
        (self.bcoin.rss_kib(), self.electrumx.rss_kib())
    }
}

fn rpc_url(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn basic_auth(password: &str) -> String {
    // "user:password" in base64; bcoin checks only the password.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("tbtc-coord:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One JSON-RPC call over HTTP/1.1 (one connection, closed by the server after its answer).
async fn try_rpc(addr: &str, api_key: &str, method: &str, params: Value) -> Result<Value, String> {
    let body = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params}).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        basic_auth(api_key),
        body.len()
    );
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        stream
            .take(MAX_REPLY)
            .read_to_end(&mut reply)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(reply)
    };
    let reply = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{method}: timeout"))??;
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method}: no HTTP answer"))?;
    let answer: Value = serde_json::from_str(body)
        .map_err(|e| format!("{method}: {e}: {}", head.lines().next().unwrap_or("")))?;
    if !answer["error"].is_null() {
        return Err(answer["error"].to_string());
    }
    Ok(answer["result"].clone())
}

/// Sends one JSON-RPC line to ElectrumX on a new connection and reads one line back. The outer
/// error is the transport's; the inner one the server's `error` object.
async fn try_electrum(
    port: u16,
    method: &str,
    params: Value,
) -> Result<Result<Value, Value>, String> {
    let mut line =
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    line.push('\n');
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        stream
            .write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        BufReader::new(stream.take(MAX_REPLY))
            .read_line(&mut reply)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(reply)
    };
    let reply = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{method}: timeout"))??;
    if !reply.ends_with('\n') {
        return Err(format!("{method}: connection closed before a whole line"));
    }
    let answer: Value = serde_json::from_str(&reply).map_err(|e| format!("{method}: {e}"))?;
    if let Some(error) = answer.get("error") {
        return Ok(Err(error.clone()));
    }
    Ok(Ok(answer["result"].clone()))
}

/// A key of the test's and its P2PKH script and address (regtest, as Bitcoin Core encodes it).
pub struct Key {
    pub secret: SecretKey,
    pub public: PublicKey,
}

impl Key {
    pub fn new(byte: u8) -> Key {
        let secret = SecretKey::from_slice(&[byte; 32]).expect("a valid secret key");
        let public = PublicKey::from_private_key(
            &Secp256k1::new(),
            &PrivateKey::new(secret, Network::Regtest),
        );
        Key { secret, public }
    }

    pub fn p2pkh(&self) -> Address {
        Address::p2pkh(self.public, Network::Regtest)
    }

    pub fn p2wpkh(&self) -> Address {
        let key = CompressedPublicKey::try_from(self.public).expect("a compressed key");
        Address::p2wpkh(&key, Network::Regtest)
    }

    /// Spends `previous` (an output paying this key's P2PKH script) to `outputs`.
    pub fn spend_p2pkh(&self, previous: OutPoint, outputs: Vec<TxOut>) -> Transaction {
        let mut tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: previous,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: outputs,
        };
        let sighash = SighashCache::new(&tx)
            .legacy_signature_hash(
                0,
                &self.p2pkh().script_pubkey(),
                EcdsaSighashType::All.to_u32(),
            )
            .expect("a legacy sighash");
        let signature = bitcoin::ecdsa::Signature {
            signature: Secp256k1::new()
                .sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &self.secret),
            sighash_type: EcdsaSighashType::All,
        };
        tx.input[0].script_sig = script::Builder::new()
            .push_slice(signature.serialize())
            .push_key(&self.public)
            .into_script();
        tx
    }
}

impl BitcoinNode {
    /// The block at `height`, parsed.
    pub async fn block_at(&self, height: u64) -> bitcoin::Block {
        let hash = self.rpc("getblockhash", json!([height])).await;
        let raw = self.rpc("getblock", json!([hash, false])).await;
        let bytes = hex::decode(raw.as_str().expect("a block in hex")).expect("block hex");
        bitcoin::consensus::encode::deserialize(&bytes).expect("a block")
    }

    /// The output of block `height`'s coinbase that paid `key`'s P2PKH, and its value.
    pub async fn coinbase_of(&self, height: u64, key: &Key) -> (OutPoint, bitcoin::Amount) {
        let coinbase = self.block_at(height).await.txdata.remove(0);
        let script = key.p2pkh().script_pubkey();
        let vout = coinbase
            .output
            .iter()
            .position(|o| o.script_pubkey == script)
            .expect("the coinbase pays the key");
        (
            OutPoint::new(coinbase.compute_txid(), vout as u32),
            coinbase.output[vout].value,
        )
    }
}

impl BitcoinNode {
    /// Spends block `height`'s coinbase (which paid `miner`) to `outputs`, the change back to
    /// the miner less a 10,000 sat fee, and broadcasts it through the Electrum server.
    pub async fn pay_from_coinbase(
        &self,
        miner: &Key,
        height: u64,
        outputs: Vec<TxOut>,
    ) -> Transaction {
        let (spent, coinbase) = self.coinbase_of(height, miner).await;
        let paid: bitcoin::Amount = outputs.iter().map(|o| o.value).sum();
        let mut outputs = outputs;
        outputs.push(TxOut {
            value: coinbase - paid - bitcoin::Amount::from_sat(10_000),
            script_pubkey: miner.p2pkh().script_pubkey(),
        });
        let tx = miner.spend_p2pkh(spent, outputs);
        self.electrum(
            "blockchain.transaction.broadcast",
            json!([bitcoin::consensus::encode::serialize_hex(&tx)]),
        )
        .await;
        tx
    }
}

/// The output paying `amount` satoshi to the P2WSH of `wallet`'s deposit script as `depositor`
/// reveals it with `reveal`.
pub fn deposit_output(
    depositor: &tbtc_coord::protocol::Address,
    wallet: &tbtc_coord::protocol::WalletPkh,
    reveal: &tbtc_coord::protocol::proposal::DepositReveal,
    amount: u64,
) -> TxOut {
    let script = tbtc_coord::bitcoin::reading::deposit_script(depositor, wallet, reveal);
    TxOut {
        value: bitcoin::Amount::from_sat(amount),
        script_pubkey: ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array(
            bitcoin::hashes::sha256::Hash::hash(script.as_bytes()).to_byte_array(),
        )),
    }
}

impl BitcoinNode {
    /// Our Bitcoin view on this node's Electrum server, with timeouts short enough that a
    /// test sees a server gone within seconds.
    pub async fn view(&self) -> tbtc_coord::bitcoin::electrum_view::ElectrumView {
        self.view_via(self.electrum_port).await
    }

    /// As [`BitcoinNode::view`], through whatever listens on `port` (a proxy in front of
    /// this node's Electrum server).
    pub async fn view_via(&self, port: u16) -> tbtc_coord::bitcoin::electrum_view::ElectrumView {
        use tbtc_coord::bitcoin::electrum::{
            BitcoinNetwork, ElectrumClient, ElectrumConfig, ServerUrl,
        };
        let url = ServerUrl::parse(&format!("tcp://127.0.0.1:{port}")).expect("a server URL");
        let config = ElectrumConfig {
            request_timeout: Duration::from_secs(2),
            request_retry_window: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(2),
            connect_retry_window: Duration::from_secs(4),
            ..ElectrumConfig::default()
        };
        let client = ElectrumClient::connect(vec![url], BitcoinNetwork::Regtest, config)
            .await
            .expect("ElectrumX answers");
        tbtc_coord::bitcoin::electrum_view::ElectrumView::new(client)
    }
}
