//! The tBTC v2 contract interface this node reads (SPEC §9): event topics, call data and the
//! decoding of logs and return data.
//!
//! The ABI coding is done here by hand, for the few shapes these contracts use (words, `bytes`,
//! arrays of words, one dynamic tuple), with checked arithmetic on every offset and length: an
//! RPC node is outside data, and a general decoder that trusts its offsets can be made to
//! panic by a hostile or broken node.

use serde_json::Value;

use super::json;
use crate::protocol::types::keccak256;
use crate::protocol::{Address, Hash32, WalletPkh};

/// The tBTC v2 contracts on Ethereum mainnet (SPEC §9).
pub mod mainnet {
    pub const BRIDGE: &str = "0x5e4861a80B55f035D899f66772117F00FA0E8e7B";
    pub const WALLET_REGISTRY: &str = "0x46d52E41C2F300BC82217Ce22b920c34995204eb";
    pub const SORTITION_POOL: &str = "0xc2731fb2823af3Efc2694c9bC86F444d5c5bb4Dc";
    pub const WALLET_PROPOSAL_VALIDATOR: &str = "0x30019D85a86ABD3cDA1167F4C052690c32FBDEc2";
    /// No tBTC v2 event predates this block (the Bridge was deployed after it), so scans
    /// start here rather than at genesis.
    pub const FIRST_BLOCK: u64 = 16_000_000;
}

/// Event signatures, as hashed into topic 0.
pub mod events {
    pub const NEW_WALLET_REGISTERED: &str = "NewWalletRegistered(bytes32,bytes20)";
    pub const WALLET_CREATED: &str = "WalletCreated(bytes32,bytes32)";
    pub const DKG_RESULT_SUBMITTED: &str =
        "DkgResultSubmitted(bytes32,uint256,(uint256,bytes,uint8[],bytes,uint256[],uint32[],bytes32))";
    pub const REDEMPTION_REQUESTED: &str =
        "RedemptionRequested(bytes20,bytes,address,uint64,uint64,uint64)";
    pub const DEPOSIT_REVEALED: &str =
        "DepositRevealed(bytes32,uint32,address,uint64,bytes8,bytes20,bytes20,bytes4,address)";
    pub const MOVING_FUNDS_COMMITMENT_SUBMITTED: &str =
        "MovingFundsCommitmentSubmitted(bytes20,bytes20[],address)";
    pub const REDEMPTIONS_COMPLETED: &str = "RedemptionsCompleted(bytes20,bytes32)";
    pub const DEPOSITS_SWEPT: &str = "DepositsSwept(bytes20,bytes32)";
    pub const MOVING_FUNDS_COMPLETED: &str = "MovingFundsCompleted(bytes20,bytes32)";
    pub const MOVED_FUNDS_SWEPT: &str = "MovedFundsSwept(bytes20,bytes32)";
}

/// Function signatures, as hashed into selectors.
pub mod functions {
    pub const WALLETS: &str = "wallets(bytes20)";
    pub const PENDING_REDEMPTIONS: &str = "pendingRedemptions(uint256)";
    pub const DEPOSITS: &str = "deposits(uint256)";
    pub const REDEMPTION_PARAMETERS: &str = "redemptionParameters()";
    pub const GET_ID_OPERATORS: &str = "getIDOperators(uint32[])";
}

/// topic 0 of an event.
pub fn topic(signature: &str) -> Hash32 {
    Hash32(keccak256(signature.as_bytes()))
}

fn selector(signature: &str) -> [u8; 4] {
    let h = keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// A `bytes20` as an indexed topic: left-aligned, zero-padded.
pub fn bytes20_topic(b: &[u8; 20]) -> Hash32 {
    let mut t = [0u8; 32];
    t[..20].copy_from_slice(b);
    Hash32(t)
}

/// Why ABI data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct AbiError {
    pub what: &'static str,
    pub problem: String,
}

type Word = [u8; 32];

