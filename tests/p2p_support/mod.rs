//! A cluster of real `tbtc-coord` processes on anvil, joined by keep's libp2p protocol on
//! loopback: keystores made by `key new`, one wallets file (or the real tBTC v2 contracts,
//! from which the nodes discover their wallets), free ports, every child killed on drop. Time is blocks: the test mines them, one at a time where the nodes must keep
//! pace, and waits on the processes' JSON events and log lines, each wait bounded by a hang
//! guard that fails the test.

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ethers_signers::LocalWallet;
use libp2p::{Multiaddr, PeerId};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tbtc_coord::engine::records::{FaultFilter, FaultOrder, FaultRow, WindowRow};
use tbtc_coord::net::envelope::Envelope;
use tbtc_coord::net::p2p::firewall::AdmitAll;
use tbtc_coord::net::p2p::{P2pConfig, P2pError, P2pNetwork, PeerEvent};
use tbtc_coord::net::signing::OperatorKey;
use tbtc_coord::protocol::{Address, CoordinationMessage, WalletPkh, WalletPublicKey};
use tbtc_coord::store::Store;

use crate::ethereum_support::real::RealTbtc;
use crate::ethereum_support::staking::StakingFixture;
use crate::ethereum_support::{block_number, free_port, mine, Anvil};

/// Bounds every wait: a hang fails the test; nothing is measured against it.
pub const HANG: Duration = Duration::from_secs(120);
const PASSWORD: &str = "cluster-pw";
pub const CHAIN_ID: u64 = 31337;

fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tbtc-coord"));
    c.env_remove("TBTC_COORD_RPC_URL")
        .env_remove("TBTC_COORD_ELECTRUM_URL")
        .env_remove("TBTC_COORD_KEYSTORE_PASSWORD")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    c
}

/// Runs `tbtc-coord ARGS…` to its end (a command that does not run a node), in a home of its
/// own: nothing of the user's (a config file, a history or discovery cache in the default data
/// directory) leaks in, and nothing is left there.
pub fn tbtc_coord<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let home = tempfile::tempdir().expect("a home");
    binary()
        .args(args)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .stdin(Stdio::null())
        .output()
        .expect("running tbtc-coord")
}

/// One operator: its keystore (made by `key new`) and where its node listens.
pub struct Operator {
    pub keystore: PathBuf,
    pub address: Address,
    pub peer_id: PeerId,
    pub port: u16,
    pub data_dir: PathBuf,
}

impl Operator {
    pub fn multiaddr(&self) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.port, self.peer_id)
            .parse()
            .expect("a multiaddr")
    }

    /// The operator's key, read back from its keystore (for a test peer that takes over an
    /// operator).
    pub fn key(&self) -> OperatorKey {
        let wallet = LocalWallet::decrypt_keystore(&self.keystore, PASSWORD).expect("keystore");
        OperatorKey::from_wallet(wallet).expect("operator key")
    }
}

/// A wallet of the cluster: its group key and which operators hold its seats, in order.
pub struct Wallet {
    pub key: WalletPublicKey,
    pub pkh: WalletPkh,
    pub seats: Vec<usize>,
}

impl Wallet {
    pub fn topic(&self) -> String {
        self.key.coordination_topic()
    }
}

/// What one node printed, over all its runs.
#[derive(Default)]
pub struct Output {
    pub events: Vec<Value>,
    pub log: Vec<String>,
    /// Where the current run's log starts.
    pub run_log_start: usize,
    pub run_event_start: usize,
}

struct Running {
    child: Child,
}

pub struct Cluster {
    pub anvil: Anvil,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub password_file: PathBuf,
    pub wallets_file: PathBuf,
    pub ops: Vec<Operator>,
    pub wallets: Vec<Wallet>,
    pub out: Vec<Arc<Mutex<Output>>>,
    running: Vec<Option<Running>>,
    /// Which operators the others bootstrap to.
    pub bootstrap: Vec<usize>,
    /// The deployed contracts, when the nodes discover their wallets from them rather than
    /// read the wallets file.
    pub contracts: Option<OnChain>,
}

/// What a cluster on contracts runs on: the real tBTC v2 contracts, and TokenStaking's
/// fixture for the firewall's on-chain rule.
pub struct OnChain {
    pub tbtc: RealTbtc,
    pub staking: StakingFixture,
    /// The WalletProposalValidator the nodes check proposals with: the deployment's own
    /// unless a test names another.
    pub validator: Address,
    /// An Electrum server on regtest the nodes read Bitcoin from, if a test starts one.
    pub electrum: Option<String>,
}

