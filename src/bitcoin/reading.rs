//! What the Bitcoin view reads out of Bitcoin data (SPEC §12, §13), as pure functions over the
//! `bitcoin` crate's types: a funding transaction split as the Bridge takes it, a deposit's
//! script, the scripts a wallet's key hash pays to and their Electrum script hashes, confirmations from a height,
//! the wallet's main UTXO found among its transactions, an Electrum fee estimate in sat/vB,
//! and the number of wallets a moving wallet's funds go to.

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{PubkeyHash, ScriptBuf, Transaction, WPubkeyHash};

use crate::protocol::bitcoin_facts::{FundingTx, MainUtxo};
use crate::protocol::proposal::DepositReveal;
use crate::protocol::{Address, Hash32, WalletPkh};

/// A raw transaction, parsed; an error names what was wrong with it.
pub fn parse_transaction(raw: &[u8]) -> Result<Transaction, String> {
    deserialize(raw).map_err(|e| format!("not a Bitcoin transaction ({} bytes): {e}", raw.len()))
}

/// `tx` as the Bridge's `BitcoinTx.Info`: version, inputs and outputs with their counts (no
/// witness), locktime. Its [`FundingTx::hash`] is the transaction's txid.
pub fn funding_tx(tx: &Transaction) -> FundingTx {
    FundingTx {
        version: tx.version.0.to_le_bytes(),
        input_vector: serialize(&tx.input),
        output_vector: serialize(&tx.output),
        locktime: tx.lock_time.to_consensus_u32().to_le_bytes(),
    }
}

/// The txid in the Bridge's (internal) byte order.
pub fn bridge_tx_hash(tx: &Transaction) -> Hash32 {
    Hash32(tx.compute_txid().to_byte_array())
}

/// The scripts a wallet's key hash is paid to: P2WPKH (the tBTC wallets' own) and P2PKH.
pub fn wallet_scripts(wallet: &WalletPkh) -> [ScriptBuf; 2] {
    [
        ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(wallet.0)),
        ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(wallet.0)),
    ]
}

/// The tBTC deposit script (the Bridge's `_revealDeposit` form without extra data).
pub fn deposit_script(
    depositor: &Address,
    wallet: &WalletPkh,
    reveal: &DepositReveal,
) -> ScriptBuf {
    let bytes = [
        &[0x14][..],
        &depositor.0,
        &[0x75, 0x08],
        &reveal.blinding_factor,
        &[0x75, 0x76, 0xa9, 0x14],
        &wallet.0,
        &[0x87, 0x63, 0xac, 0x67, 0x76, 0xa9, 0x14],
        &reveal.refund_pubkey_hash,
        &[0x88, 0x04],
        &reveal.refund_locktime,
        &[0xb1, 0x75, 0xac, 0x68],
    ]
    .concat();
    ScriptBuf::from_bytes(bytes)
}

/// Electrum's name for a script: SHA-256 of the script, byte-reversed, in hex.
pub fn script_hash(script: &[u8]) -> String {
    let mut hash = sha256::Hash::hash(script).to_byte_array();
    hash.reverse();
    hex::encode(hash)
}

/// Confirmations of a transaction at `height` (Electrum's: 0 or below for the mempool) when
/// the tip is `tip`.
pub fn confirmations(tip: u64, height: i64) -> u32 {
    match u64::try_from(height) {
        Ok(h) if h > 0 && h <= tip => u32::try_from(tip - h + 1).unwrap_or(u32::MAX),
        _ => 0,
    }
}

/// The output of one of `txs` whose `keccak256(txHash ‖ index ‖ value)` is the Bridge's
/// `mainUtxoHash`, as keep-client finds it walking the wallet's transactions newest first.
pub fn find_main_utxo<'a>(
    txs: impl IntoIterator<Item = &'a Transaction>,
    main_utxo_hash: &Hash32,
) -> Option<MainUtxo> {
    txs.into_iter().find_map(|tx| {
        let tx_hash = bridge_tx_hash(tx);
        tx.output.iter().enumerate().find_map(|(i, out)| {
            let utxo = MainUtxo {
                tx_hash,
                output_index: u32::try_from(i).ok()?,
                value: out.value.to_sat(),
            };
            (utxo.bridge_hash() == *main_utxo_hash).then_some(utxo)
        })
    })
}

