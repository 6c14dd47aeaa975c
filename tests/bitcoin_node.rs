//! The Bitcoin test bed against itself: a real regtest node (bcoin) behind a real Electrum
//! server (ElectrumX), both on loopback, answering the Electrum methods keep-client relies on
//! (SPEC §13) the way a Bitcoin Core behind ElectrumX does. Transactions are built and signed
//! here with the `bitcoin` crate.

mod bitcoin_support;
mod loopback_support;

use bitcoin::consensus::encode::{deserialize, serialize_hex};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, TxOut};
use serde_json::{json, Value};

use bitcoin_support::{BitcoinNode, Key};

/// Bitcoin Core's regtest genesis block, which ElectrumX checks and keep-client compares.
const REGTEST_GENESIS: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";

/// The Electrum scripthash: sha256 of the output script, byte-reversed, hex.
fn scripthash(script: &bitcoin::Script) -> String {
    let mut hash = sha256::Hash::hash(script.as_bytes()).to_byte_array();
    hash.reverse();
    hex::encode(hash)
}

fn header_hash(header_hex: &Value) -> String {
    let bytes = hex::decode(header_hex.as_str().expect("a header in hex")).expect("header hex");
    deserialize::<bitcoin::block::Header>(&bytes)
        .expect("an 80-byte header")
        .block_hash()
        .to_string()
}

#[tokio::test]
async fn electrumx_reports_the_tip_bcoin_mined() {
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x11);
    let address = miner.p2pkh().to_string();
    assert!(address.starts_with(['m', 'n']), "{address}");

    let hashes = node.mine(101, &address).await;
    assert_eq!(hashes.len(), 101);
    assert_eq!(node.rpc("getblockcount", json!([])).await, json!(101));
    let best = node.rpc("getbestblockhash", json!([])).await;
    assert_eq!(best, json!(hashes[100]));

    let tip = node.wait_for_tip(101).await;
    assert_eq!(tip["height"], json!(101));
    assert_eq!(header_hash(&tip["hex"]), hashes[100]);
    assert_eq!(
        node.electrum("blockchain.block.header", json!([101])).await,
        tip["hex"]
    );
    assert_eq!(
        header_hash(&node.electrum("blockchain.block.header", json!([0])).await),
        REGTEST_GENESIS
    );

    // Every coinbase paid the address as Bitcoin Core encodes it, and ElectrumX indexed them
    // all under its script.
    let history = node
        .electrum(
            "blockchain.scripthash.get_history",
            json!([scripthash(&miner.p2pkh().script_pubkey())]),
        )
        .await;
    let heights: Vec<u64> = history
        .as_array()
        .expect("a history")
        .iter()
        .map(|h| h["height"].as_u64().expect("a height"))
        .collect();
    assert_eq!(heights, (1..=101).collect::<Vec<_>>());

    let (bcoin_rss, electrumx_rss) = node.rss_kib();
    eprintln!(
        "bcoin started in {:?}, rss {:?} KiB; ElectrumX started in {:?}, rss {:?} KiB",
        node.bcoin_started_in, bcoin_rss, node.electrumx_started_in, electrumx_rss
    );
}

#[tokio::test]
async fn electrumx_negotiates_protocol_1_4_and_regtest_has_no_fee_estimate() {
    let node = BitcoinNode::start().await;
    let version = node
        .electrum("server.version", json!(["tbtc-coord-test", "1.4"]))
        .await;
    assert_eq!(version, json!(["ElectrumX 1.18.0", "1.4"]));

    // Regtest has no fee estimate: bcoin answers as Bitcoin Core does, ElectrumX passes on -1.
    let estimate = node.rpc("estimatesmartfee", json!([6])).await;
    assert!(estimate.get("feerate").is_none(), "{estimate}");
    assert!(estimate["errors"].is_array(), "{estimate}");
    assert_eq!(
        node.electrum("blockchain.estimatefee", json!([6])).await,
        json!(-1)
    );
    // The relay fee floor: bcoin's 1000 sat/kvB.
    assert_eq!(
        node.electrum("blockchain.relayfee", json!([])).await,
        json!(0.00001)
    );
}

#[tokio::test]
async fn a_p2wpkh_payment_is_found_through_its_script_history() {
    let node = BitcoinNode::start().await;
    let miner = Key::new(0x11);
    let wallet = Key::new(0x22);
    node.mine(101, &miner.p2pkh().to_string()).await;
    node.wait_for_tip(101).await;

    // Block 1's coinbase is mature at height 101.
    let (previous, value) = node.coinbase_of(1, &miner).await;
    let fee = Amount::from_sat(10_000);
    let wallet_script = wallet.p2wpkh().script_pubkey();
    assert!(wallet_script.is_p2wpkh());
    let pay = |key: &Key, amount: Amount| {
        key.spend_p2pkh(
            previous,
            vec![TxOut {
                value: amount,
                script_pubkey: wallet_script.clone(),
            }],
        )
    };

    // A transaction signed by the wrong key is refused, not just given a txid.
    let forged = pay(&wallet, value - fee);
    let refused = node
        .try_electrum(
            "blockchain.transaction.broadcast",
            json!([serialize_hex(&forged)]),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");

    let tx = pay(&miner, value - fee);
    let txid = tx.compute_txid().to_string();
    let broadcast = node
        .electrum(
            "blockchain.transaction.broadcast",
            json!([serialize_hex(&tx)]),
        )
        .await;
    assert_eq!(broadcast, json!(txid));

    // In the mempool: height 0 (its input is confirmed).
    let hash = scripthash(&wallet_script);
    let deadline = std::time::Instant::now() + bitcoin_support::DEADLINE;
    loop {
        let history = node
            .electrum("blockchain.scripthash.get_history", json!([hash]))
            .await;
        if history == json!([{"tx_hash": txid, "height": 0, "fee": fee.to_sat()}]) {
            break;
        }
        assert_eq!(history, json!([]), "unexpected mempool history");
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for ElectrumX to see the transaction in the mempool"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    node.mine(1, &miner.p2pkh().to_string()).await;
    let tip = node.wait_for_tip(102).await;
    assert_eq!(tip["height"], json!(102));
    assert!(node
        .block_at(102)
        .await
        .txdata
        .iter()
        .any(|t| t.compute_txid() == tx.compute_txid()));

    let history = node
        .electrum("blockchain.scripthash.get_history", json!([hash]))
        .await;
    assert_eq!(history, json!([{"tx_hash": txid, "height": 102}]));
    let unspent = node
        .electrum("blockchain.scripthash.listunspent", json!([hash]))
        .await;
    assert_eq!(
        unspent,
        json!([{"tx_hash": txid, "tx_pos": 0, "height": 102, "value": (value - fee).to_sat()}])
    );
    assert_eq!(
        node.electrum("blockchain.transaction.get", json!([txid]))
            .await,
        json!(serialize_hex(&tx))
    );
}
