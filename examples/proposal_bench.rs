//! Proposal cost on the real tBTC v2 contracts: for a wallet with 0, 20 and 200 pending
//! redemptions and as many revealed deposits, the RPC requests one wallet's snapshot and the
//! on-chain validation of its proposal take per window, with the scan cache (what a running
//! node does from its second window on) and without it (every look-back read whole, as in
//! a node's first window); and the time from a window's start to the leader's proposal
//! ready (the snapshot, the generator and the validator calls), median and p99 over windows.
//!
//! ```sh
//! bash scripts/install-test-deps     # anvil and the contracts from npm
//! cargo run --release --example proposal_bench -- --windows 12
//! ```
//!
//! The contracts, the wallet (through the real DKG), its requests and its deposits are set up
//! on a loopback anvil as the tests do (`tests/ethereum_support`). `eth_getLogs` requests are
//! limited to 1,000 blocks, as many public RPC providers limit them, so that a look-back costs
//! what it costs on mainnet. Timings include anvil's own work on loopback.

#[path = "../tests/ethereum_support/mod.rs"]
mod ethereum_support;
#[path = "../tests/loopback_support/mod.rs"]
mod loopback_support;

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethereum_support::moved_funds::{depositor, latest_timestamp, reveal_deposit, Deposit};
use ethereum_support::real::{MainUtxo, RealTbtc};
use ethereum_support::{block_number, length_prefixed, mine, Anvil};
use tbtc_coord::chain::ethereum::EthereumChain;
use tbtc_coord::chain::Chain;
use tbtc_coord::engine::proposing::{choose, Weigh};
use tbtc_coord::protocol::bitcoin_facts::BitcoinFacts;
use tbtc_coord::protocol::{ActionType, Address, ProposalParams, WalletPkh};

/// The checklist of a window with both sweeps and no heartbeat.
const CHECKLIST: [ActionType; 3] = [
    ActionType::Redemption,
    ActionType::DepositSweep,
    ActionType::MovedFundsSweep,
];

struct Counted {
    chain: EthereumChain,
    requests: Arc<AtomicUsize>,
}

impl Counted {
    async fn connect(tbtc: &RealTbtc, scan_cache: bool) -> Counted {
        let mut config = tbtc.config();
        config.scan_cache = scan_cache;
        config.log_chunk_blocks = 1_000;
        let chain = EthereumChain::connect(config, None)
            .await
            .expect("connecting to anvil");
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        chain.observe_rpc_latency(Arc::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        Counted { chain, requests }
    }

    /// The leader's work at `head`: its requests and how long it took.
    async fn propose(&self, wallet: &WalletPkh, head: u64) -> (usize, Duration) {
        let before = self.requests.load(Ordering::SeqCst);
        let started = Instant::now();
        let snapshot = self
            .chain
            .wallet_snapshot(wallet, head)
            .await
            .expect("a snapshot");
        let choice = choose(
            &self.chain,
            &CHECKLIST,
            &snapshot,
            &BitcoinFacts::default(),
            &ProposalParams::default(),
            Weigh::UntilChosen,
        )
        .await;
        let took = started.elapsed();
        assert_ne!(
            choice.evaluations.len(),
            0,
            "the checklist was weighed: {choice:?}"
        );
        (self.requests.load(Ordering::SeqCst) - before, took)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(pending: usize, windows: u64) {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xC0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    let wallet = tbtc.create_wallet(&[0x51; 32], &operators).await.pkh();
    let utxo = MainUtxo {
        tx_hash: [0x33; 32],
        output_index: 0,
        value: 10_000 * 100_000_000,
    };
    tbtc.set_main_utxo(&wallet, &utxo).await;
    let refund_at = u32::try_from(latest_timestamp(&url).await + 60 * 86_400).unwrap();
    for i in 0..pending {
        let tag = (i as u32).to_be_bytes();
        let script = length_prefixed(&[&[0x00, 0x14][..], &[0x5C; 16], &tag].concat());
        tbtc.request_redemption(&wallet, &utxo, &Address([0x7A; 20]), &script, 10_000_000)
            .await;
        let deposit = Deposit::new(&depositor(), &wallet, 1_000_000 + i as u64, refund_at);
        reveal_deposit(&tbtc, &deposit).await;
    }
    let cached = Counted::connect(&tbtc, true).await;
    let full = Counted::connect(&tbtc, false).await;
    let mut cached_requests = Vec::new();
    let mut full_requests = Vec::new();
    let mut cached_times = Vec::new();
    let mut full_times = Vec::new();
    for window in 0..windows {
        // A window: 900 blocks of 12 s, the first window some 10,000 blocks into the chain.
        let blocks = if window == 0 { 10_000 } else { 900 };
        mine(&url, blocks, 12).await;
        let head = block_number(&url).await;
        let (n, t) = cached.propose(&wallet, head).await;
        cached_requests.push(n);
        cached_times.push(t);
        let (n, t) = full.propose(&wallet, head).await;
        full_requests.push(n);
        full_times.push(t);
    }
    cached_times.sort();
    full_times.sort();
    // The cached node's first window reads everything: its steady state is from the second.
    let steady: Vec<usize> = cached_requests[1..].to_vec();
    println!(
        "{pending:>4} pending | requests/window: first {:>4}, cached {:>4} (median), uncached {:>4} | \
         proposal ready: cached median {:>7.1?} p99 {:>7.1?}, uncached median {:>7.1?} p99 {:>7.1?}",
        cached_requests[0],
        median(&steady),
        median(&full_requests),
        percentile(&cached_times, 0.5),
        percentile(&cached_times, 0.99),
        percentile(&full_times, 0.5),
        percentile(&full_times, 0.99),
    );
    cached.chain.shutdown().await;
    full.chain.shutdown().await;
}

fn median(v: &[usize]) -> usize {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let windows = common::windows_from_args(12);
    println!(
        "{windows} windows each; requests are JSON-RPC calls, eth_getLogs at most 1,000 blocks"
    );
    for pending in [0, 20, 200] {
        run(pending, windows as u64).await;
    }
}