/// ABI data, read with bounds and overflow checks.
struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, what }
    }

    fn fail(&self, problem: impl Into<String>) -> AbiError {
        AbiError {
            what: self.what,
            problem: problem.into(),
        }
    }

    fn word(&self, offset: usize) -> Result<&'a Word, AbiError> {
        let end = offset
            .checked_add(32)
            .ok_or_else(|| self.fail("offset overflow"))?;
        self.data
            .get(offset..end)
            .and_then(|s| <&Word>::try_from(s).ok())
            .ok_or_else(|| {
                self.fail(format!(
                    "{} bytes of data, word at {offset} is past the end",
                    self.data.len()
                ))
            })
    }

    /// Head word `index` of a sequence starting at `base`.
    fn head(&self, base: usize, index: usize) -> Result<&'a Word, AbiError> {
        let offset = index
            .checked_mul(32)
            .and_then(|o| o.checked_add(base))
            .ok_or_else(|| self.fail("offset overflow"))?;
        self.word(offset)
    }

    fn uint(&self, base: usize, index: usize, bits: u32) -> Result<u128, AbiError> {
        let w = self.head(base, index)?;
        word_to_uint(w, bits).ok_or_else(|| self.fail(format!("word {index} is not a uint{bits}")))
    }

    fn u64(&self, base: usize, index: usize, bits: u32) -> Result<u64, AbiError> {
        self.uint(base, index, bits).map(|v| v as u64)
    }

    fn usize_at(&self, offset: usize) -> Result<usize, AbiError> {
        let w = self.word(offset)?;
        word_to_uint(w, 64)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| self.fail(format!("offset or length at {offset} is too large")))
    }

    fn address(&self, base: usize, index: usize) -> Result<Address, AbiError> {
        let w = self.head(base, index)?;
        if w[..12].iter().any(|b| *b != 0) {
            return Err(self.fail(format!("word {index} is not an address")));
        }
        let mut a = [0u8; 20];
        a.copy_from_slice(&w[12..]);
        Ok(Address(a))
    }

    /// `bytesN`: left-aligned.
    fn fixed<const N: usize>(&self, base: usize, index: usize) -> Result<[u8; N], AbiError> {
        let w = self.head(base, index)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&w[..N]);
        Ok(out)
    }

    /// Where a dynamic value whose head is word `index` of the sequence at `base` starts.
    fn tail(&self, base: usize, index: usize) -> Result<usize, AbiError> {
        let head_offset = index
            .checked_mul(32)
            .and_then(|o| o.checked_add(base))
            .ok_or_else(|| self.fail("offset overflow"))?;
        let relative = self.usize_at(head_offset)?;
        base.checked_add(relative)
            .filter(|start| *start <= self.data.len())
            .ok_or_else(|| self.fail(format!("dynamic value {index} points past the end")))
    }

    fn bytes(&self, base: usize, index: usize) -> Result<Vec<u8>, AbiError> {
        let start = self.tail(base, index)?;
        let len = self.usize_at(start)?;
        let from = start + 32;
        let to = from
            .checked_add(len)
            .filter(|to| *to <= self.data.len())
            .ok_or_else(|| {
                self.fail(format!(
                    "bytes value {index} of length {len} runs past the end"
                ))
            })?;
        Ok(self.data[from..to].to_vec())
    }

    /// An array of one-word elements.
    fn words(&self, base: usize, index: usize) -> Result<Vec<&'a Word>, AbiError> {
        let start = self.tail(base, index)?;
        let len = self.usize_at(start)?;
        let room = (self.data.len() - start - 32) / 32;
        if len > room {
            return Err(self.fail(format!(
                "array {index} claims {len} elements, the data holds at most {room}"
            )));
        }
        (0..len).map(|k| self.head(start + 32, k)).collect()
    }
}

