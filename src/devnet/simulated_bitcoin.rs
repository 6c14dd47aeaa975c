//! The devnet's simulated Bitcoin: every revealed deposit has a real-shaped funding
//! transaction paying the P2WSH of its deposit script (so its key is the transaction's hash,
//! and the validator's `DepositExtraInfo` could be built from it), every wallet holds a main
//! UTXO paying its P2WPKH, and a Bitcoin block is mined every ten minutes of chain time. The
//! devnet answers the engine's [`BitcoinView`] from this, through the same path as Electrum.

use async_trait::async_trait;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

use super::chain::world::block_timestamp;
use super::chain::Devnet;
use crate::bitcoin::reading::{bridge_tx_hash, deposit_script, find_main_utxo, wallet_scripts};
use crate::bitcoin::view::{BitcoinError, BitcoinStatus, BitcoinView};
use crate::protocol::bitcoin_facts::MainUtxo;
use crate::protocol::proposal::{DepositReveal, BITCOIN_BLOCK_SECONDS};
use crate::protocol::types::keccak256;
use crate::protocol::{Address, Hash32, WalletPkh};

/// Who reveals the devnet's deposits (a synthetic address).
pub const DEVNET_DEPOSITOR: Address = Address([0xde; 20]);
/// What each simulated wallet holds on Bitcoin: 10 BTC.
pub const MAIN_UTXO_VALUE: u64 = 10 * 100_000_000;

/// The simulated Bitcoin height at chain time `timestamp`.
pub fn bitcoin_height(timestamp: u64) -> u64 {
    timestamp / BITCOIN_BLOCK_SECONDS
}

/// A deposit's reveal, drawn from the outpoint its funding transaction spends (no further
/// randomness, so the devnet's draws stay as they were).
pub fn reveal_of(spent: &Hash32, refund_locktime: u64) -> DepositReveal {
    let h = keccak256(&spent.0);
    DepositReveal {
        blinding_factor: h[..8].try_into().unwrap_or_default(),
        refund_pubkey_hash: h[8..28].try_into().unwrap_or_default(),
        refund_locktime: u32::try_from(refund_locktime)
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    }
}

/// A funding transaction spending `spent`:0 whose output `output_index` pays `amount` to the
/// deposit's P2WSH; earlier outputs are the depositor's change.
pub fn funding_transaction(
    spent: &Hash32,
    output_index: u32,
    amount: u64,
    wallet: &WalletPkh,
    reveal: &DepositReveal,
) -> Transaction {
    let script = deposit_script(&DEVNET_DEPOSITOR, wallet, reveal);
    let p2wsh = ScriptBuf::new_p2wsh(&bitcoin::WScriptHash::from_byte_array(
        sha256::Hash::hash(script.as_bytes()).to_byte_array(),
    ));
    let mut output: Vec<TxOut> = (0..output_index)
        .map(|_| TxOut {
            value: Amount::from_sat(25_000),
            script_pubkey: ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array(
                [0xdc; 20],
            )),
        })
        .collect();
    output.push(TxOut {
        value: Amount::from_sat(amount),
        script_pubkey: p2wsh,
    });
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(spent.0), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    }
}

/// The transaction that made the wallet's main UTXO: output 0 pays it to its P2WPKH.
pub fn main_utxo_transaction(wallet: &WalletPkh) -> Transaction {
    let [p2wpkh, _] = wallet_scripts(wallet);
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(keccak256(&wallet.0)), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(MAIN_UTXO_VALUE),
            script_pubkey: p2wpkh,
        }],
    }
}

/// The wallet's main UTXO.
pub fn main_utxo(wallet: &WalletPkh) -> MainUtxo {
    MainUtxo {
        tx_hash: bridge_tx_hash(&main_utxo_transaction(wallet)),
        output_index: 0,
        value: MAIN_UTXO_VALUE,
    }
}

#[async_trait]
impl BitcoinView for Devnet {
    fn status(&self) -> BitcoinStatus {
        BitcoinStatus {
            server: "devnet".into(),
            connected: true,
            tip: Some(bitcoin_height(block_timestamp(self.head().number))),
            latency_us: None,
            error: None,
        }
    }

    async fn tip(&self) -> Result<u64, BitcoinError> {
        Ok(bitcoin_height(block_timestamp(self.head().number)))
    }

    async fn transaction(&self, tx_hash: &Hash32) -> Result<Transaction, BitcoinError> {
        self.bitcoin_transaction(tx_hash)
            .map(|(tx, _)| tx)
            .ok_or_else(|| BitcoinError::UnknownTransaction(tx_hash.to_string()))
    }

    async fn confirmations(
        &self,
        tx_hash: &Hash32,
        _output_index: u32,
    ) -> Result<u32, BitcoinError> {
        let (_, mined_at) = self
            .bitcoin_transaction(tx_hash)
            .ok_or_else(|| BitcoinError::UnknownTransaction(tx_hash.to_string()))?;
        let tip = self.tip().await?;
        Ok(crate::bitcoin::reading::confirmations(
            tip,
            i64::try_from(bitcoin_height(mined_at)).unwrap_or(i64::MAX),
        ))
    }

    async fn main_utxo(
        &self,
        wallet: &WalletPkh,
        main_utxo_hash: &Hash32,
    ) -> Result<Option<MainUtxo>, BitcoinError> {
        Ok(find_main_utxo(
            [&main_utxo_transaction(wallet)],
            main_utxo_hash,
        ))
    }

    async fn is_unspent(&self, wallet: &WalletPkh, utxo: &MainUtxo) -> Result<bool, BitcoinError> {
        Ok(main_utxo(wallet) == *utxo)
    }

    /// The devnet has no fee market: the configured rate applies.
    async fn fee_rate(&self) -> Result<Option<u64>, BitcoinError> {
        Ok(None)
    }
}
