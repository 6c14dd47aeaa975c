//! The Bitcoin view over an Electrum server (SPEC §13), as keep-client reads it:
//! transactions with `blockchain.transaction.get`, confirmations from the height in the
//! history of one of the transaction's output scripts (electrs has no verbose transactions),
//! the main UTXO by walking the wallet's P2WPKH and P2PKH histories newest first, unspent
//! outputs with `listunspent`, and the fee rate with `estimatefee(1)`.
//!
//! What never changes is kept: transactions by hash, and the height of a transaction once it
//! is buried [`SETTLED_CONFIRMATIONS`] deep (its confirmations then follow from the tip alone).
//! So a window asks about a deposit's funding transaction once, and about its height until it
//! has settled; a swept deposit is not asked about at all (it leaves the snapshot).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bitcoin::hashes::Hash;
use bitcoin::Transaction;
use serde_json::{json, Value};

use super::electrum::{ElectrumClient, ElectrumError};
use super::reading::{
    confirmations, fee_rate_sat_per_vbyte, find_main_utxo, parse_transaction, script_hash,
    wallet_scripts,
};
use super::view::{BitcoinError, BitcoinStatus, BitcoinView};
use crate::protocol::bitcoin_facts::MainUtxo;
use crate::protocol::{Hash32, WalletPkh};

/// A transaction this deep is taken as final: its height is not asked again.
pub const SETTLED_CONFIRMATIONS: u32 = 100;
/// Transactions kept, at most; past it the cache starts again.
const MAX_CACHED_TRANSACTIONS: usize = 10_000;
/// How many of a wallet's transactions the main-UTXO walk reads, at most: a wallet's main
/// UTXO is its latest sweep's output, so the walk ends within the first few.
const MAX_MAIN_UTXO_WALK: usize = 200;

#[derive(Default)]
struct Cache {
    transactions: HashMap<Hash32, Transaction>,
    settled_heights: HashMap<Hash32, u64>,
}

/// The Bitcoin view on an Electrum client. Cheap to clone.
#[derive(Clone)]
pub struct ElectrumView {
    client: ElectrumClient,
    cache: Arc<Mutex<Cache>>,
    tip: Arc<Mutex<Option<u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a short step that leaves the data whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable(e: ElectrumError) -> BitcoinError {
    BitcoinError::Unavailable(e.to_string())
}

/// A transaction hash as Electrum names it: the displayed (byte-reversed) hex.
fn txid_hex(tx_hash: &Hash32) -> String {
    let mut bytes = tx_hash.0;
    bytes.reverse();
    hex::encode(bytes)
}

/// `(tx_hash, height)` of each entry of a `get_history` or `listunspent` answer, with
/// `tx_pos` for the latter.
fn history_entries(
    answer: &Value,
    method: &str,
) -> Result<Vec<(String, i64, Option<u64>)>, BitcoinError> {
    let items = answer
        .as_array()
        .ok_or_else(|| BitcoinError::Invalid(format!("{method}: expected a list, got {answer}")))?;
    items
        .iter()
        .map(|item| {
            let tx_hash = item["tx_hash"].as_str().map(str::to_ascii_lowercase);
            let height = item["height"].as_i64();
            match (tx_hash, height) {
                (Some(h), Some(height)) => Ok((h, height, item["tx_pos"].as_u64())),
                _ => Err(BitcoinError::Invalid(format!(
                    "{method}: expected tx_hash and height in {item}"
                ))),
            }
        })
        .collect()
}

impl ElectrumView {
    pub fn new(client: ElectrumClient) -> ElectrumView {
        ElectrumView {
            client,
            cache: Arc::default(),
            tip: Arc::default(),
        }
    }

    pub fn client(&self) -> &ElectrumClient {
        &self.client
    }

    /// The tip the server last announced on its header subscription.
    fn announced_tip(&self) -> Option<u64> {
        self.client
            .subscribe_headers()
            .borrow()
            .as_ref()
            .map(|t| t.height)
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, BitcoinError> {
        self.client.call(method, params).await.map_err(unavailable)
    }

    async fn history(
        &self,
        script: &[u8],
    ) -> Result<Vec<(String, i64, Option<u64>)>, BitcoinError> {
        let method = "blockchain.scripthash.get_history";
        let answer = self.call(method, json!([script_hash(script)])).await?;
        history_entries(&answer, method)
    }
}

#[async_trait]
impl BitcoinView for ElectrumView {
    fn status(&self) -> BitcoinStatus {
        let s = self.client.status();
        // The server announces new tips on its own; the latest of those and of our reads.
        let announced = self.announced_tip();
        BitcoinStatus {
            server: s.server,
            connected: s.connected,
            tip: (*lock(&self.tip)).max(announced),
            latency_us: s
                .last_latency
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            error: if s.connected { None } else { s.last_error },
        }
    }

