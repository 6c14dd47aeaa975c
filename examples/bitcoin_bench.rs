//! What the Bitcoin view costs a leader per window, on a real ElectrumX over a real regtest
//! bcoin on loopback: the Electrum requests of one wallet's reading (each deposit's funding
//! transaction and confirmations, the main UTXO and whether it is unspent, the fee rate) with
//! 20 and 200 deposits, in the first window and in later ones (what the view keeps), and the
//! time from a window's start to that reading being done, median and p99. Then, with both
//! chains real (the tBTC v2 contracts on anvil, 20 deposits revealed on the Bridge from
//! funding transactions on regtest), the time from a window's start to the leader's deposit
//! sweep being ready: the Bridge snapshot, the Bitcoin reading, the generator and the
//! on-chain validator. Last, how long the view takes to follow the tip again after its
//! ElectrumX restarts.
//!
//! ```sh
//! bash scripts/install-test-deps     # anvil, the contracts, bcoin and ElectrumX
//! cargo run --release --example bitcoin_bench -- --windows 12
//! ```
//!
//! Each deposit is its own funding transaction (a spent coinbase), as on mainnet; a window
//! is one more regtest block.

#[path = "../tests/bitcoin_support/mod.rs"]
mod bitcoin_support;
#[path = "../tests/ethereum_support/mod.rs"]
mod ethereum_support;
#[path = "../tests/loopback_support/mod.rs"]
mod loopback_support;

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::{Amount, TxOut};

use bitcoin_support::{BitcoinNode, Key};
use tbtc_coord::bitcoin::electrum::{BitcoinNetwork, ElectrumClient, ElectrumConfig, ServerUrl};
use tbtc_coord::bitcoin::electrum_view::ElectrumView;
use tbtc_coord::bitcoin::reading::{bridge_tx_hash, wallet_scripts};
use tbtc_coord::engine::bitcoin_read::read_bitcoin;
use tbtc_coord::protocol::bitcoin_facts::MainUtxo;
use tbtc_coord::protocol::proposal::{DepositKey, RevealedDeposit, WalletState};
use tbtc_coord::protocol::{WalletPkh, WalletSnapshot};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(deposits: usize, windows: usize) {
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x71);
    let miner_address = miner.p2pkh().to_string();
    let blocks = deposits as u64 + 101;
    node.mine(blocks, &miner_address).await;
    node.wait_for_tip(blocks).await;
    let wallet = WalletPkh([0x7E; 20]);
    let [p2wpkh, _] = wallet_scripts(&wallet);
    let mut revealed = Vec::new();
    let mut main = None;
    for i in 0..deposits {
        // The first also pays the wallet's main UTXO.
        let mut outputs = vec![TxOut {
            value: Amount::from_sat(1_000_000),
            script_pubkey: p2wpkh.clone(),
        }];
        if i == 0 {
            outputs.push(TxOut {
                value: Amount::from_sat(100_000_000),
                script_pubkey: p2wpkh.clone(),
            });
        }
        let tx = node.pay_from_coinbase(&miner, i as u64 + 1, outputs).await;
        if i == 0 {
            main = Some(MainUtxo {
                tx_hash: bridge_tx_hash(&tx),
                output_index: 1,
                value: 100_000_000,
            });
        }
        revealed.push(RevealedDeposit {
            key: DepositKey {
                funding_tx_hash: bridge_tx_hash(&tx),
                output_index: 0,
            },
            amount: 1_000_000,
            vault: None,
            revealed_at: 0,
            reveal_block: 0,
            confirmations: 0,
            refund_locktime: 0,
            reveal: Default::default(),
        });
    }
    node.mine(1, &miner_address).await;
    node.wait_for_tip(blocks + 1).await;

    let url = ServerUrl::parse(&format!("tcp://127.0.0.1:{}", node.electrum_port)).unwrap();
    let client = ElectrumClient::connect(
        vec![url],
        BitcoinNetwork::Regtest,
        ElectrumConfig::default(),
    )
    .await
    .expect("ElectrumX answers");
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    client.observe_calls(Arc::new(move |_, _, _| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    let view = ElectrumView::new(client);
    let mut counts = Vec::new();
    let mut times = Vec::new();
    for window in 0..windows {
        if window > 0 {
            node.mine(1, &miner_address).await;
            node.wait_for_tip(blocks + 1 + window as u64).await;
        }
        let mut snapshot = WalletSnapshot {
            wallet,
            state: WalletState::Live,
            deposits: revealed.clone(),
            main_utxo_hash: main.map(|m| m.bridge_hash()),
            ..WalletSnapshot::default()
        };
        let before = requests.load(Ordering::SeqCst);
        let started = Instant::now();
        let reading = read_bitcoin(&view, &mut snapshot).await.expect("a reading");
        times.push(started.elapsed());
        counts.push(requests.load(Ordering::SeqCst) - before);
        assert_eq!(reading.facts.funding.len(), deposits);
        assert_eq!(reading.synced, Some(true));
    }
    let mut later = counts[1..].to_vec();
    later.sort_unstable();
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "{deposits:>4} deposits | Electrum requests: first window {:>4}, later windows {:>4} (median) | \
         reading ready: median {:>7.1?}, p99 {:>7.1?}, first window {:>7.1?}",
        counts[0],
        later[later.len() / 2],
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        times[0],
    );
    view.client().shutdown().await;
}

