//! Head latency in Ethereum mode, over many windows mined on a loopback anvil, measured from
//! the outside through the public API only. For each coordination block `cb` two intervals:
//! - head seen: from the `anvil_mine` request that mines `cb` to `cb` reaching a
//!   `subscribe_blocks()` receiver (mining, the WebSocket notification, linking the head);
//! - window started: from there to `window_started` for `cb` on the event bus.
//!
//! ```sh
//! bash scripts/install-test-deps     # anvil from npm
//! cargo run --release --example head_latency -- --windows 300 --wallets 20
//! ```
//!
//! anvil's `anvil_mine` slows down as its chain grows (about a second per 900 blocks once a
//! few thousand are kept), so a few hundred windows of 900 blocks each would take hours.
//! Instead anvil is restarted for every window on the same port, its genesis block 40 blocks
//! before the window (`--number`): the one node and its chain connection live through all the
//! restarts (each looks like a chain replaced behind a dropped connection, which the head
//! watch handles). For each window the chain is mined to `cb - 1` and the node is let catch
//! up, then the one block `cb` is mined, so every sample is a single head on an idle,
//! long-running node. Prints the median, p99 and maximum of each interval in microseconds
//! (`--json` for one JSON object). The head-seen figure includes the `anvil_mine` round
//! trip's share before anvil mines, a few hundred microseconds on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use anyhow::{bail, Context};
use common::{anvil_binary, mine, percentile, start_anvil, WAIT};
use serde_json::json;
use tbtc_coord::chain::ethereum::{EthereumChain, EthereumConfig, WalletSource};
use tbtc_coord::chain::{BlockStream, Chain};
use tbtc_coord::engine::{Event, EventBus, Identity, Node, NodeConfig};
use tbtc_coord::net::local::LocalHub;
use tbtc_coord::protocol::WalletInfo;
use tbtc_coord::protocol::{Address, WalletPkh};
use tbtc_coord::store::Store;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

/// Each anvil's genesis is this many blocks before its window.
const LEAD_IN: u64 = 40;

/// Reads `heads` until block `number` arrives.
async fn wait_for_head(heads: &mut BlockStream, number: u64) -> anyhow::Result<()> {
    loop {
        match tokio::time::timeout(WAIT, heads.recv()).await {
            Ok(Ok(block)) if block.number == number => return Ok(()),
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) => bail!("the block stream closed"),
            Err(_) => bail!("block {number} did not arrive"),
        }
    }
}

/// Median, p99 and maximum of `samples`, in microseconds.
fn summary(mut samples: Vec<u64>) -> (u64, u64, u64) {
    samples.sort_unstable();
    (
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples[samples.len() - 1],
    )
}