/// An Electrum `blockchain.estimatefee` answer (BTC per kilobyte) as sat/vB, as keep-client
/// reads it: `round(max(1e5 × x, 1))`. A negative or non-finite answer is no estimate.
pub fn fee_rate_sat_per_vbyte(btc_per_kb: f64) -> Option<u64> {
    if !btc_per_kb.is_finite() || btc_per_kb < 0.0 {
        return None;
    }
    let rate = (btc_per_kb * 1e5).max(1.0).round();
    // Beyond any real fee market: refused rather than saturated into a nonsense fee.
    (rate <= 1e9).then_some(rate as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, Sequence, TxIn, TxOut, Witness};

    fn tx(outputs: &[(u64, ScriptBuf)], witness: bool) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(1_700_000_000),
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: if witness {
                    Witness::from_slice(&[vec![1u8; 72], vec![2u8; 33]])
                } else {
                    Witness::new()
                },
            }],
            output: outputs
                .iter()
                .map(|(v, s)| TxOut {
                    value: Amount::from_sat(*v),
                    script_pubkey: s.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_segwit_transaction_splits_into_the_parts_whose_hash_is_its_txid() {
        let wallet = WalletPkh([9; 20]);
        let [p2wpkh, _] = wallet_scripts(&wallet);
        let t = tx(&[(50_000, p2wpkh)], true);
        let raw = serialize(&t);
        assert_eq!(parse_transaction(&raw).unwrap(), t);
        let info = funding_tx(&t);
        assert_eq!(info.version, [2, 0, 0, 0]);
        assert_eq!(info.locktime, 1_700_000_000u32.to_le_bytes());
        // The witness is not in the parts, and the parts hash to the txid.
        assert_eq!(info.hash(), bridge_tx_hash(&t));
        assert!(parse_transaction(&raw[..raw.len() - 1]).is_err());
    }

    #[test]
    fn wallet_scripts_and_electrum_script_hashes() {
        let wallet = WalletPkh([0xAB; 20]);
        let [p2wpkh, p2pkh] = wallet_scripts(&wallet);
        assert_eq!(p2wpkh.as_bytes(), [&[0x00, 0x14][..], &[0xAB; 20]].concat());
        assert_eq!(
            p2pkh.as_bytes(),
            [&[0x76, 0xa9, 0x14][..], &[0xAB; 20], &[0x88, 0xac]].concat()
        );
        // Electrum's documented example: the P2PKH of 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa.
        let satoshi = hex::decode("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac").unwrap();
        assert_eq!(
            script_hash(&satoshi),
            "8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"
        );
    }

    #[test]
    fn confirmations_count_the_block_itself_and_none_in_the_mempool() {
        assert_eq!(confirmations(100, 100), 1);
        assert_eq!(confirmations(105, 100), 6);
        assert_eq!(confirmations(100, 0), 0);
        assert_eq!(confirmations(100, -1), 0);
        // A height past the tip (the server's tip moved on): not yet counted.
        assert_eq!(confirmations(100, 101), 0);
    }

    #[test]
    fn the_main_utxo_is_the_output_whose_hash_the_bridge_keeps() {
        let wallet = WalletPkh([7; 20]);
        let [p2wpkh, _] = wallet_scripts(&wallet);
        let older = tx(&[(10_000, p2wpkh.clone())], false);
        let newer = tx(&[(1_000, ScriptBuf::new()), (99_000, p2wpkh)], false);
        let main = MainUtxo {
            tx_hash: bridge_tx_hash(&newer),
            output_index: 1,
            value: 99_000,
        };
        assert_eq!(
            find_main_utxo([&newer, &older], &main.bridge_hash()),
            Some(main)
        );
        assert_eq!(find_main_utxo([&older], &main.bridge_hash()), None);
    }

    #[test]
    fn electrum_fee_estimates_read_as_keep_client_reads_them() {
        assert_eq!(fee_rate_sat_per_vbyte(0.00012), Some(12));
        assert_eq!(
            fee_rate_sat_per_vbyte(0.000004),
            Some(1),
            "at least 1 sat/vB"
        );
        assert_eq!(fee_rate_sat_per_vbyte(0.000016), Some(2), "rounded");
        assert_eq!(fee_rate_sat_per_vbyte(-1.0), None, "regtest: no estimate");
        assert_eq!(fee_rate_sat_per_vbyte(f64::NAN), None);
        assert_eq!(fee_rate_sat_per_vbyte(1e12), None);
    }
}
