//! Figures of the peer network at scale, with real `tbtc-coord` processes:
//!
//! - `node`: one node in `--wallets` wallets of `--seats` seats with `--peers` peers. Every
//!   operator runs a node process in Ethereum mode on a loopback anvil, all of them holding
//!   seats in every wallet, the peers bootstrapping to node 0. Measures node 0's resident
//!   memory and CPU while idle with its peers connected, then its peak memory and CPU while
//!   the test mines a coordination window block by block, `--block-ms` apart (1 s by
//!   default: all 21 nodes share one anvil on 2 cores, where mainnet's blocks are 12 s).
//! - `devnet`: the embedded devnet (`--devnet-operators` nodes in one process) at its default
//!   block time, over the hub and over `--devnet-transport libp2p`: the CPU each uses.
//!
//! ```sh
//! bash scripts/install-test-deps      # anvil from npm
//! cargo build --release --bin tbtc-coord --example p2p_scale
//! target/release/examples/p2p_scale node --wallets 1000 --seats 100 --peers 20
//! target/release/examples/p2p_scale devnet --devnet-operators 20 --seconds 60
//! ```
//!
//! Prints one JSON object. The binary is the `tbtc-coord` next to this example's directory.

mod common;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tbtc_coord::protocol::WalletPublicKey;

use common::process::{cpu_seconds, cpu_share, tbtc_coord};
use common::{anvil_binary, block_number, mine, start_anvil};

const PASSWORD: &str = "scale-pw";
/// The window the node run goes through; anvil's genesis is before its safe block.
const WINDOW: u64 = 900;
const LEAD_IN: u64 = 40;
/// Blocks mined after the window's start: its whole active phase and the results after it.
const WINDOW_BLOCKS: u64 = 120;

