//! What the examples that run anvil share: finding it, starting it, and JSON-RPC calls.

#![allow(dead_code)]

pub mod history;
pub mod process;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ethers_providers::{Http, Provider};
use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(30);

pub fn anvil_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("TBTC_COORD_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(p) = std::env::split_paths(&path)
            .map(|d| d.join("anvil"))
            .find(|p| p.is_file())
        {
            return Ok(p);
        }
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
        });
    let p = cache.join("tbtc-coord/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if p.is_file() {
        Ok(p)
    } else {
        bail!("anvil not found: run `bash scripts/install-test-deps` or set TBTC_COORD_ANVIL")
    }
}

/// anvil, killed on drop.
pub struct Anvil(Child);

/// Starts anvil with its genesis at `genesis` and waits until it answers.
pub async fn start_anvil(binary: &PathBuf, port: u16, genesis: u64) -> anyhow::Result<Anvil> {
    let anvil = Anvil(
        Command::new(binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--silent",
                // Heads only: no state is kept past memory, so nothing is left on disk.
                "--prune-history",
            ])
            .args(["--number", &genesis.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting anvil")?,
    );
    let http = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while rpc(&http, "eth_chainId", json!([])).await.is_err() {
        if started.elapsed() > WAIT {
            bail!("anvil did not start");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(anvil)
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn rpc(url: &str, method: &str, params: Value) -> anyhow::Result<Value> {
    let provider = Provider::<Http>::try_from(url)?;
    Ok(provider.request::<_, Value>(method, params).await?)
}

pub async fn mine(url: &str, n: u64) -> anyhow::Result<()> {
    rpc(url, "anvil_mine", json!([format!("{n:#x}"), "0xc"])).await?;
    Ok(())
}

pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub async fn block_number(url: &str) -> anyhow::Result<u64> {
    let v = rpc(url, "eth_blockNumber", json!([])).await?;
    let s = v.as_str().context("a quantity")?;
    Ok(u64::from_str_radix(s.trim_start_matches("0x"), 16)?)
}

/// `--windows N` (at least 2), the only argument of the per-window benchmarks.
pub fn windows_from_args(default: usize) -> usize {
    let mut windows = default;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--windows" => {
                windows = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|w| *w >= 2)
                    .expect("--windows N, at least 2")
            }
            other => panic!("unknown argument {other} (expected --windows N)"),
        }
    }
    windows
}
