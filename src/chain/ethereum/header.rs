//! A block header from the RPC's JSON (`eth_getBlockByNumber`, `newHeads`) into the
//! protocol's [`BlockHeader`], with both hashes of SPEC §3 worked out once:
//! - `keep_v2`: the go-ethereum 1.13 field set, what the reference Go nodes compute;
//! - `canonical`: recomputed from every field and checked against the RPC's own `hash`. A
//!   mismatch means the RLP code or the field set is wrong for this chain (say, a fork added a
//!   header field this version does not know), and the canonical rule then refuses to answer.

use serde_json::Value;

use super::json::{self, FieldError};
use crate::protocol::BlockRef;
use crate::protocol::{BlockHashRule, BlockHeader, Hash32};

/// A header as the node sent it, with its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcHeader {
    pub header: BlockHeader,
    /// The RPC's `hash`.
    pub hash: Hash32,
    /// keccak256 of the go-ethereum 1.13 field set.
    pub keep_v2: Hash32,
    /// keccak256 of the full field set; equals `hash` when the RLP is right.
    pub recomputed: Hash32,
}

/// Why a header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("block header: {0}")]
    Field(#[from] FieldError),
    #[error("block header is not a JSON object: {0}")]
    NotAnObject(String),
}

impl RpcHeader {
    /// Reads a header object. Post-London fields are optional, as on the wire.
    pub fn from_json(value: &Value) -> Result<RpcHeader, HeaderError> {
        if !value.is_object() {
            return Err(HeaderError::NotAnObject(json::shown(value)));
        }
        let opt_hash = |f: &str| -> Result<Option<Hash32>, FieldError> {
            if json::has(value, f) {
                json::hash(value, f).map(Some)
            } else {
                Ok(None)
            }
        };
        let opt_u64 = |f: &str| -> Result<Option<u64>, FieldError> {
            if json::has(value, f) {
                json::quantity(value, f).map(Some)
            } else {
                Ok(None)
            }
        };
        let header = BlockHeader {
            parent_hash: json::hash(value, "parentHash")?,
            uncles_hash: json::hash(value, "sha3Uncles")?,
            miner: json::fixed::<20>(value, "miner")?,
            state_root: json::hash(value, "stateRoot")?,
            transactions_root: json::hash(value, "transactionsRoot")?,
            receipts_root: json::hash(value, "receiptsRoot")?,
            logs_bloom: json::fixed::<256>(value, "logsBloom")?.to_vec(),
            difficulty: json::quantity_u128(value, "difficulty")?,
            number: json::quantity(value, "number")?,
            gas_limit: json::quantity(value, "gasLimit")?,
            gas_used: json::quantity(value, "gasUsed")?,
            timestamp: json::quantity(value, "timestamp")?,
            extra_data: json::bytes(value, "extraData")?,
            mix_hash: json::hash(value, "mixHash")?,
            nonce: json::fixed::<8>(value, "nonce")?,
            base_fee_per_gas: if json::has(value, "baseFeePerGas") {
                Some(json::quantity_u128(value, "baseFeePerGas")?)
            } else {
                None
            },
            withdrawals_root: opt_hash("withdrawalsRoot")?,
            blob_gas_used: opt_u64("blobGasUsed")?,
            excess_blob_gas: opt_u64("excessBlobGas")?,
            parent_beacon_block_root: opt_hash("parentBeaconBlockRoot")?,
            requests_hash: opt_hash("requestsHash")?,
        };
        let hash = json::hash(value, "hash")?;
        Ok(RpcHeader {
            keep_v2: header.keep_v2_hash(),
            recomputed: header.canonical_hash(),
            header,
            hash,
        })
    }

    pub fn number(&self) -> u64 {
        self.header.number
    }

    pub fn parent_hash(&self) -> Hash32 {
        self.header.parent_hash
    }

    /// Whether the full field set reproduces the RPC's hash.
    pub fn verified(&self) -> bool {
        self.recomputed == self.hash
    }

    pub fn block_ref(&self) -> BlockRef {
        BlockRef {
            number: self.header.number,
            hash: self.hash,
            parent_hash: self.header.parent_hash,
            timestamp: self.header.timestamp,
        }
    }

    /// The hash under `rule`; the canonical one only once verified (see the module comment).
    pub fn hash_under(&self, rule: BlockHashRule) -> Result<Hash32, String> {
        match rule {
            BlockHashRule::KeepV2 => Ok(self.keep_v2),
            BlockHashRule::Canonical if self.verified() => Ok(self.hash),
            BlockHashRule::Canonical => Err(format!(
                "block {}: the header fields hash to {} but the node says its hash is {}; \
                 the header may carry fields this version does not know",
                self.header.number, self.recomputed, self.hash
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Block 0 of anvil 1.7 (default hardfork): a Prague-style header with requestsHash.
    pub(crate) fn anvil_genesis() -> Value {
        json!({
            "hash": "0x6baa9c9f72535892777602884febbc304287ec95638364928bfeb44f454f785f",
            "parentHash": "0x0000000000000000000000000000000000000000000000000000000000000000",
            "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
            "miner": "0x0000000000000000000000000000000000000000",
            "stateRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
            "transactionsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
            "receiptsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
            "logsBloom": format!("0x{}", "00".repeat(256)),
            "difficulty": "0x0",
            "number": "0x0",
            "gasLimit": "0x1c9c380",
            "gasUsed": "0x0",
            "timestamp": "0x6b05332d",
            "extraData": "0x",
            "mixHash": "0x0000000000000000000000000000000000000000000000000000000000000000",
            "nonce": "0x0000000000000000",
            "baseFeePerGas": "0x3b9aca00",
            "withdrawalsRoot": "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0",
            "parentBeaconBlockRoot": "0x0000000000000000000000000000000000000000000000000000000000000000",
            "requestsHash": "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "totalDifficulty": "0x0",
            "size": "0x267",
            "uncles": [],
            "transactions": [],
            "withdrawals": []
        })
    }

    #[test]
    fn a_prague_header_verifies_and_its_rules_differ() {
        let h = RpcHeader::from_json(&anvil_genesis()).unwrap();
        assert!(h.verified(), "recomputed {} vs {}", h.recomputed, h.hash);
        assert_ne!(h.keep_v2, h.hash);
        assert_eq!(h.hash_under(BlockHashRule::Canonical), Ok(h.hash));
        assert_eq!(h.hash_under(BlockHashRule::KeepV2), Ok(h.keep_v2));
    }

    #[test]
    fn an_unverifiable_header_is_refused_for_the_canonical_rule_only() {
        let mut v = anvil_genesis();
        v["hash"] = json!(format!("0x{}", "11".repeat(32)));
        let h = RpcHeader::from_json(&v).unwrap();
        let err = h.hash_under(BlockHashRule::Canonical).unwrap_err();
        assert!(err.contains("block 0"), "{err}");
        assert!(h.hash_under(BlockHashRule::KeepV2).is_ok());
    }

    #[test]
    fn broken_fields_are_named() {
        let mut v = anvil_genesis();
        v["logsBloom"] = json!("0x00");
        let err = RpcHeader::from_json(&v).unwrap_err().to_string();
        assert!(err.contains("logsBloom"), "{err}");
        let mut v = anvil_genesis();
        v.as_object_mut().unwrap().remove("stateRoot");
        let err = RpcHeader::from_json(&v).unwrap_err().to_string();
        assert!(
            err.contains("stateRoot") && err.contains("missing"),
            "{err}"
        );
        assert!(RpcHeader::from_json(&json!("garbage")).is_err());
        assert!(RpcHeader::from_json(&Value::Null).is_err());
    }
}
