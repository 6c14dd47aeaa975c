//! What a leader reads of Bitcoin before it proposes (SPEC §12): each deposit's funding
//! transaction and its confirmations, the wallet's main UTXO, and the fee rate. The
//! confirmations replace the chain back end's estimate in the snapshot; the transactions and
//! the main UTXO go to the on-chain validator as [`BitcoinFacts`].

use crate::bitcoin::reading::funding_tx;
use crate::bitcoin::view::{BitcoinError, BitcoinView};
use crate::protocol::bitcoin_facts::{BitcoinFacts, MainUtxo};
use crate::protocol::{Hash32, WalletPkh, WalletSnapshot};

/// What the view told about one wallet.
#[derive(Debug, Clone, Default)]
pub struct BitcoinReading {
    pub facts: BitcoinFacts,
    /// sat/vB; `None` when the server has no estimate (regtest never has one).
    pub fee_rate: Option<u64>,
    /// Whether the Bridge's main UTXO is unspent on Bitcoin (`None`: the wallet has none).
    pub synced: Option<bool>,
    /// Where the two chains disagree about the main UTXO, naming both sides.
    pub disagreement: Option<String>,
}

/// Reads the wallet's Bitcoin side and sets each deposit's confirmations in `snapshot` from
/// the view. A funding transaction that does not hash to the deposit's key is an error: the
/// server is serving something else.
pub async fn read_bitcoin(
    view: &dyn BitcoinView,
    snapshot: &mut WalletSnapshot,
) -> Result<BitcoinReading, BitcoinError> {
    let mut reading = BitcoinReading::default();
    for deposit in &mut snapshot.deposits {
        let key = deposit.key;
        let tx = view.transaction(&key.funding_tx_hash).await?;
        let funding = funding_tx(&tx);
        if funding.hash() != key.funding_tx_hash {
            return Err(BitcoinError::Invalid(format!(
                "the server's transaction for deposit {} hashes to {}",
                key.funding_tx_hash,
                funding.hash()
            )));
        }
        deposit.confirmations = view
            .confirmations(&key.funding_tx_hash, key.output_index)
            .await?;
        reading.facts.funding.insert(key, funding);
    }
    if let Some(hash) = snapshot.main_utxo_hash {
        let main = read_main_utxo(view, &snapshot.wallet, &hash).await?;
        reading.facts.main_utxo = main.utxo;
        reading.synced = Some(main.synced);
        reading.disagreement = main.disagreement;
    }
    reading.fee_rate = view.fee_rate().await?;
    Ok(reading)
}

/// A wallet's main UTXO as Bitcoin shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainUtxoReading {
    /// The output whose hash the Bridge keeps, if Bitcoin has it.
    pub utxo: Option<MainUtxo>,
    /// "Synced between chains": found, and unspent.
    pub synced: bool,
    /// Where the two chains disagree, naming both sides.
    pub disagreement: Option<String>,
}

/// Finds the output whose hash the Bridge keeps as the wallet's `main_utxo_hash`, and whether
/// it is still unspent.
pub async fn read_main_utxo(
    view: &dyn BitcoinView,
    wallet: &WalletPkh,
    hash: &Hash32,
) -> Result<MainUtxoReading, BitcoinError> {
    let Some(utxo) = view.main_utxo(wallet, hash).await? else {
        return Ok(MainUtxoReading {
            utxo: None,
            synced: false,
            disagreement: Some(format!(
                "the Bridge's main UTXO hash {hash} matches no output of the wallet's \
                 transactions on Bitcoin"
            )),
        });
    };
    let unspent = view.is_unspent(wallet, &utxo).await?;
    Ok(MainUtxoReading {
        utxo: Some(utxo),
        synced: unspent,
        disagreement: (!unspent).then(|| {
            format!(
                "the Bridge's main UTXO {}:{} is spent on Bitcoin (the Bridge has not seen the \
                 spend's proof yet)",
                utxo.tx_hash, utxo.output_index
            )
        }),
    })
}