struct Args {
    windows: u64,
    wallets: usize,
    json: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        windows: 300,
        wallets: 20,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--windows" => args.windows = it.next().context("--windows N")?.parse()?,
            "--wallets" => args.wallets = it.next().context("--wallets N")?.parse()?,
            "--json" => args.json = true,
            other => {
                bail!("unknown argument {other:?} (expected --windows N, --wallets N, --json)")
            }
        }
    }
    if args.windows == 0 || args.wallets == 0 {
        bail!("--windows and --wallets must be positive");
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let binary = anvil_binary()?;
    let http = format!("http://127.0.0.1:{port}");
    let mut anvil = Some(start_anvil(&binary, port, 900 - LEAD_IN).await?);

    let me = Address([0xEE; 20]);
    let wallets: Vec<WalletInfo> = (0..args.wallets)
        .map(|i| {
            let mut pkh = [0u8; 20];
            pkh[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let mut operators: Vec<Address> = (1..=9u8)
                .map(|k| Address([k.wrapping_add(i as u8); 20]))
                .collect();
            operators.insert(i % 10, me);
            WalletInfo {
                wallet: WalletPkh(pkh),
                public_key: None,
                operators,
            }
        })
        .collect();
    let mut config = EthereumConfig::new(format!("ws://127.0.0.1:{port}"));
    config.wallets = WalletSource::Listed(wallets);
    config.reconnect_min = Duration::from_millis(10);
    config.reconnect_max = Duration::from_millis(100);
    let chain = EthereumChain::connect(config, None).await?;
    // Subscribed before the node starts the head watch, so the first head is seen too.
    let mut heads = chain.subscribe_blocks().await?;
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let node = Node::start(
        NodeConfig::default(),
        Identity::observer(me),
        Arc::new(chain.clone()),
        Arc::new(LocalHub::new(64).endpoint(None)),
        Arc::new(Store::open_in_memory()?),
        bus,
        CancellationToken::new(),
    )
    .await?;

    let mut head_seen = Vec::with_capacity(args.windows as usize);
    let mut window_started = Vec::with_capacity(args.windows as usize);
    let mut cb = 0u64;
    for _ in 0..args.windows {
        cb += 900;
        let verbose = std::env::var_os("HEAD_LATENCY_VERBOSE").is_some();
        if cb > 900 {
            // A fresh anvil whose genesis is just before this window.
            drop(anvil.take());
            anvil = Some(start_anvil(&binary, port, cb - LEAD_IN).await?);
        }
        let waiting = Instant::now();
        wait_for_head(&mut heads, cb - LEAD_IN)
            .await
            .with_context(|| format!("following anvil's restart at {}", cb - LEAD_IN))?;
        mine(&http, LEAD_IN - 1).await?;
        while node.head_number() < cb - 1 {
            if waiting.elapsed() > WAIT {
                bail!("the node did not reach block {}", cb - 1);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The previous window's followers ended (their active phase is long past on this
        // chain): let their results be recorded first, so the node is idle.
        let previous = cb / 900 - 1;
        while node.snapshot().windows_completed < previous {
            if waiting.elapsed() > WAIT {
                bail!("window {} did not complete", cb - 900);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if verbose {
            eprintln!("at {} after {:?}", cb - 1, waiting.elapsed());
        }
        // Let the backlog of earlier heads and events go, so the sample is this head alone.
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = events.try_recv() {}
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = heads.try_recv() {}
        // Both receivers are awaited at once, so each arrival is timed as it happens.
        let mined_at = Instant::now();
        let mining = mine(&http, 1);
        tokio::pin!(mining);
        let mut mined = false;
        let (mut seen_at, mut started_at) = (None, None);
        let deadline = tokio::time::Instant::now() + WAIT;
        while !mined || seen_at.is_none() || started_at.is_none() {
            tokio::select! {
                result = &mut mining, if !mined => {
                    result?;
                    mined = true;
                }
                head = heads.recv(), if seen_at.is_none() => match head {
                    Ok(block) if block.number == cb => seen_at = Some(Instant::now()),
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => bail!("the block stream closed"),
                },
                event = events.recv(), if started_at.is_none() => match event {
                    Ok(Event::WindowStarted {
                        coordination_block, ..
                    }) if coordination_block == cb => started_at = Some(Instant::now()),
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => bail!("the event bus closed"),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    bail!("block {cb}: no head or no window_started within {WAIT:?}")
                }
            }
        }
        let (Some(seen_at), Some(started_at)) = (seen_at, started_at) else {
            unreachable!("the loop ends with both set");
        };
        head_seen.push(seen_at.saturating_duration_since(mined_at).as_micros() as u64);
        window_started.push(started_at.saturating_duration_since(seen_at).as_micros() as u64);
        if verbose {
            eprintln!(
                "window {cb}: head seen after {} µs, window started {} µs later",
                head_seen[head_seen.len() - 1],
                window_started[window_started.len() - 1]
            );
        }
    }
    node.shutdown().await;
    chain.shutdown().await;
    drop(anvil);

    let head = summary(head_seen);
    let window = summary(window_started);
    if args.json {
        let figures = |(median, p99, max): (u64, u64, u64)| json!({"median_us": median, "p99_us": p99, "max_us": max});
        println!(
            "{}",
            json!({
                "windows": args.windows,
                "wallets": args.wallets,
                "head_seen": figures(head),
                "window_started": figures(window),
            })
        );
    } else {
        println!(
            "over {} windows ({} wallets), in µs (median, p99, max):",
            args.windows, args.wallets
        );
        println!(
            "  anvil_mine → head seen by subscribe_blocks:  {}, {}, {}",
            head.0, head.1, head.2
        );
        println!(
            "  head seen → window_started on the bus:       {}, {}, {}",
            window.0, window.1, window.2
        );
    }
    Ok(())
}
