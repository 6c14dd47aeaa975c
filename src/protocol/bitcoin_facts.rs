//! The Bitcoin facts the on-chain validator takes as arguments (SPEC §12): each swept
//! deposit's funding transaction, split as the Bridge's `BitcoinTx.Info`, and the wallet's
//! main UTXO. Plain data: whoever reads Bitcoin fills them in, the validator call encodes them.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::proposal::DepositKey;
use super::types::{keccak256, Hash32};

/// A Bitcoin transaction as the Bridge takes it: the 4-byte version, the input vector and the
/// output vector (each with its CompactSize count, no witness), the 4-byte locktime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingTx {
    pub version: [u8; 4],
    pub input_vector: Vec<u8>,
    pub output_vector: Vec<u8>,
    pub locktime: [u8; 4],
}

impl FundingTx {
    /// The transaction's hash in the Bridge's (internal) byte order: double SHA-256 of the
    /// four parts, as `BitcoinTx.Info.hash` computes it.
    pub fn hash(&self) -> Hash32 {
        let mut h = Sha256::new();
        h.update(self.version);
        h.update(&self.input_vector);
        h.update(&self.output_vector);
        h.update(self.locktime);
        Hash32(Sha256::digest(h.finalize()).into())
    }
}

/// A wallet's main UTXO as the Bridge keeps its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MainUtxo {
    /// Internal byte order.
    pub tx_hash: Hash32,
    pub output_index: u32,
    pub value: u64,
}

impl MainUtxo {
    /// `keccak256(txHash ‖ uint32 outputIndex ‖ uint64 value)`, the Bridge's `mainUtxoHash`.
    pub fn bridge_hash(&self) -> Hash32 {
        let mut packed = Vec::with_capacity(44);
        packed.extend_from_slice(&self.tx_hash.0);
        packed.extend_from_slice(&self.output_index.to_be_bytes());
        packed.extend_from_slice(&self.value.to_be_bytes());
        Hash32(keccak256(&packed))
    }
}

/// What a Bitcoin view found for one wallet's window: funding transactions by deposit, and
/// the main UTXO. Empty without a Bitcoin view: sweeps and moving funds are then not checked
/// on chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitcoinFacts {
    pub funding: HashMap<DepositKey, FundingTx>,
    pub main_utxo: Option<MainUtxo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_funding_transaction_hashes_as_bitcoin_does() {
        // The genesis block's coinbase: txid 4a5e1e4b…eda33b (displayed), split in its parts.
        let raw = hex::decode(concat!(
            "01000000",
            "01",
            "0000000000000000000000000000000000000000000000000000000000000000ffffffff",
            "4d",
            "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72",
            "206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73",
            "ffffffff",
            "01",
            "00f2052a01000000",
            "43",
            "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38",
            "c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac",
            "00000000"
        ))
        .unwrap();
        let tx = FundingTx {
            version: raw[..4].try_into().unwrap(),
            input_vector: raw[4..4 + 1 + 36 + 1 + 77 + 4].to_vec(),
            output_vector: raw[4 + 1 + 36 + 1 + 77 + 4..raw.len() - 4].to_vec(),
            locktime: raw[raw.len() - 4..].try_into().unwrap(),
        };
        let mut displayed = tx.hash().0;
        displayed.reverse();
        assert_eq!(
            hex::encode(displayed),
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
    }

    #[test]
    fn a_main_utxo_hashes_as_the_bridge_keeps_it() {
        let utxo = MainUtxo {
            tx_hash: Hash32([0x21; 32]),
            output_index: 3,
            value: 50_000,
        };
        let packed = [
            &[0x21u8; 32][..],
            &3u32.to_be_bytes(),
            &50_000u64.to_be_bytes(),
        ]
        .concat();
        assert_eq!(utxo.bridge_hash(), Hash32(keccak256(&packed)));
    }
}