    /// The tip the server last announced on its header subscription, asked for only when
    /// none was announced yet.
    async fn tip(&self) -> Result<u64, BitcoinError> {
        if let (Some(height), true) = (self.announced_tip(), self.client.status().connected) {
            *lock(&self.tip) = Some(height);
            return Ok(height);
        }
        let answer = self.call("blockchain.headers.subscribe", json!([])).await?;
        let height = answer["height"].as_u64().ok_or_else(|| {
            BitcoinError::Invalid(format!(
                "blockchain.headers.subscribe: expected a height, got {answer}"
            ))
        })?;
        *lock(&self.tip) = Some(height);
        Ok(height)
    }

    async fn transaction(&self, tx_hash: &Hash32) -> Result<Transaction, BitcoinError> {
        if let Some(tx) = lock(&self.cache).transactions.get(tx_hash) {
            return Ok(tx.clone());
        }
        let answer = self
            .client
            .call("blockchain.transaction.get", json!([txid_hex(tx_hash)]))
            .await
            .map_err(|e| match e {
                e if e.is_server_answer() => {
                    BitcoinError::UnknownTransaction(format!("{} ({e})", txid_hex(tx_hash)))
                }
                e => unavailable(e),
            })?;
        let raw = answer
            .as_str()
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| {
                BitcoinError::Invalid(format!(
                    "blockchain.transaction.get: expected hex, got {answer}"
                ))
            })?;
        let tx = parse_transaction(&raw).map_err(BitcoinError::Invalid)?;
        if Hash32(tx.compute_txid().to_byte_array()) != *tx_hash {
            return Err(BitcoinError::Invalid(format!(
                "the server answered another transaction for {}",
                txid_hex(tx_hash)
            )));
        }
        let mut cache = lock(&self.cache);
        if cache.transactions.len() >= MAX_CACHED_TRANSACTIONS {
            cache.transactions.clear();
        }
        cache.transactions.insert(*tx_hash, tx.clone());
        Ok(tx)
    }

    async fn confirmations(
        &self,
        tx_hash: &Hash32,
        output_index: u32,
    ) -> Result<u32, BitcoinError> {
        let tip = self.tip().await?;
        let settled = lock(&self.cache).settled_heights.get(tx_hash).copied();
        if let Some(height) = settled {
            return Ok(confirmations(
                tip,
                i64::try_from(height).unwrap_or(i64::MAX),
            ));
        }
        let tx = self.transaction(tx_hash).await?;
        let output = tx.output.get(output_index as usize).ok_or_else(|| {
            BitcoinError::Invalid(format!(
                "transaction {} has no output {output_index}",
                txid_hex(tx_hash)
            ))
        })?;
        let wanted = txid_hex(tx_hash);
        let height = self
            .history(output.script_pubkey.as_bytes())
            .await?
            .into_iter()
            .find(|(h, _, _)| *h == wanted)
            .map(|(_, height, _)| height)
            .unwrap_or(0);
        let count = confirmations(tip, height);
        if count >= SETTLED_CONFIRMATIONS {
            if let Ok(height) = u64::try_from(height) {
                lock(&self.cache).settled_heights.insert(*tx_hash, height);
            }
        }
        Ok(count)
    }

    async fn main_utxo(
        &self,
        wallet: &WalletPkh,
        main_utxo_hash: &Hash32,
    ) -> Result<Option<MainUtxo>, BitcoinError> {
        for script in wallet_scripts(wallet) {
            let mut entries = self.history(script.as_bytes()).await?;
            // Newest first; the mempool (height 0 or below) is newer than any block.
            entries.sort_by_key(|(_, height, _)| {
                std::cmp::Reverse(if *height <= 0 { i64::MAX } else { *height })
            });
            for (txid, _, _) in entries.into_iter().take(MAX_MAIN_UTXO_WALK) {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(&txid, &mut bytes).map_err(|e| {
                    BitcoinError::Invalid(format!("a history entry's tx_hash {txid}: {e}"))
                })?;
                bytes.reverse();
                let tx = self.transaction(&Hash32(bytes)).await?;
                if let Some(utxo) = find_main_utxo([&tx], main_utxo_hash) {
                    return Ok(Some(utxo));
                }
            }
        }
        Ok(None)
    }

    async fn is_unspent(&self, wallet: &WalletPkh, utxo: &MainUtxo) -> Result<bool, BitcoinError> {
        let wanted = txid_hex(&utxo.tx_hash);
        let method = "blockchain.scripthash.listunspent";
        for script in wallet_scripts(wallet) {
            let answer = self
                .call(method, json!([script_hash(script.as_bytes())]))
                .await?;
            let found = history_entries(&answer, method)?
                .into_iter()
                .any(|(h, _, pos)| h == wanted && pos == Some(u64::from(utxo.output_index)));
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn fee_rate(&self) -> Result<Option<u64>, BitcoinError> {
        let answer = self.call("blockchain.estimatefee", json!([1])).await?;
        let btc_per_kb = answer.as_f64().ok_or_else(|| {
            BitcoinError::Invalid(format!(
                "blockchain.estimatefee: expected a number, got {answer}"
            ))
        })?;
        Ok(fee_rate_sat_per_vbyte(btc_per_kb))
    }
}
