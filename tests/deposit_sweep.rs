//! A deposit sweep from real Bitcoin data to the real Bridge: funding transactions built and
//! signed here, mined on a real regtest node (bcoin) behind a real Electrum server
//! (ElectrumX), revealed on the real tBTC v2 Bridge on anvil for a wallet made through the
//! real DKG. The leader's sweep holds exactly the deposits with six confirmations, and the
//! real WalletProposalValidator accepts it with the real funding transactions our node read
//! from Electrum.

mod bitcoin_support;
mod ethereum_support;

use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, ScriptBuf, Transaction, TxOut};
use serde_json::json;

use bitcoin_support::{BitcoinNode, Key};
use ethereum_support::moved_funds::{depositor, latest_timestamp, reveal_deposit, Deposit};
use ethereum_support::real::RealTbtc;
use ethereum_support::Anvil;
use tbtc_coord::bitcoin::electrum::{BitcoinNetwork, ElectrumClient, ElectrumConfig, ServerUrl};
use tbtc_coord::bitcoin::electrum_view::ElectrumView;
use tbtc_coord::bitcoin::reading::{bridge_tx_hash, funding_tx};
use tbtc_coord::chain::Chain;
use tbtc_coord::devnet::simulated_bitcoin::deposit_script;
use tbtc_coord::engine::proposing::{choose_with_bitcoin, Weigh};
use tbtc_coord::protocol::proposal::{DepositKey, DepositReveal, ProposalParams};
use tbtc_coord::protocol::{ActionType, Address, Proposal, Validation, WalletPkh};

/// A funding transaction of `value` satoshi to `wallet`'s deposit script, spending block
/// `height`'s coinbase, and its reveal.
async fn funding(
    node: &BitcoinNode,
    miner: &Key,
    height: u64,
    wallet: &WalletPkh,
    value: u64,
    refund_at: u32,
) -> (Transaction, Deposit) {
    let reveal = DepositReveal {
        blinding_factor: [height as u8; 8],
        refund_pubkey_hash: [0x3F; 20],
        refund_locktime: refund_at.to_le_bytes(),
    };
    let script = deposit_script(&depositor(), wallet, &reveal);
    let p2wsh = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array(
        sha256::Hash::hash(script.as_bytes()).to_byte_array(),
    ));
    let (spent, coinbase) = node.coinbase_of(height, miner).await;
    // The deposit first, the change back to the miner (less a 10,000 sat fee).
    let change = coinbase - Amount::from_sat(value) - Amount::from_sat(10_000);
    let tx = miner.spend_p2pkh(
        spent,
        vec![
            TxOut {
                value: Amount::from_sat(value),
                script_pubkey: p2wsh,
            },
            TxOut {
                value: change,
                script_pubkey: miner.p2pkh().script_pubkey(),
            },
        ],
    );
    let parts = funding_tx(&tx);
    let deposit = Deposit {
        version: parts.version,
        input_vector: parts.input_vector,
        output_vector: parts.output_vector,
        locktime: parts.locktime,
        tx_hash: bridge_tx_hash(&tx).0,
        blinding_factor: reveal.blinding_factor,
        wallet: *wallet,
        refund_pkh: reveal.refund_pubkey_hash,
        refund_locktime: reveal.refund_locktime,
        output_index: 0,
    };
    (tx, deposit)
}