/// A word as an unsigned integer of at most `bits` bits.
fn word_to_uint(w: &Word, bits: u32) -> Option<u128> {
    let significant = (bits as usize).div_ceil(8);
    if significant > 16 || w[..32 - significant].iter().any(|b| *b != 0) {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[16 - significant..].copy_from_slice(&w[32 - significant..]);
    let v = u128::from_be_bytes(buf);
    if bits < 128 && v >> bits != 0 {
        return None;
    }
    Some(v)
}

fn uint_word(v: u128) -> Word {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

/// `wallets(bytes20)`.
pub fn wallets_call(wallet: &WalletPkh) -> Vec<u8> {
    let mut data = selector(functions::WALLETS).to_vec();
    data.extend_from_slice(&bytes20_topic(&wallet.0).0);
    data
}

/// `pendingRedemptions(uint256)`.
pub fn pending_redemptions_call(key: &Hash32) -> Vec<u8> {
    let mut data = selector(functions::PENDING_REDEMPTIONS).to_vec();
    data.extend_from_slice(&key.0);
    data
}

/// `deposits(uint256)`.
pub fn deposits_call(key: &Hash32) -> Vec<u8> {
    let mut data = selector(functions::DEPOSITS).to_vec();
    data.extend_from_slice(&key.0);
    data
}

pub fn redemption_parameters_call() -> Vec<u8> {
    selector(functions::REDEMPTION_PARAMETERS).to_vec()
}

/// `getIDOperators(uint32[])`.
pub fn get_id_operators_call(ids: &[u32]) -> Vec<u8> {
    let mut data = selector(functions::GET_ID_OPERATORS).to_vec();
    data.extend_from_slice(&uint_word(32));
    data.extend_from_slice(&uint_word(ids.len() as u128));
    for id in ids {
        data.extend_from_slice(&uint_word(u128::from(*id)));
    }
    data
}

/// The Bridge's key of a redemption request:
/// `keccak256(keccak256(redeemerOutputScript) || walletPubKeyHash)`.
pub fn redemption_key(wallet: &WalletPkh, script: &[u8]) -> Hash32 {
    let mut packed = keccak256(script).to_vec();
    packed.extend_from_slice(&wallet.0);
    Hash32(keccak256(&packed))
}

/// The Bridge's key of a deposit: `keccak256(fundingTxHash || uint32 fundingOutputIndex)`.
pub fn deposit_key(funding_tx_hash: &Hash32, output_index: u32) -> Hash32 {
    let mut packed = funding_tx_hash.0.to_vec();
    packed.extend_from_slice(&output_index.to_be_bytes());
    Hash32(keccak256(&packed))
}

/// One log from `eth_getLogs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub topics: Vec<Hash32>,
    pub data: Vec<u8>,
    pub block_number: u64,
    pub log_index: u64,
}

impl Log {
    pub fn from_json(v: &Value) -> Result<Log, json::FieldError> {
        let topics = match v.get("topics") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| {
                    let wrapped = serde_json::json!({ "topic": t });
                    json::hash(&wrapped, "topic")
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(json::FieldError {
                    field: "topics".into(),
                    problem: "missing or not an array".into(),
                })
            }
        };
        Ok(Log {
            topics,
            data: json::bytes(v, "data")?,
            block_number: json::quantity(v, "blockNumber")?,
            log_index: json::quantity(v, "logIndex")?,
        })
    }

    /// Indexed argument `i` (topic `i + 1`).
    pub fn indexed(&self, i: usize) -> Result<&Hash32, AbiError> {
        self.topics.get(i + 1).ok_or_else(|| AbiError {
            what: "log",
            problem: format!("{} topics, indexed argument {i} missing", self.topics.len()),
        })
    }
}

/// A topic holding a `bytes20` (left-aligned).
pub fn topic_bytes20(t: &Hash32) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&t.0[..20]);
    out
}

/// `DkgResultSubmitted`'s `Result`: the parts that make the signing group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkgResult {
    /// Sortition pool member ids, seat order.
    pub members: Vec<u32>,
    /// 1-based seats that misbehaved during DKG.
    pub misbehaved: Vec<u8>,
}

impl DkgResult {
    pub fn decode(data: &[u8]) -> Result<DkgResult, AbiError> {
        let r = Reader::new(data, "DkgResultSubmitted result");
        let tuple = r.tail(0, 0)?;
        let misbehaved = r
            .words(tuple, 2)?
            .into_iter()
            .map(|w| word_to_uint(w, 8).map(|v| v as u8))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| r.fail("a misbehaved member index is not a uint8"))?;
        let members = r
            .words(tuple, 5)?
            .into_iter()
            .map(|w| word_to_uint(w, 32).map(|v| v as u32))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| r.fail("a member id is not a uint32"))?;
        Ok(DkgResult {
            members,
            misbehaved,
        })
    }

    /// The signing group's member ids: `members` without the misbehaved seats, order kept.
    pub fn signing_members(&self) -> Vec<u32> {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.misbehaved.iter().any(|m| usize::from(*m) == i + 1))
            .map(|(_, id)| *id)
            .collect()
    }
}