struct Args {
    mode: String,
    wallets: usize,
    seats: usize,
    peers: usize,
    operators: usize,
    seconds: u64,
    /// Time between the blocks of the measured window.
    block_ms: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().context("a mode: node or devnet")?;
    let mut args = Args {
        mode,
        wallets: 1000,
        seats: 100,
        peers: 20,
        operators: 20,
        seconds: 60,
        block_ms: 1000,
    };
    let number = |it: &mut dyn Iterator<Item = String>, flag: &str| -> anyhow::Result<u64> {
        let v = it.next().with_context(|| format!("{flag} N"))?;
        v.parse()
            .with_context(|| format!("{flag} {v:?}: expected a number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--wallets" => args.wallets = number(&mut it, &a)? as usize,
            "--seats" => args.seats = number(&mut it, &a)? as usize,
            "--peers" => args.peers = number(&mut it, &a)? as usize,
            "--devnet-operators" => args.operators = number(&mut it, &a)? as usize,
            "--seconds" => args.seconds = number(&mut it, &a)?,
            "--block-ms" => args.block_ms = number(&mut it, &a)?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if args.seats == 0 || args.seats > 255 || args.wallets == 0 || args.peers == 0 {
        bail!("--seats must be 1..=255, --wallets and --peers positive");
    }
    Ok(args)
}

/// A child process, killed on drop, whose JSON events on stdout are counted by type.
struct Process {
    child: Child,
    peers: Arc<AtomicUsize>,
    results: Arc<AtomicUsize>,
    /// Events seen, by type.
    types: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Process {
    /// `log`: where its stderr goes (nowhere if `None`).
    fn spawn(mut command: Command, log: Option<PathBuf>) -> anyhow::Result<Process> {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path)?),
            None => Stdio::null(),
        };
        let mut child = command
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("starting tbtc-coord")?;
        let stdout = child.stdout.take().context("stdout")?;
        let peers = Arc::new(AtomicUsize::new(0));
        let results = Arc::new(AtomicUsize::new(0));
        let types = Arc::new(Mutex::new(BTreeMap::new()));
        let (p, r, t) = (peers.clone(), results.clone(), types.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if std::env::var_os("P2P_SCALE_VERBOSE").is_some() {
                    eprintln!("{line}");
                }
                if let (Some(kind), Ok(mut types)) = (event["type"].as_str(), t.lock()) {
                    *types.entry(kind.to_owned()).or_insert(0) += 1;
                }
                match event["type"].as_str() {
                    Some("peer_connected") => p.fetch_add(1, Ordering::Relaxed),
                    Some("peer_disconnected") => p.fetch_sub(1, Ordering::Relaxed),
                    Some("coordination_result") => r.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        });
        Ok(Process {
            child,
            peers,
            results,
            types,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Operator {
    keystore: PathBuf,
    address: String,
    peer_id: String,
    port: u16,
}

fn new_operator(bin: &Path, dir: &Path, i: usize, password: &Path) -> anyhow::Result<Operator> {
    let keystore = dir.join(format!("operator-{i}.json"));
    let out = Command::new(bin)
        .args(["key", "new", "--json", "--keystore"])
        .arg(&keystore)
        .arg("--password-file")
        .arg(password)
        .output()?;
    if !out.status.success() {
        bail!("key new: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    Ok(Operator {
        keystore,
        address: v["address"].as_str().context("address")?.to_owned(),
        peer_id: v["peer_id"].as_str().context("peer id")?.to_owned(),
        port: free_port()?,
    })
}

/// `wallets` wallets, seat `s` of wallet `w` held by operator `(w + s) % operators`.
fn wallets_file(ops: &[Operator], wallets: usize, seats: usize) -> anyhow::Result<String> {
    let mut toml = String::new();
    for w in 0..wallets {
        let mut secret = [0x11u8; 32];
        secret[..8].copy_from_slice(&(w as u64 + 1).to_be_bytes());
        let key = WalletPublicKey::of_secret(&secret).context("a wallet key")?;
        let holders: Vec<String> = (0..seats)
            .map(|s| format!("\"{}\"", ops[(w + s) % ops.len()].address))
            .collect();
        toml.push_str(&format!(
            "[[wallet]]\npkh = \"0x{}\"\npublic_key = \"0x{}\"\noperators = [{}]\n\n",
            key.pkh(),
            hex::encode(key.uncompressed()),
            holders.join(", ")
        ));
    }
    Ok(toml)
}

async fn node_figures(args: &Args) -> anyhow::Result<Value> {
    let bin = tbtc_coord()?;
    let dir = tempfile::tempdir()?;
    let password = dir.path().join("password");
    std::fs::write(&password, PASSWORD)?;
    let ops: Vec<Operator> = (0..=args.peers)
        .map(|i| new_operator(&bin, dir.path(), i, &password))
        .collect::<anyhow::Result<_>>()?;
    let wallets = dir.path().join("wallets.toml");
    std::fs::write(&wallets, wallets_file(&ops, args.wallets, args.seats)?)?;

    let anvil_port = free_port()?;
    let _anvil = start_anvil(&anvil_binary()?, anvil_port, WINDOW - LEAD_IN).await?;
    let http = format!("http://127.0.0.1:{anvil_port}");
    let ws = format!("ws://127.0.0.1:{anvil_port}");
    let node0 = format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", ops[0].port, ops[0].peer_id);
    // With P2P_SCALE_LOGS=DIR the histories stay in DIR too, for a look afterwards.
    let data_root = std::env::var_os("P2P_SCALE_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    let mut nodes = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let mut c = Command::new(&bin);
        c.args(["run", "--headless", "--json", "--rpc-url", &ws])
            .args(["--chain-id", "31337", "--wallets"])
            .arg(&wallets)
            .arg("--keystore")
            .arg(&op.keystore)
            .arg("--password-file")
            .arg(&password)
            .arg("--data-dir")
            .arg(data_root.join(format!("data-{i}")))
            .args(["--p2p-listen", &format!("/ip4/127.0.0.1/tcp/{}", op.port)]);
        if i > 0 {
            c.args(["--p2p-peers", &node0]);
        }
        // P2P_SCALE_LOGS=DIR keeps each node's log (at info) in DIR/node-N.log.
        let log = std::env::var_os("P2P_SCALE_LOGS")
            .map(|d| PathBuf::from(d).join(format!("node-{i}.log")));
        if log.is_some() {
            let level = std::env::var("P2P_SCALE_LOG_LEVEL").unwrap_or_else(|_| "info".into());
            c.args(["--log-level", &level]);
        }
        nodes.push(Process::spawn(c, log)?);
    }
    let started = Instant::now();
    while nodes[0].peers.load(Ordering::Relaxed) < args.peers {
        if started.elapsed() > Duration::from_secs(300) {
            bail!(
                "node 0 has {} of {} peers after 5 minutes",
                nodes[0].peers.load(Ordering::Relaxed),
                args.peers
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connected_after = started.elapsed();
    // Let start-up work settle before measuring the idle node.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pid = nodes[0].pid();
    let idle_cpu = cpu_share(pid, Duration::from_secs(args.seconds.min(30)))?;
    let idle_rss = status_kib(pid, "VmRSS")?;

    // A window, block by block.
    let head = block_number(&http).await?;
    if head < WINDOW - 1 {
        mine(&http, WINDOW - 1 - head).await?;
    }
    let cpu_before = cpu_seconds(pid)?;
    let window_started = Instant::now();
    for _ in 0..WINDOW_BLOCKS {
        mine(&http, 1).await?;
        tokio::time::sleep(Duration::from_millis(args.block_ms)).await;
    }
    // The node may still be working through the window's last blocks.
    let completed = |p: &Process| {
        p.types
            .lock()
            .map(|t| t.get("window_completed").copied().unwrap_or(0))
            .unwrap_or(0)
    };
    while completed(&nodes[0]) == 0 && window_started.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let window_seconds = window_started.elapsed().as_secs_f64();
    let window_cpu = (cpu_seconds(pid)? - cpu_before) / window_seconds;
    let peak_rss = status_kib(pid, "VmHWM")?;
    let rss_after = status_kib(pid, "VmRSS")?;
    Ok(json!({
        "mode": "node",
        "wallets": args.wallets,
        "seats": args.seats,
        "peers": args.peers,
        "block_ms": args.block_ms,
        "peers_connected_after_s": connected_after.as_secs_f64(),
        "idle_rss_mib": mib(idle_rss),
        "idle_cpu_share_of_a_core": (idle_cpu * 1000.0).round() / 1000.0,
        "window_results": nodes[0].results.load(Ordering::Relaxed),
        "window_seconds": window_seconds,
        "window_cpu_share_of_a_core": (window_cpu * 1000.0).round() / 1000.0,
        "peak_rss_mib": mib(peak_rss),
        "events": nodes[0].types.lock().map(|t| t.clone()).unwrap_or_default(),
        "rss_after_window_mib": mib(rss_after),
    }))
}

fn devnet_cpu(bin: &Path, args: &Args, transport: &str) -> anyhow::Result<(f64, u64, usize)> {
    let dir = tempfile::tempdir()?;
    let mut c = Command::new(bin);
    c.args([
        "run",
        "--headless",
        "--json",
        "--devnet-transport",
        transport,
    ])
    .args(["--devnet-operators", &args.operators.to_string()])
    .arg("--data-dir")
    .arg(dir.path())
    .env("HOME", dir.path());
    let node = Process::spawn(c, None)?;
    // Past start-up (the mesh forms before the first block).
    std::thread::sleep(Duration::from_secs(10));
    let share = cpu_share(node.pid(), Duration::from_secs(args.seconds))?;
    Ok((
        share,
        status_kib(node.pid(), "VmRSS")?,
        node.peers.load(Ordering::Relaxed),
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let figures = match args.mode.as_str() {
        "node" => node_figures(&args).await?,
        "devnet" => {
            let bin = tbtc_coord()?;
            let (hub, hub_rss, _) = devnet_cpu(&bin, &args, "hub")?;
            let (p2p, p2p_rss, peers) = devnet_cpu(&bin, &args, "libp2p")?;
            json!({
                "mode": "devnet",
                "operators": args.operators,
                "seconds": args.seconds,
                "hub_cpu_share_of_a_core": (hub * 1000.0).round() / 1000.0,
                "libp2p_cpu_share_of_a_core": (p2p * 1000.0).round() / 1000.0,
                "ratio": (p2p / hub.max(1e-9) * 100.0).round() / 100.0,
                "hub_rss_mib": mib(hub_rss),
                "libp2p_rss_mib": mib(p2p_rss),
                "local_node_peers": peers,
            })
        }
        other => bail!("unknown mode {other:?}: expected node or devnet"),
    };
    println!("{figures}");
    Ok(())
}