/// The secret key of wallet `w`'s group (the test holds it: the DKG result is its own).
fn wallet_secret(w: usize) -> [u8; 32] {
    let mut secret = [0u8; 32];
    secret[0] = 0x5A;
    secret[31] = u8::try_from(w + 1).expect("a wallet index");
    secret
}

impl Cluster {
    /// `seats[w]` lists the operators (0-based) holding wallet `w`'s seats in seat order.
    pub async fn new(operators: usize, seats: &[Vec<usize>]) -> Cluster {
        let anvil = Anvil::start(&[]).await;
        let url = anvil.http_url();
        let dir = tempfile::tempdir().expect("tempdir");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
        let mut ops = Vec::new();
        for i in 0..operators {
            let keystore = dir.path().join(format!("operator-{i}.json"));
            let out = binary()
                .args(["key", "new", "--json", "--keystore"])
                .arg(&keystore)
                .arg("--password-file")
                .arg(&password_file)
                .output()
                .expect("key new");
            assert!(
                out.status.success(),
                "key new: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).expect("key new JSON");
            ops.push(Operator {
                keystore,
                address: v["address"]
                    .as_str()
                    .expect("address")
                    .parse()
                    .expect("an address"),
                peer_id: v["peer_id"]
                    .as_str()
                    .expect("peer id")
                    .parse()
                    .expect("a peer id"),
                port: free_port(),
                data_dir: dir.path().join(format!("data-{i}")),
            });
        }
        let wallets: Vec<Wallet> = seats
            .iter()
            .enumerate()
            .map(|(w, seats)| {
                let key = WalletPublicKey::of_secret(&wallet_secret(w)).expect("a wallet key");
                Wallet {
                    pkh: key.pkh(),
                    key,
                    seats: seats.clone(),
                }
            })
            .collect();
        let mut toml = String::new();
        for w in &wallets {
            let seats: Vec<String> = w
                .seats
                .iter()
                .map(|i| format!("\"{}\"", ops[*i].address.to_checksum()))
                .collect();
            toml.push_str(&format!(
                "[[wallet]]\npkh = \"0x{}\"\npublic_key = \"0x{}\"\noperators = [{}]\n\n",
                w.pkh,
                hex::encode(w.key.uncompressed()),
                seats.join(", ")
            ));
        }
        let wallets_file = dir.path().join("wallets.toml");
        std::fs::write(&wallets_file, toml).expect("wallets file");
        Cluster {
            anvil,
            url,
            dir,
            password_file,
            wallets_file,
            out: (0..operators).map(|_| Default::default()).collect(),
            running: (0..operators).map(|_| None).collect(),
            ops,
            wallets,
            bootstrap: vec![0, 1],
            contracts: None,
        }
    }

    /// As [`Cluster::new`], but the wallets live on chain: the real contracts are deployed
    /// with every operator's keystore address in the sortition pool, and each wallet is made
    /// through the real DKG with its group key. The nodes get the contracts' addresses and no
    /// wallets file, so they discover the wallets, keys included.
    pub async fn on_contracts(operators: usize, seats: &[Vec<usize>]) -> Cluster {
        let mut c = Cluster::new(operators, seats).await;
        let addresses: Vec<Address> = c.ops.iter().map(|o| o.address).collect();
        let tbtc = RealTbtc::deploy(&c.url, &addresses).await;
        tbtc.allow_wallets_back_to_back().await;
        let staking = StakingFixture::deploy(&c.url).await;
        for (w, wallet) in c.wallets.iter().enumerate() {
            let members: Vec<Address> = wallet.seats.iter().map(|i| addresses[*i]).collect();
            let key = tbtc.create_wallet(&wallet_secret(w), &members).await;
            assert_eq!(key, wallet.key, "wallet {w}'s group key");
        }
        std::fs::remove_file(&c.wallets_file).expect("removing the unused wallets file");
        c.contracts = Some(OnChain {
            validator: tbtc.validator,
            electrum: None,
            tbtc,
            staking,
        });
        c
    }

    /// Starts operator `i`'s node (again, with the same data dir, after a kill).
    pub fn start(&mut self, i: usize) {
        assert!(self.running[i].is_none(), "operator {i} runs already");
        let peers: Vec<String> = self
            .bootstrap
            .iter()
            .filter(|b| **b != i && **b < self.ops.len())
            .map(|b| self.ops[*b].multiaddr().to_string())
            .collect();
        let op = &self.ops[i];
        let mut cmd = binary();
        cmd.args(["run", "--headless", "--json", "--all-events"])
            .args(["--log-level", "info"])
            .args(["--rpc-url", &self.url, "--chain-id", &CHAIN_ID.to_string()])
            .args(["--poll-interval", "50ms"])
            .arg("--keystore")
            .arg(&op.keystore)
            .arg("--password-file")
            .arg(&self.password_file);
        match &self.contracts {
            Some(OnChain {
                tbtc,
                staking,
                validator,
                electrum,
            }) => {
                if let Some(url) = electrum {
                    cmd.args(["--electrum-url", url, "--bitcoin-network", "regtest"]);
                }
                cmd.args(["--bridge", &tbtc.bridge.to_checksum()])
                    .args(["--wallet-proposal-validator", &validator.to_checksum()])
                    .args(["--wallet-registry", &tbtc.registry.to_checksum()])
                    .args(["--sortition-pool", &tbtc.pool.to_checksum()])
                    .args(["--token-staking", &staking.address.to_checksum()]);
            }
            None => {
                cmd.arg("--wallets").arg(&self.wallets_file);
            }
        }
        cmd.arg("--data-dir")
            .arg(&op.data_dir)
            .args(["--p2p-listen", &format!("/ip4/127.0.0.1/tcp/{}", op.port)]);
        if !peers.is_empty() {
            cmd.args(["--p2p-peers", &peers.join(",")]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tbtc-coord");
        {
            let mut out = self.out[i].lock().unwrap();
            out.run_log_start = out.log.len();
            out.run_event_start = out.events.len();
        }
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let out = self.out[i].clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON event ({e}): {line}"));
                out.lock().unwrap().events.push(v);
            }
        });
        let out = self.out[i].clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                out.lock().unwrap().log.push(line);
            }
        });
        self.running[i] = Some(Running { child });
    }

    pub fn start_all(&mut self) {
        for i in 0..self.ops.len() {
            self.start(i);
        }
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.running[i].is_some()
    }

    /// Operators whose process runs and is not stopped.
    pub fn running(&self) -> Vec<usize> {
        (0..self.ops.len())
            .filter(|i| self.is_running(*i))
            .collect()
    }

    pub fn pid(&self, i: usize) -> i32 {
        self.running[i].as_ref().expect("running").child.id() as i32
    }

    pub fn signal(&self, i: usize, signal: i32) {
        // SAFETY: kill(2) on the pid of a child this cluster spawned and has not reaped.
        let rc = unsafe { libc::kill(self.pid(i), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid(i));
    }

    /// SIGKILL, reaped: the process is gone and records nothing more.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut r) = self.running[i].take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }

    pub fn events(&self, i: usize) -> Vec<Value> {
        self.out[i].lock().unwrap().events.clone()
    }

    pub fn events_of(&self, i: usize, kind: &str) -> Vec<Value> {
        self.events(i)
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    pub fn log(&self, i: usize) -> Vec<String> {
        self.out[i].lock().unwrap().log.clone()
    }

    /// The highest block operator `i`'s node reported in its current run.
    pub fn head_of(&self, i: usize) -> u64 {
        let out = self.out[i].lock().unwrap();
        out.events[out.run_event_start..]
            .iter()
            .filter(|e| e["type"] == "block")
            .filter_map(|e| e["number"].as_u64())
            .max()
            .unwrap_or(0)
    }

    /// The peers operator `i`'s node reports connected now (its current run's log).
    pub fn connected(&self, i: usize) -> HashSet<PeerId> {
        let out = self.out[i].lock().unwrap();
        let mut set = HashSet::new();
        for line in &out.log[out.run_log_start..] {
            let Some(peer) = field(line, "peer") else {
                continue;
            };
            let Ok(peer) = peer.parse::<PeerId>() else {
                continue;
            };
            if line.contains("peer connected") {
                set.insert(peer);
            } else if line.contains("peer disconnected") {
                set.remove(&peer);
            }
        }
        set
    }

    /// Polls `check` until it holds; fails the test naming `what` (with the logs' tails)
    /// after [`HANG`].
    pub async fn wait(&self, what: &str, mut check: impl FnMut(&Cluster) -> bool) {
        let deadline = Instant::now() + HANG;
        loop {
            if check(self) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("hang guard: timed out waiting for {what}\n{}", self.tails());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The last lines of every node's log, for a failure message.
    pub fn tails(&self) -> String {
        let mut s = String::new();
        for i in 0..self.ops.len() {
            let log = self.log(i);
            s.push_str(&format!("--- operator {i} log tail ---\n"));
            for l in log.iter().skip(log.len().saturating_sub(15)) {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    /// Until every running node has `expected(i)` among its connected peers.
    pub async fn wait_connected(&self) {
        let running = self.running();
        self.wait("the nodes to connect to their bootstrap peers", |c| {
            running.iter().all(|i| {
                let connected = c.connected(*i);
                c.expected_peers(*i, &running)
                    .iter()
                    .all(|p| connected.contains(p))
            })
        })
        .await;
    }

    /// Whom a node must be connected to: its bootstrap peers, and, for a bootstrap peer,
    /// everyone (they all dial it).
    pub fn expected_peers(&self, i: usize, among: &[usize]) -> Vec<PeerId> {
        among
            .iter()
            .filter(|j| **j != i && (self.bootstrap.contains(j) || self.bootstrap.contains(&i)))
            .map(|j| self.ops[*j].peer_id)
            .collect()
    }

    pub async fn head(&self) -> u64 {
        block_number(&self.url).await
    }

    /// Mines up to `target` in one go (outside active phases only: a node that sees the
    /// head jump over a coordination block past its active phase reports the window missed).
    pub async fn mine_to(&self, target: u64) {
        let head = self.head().await;
        if target > head {
            mine(&self.url, target - head, 12).await;
        }
    }

    /// Mines one block at a time up to `target`, each time waiting until every node in
    /// `pace` has seen it, so the nodes keep up whatever the load: their time is blocks.
    /// Stops early once `done` holds after a block.
    pub async fn step_to(
        &self,
        target: u64,
        pace: &[usize],
        mut done: impl FnMut(&Cluster) -> bool,
    ) {
        loop {
            let head = self.head().await;
            if head >= target {
                return;
            }
            mine(&self.url, 1, 12).await;
            let b = head + 1;
            self.wait(&format!("nodes {pace:?} to see block {b}"), |c| {
                pace.iter().all(|i| c.head_of(*i) >= b)
            })
            .await;
            if done(self) {
                return;
            }
        }
    }

    /// `coordination_result` events of window `cb` from node `i`.
    pub fn results(&self, i: usize, cb: u64) -> Vec<Value> {
        self.events_of(i, "coordination_result")
            .into_iter()
            .filter(|e| e["coordination_block"] == cb)
            .collect()
    }

    /// The wallets operator `i` holds a seat in.
    /// Operator `i`'s lowest seat (member index) in wallet `w`.
    pub fn lowest_seat(&self, w: usize, i: usize) -> u8 {
        let position = self.wallets[w]
            .seats
            .iter()
            .position(|s| *s == i)
            .expect("a seat holder");
        u8::try_from(position + 1).expect("a member index")
    }

    pub fn wallets_of(&self, i: usize) -> Vec<usize> {
        (0..self.wallets.len())
            .filter(|w| self.wallets[*w].seats.contains(&i))
            .collect()
    }

    /// Whether node `i` has a result of window `cb` for each of its wallets.
    pub fn has_all_results(&self, i: usize, cb: u64) -> bool {
        let results = self.results(i, cb);
        self.wallets_of(i).iter().all(|w| {
            let pkh = self.wallets[*w].pkh.to_hex();
            results.iter().any(|r| r["wallet"] == pkh.as_str())
        })
    }

    pub fn completed(&self, i: usize, cb: u64) -> bool {
        self.events_of(i, "window_completed")
            .iter()
            .any(|e| e["coordination_block"] == cb)
    }

    /// The leaders node `i` forecast for window `cb`, by wallet hex.
    pub fn forecast(&self, i: usize, cb: u64) -> Option<Vec<(String, Address)>> {
        self.events_of(i, "leader_forecast")
            .into_iter()
            .find(|e| e["coordination_block"] == cb)
            .map(|e| {
                e["leaders"]
                    .as_array()
                    .expect("leaders")
                    .iter()
                    .map(|l| {
                        (
                            l["wallet"].as_str().expect("wallet").to_string(),
                            l["leader"]
                                .as_str()
                                .expect("leader")
                                .parse()
                                .expect("address"),
                        )
                    })
                    .collect()
            })
    }

    /// The operator index of an address.
    pub fn index_of(&self, a: &Address) -> usize {
        self.ops
            .iter()
            .position(|o| o.address == *a)
            .unwrap_or_else(|| panic!("{a} is no operator of the cluster"))
    }

    pub fn wallet_index(&self, hex: &str) -> usize {
        self.wallets
            .iter()
            .position(|w| w.pkh.to_hex() == hex)
            .unwrap_or_else(|| panic!("{hex} is no wallet of the cluster"))
    }

    fn store(&self, i: usize) -> Store {
        let path = self.ops[i]
            .data_dir
            .join(format!("chain-{CHAIN_ID}.sqlite3"));
        Store::open_read_only(&path).expect("opening a node's history")
    }

    /// Operator `i`'s recorded faults (its SQLite history).
    pub fn history_faults(&self, i: usize) -> Vec<FaultRow> {
        self.store(i)
            .faults(&FaultFilter::default(), FaultOrder::OldestFirst, 0, 10_000)
            .expect("reading faults")
    }

    /// Operator `i`'s fault evidence, exported by `faults --evidence --json` from its
    /// history: the raw output (for a file) and the parsed entries.
    pub fn evidence_export(&self, i: usize) -> (Vec<u8>, Vec<Value>) {
        let export = tbtc_coord([
            "faults".as_ref(),
            "--evidence".as_ref(),
            "--json".as_ref(),
            "--chain-id".as_ref(),
            CHAIN_ID.to_string().as_ref(),
            "--data-dir".as_ref(),
            self.ops[i].data_dir.as_os_str(),
        ]);
        assert!(export.status.success(), "{export:?}");
        let entries = serde_json::from_slice(&export.stdout).expect("one JSON array");
        (export.stdout, entries)
    }

    pub fn history_windows(&self, i: usize) -> Vec<WindowRow> {
        self.store(i).windows(100).expect("reading windows")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in self.running.iter_mut().filter_map(Option::take) {
            let mut child = r.child;
            // SIGKILL ends a stopped process too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts every node of `c`, waits until each announced itself and is connected to its
/// bootstrap peers, and mines to just after window `cb`'s safe block so every node has
/// forecast its leaders. Returns the forecast: wallet index → leader's operator index.
pub async fn prepare(c: &mut Cluster, cb: u64) -> Vec<usize> {
    c.start_all();
    let all = c.running();
    c.wait("every node to start", |c| {
        all.iter()
            .all(|i| !c.events_of(*i, "node_started").is_empty())
    })
    .await;
    c.wait_connected().await;
    c.mine_to(cb - 30).await;
    c.wait("every node's leader forecast", |c| {
        all.iter().all(|i| c.forecast(*i, cb).is_some())
    })
    .await;
    let forecast = c.forecast(all[0], cb).expect("forecast");
    for i in &all {
        assert_eq!(
            c.forecast(*i, cb).expect("forecast"),
            forecast,
            "node {i} forecast other leaders"
        );
    }
    let mut leaders = vec![usize::MAX; c.wallets.len()];
    for (wallet, leader) in forecast {
        leaders[c.wallet_index(&wallet)] = c.index_of(&leader);
    }
    assert!(
        leaders.iter().all(|l| *l != usize::MAX),
        "a wallet without forecast"
    );
    leaders
}

/// All faults announced by node `i` in window `cb`, as (wallet hex, culprit, type).
pub fn faults_in(c: &Cluster, i: usize, cb: u64) -> Vec<(String, Address, String)> {
    let mut out: Vec<(String, Address, String)> = c
        .results(i, cb)
        .iter()
        .flat_map(|r| {
            let wallet = r["wallet"].as_str().expect("wallet").to_string();
            r["faults"]
                .as_array()
                .expect("faults")
                .iter()
                .map(move |f| {
                    (
                        wallet.clone(),
                        f["culprit"]
                            .as_str()
                            .expect("culprit")
                            .parse()
                            .expect("address"),
                        f["fault"].as_str().expect("fault type").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1.to_checksum(), &a.2).cmp(&(&b.0, b.1.to_checksum(), &b.2)));
    out
}

pub fn result_for<'a>(results: &'a [Value], wallet: &str) -> &'a Value {
    let mut found = results.iter().filter(|r| r["wallet"] == wallet);
    let r = found
        .next()
        .unwrap_or_else(|| panic!("no result for {wallet}"));
    assert!(found.next().is_none(), "two results for {wallet}");
    r
}

/// Mines through window `cb` one block at a time until every node of `pace` has completed
/// it (or the active phase is over), then past the window's end.
pub async fn run_window(c: &Cluster, cb: u64, pace: &[usize]) {
    c.step_to(cb, pace, |_| false).await;
    c.wait("the window to start everywhere", |c| {
        pace.iter().all(|i| {
            c.events_of(*i, "window_started")
                .iter()
                .any(|e| e["coordination_block"] == cb)
        })
    })
    .await;
    c.step_to(cb + 81, pace, |c| pace.iter().all(|i| c.completed(*i, cb)))
        .await;
    c.wait("the window to complete everywhere", |c| {
        pace.iter().all(|i| c.completed(*i, cb))
    })
    .await;
}

/// `key=value` out of a tracing log line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!(" {key}=");
    let start = line.find(&pattern)? + pattern.len();
    let rest = &line[start..];
    Some(rest.split_whitespace().next().unwrap_or(rest))
}

/// A test's own peer, built from the crate's transport: it holds an operator's key (or a
/// stranger's) and publishes whatever the test makes it.
pub struct Peer {
    pub key: OperatorKey,
    pub net: P2pNetwork,
    pub events: tokio::sync::broadcast::Receiver<PeerEvent>,
    cancel: CancellationToken,
}

impl Peer {
    /// Listens on a free loopback port and dials `peers`. It admits anyone: what is tested is
    /// the nodes' side.
    pub async fn start(key: OperatorKey, peers: Vec<Multiaddr>) -> Peer {
        Peer::start_on(0, key, peers).await
    }

    /// As [`Peer::start`], listening on `port` (say, that of the operator it stands in for,
    /// so the nodes' redials of that operator reach it).
    pub async fn start_on(port: u16, key: OperatorKey, peers: Vec<Multiaddr>) -> Peer {
        let cancel = CancellationToken::new();
        let mut config = P2pConfig::new(
            vec![format!("/ip4/127.0.0.1/tcp/{port}")
                .parse()
                .expect("multiaddr")],
            peers,
            Arc::new(AdmitAll),
        );
        config.discovery = false;
        let (net, _task) = P2pNetwork::start(
            key.keypair().clone(),
            config,
            cancel.clone(),
            &TaskTracker::new(),
        )
        .await
        .expect("starting the test peer");
        let events = net.peer_events();
        Peer {
            key,
            net,
            events,
            cancel,
        }
    }

    /// Waits until each of `peers` has joined `topic` (so a publish reaches it directly).
    pub async fn wait_joined(&mut self, topic: &str, peers: &[PeerId]) {
        let mut missing: HashSet<PeerId> = peers.iter().copied().collect();
        let deadline = tokio::time::Instant::now() + HANG;
        while !missing.is_empty() {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("hang guard: peers {missing:?} never joined {topic}"))
                .expect("peer events");
            if let PeerEvent::Joined { peer, topic: t } = event {
                if t == topic {
                    missing.remove(&peer);
                }
            }
        }
    }

    pub async fn join(&self, topic: &str) {
        self.net.join(topic.to_string()).await.expect("joining");
    }

    pub async fn publish(&self, topic: &str, data: Vec<u8>) {
        self.net
            .publish(topic.to_string(), data)
            .await
            .expect("publishing");
    }

    pub async fn try_publish(&self, topic: &str, data: Vec<u8>) -> Result<(), P2pError> {
        self.net.publish(topic.to_string(), data).await
    }

    /// `message` in this peer's envelope under sequence number `seq`.
    pub fn envelope(&self, message: &CoordinationMessage, seq: u64) -> Vec<u8> {
        Envelope {
            sender: self.key.keypair().public(),
            payload: message.encode(),
            sequence_number: seq,
        }
        .encode()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
