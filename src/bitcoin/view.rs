//! The Bitcoin view as the engine sees it: one trait over what a leader reads of Bitcoin
//! (SPEC §12, §13). Its back ends are an Electrum server and the devnet's simulated Bitcoin.

use async_trait::async_trait;
use bitcoin::Transaction;

use crate::protocol::bitcoin_facts::MainUtxo;
use crate::protocol::{Hash32, WalletPkh};

/// Why the view could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitcoinError {
    #[error("Bitcoin server unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected Bitcoin data: {0}")]
    Invalid(String),
    #[error("transaction {0} is not known to the Bitcoin server")]
    UnknownTransaction(String),
}

pub use crate::protocol::chain::BitcoinStatus;

#[async_trait]
pub trait BitcoinView: Send + Sync + 'static {
    fn status(&self) -> BitcoinStatus;

    /// The height of the best block.
    async fn tip(&self) -> Result<u64, BitcoinError>;

    /// A transaction by its hash in the Bridge's (internal) byte order.
    async fn transaction(&self, tx_hash: &Hash32) -> Result<Transaction, BitcoinError>;

    /// Confirmations of transaction `tx_hash`, whose output `output_index` is found in its
    /// script's history (0 while in the mempool or unknown).
    async fn confirmations(&self, tx_hash: &Hash32, output_index: u32)
        -> Result<u32, BitcoinError>;

    /// The wallet's output whose hash the Bridge keeps as `main_utxo_hash`, if the view finds
    /// it among the wallet's transactions.
    async fn main_utxo(
        &self,
        wallet: &WalletPkh,
        main_utxo_hash: &Hash32,
    ) -> Result<Option<MainUtxo>, BitcoinError>;

    /// Whether `utxo` is still unspent.
    async fn is_unspent(&self, wallet: &WalletPkh, utxo: &MainUtxo) -> Result<bool, BitcoinError>;

    /// The fee rate for the next block, sat/vB; `None` when the server has no estimate.
    async fn fee_rate(&self) -> Result<Option<u64>, BitcoinError>;
}
