//! Block-hash rules (SPEC §3). The reference client does not use the RPC's block hash: it
//! re-hashes the header from the fields go-ethereum 1.13 knows. Since Prague headers carry
//! `requestsHash`, which that field set drops, so on newer blocks its "hash" differs from the
//! canonical one. `keep-v2` reproduces the reference value; `canonical` is the real hash.

use std::fmt;
use std::str::FromStr;

use rlp::RlpStream;
use serde::{Deserialize, Serialize};

use super::types::{keccak256, Hash32};

/// Which hash of the safe block seeds a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BlockHashRule {
    /// keccak256 of the RLP of the header fields go-ethereum 1.13 knows (what Go nodes use).
    #[default]
    #[serde(rename = "keep-v2")]
    KeepV2,
    /// The chain's own block hash.
    #[serde(rename = "canonical")]
    Canonical,
}

impl BlockHashRule {
    pub fn name(self) -> &'static str {
        match self {
            BlockHashRule::KeepV2 => "keep-v2",
            BlockHashRule::Canonical => "canonical",
        }
    }
}

impl fmt::Display for BlockHashRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown block hash rule {0:?}: expected keep-v2 or canonical")]
pub struct UnknownHashRule(pub String);

impl FromStr for BlockHashRule {
    type Err = UnknownHashRule;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "keep-v2" => Ok(BlockHashRule::KeepV2),
            "canonical" => Ok(BlockHashRule::Canonical),
            other => Err(UnknownHashRule(other.to_string())),
        }
    }
}

/// An Ethereum block header, field for field; post-London fields are optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockHeader {
    pub parent_hash: Hash32,
    pub uncles_hash: Hash32,
    pub miner: [u8; 20],
    pub state_root: Hash32,
    pub transactions_root: Hash32,
    pub receipts_root: Hash32,
    pub logs_bloom: Vec<u8>,
    pub difficulty: u128,
    pub number: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub timestamp: u64,
    pub extra_data: Vec<u8>,
    pub mix_hash: Hash32,
    pub nonce: [u8; 8],
    pub base_fee_per_gas: Option<u128>,
    pub withdrawals_root: Option<Hash32>,
    pub blob_gas_used: Option<u64>,
    pub excess_blob_gas: Option<u64>,
    pub parent_beacon_block_root: Option<Hash32>,
    /// EIP-7685, Prague: unknown to go-ethereum 1.13.
    pub requests_hash: Option<Hash32>,
}

/// One optional trailing header field.
enum Optional {
    Uint(Option<u128>),
    Hash(Option<Hash32>),
}

impl BlockHeader {
    /// RLP of the header. With `full`, every known field; otherwise the go-ethereum 1.13 set.
    pub fn rlp(&self, full: bool) -> Vec<u8> {
        let mut optional = vec![
            Optional::Uint(self.base_fee_per_gas),
            Optional::Hash(self.withdrawals_root),
            Optional::Uint(self.blob_gas_used.map(u128::from)),
            Optional::Uint(self.excess_blob_gas.map(u128::from)),
            Optional::Hash(self.parent_beacon_block_root),
        ];
        if full {
            optional.push(Optional::Hash(self.requests_hash));
        }
        // Like go-ethereum's `rlp:"optional"`: fields up to the last present one are encoded,
        // an absent one before it as its zero value.
        let present = optional
            .iter()
            .rposition(|o| match o {
                Optional::Uint(v) => v.is_some(),
                Optional::Hash(v) => v.is_some(),
            })
            .map_or(0, |i| i + 1);

        let mut s = RlpStream::new_list(15 + present);
        s.append(&&self.parent_hash.0[..]);
        s.append(&&self.uncles_hash.0[..]);
        s.append(&&self.miner[..]);
        s.append(&&self.state_root.0[..]);
        s.append(&&self.transactions_root.0[..]);
        s.append(&&self.receipts_root.0[..]);
        s.append(&&self.logs_bloom[..]);
        s.append(&self.difficulty);
        s.append(&self.number);
        s.append(&self.gas_limit);
        s.append(&self.gas_used);
        s.append(&self.timestamp);
        s.append(&&self.extra_data[..]);
        s.append(&&self.mix_hash.0[..]);
        s.append(&&self.nonce[..]);
        for field in &optional[..present] {
            match field {
                Optional::Uint(v) => s.append(&v.unwrap_or(0)),
                Optional::Hash(v) => s.append(&&v.unwrap_or_default().0[..]),
            };
        }
        s.out().to_vec()
    }

    /// The hash the reference client computes (go-ethereum 1.13 field set).
    pub fn keep_v2_hash(&self) -> Hash32 {
        Hash32(keccak256(&self.rlp(false)))
    }

    /// The canonical block hash, recomputed from every field.
    pub fn canonical_hash(&self) -> Hash32 {
        Hash32(keccak256(&self.rlp(true)))
    }

    pub fn hash(&self, rule: BlockHashRule) -> Hash32 {
        match rule {
            BlockHashRule::KeepV2 => self.keep_v2_hash(),
            BlockHashRule::Canonical => self.canonical_hash(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash32 {
        s.parse().unwrap()
    }

    /// Ethereum mainnet's genesis header: a header with no post-1.13 fields.
    fn mainnet_genesis() -> BlockHeader {
        BlockHeader {
            parent_hash: Hash32::default(),
            uncles_hash: h("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
            miner: [0; 20],
            state_root: h("d7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544"),
            transactions_root: h(
                "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
            ),
            receipts_root: h("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"),
            logs_bloom: vec![0; 256],
            difficulty: 0x4_0000_0000,
            number: 0,
            gas_limit: 5000,
            gas_used: 0,
            timestamp: 0,
            extra_data: hex::decode(
                "11bbe8db4e347b4e8c937c1c8370e4b5ed33adb3db69cbdb7a38e1e50b1b82fa",
            )
            .unwrap(),
            mix_hash: Hash32::default(),
            nonce: [0, 0, 0, 0, 0, 0, 0, 0x42],
            ..BlockHeader::default()
        }
    }

    #[test]
    fn recomputes_the_mainnet_genesis_hash_and_both_rules_agree() {
        let genesis = mainnet_genesis();
        let want = h("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3");
        assert_eq!(genesis.canonical_hash(), want);
        assert_eq!(genesis.keep_v2_hash(), want);
    }

    #[test]
    fn requests_hash_splits_the_rules() {
        let mut header = mainnet_genesis();
        header.base_fee_per_gas = Some(7);
        header.withdrawals_root = Some(h(
            "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
        ));
        header.blob_gas_used = Some(0);
        header.excess_blob_gas = Some(0);
        header.parent_beacon_block_root = Some(Hash32::default());
        assert_eq!(header.keep_v2_hash(), header.canonical_hash());
        header.requests_hash = Some(h(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ));
        assert_ne!(header.keep_v2_hash(), header.canonical_hash());
        // The keep-v2 value ignores requestsHash entirely.
        let mut without = header.clone();
        without.requests_hash = None;
        assert_eq!(header.keep_v2_hash(), without.canonical_hash());
    }

    #[test]
    fn absent_optional_before_a_present_one_is_encoded_as_zero() {
        let mut a = mainnet_genesis();
        a.withdrawals_root = Some(Hash32::default());
        let mut b = a.clone();
        b.base_fee_per_gas = Some(0);
        assert_eq!(a.rlp(true), b.rlp(true));
        assert_ne!(a.rlp(true), mainnet_genesis().rlp(true));
    }
}