/// `getIDOperators` return data.
pub fn decode_operators(data: &[u8]) -> Result<Vec<Address>, AbiError> {
    let r = Reader::new(data, "getIDOperators result");
    let start = r.tail(0, 0)?;
    let words = r.words(0, 0)?;
    (0..words.len()).map(|k| r.address(start + 32, k)).collect()
}

/// The parts of `Bridge.wallets(bytes20)` this node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeWallet {
    pub ecdsa_wallet_id: Hash32,
    pub created_at: u64,
    pub moving_funds_requested_at: u64,
    pub pending_moved_funds_sweep_requests: u64,
    /// The raw state number (SPEC §9).
    pub state: u8,
}

impl BridgeWallet {
    pub fn decode(data: &[u8]) -> Result<BridgeWallet, AbiError> {
        let r = Reader::new(data, "Bridge.wallets result");
        Ok(BridgeWallet {
            ecdsa_wallet_id: Hash32(r.fixed::<32>(0, 0)?),
            created_at: r.u64(0, 3, 32)?,
            moving_funds_requested_at: r.u64(0, 4, 32)?,
            pending_moved_funds_sweep_requests: r.u64(0, 6, 32)?,
            state: r.uint(0, 7, 8)? as u8,
        })
    }
}

/// `Bridge.pendingRedemptions(uint256)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedemptionRequest {
    pub requested_amount: u64,
    /// Zero when there is no such pending request.
    pub requested_at: u64,
}

impl RedemptionRequest {
    pub fn decode(data: &[u8]) -> Result<RedemptionRequest, AbiError> {
        let r = Reader::new(data, "Bridge.pendingRedemptions result");
        r.address(0, 0)?;
        Ok(RedemptionRequest {
            requested_amount: r.u64(0, 1, 64)?,
            requested_at: r.u64(0, 4, 32)?,
        })
    }
}

/// `Bridge.deposits(uint256)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepositRequest {
    pub amount: u64,
    /// Zero when the deposit was never revealed.
    pub revealed_at: u64,
    pub vault: Address,
    /// Non-zero once swept.
    pub swept_at: u64,
}

impl DepositRequest {
    pub fn decode(data: &[u8]) -> Result<DepositRequest, AbiError> {
        let r = Reader::new(data, "Bridge.deposits result");
        r.address(0, 0)?;
        Ok(DepositRequest {
            amount: r.u64(0, 1, 64)?,
            revealed_at: r.u64(0, 2, 32)?,
            vault: r.address(0, 3)?,
            swept_at: r.u64(0, 5, 32)?,
        })
    }
}

/// `Bridge.redemptionParameters()`: the redemption timeout, seconds.
pub fn decode_redemption_timeout(data: &[u8]) -> Result<u64, AbiError> {
    Reader::new(data, "Bridge.redemptionParameters result").u64(0, 4, 32)
}

/// `RedemptionRequested`'s data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRequested {
    pub redeemer_output_script: Vec<u8>,
    pub requested_amount: u64,
}

impl RedemptionRequested {
    pub fn decode(data: &[u8]) -> Result<RedemptionRequested, AbiError> {
        let r = Reader::new(data, "RedemptionRequested data");
        Ok(RedemptionRequested {
            redeemer_output_script: r.bytes(0, 0)?,
            requested_amount: r.u64(0, 1, 64)?,
        })
    }
}

/// `DepositRevealed`'s data (its non-indexed arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRevealed {
    pub funding_tx_hash: Hash32,
    pub funding_output_index: u32,
    pub amount: u64,
    /// Bitcoin's little-endian 4-byte locktime, a timestamp for tBTC deposits.
    pub refund_locktime: u64,
    pub vault: Address,
}

impl DepositRevealed {
    pub fn decode(data: &[u8]) -> Result<DepositRevealed, AbiError> {
        let r = Reader::new(data, "DepositRevealed data");
        let locktime = r.fixed::<4>(0, 5)?;
        Ok(DepositRevealed {
            funding_tx_hash: Hash32(r.fixed::<32>(0, 0)?),
            funding_output_index: r.u64(0, 1, 32)? as u32,
            amount: r.u64(0, 2, 64)?,
            refund_locktime: u64::from(u32::from_le_bytes(locktime)),
            vault: r.address(0, 6)?,
        })
    }
}

