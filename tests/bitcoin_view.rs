//! The Bitcoin view over a real Electrum server (ElectrumX) on a real regtest node (bcoin),
//! both on loopback: a deposit's funding transaction and its confirmations as blocks are
//! mined, the wallet's main UTXO found by the hash the Bridge keeps, whether it is unspent,
//! regtest's missing fee estimate, and what a leader reads before proposing. Transactions are
//! built and signed here; every wait is for a height, with a deadline.

mod bitcoin_support;
mod ethereum_support;
mod loopback_support;

use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, TxOut};
use serde_json::json;

use bitcoin_support::{deposit_output, BitcoinNode, Key};
use tbtc_coord::bitcoin::reading::{bridge_tx_hash, funding_tx, wallet_scripts};
use tbtc_coord::bitcoin::view::{BitcoinError, BitcoinView};
use tbtc_coord::engine::bitcoin_read::read_bitcoin;
use tbtc_coord::protocol::bitcoin_facts::MainUtxo;
use tbtc_coord::protocol::proposal::{DepositKey, DepositReveal, RevealedDeposit, WalletState};
use tbtc_coord::protocol::{Address, Hash32, WalletPkh, WalletSnapshot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_s_funding_transaction_confirmations_and_the_wallet_s_main_utxo_come_from_electrum(
) {
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x31);
    node.mine(101, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(101).await;
    let view = node.view().await;
    assert_eq!(view.tip().await.unwrap(), 101);

    // One transaction pays a deposit (its script's P2WSH) and the wallet (its main UTXO).
    let wallet = WalletPkh([0x77; 20]);
    let reveal = DepositReveal {
        blinding_factor: [5; 8],
        refund_pubkey_hash: [6; 20],
        refund_locktime: 1_900_000_000u32.to_le_bytes(),
    };
    let [wallet_p2wpkh, _] = wallet_scripts(&wallet);
    let deposit_amount = Amount::from_sat(50_000_000);
    let main_value = Amount::from_sat(25 * 100_000_000);
    let tx = node
        .pay_from_coinbase(
            &miner,
            1,
            vec![
                deposit_output(
                    &Address([0xde; 20]),
                    &wallet,
                    &reveal,
                    deposit_amount.to_sat(),
                ),
                TxOut {
                    value: main_value,
                    script_pubkey: wallet_p2wpkh,
                },
            ],
        )
        .await;
    let hash = bridge_tx_hash(&tx);

    // In the mempool: the transaction is there, with no confirmation.
    assert_eq!(view.transaction(&hash).await.unwrap(), tx);
    assert_eq!(view.confirmations(&hash, 0).await.unwrap(), 0);

    // Five blocks: five confirmations; one more: six, as a sweep needs.
    node.mine(5, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(106).await;
    assert_eq!(view.confirmations(&hash, 0).await.unwrap(), 5);
    node.mine(1, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(107).await;
    assert_eq!(view.confirmations(&hash, 0).await.unwrap(), 6);

    // The main UTXO, found by the hash the Bridge keeps, and unspent.
    let main = MainUtxo {
        tx_hash: hash,
        output_index: 1,
        value: main_value.to_sat(),
    };
    assert_eq!(
        view.main_utxo(&wallet, &main.bridge_hash()).await.unwrap(),
        Some(main)
    );
    assert_eq!(
        view.main_utxo(&wallet, &Hash32([1; 32])).await.unwrap(),
        None,
        "a hash no output has"
    );
    assert!(view.is_unspent(&wallet, &main).await.unwrap());
    let spent_elsewhere = MainUtxo {
        output_index: 0,
        ..main
    };
    assert!(!view.is_unspent(&wallet, &spent_elsewhere).await.unwrap());
    // Regtest has no fee estimate: the configured rate will apply.
    assert_eq!(view.fee_rate().await.unwrap(), None);

    // What a leader reads: the deposit's confirmations and funding transaction, the main UTXO.
    let key = DepositKey {
        funding_tx_hash: hash,
        output_index: 0,
    };
    let mut snapshot = WalletSnapshot {
        wallet,
        state: WalletState::Live,
        deposits: vec![RevealedDeposit {
            key,
            amount: deposit_amount.to_sat(),
            vault: None,
            revealed_at: 0,
            reveal_block: 0,
            confirmations: 0,
            refund_locktime: 1_900_000_000,
            reveal,
        }],
        main_utxo_hash: Some(main.bridge_hash()),
        ..WalletSnapshot::default()
    };
    let reading = read_bitcoin(&view, &mut snapshot).await.unwrap();
    assert_eq!(snapshot.deposits[0].confirmations, 6);
    assert_eq!(reading.facts.funding[&key], funding_tx(&tx));
    assert_eq!(reading.facts.main_utxo, Some(main));
    // Synced between chains: the Bridge's main UTXO is unspent on Bitcoin.
    assert_eq!(reading.synced, Some(true));
    assert_eq!(reading.disagreement, None);
    // A Bridge that names an output Bitcoin does not have: a disagreement naming the hash.
    snapshot.main_utxo_hash = Some(Hash32([0x99; 32]));
    let reading = read_bitcoin(&view, &mut snapshot).await.unwrap();
    assert_eq!(reading.synced, Some(false));
    let said = reading.disagreement.expect("a disagreement");
    assert!(said.contains(&Hash32([0x99; 32]).to_string()), "{said}");

    // A transaction the server never saw is named, not invented.
    let unknown = view.transaction(&Hash32([0xAB; 32])).await;
    assert!(
        matches!(unknown, Err(BitcoinError::UnknownTransaction(_))),
        "{unknown:?}"
    );
    let status = view.status();
    assert!(status.connected && status.tip == Some(107), "{status:?}");

    // With the server gone, the view says so (bounded by the configured timeouts). The tip
    // is the one the server last announced; anything asked of the server fails.
    drop(node);
    let gone = view.fee_rate().await;
    assert!(
        matches!(gone, Err(BitcoinError::Unavailable(_))),
        "{gone:?}"
    );
    view.client().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_main_utxo_spent_in_the_mempool_reads_as_not_synced() {
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x32);
    node.mine(101, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(101).await;
    let view = node.view().await;

    // The wallet's key is the test's: its main UTXO pays the key's P2PKH.
    let signer = Key::new(0x33);
    let wallet = WalletPkh(signer.public.pubkey_hash().to_byte_array());
    let main_value = Amount::from_sat(100_000_000);
    let funding = node
        .pay_from_coinbase(
            &miner,
            1,
            vec![TxOut {
                value: main_value,
                script_pubkey: signer.p2pkh().script_pubkey(),
            }],
        )
        .await;
    node.mine(1, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(102).await;
    let main = MainUtxo {
        tx_hash: bridge_tx_hash(&funding),
        output_index: 0,
        value: main_value.to_sat(),
    };
    let mut snapshot = WalletSnapshot {
        wallet,
        state: WalletState::Live,
        main_utxo_hash: Some(main.bridge_hash()),
        ..WalletSnapshot::default()
    };
    let reading = read_bitcoin(&view, &mut snapshot).await.unwrap();
    assert_eq!(reading.facts.main_utxo, Some(main));
    assert_eq!(reading.synced, Some(true));

    // The wallet spends it; the spend is only in the mempool, and the Bridge has not seen it.
    let spend = signer.spend_p2pkh(
        bitcoin::OutPoint::new(funding.compute_txid(), 0),
        vec![TxOut {
            value: main_value - Amount::from_sat(10_000),
            script_pubkey: miner.p2pkh().script_pubkey(),
        }],
    );
    node.electrum(
        "blockchain.transaction.broadcast",
        json!([serialize_hex(&spend)]),
    )
    .await;
    let deadline = std::time::Instant::now() + bitcoin_support::DEADLINE;
    let reading = loop {
        let reading = read_bitcoin(&view, &mut snapshot).await.unwrap();
        if reading.synced == Some(false) {
            break reading;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ElectrumX never saw the spend"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let said = reading.disagreement.expect("a disagreement");
    assert!(
        said.contains("spent on Bitcoin") && said.contains(&main.tx_hash.to_string()),
        "{said}"
    );
    view.client().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_answers_again_once_its_server_is_back() {
    let node = BitcoinNode::start().await;
    node.mine(1, &Key::new(0x34).p2pkh().to_string()).await;
    node.wait_for_tip(1).await;
    let proxy = ethereum_support::Proxy::start(node.electrum_port).await;
    let view = node.view_via(proxy.port).await;
    assert_eq!(view.fee_rate().await.unwrap(), None);

    // The server unreachable: an error naming it, no answer invented.
    proxy.cut();
    let gone = view.fee_rate().await;
    assert!(
        matches!(gone, Err(BitcoinError::Unavailable(_))),
        "{gone:?}"
    );
    // Back: the next request reconnects and is answered.
    proxy.restore();
    assert_eq!(view.fee_rate().await.unwrap(), None);
    assert_eq!(view.tip().await.unwrap(), 1);
    assert!(view.status().connected, "{:?}", view.status());
    view.client().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_follows_the_tip_again_after_its_server_restarts() {
    let mut node = BitcoinNode::start().await;
    let miner = Key::new(0x35).p2pkh().to_string();
    node.mine(1, &miner).await;
    node.wait_for_tip(1).await;
    let view = node.view().await;
    assert_eq!(view.tip().await.unwrap(), 1);

    // A real restart: the process stops and starts again on the same port and index.
    node.restart_electrum().await;
    assert_eq!(view.tip().await.unwrap(), 1, "answered again");
    // The new session subscribes to headers again: a block mined now reaches the view
    // without being asked for.
    node.mine(1, &miner).await;
    let deadline = std::time::Instant::now() + bitcoin_support::DEADLINE;
    while view.status().tip != Some(2) {
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted server's new tip never reached the view: {:?}",
            view.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(view.status().connected, "{:?}", view.status());
    view.client().shutdown().await;
}
