//! A deposit sweep from real Bitcoin data to the real Bridge: funding transactions built and
//! signed here, mined on a real regtest node (bcoin) behind a real Electrum server
//! (ElectrumX), revealed on the real tBTC v2 Bridge on anvil for a wallet made through the
//! real DKG. The leader's sweep holds exactly the deposits with six confirmations, and the
//! real WalletProposalValidator accepts it with the real funding transactions our node read
//! from Electrum. A wallet moving its funds from a real main UTXO proposes the committed
//! targets, and the validator accepts that too with the main UTXO read from Electrum.

mod bitcoin_support;
mod ethereum_support;
mod loopback_support;

use bitcoin::{Amount, Transaction, TxOut};
use serde_json::json;

use bitcoin_support::{deposit_output, BitcoinNode, Key};
use ethereum_support::moved_funds::{depositor, latest_timestamp, reveal_deposit, Deposit};
use ethereum_support::real::RealTbtc;
use ethereum_support::Anvil;
use tbtc_coord::bitcoin::reading::bridge_tx_hash;
use tbtc_coord::chain::Chain;
use tbtc_coord::engine::proposing::{choose_with_bitcoin, Weigh};
use tbtc_coord::protocol::proposal::{DepositKey, DepositReveal, ProposalParams};
use tbtc_coord::protocol::{ActionType, Address, Proposal, Validation, WalletPkh};

/// A funding transaction of `value` satoshi to `wallet`'s deposit script, spending block
/// `height`'s coinbase and broadcast, and its reveal.
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
    let output = deposit_output(&depositor(), wallet, &reveal, value);
    let tx = node.pay_from_coinbase(miner, height, vec![output]).await;
    let deposit = Deposit::of_transaction(&tx, 0, wallet, &reveal);
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
    mine_bitcoin(&node, &miner, 1, 102).await;
    let (b, deposit_b) = funding(&node, &miner, 2, &wallet, 3_000_000, refund_at).await;
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
    let view = node.view().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_funds_goes_to_the_committed_targets_from_a_real_main_utxo_and_the_validator_accepts_it(
) {
    use ethereum_support::call_data;
    use ethereum_support::moved_funds::fail_heartbeat;
    use ethereum_support::real::{uint, MainUtxo};
    use ethers_core::abi::Token;

    let anvil = Anvil::start(&[]).await;
    let url = anvil.http_url();
    let operators: Vec<Address> = (1..=3u8).map(|i| Address([0xC8 + i; 20])).collect();
    let tbtc = RealTbtc::deploy(&url, &operators).await;
    tbtc.allow_wallets_back_to_back().await;
    let source_key = tbtc.create_wallet(&[0x61; 32], &operators).await;
    let source = source_key.pkh();
    let mut targets: Vec<WalletPkh> = Vec::new();
    for secret in [0x62u8, 0x63] {
        targets.push(tbtc.create_wallet(&[secret; 32], &operators).await.pkh());
    }
    // The Bridge takes target wallets in ascending order.
    targets.sort_by_key(|w| w.0);

    // A real main UTXO of 15 BTC on regtest, paying the wallet's P2WPKH: with the Bridge's
    // 10 BTC maximum transfer, two targets.
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x42);
    mine_bitcoin(&node, &miner, 101, 101).await;
    let balance = Amount::from_sat(15 * 100_000_000);
    let [wallet_p2wpkh, _] = tbtc_coord::bitcoin::reading::wallet_scripts(&source);
    let main_tx = node
        .pay_from_coinbase(
            &miner,
            1,
            vec![TxOut {
                value: balance,
                script_pubkey: wallet_p2wpkh,
            }],
        )
        .await;
    mine_bitcoin(&node, &miner, 6, 107).await;
    let main = MainUtxo {
        tx_hash: bridge_tx_hash(&main_tx).0,
        output_index: 0,
        value: balance.to_sat(),
    };
    tbtc.set_main_utxo(&source, &main).await;
    // Its heartbeat fails: the real Bridge moves a wallet with funds to MovingFunds.
    fail_heartbeat(&tbtc, &source_key).await;
    let count = tbtc_coord::bitcoin::reading::moving_funds_target_count(
        balance.to_sat(),
        10 * 100_000_000,
        targets.len(),
    );
    assert_eq!(count, 2);

    // A member submits the commitment through the real Bridge.
    let mut ids = Vec::new();
    for member in &operators {
        let id = tbtc
            .view(
                &tbtc.pool_abi,
                &tbtc.pool,
                "getOperatorID",
                &[Token::Address(member.0.into())],
            )
            .await
            .unwrap();
        ids.push(id.into_iter().next().unwrap());
    }
    let commit = call_data(
        &tbtc.bridge_abi,
        "submitMovingFundsCommitment",
        &[
            Token::FixedBytes(source.0.to_vec()),
            main.token(),
            Token::Array(ids),
            uint(1),
            Token::Array(
                targets
                    .iter()
                    .map(|t| Token::FixedBytes(t.0.to_vec()))
                    .collect(),
            ),
        ],
    );
    tbtc.send_as(&operators[0], &tbtc.bridge, &commit).await;
    // A day later, past the safety margin.
    let params = ProposalParams::default();
    let now = latest_timestamp(&url).await;
    ethereum_support::rpc(
        &url,
        "anvil_setNextBlockTimestamp",
        json!([now + params.moving_funds_safety_margin + 60]),
    )
    .await;
    ethereum_support::rpc(&url, "anvil_mine", json!(["0x1"])).await;

    let chain = tbtc.chain().await;
    let view = node.view().await;
    let head = chain.latest_block().await.unwrap().number;
    let snapshot = chain.wallet_snapshot(&source, head).await.unwrap();
    assert_eq!(snapshot.moving_funds_targets, targets);
    let choice = choose_with_bitcoin(
        &chain,
        Some(&view),
        &[ActionType::MovingFunds],
        snapshot,
        &params,
        Weigh::Every,
    )
    .await;
    let Proposal::MovingFunds { target_wallets, .. } = &choice.proposal else {
        panic!("moving funds: {choice:?}")
    };
    assert_eq!(target_wallets, &targets);
    assert_eq!(
        choice.evaluations[0].validation,
        Some(Validation::accepted()),
        "the real validator takes it with the main UTXO read from Electrum"
    );
    let side = choice.bitcoin.expect("the Bitcoin side");
    assert_eq!(side.synced, Some(true));
    assert_eq!(side.main_utxo.map(|u| u.value), Some(balance.to_sat()));
    chain.shutdown().await;
    view.client().shutdown().await;
}