/// The leader's deposit sweep of `deposits` real deposits on both real chains: the time
/// from a window's start (a new head on each chain) to the proposal being ready.
async fn proposal_ready(deposits: usize, windows: usize) {
    use ethereum_support::moved_funds::{depositor, latest_timestamp, reveal_deposit, Deposit};
    use ethereum_support::real::RealTbtc;
    use ethereum_support::Anvil;
    use tbtc_coord::chain::Chain;
    use tbtc_coord::engine::proposing::{choose_with_bitcoin, Weigh};
    use tbtc_coord::protocol::proposal::{DepositReveal, ProposalParams};
    use tbtc_coord::protocol::{ActionType, Address, Proposal};

    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xB0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    let wallet = tbtc.create_wallet(&[0x5B; 32], &operators).await.pkh();
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x72);
    let miner_address = miner.p2pkh().to_string();
    node.mine(deposits as u64 + 101, &miner_address).await;
    let refund_at = u32::try_from(latest_timestamp(&url).await + 30 * 86_400).unwrap();
    for i in 0..deposits {
        let reveal = DepositReveal {
            blinding_factor: [i as u8; 8],
            refund_pubkey_hash: [0x3F; 20],
            refund_locktime: refund_at.to_le_bytes(),
        };
        let output = bitcoin_support::deposit_output(&depositor(), &wallet, &reveal, 1_000_000);
        let tx = node
            .pay_from_coinbase(&miner, i as u64 + 1, vec![output])
            .await;
        reveal_deposit(&tbtc, &Deposit::of_transaction(&tx, 0, &wallet, &reveal)).await;
    }
    let tip = deposits as u64 + 101 + 6;
    node.mine(6, &miner_address).await;
    node.wait_for_tip(tip).await;
    let params = ProposalParams::default();
    let now = latest_timestamp(&url).await;
    ethereum_support::rpc(
        &url,
        "anvil_setNextBlockTimestamp",
        serde_json::json!([now + params.deposit_min_age + 60]),
    )
    .await;
    let chain = tbtc.chain().await;
    let view = node.view().await;
    let mut times = Vec::new();
    for window in 0..windows {
        ethereum_support::mine(&url, 1, 12).await;
        node.mine(1, &miner_address).await;
        node.wait_for_tip(tip + 1 + window as u64).await;
        let started = Instant::now();
        let head = chain.latest_block().await.expect("a head").number;
        let snapshot = chain
            .wallet_snapshot(&wallet, head)
            .await
            .expect("a snapshot");
        let choice = choose_with_bitcoin(
            &chain,
            Some(&view),
            &[ActionType::DepositSweep],
            snapshot,
            &params,
            Weigh::UntilChosen,
            operators[0],
        )
        .await;
        times.push(started.elapsed());
        let Proposal::DepositSweep {
            deposits: swept, ..
        } = &choice.proposal
        else {
            panic!("no sweep: {:?}", choice.evaluations)
        };
        assert_eq!(swept.len(), deposits);
        assert!(choice.evaluations[0].chosen(), "the validator took it");
    }
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "{deposits:>4} deposits on both chains | sweep proposal ready: median {:>7.1?}, p99 {:>7.1?}, \
         first window {:>7.1?}",
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        times[0],
    );
    chain.shutdown().await;
    view.client().shutdown().await;
}

/// How long the view takes to follow the tip again after a real ElectrumX restart: from the
/// server answering again to a block mined then reaching the view on its own.
async fn reconnect(rounds: usize) {
    use tbtc_coord::bitcoin::view::BitcoinView;

    let mut node = BitcoinNode::start().await;
    let miner_address = Key::new(0x73).p2pkh().to_string();
    node.mine(1, &miner_address).await;
    node.wait_for_tip(1).await;
    let view = node.view().await;
    let mut downtime = Vec::new();
    let mut lag = Vec::new();
    for round in 0..rounds as u64 {
        let began = Instant::now();
        node.restart_electrum().await;
        let back = Instant::now();
        downtime.push(back - began);
        node.mine(1, &miner_address).await;
        let want = round + 2;
        while view.status().tip != Some(want) {
            assert!(
                back.elapsed() < Duration::from_secs(120),
                "never reconnected"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        lag.push(back.elapsed());
    }
    downtime.sort();
    lag.sort();
    println!(
        "ElectrumX restart ({rounds} rounds) | server down: median {:>7.1?} | view following \
         the tip again after it answers: median {:>7.1?}, max {:>7.1?}",
        percentile(&downtime, 0.5),
        percentile(&lag, 0.5),
        lag[lag.len() - 1],
    );
    view.client().shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let windows = common::windows_from_args(12);
    println!("{windows} windows each, one regtest block apart; requests are Electrum calls");
    for deposits in [20, 200] {
        run(deposits, windows).await;
    }
    proposal_ready(20, windows).await;
    reconnect(5).await;
}