async fn mine_bitcoin(node: &BitcoinNode, miner: &Key, blocks: u64, to: u64) {
    node.mine(blocks, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_holds_exactly_the_deposits_six_blocks_deep_and_the_real_validator_accepts_it() {
    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xE0 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    let wallet = tbtc.create_wallet(&[0x2B; 32], &operators).await.pkh();

    let node = BitcoinNode::start().await;
    let miner = Key::new(0x41);
    mine_bitcoin(&node, &miner, 101, 101).await;
    let refund_at = u32::try_from(latest_timestamp(&url).await + 30 * 86_400).unwrap();
    // Deposit A is mined at 102, deposit B at 103; at tip 107 A has six confirmations and B
    // five.
    let (a, deposit_a) = funding(&node, &miner, 1, &wallet, 2_000_000, refund_at).await;
    let (b, deposit_b) = funding(&node, &miner, 2, &wallet, 3_000_000, refund_at).await;
    node.electrum(
        "blockchain.transaction.broadcast",
        json!([serialize_hex(&a)]),
    )
    .await;
    mine_bitcoin(&node, &miner, 1, 102).await;
    node.electrum(
        "blockchain.transaction.broadcast",
        json!([serialize_hex(&b)]),
    )
    .await;
    mine_bitcoin(&node, &miner, 5, 107).await;

    // Both revealed on the real Bridge with their funding transactions, then old enough.
    reveal_deposit(&tbtc, &deposit_a).await;
    reveal_deposit(&tbtc, &deposit_b).await;
    let params = ProposalParams::default();
    let now = latest_timestamp(&url).await;
    ethereum_support::rpc(
        &url,
        "anvil_setNextBlockTimestamp",
        json!([now + params.deposit_min_age + 60]),
    )
    .await;
    ethereum_support::rpc(&url, "anvil_mine", json!(["0x1"])).await;

    let chain = tbtc.chain().await;
    let electrum = ServerUrl::parse(&format!("tcp://127.0.0.1:{}", node.electrum_port)).unwrap();
    let config = ElectrumConfig {
        request_timeout: Duration::from_secs(2),
        request_retry_window: Duration::from_secs(4),
        connect_timeout: Duration::from_secs(2),
        connect_retry_window: Duration::from_secs(4),
        ..ElectrumConfig::default()
    };
    let view = ElectrumView::new(
        ElectrumClient::connect(vec![electrum], BitcoinNetwork::Regtest, config)
            .await
            .unwrap(),
    );
    let key = |tx: &Transaction| DepositKey {
        funding_tx_hash: bridge_tx_hash(tx),
        output_index: 0,
    };
    let sweep = || async {
        let head = chain.latest_block().await.unwrap().number;
        let snapshot = chain.wallet_snapshot(&wallet, head).await.unwrap();
        assert_eq!(snapshot.deposits.len(), 2, "{snapshot:?}");
        choose_with_bitcoin(
            &chain,
            Some(&view),
            &[ActionType::DepositSweep],
            snapshot,
            &params,
            Weigh::Every,
        )
        .await
    };

    let choice = sweep().await;
    let Proposal::DepositSweep { deposits, .. } = &choice.proposal else {
        panic!("a sweep: {choice:?}")
    };
    assert_eq!(deposits, &vec![key(&a)], "only the deposit six blocks deep");
    assert_eq!(
        choice.evaluations[0].validation,
        Some(Validation::accepted()),
        "the real validator takes it with the funding transaction read from Electrum"
    );

    // One more Bitcoin block: both are deep enough, and both are swept.
    mine_bitcoin(&node, &miner, 1, 108).await;
    let choice = sweep().await;
    let Proposal::DepositSweep { deposits, .. } = &choice.proposal else {
        panic!("a sweep: {choice:?}")
    };
    assert_eq!(deposits, &vec![key(&a), key(&b)]);
    assert_eq!(
        choice.evaluations[0].validation,
        Some(Validation::accepted())
    );
    let side = choice.bitcoin.clone().expect("the Bitcoin side");
    assert!(side
        .deposits
        .iter()
        .all(|d| d.included && d.confirmations >= 6));

    // The Electrum server gone mid-window: no deposit counts as confirmed, so the leader
    // proposes nothing it cannot check and says why.
    drop(node);
    let choice = sweep().await;
    assert_eq!(choice.proposal, Proposal::Noop);
    let why = choice.noop_reason().expect("a reason");
    assert!(
        why.contains("Bitcoin view: Bitcoin server unavailable"),
        "{why}"
    );
    assert!(choice
        .bitcoin
        .expect("the Bitcoin side")
        .deposits
        .iter()
        .all(|d| d.confirmations == 0 && !d.included));
    chain.shutdown().await;
    view.client().shutdown().await;
}