/// `MovingFundsCommitmentSubmitted`'s target wallets.
pub fn decode_moving_funds_targets(data: &[u8]) -> Result<Vec<WalletPkh>, AbiError> {
    let r = Reader::new(data, "MovingFundsCommitmentSubmitted data");
    let start = r.tail(0, 0)?;
    let n = r.words(0, 0)?.len();
    (0..n)
        .map(|k| r.fixed::<20>(start + 32, k).map(WalletPkh))
        .collect()
}

/// `DepositsSwept`'s wallet (not indexed in the Bridge).
pub fn decode_deposits_swept_wallet(data: &[u8]) -> Result<WalletPkh, AbiError> {
    Reader::new(data, "DepositsSwept data")
        .fixed::<20>(0, 0)
        .map(WalletPkh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: u128) -> Word {
        uint_word(v)
    }

    #[test]
    fn a_dkg_result_with_misbehaved_members_gives_the_signing_group() {
        // (uint256, bytes, uint8[], bytes, uint256[], uint32[], bytes32) as one dynamic tuple.
        let mut tuple: Vec<Word> = vec![
            w(1),
            w(7 * 32),  // groupPubKey
            w(9 * 32),  // misbehaved
            w(12 * 32), // signatures
            w(13 * 32), // signingMembersIndices
            w(14 * 32), // members
            [0xAB; 32],
        ];
        tuple.push(w(1)); // groupPubKey: 1 byte
        tuple.push({
            let mut b = [0u8; 32];
            b[0] = 0x42;
            b
        });
        tuple.extend([w(2), w(2), w(4)]); // misbehaved [2, 4]
        tuple.push(w(0)); // signatures: empty
        tuple.push(w(0)); // signingMembersIndices: empty
        tuple.extend([w(5), w(10), w(20), w(30), w(40), w(50)]); // members
        let mut data = w(32).to_vec();
        for word in &tuple {
            data.extend_from_slice(word);
        }
        let r = DkgResult::decode(&data).unwrap();
        assert_eq!(r.members, vec![10, 20, 30, 40, 50]);
        assert_eq!(r.misbehaved, vec![2, 4]);
        assert_eq!(r.signing_members(), vec![10, 30, 50]);
    }

    #[test]
    fn hostile_offsets_and_lengths_are_errors_not_panics() {
        // Offsets and lengths near usize::MAX, past the end, or wrapping.
        let huge = [0xFFu8; 32];
        let mut near_max = [0u8; 32];
        near_max[24..].copy_from_slice(&u64::MAX.to_be_bytes());
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            huge.to_vec(),
            near_max.to_vec(),
            [w(32), near_max].concat(),
            [w(32), w(1 << 40)].concat(),
            [w(0), w(u128::from(u32::MAX))].concat(),
            [w(64), w(0), near_max].concat(),
            vec![0u8; 31],
        ];
        for data in &cases {
            assert!(DkgResult::decode(data).is_err());
            assert!(decode_operators(data).is_err() || data.len() >= 64);
            let _ = RedemptionRequested::decode(data);
            let _ = decode_moving_funds_targets(data);
            assert!(BridgeWallet::decode(data).is_err());
        }
    }

    #[test]
    fn operators_and_calls_round_trip() {
        let call = get_id_operators_call(&[3, 1]);
        assert_eq!(call.len(), 4 + 4 * 32);
        let mut data = w(32).to_vec();
        data.extend_from_slice(&w(2));
        let mut a = [0u8; 32];
        a[12..].copy_from_slice(&[0x11; 20]);
        data.extend_from_slice(&a);
        data.extend_from_slice(&w(0));
        assert_eq!(
            decode_operators(&data).unwrap(),
            vec![Address([0x11; 20]), Address([0; 20])]
        );
        // Not an address: high bytes set.
        data[64] = 1;
        assert!(decode_operators(&data).is_err());
    }

    #[test]
    fn uints_are_range_checked() {
        assert_eq!(word_to_uint(&w(255), 8), Some(255));
        assert_eq!(word_to_uint(&w(256), 8), None);
        assert_eq!(
            word_to_uint(&w(u128::from(u32::MAX)), 32),
            Some(u128::from(u32::MAX))
        );
        assert_eq!(word_to_uint(&[0xFF; 32], 64), None);
        assert_eq!(word_to_uint(&w(u128::MAX), 128), Some(u128::MAX));
    }
}
