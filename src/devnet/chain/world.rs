//! The devnet's fixed world, a pure function of its configuration: operator keys, wallets and
//! their signing groups, and the synthetic block headers. Nothing here changes once built, so
//! two devnets with the same configuration agree on every address, seat and block hash.

use rand::distributions::{Distribution, WeightedIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use super::{DevnetConfig, DevnetError, DevnetOperator};
use crate::net::signing::OperatorKey;
use crate::protocol::types::keccak256;
use crate::protocol::WalletInfo;
use crate::protocol::{BlockHeader, Hash32, WalletPkh, WalletPublicKey};

/// Timestamp of block 0. Block `n` is `GENESIS_TIME + BLOCK_SECONDS * n`, so ages in seconds
/// (redemption timeouts, deposit ages) mean what they mean on mainnet.
pub const GENESIS_TIME: u64 = 1_700_000_000;
/// Seconds of chain time per block, as on Ethereum mainnet.
pub const BLOCK_SECONDS: u64 = 12;
/// Seat counts are drawn in this range; one wallet always has the maximum.
pub const MIN_SEATS: usize = 20;
pub use crate::protocol::leader::GROUP_SIZE as MAX_SEATS;
/// Sortition stake units per operator are drawn in `1..=MAX_STAKE_UNITS`, so seats are
/// stake-weighted and heavy operators hold several seats of a group, as on mainnet.
const MAX_STAKE_UNITS: u32 = 10;
/// When there are at least 3 wallets, the local operator has no seat in wallets whose index
/// is `1 mod 5`: the console must also show wallets it does not coordinate.
const LOCAL_ABSENT_EVERY: usize = 5;
const LOCAL_ABSENT_REMAINDER: usize = 1;
/// Re-hashes of an operator secret before giving up (a miss has probability ~2^-128).
const KEY_ATTEMPTS: usize = 64;

/// `keccak256(EMPTY_LIST_RLP)`: the uncles hash of every post-merge block.
const EMPTY_UNCLES_HASH: [u8; 32] = [
    0x1d, 0xcc, 0x4d, 0xe8, 0xde, 0xc7, 0x5d, 0x7a, 0xab, 0x85, 0xb5, 0x67, 0xb6, 0xcc, 0xd4, 0x1a,
    0xd3, 0x12, 0x45, 0x1b, 0x94, 0x8a, 0x74, 0x13, 0xf0, 0xa1, 0x42, 0xfd, 0x40, 0xd4, 0x93, 0x47,
];
/// `sha256("")`: the EIP-7685 requests hash of a Prague block without requests.
const EMPTY_REQUESTS_HASH: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];
const GAS_LIMIT: u64 = 30_000_000;
const BLOB_GAS_PER_BLOB: u64 = 131_072;

/// `sha256(label || parts...)`: the one way world data is derived from the seed.
pub(crate) fn sha256_of(label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(label);
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// A ChaCha generator for one labelled purpose; the label keeps the streams independent.
pub(crate) fn rng_for(label: &[u8], parts: &[&[u8]]) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(sha256_of(label, parts))
}

/// The chain time of block `number`.
pub fn block_timestamp(number: u64) -> u64 {
    GENESIS_TIME.saturating_add(number.saturating_mul(BLOCK_SECONDS))
}

/// A header field of block `number`: keccak of (seed, number, field name).
fn header_field(seed: u64, number: u64, field: &str) -> [u8; 32] {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(b"tbtc-coord devnet header");
    data.extend_from_slice(&seed.to_be_bytes());
    data.extend_from_slice(&number.to_be_bytes());
    data.extend_from_slice(field.as_bytes());
    keccak256(&data)
}

fn first_u64(bytes: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(first)
}

/// The synthetic header of block `number`.
///
/// Devnet headers are synthetic: every field is derived from (seed, number) alone, so any
/// height's hash is recomputable in O(1) without storing history. In particular the header's
/// `parent_hash` is such a derived value, not the hash of the previous header (a real link
/// would need the whole chain back to genesis); `BlockRef::parent_hash` does carry the
/// canonical hash of block `number - 1`. With `prague` the header carries `requestsHash`, so
/// the keep-v2 and canonical rules differ as on mainnet after Prague; without it they agree.
pub fn block_header(seed: u64, number: u64, prague: bool) -> BlockHeader {
    let field = |name: &str| header_field(seed, number, name);
    let mut miner = [0u8; 20];
    miner.copy_from_slice(&field("miner")[..20]);
    BlockHeader {
        parent_hash: Hash32(field("parent_hash")),
        uncles_hash: Hash32(EMPTY_UNCLES_HASH),
        miner,
        state_root: Hash32(field("state_root")),
        transactions_root: Hash32(field("transactions_root")),
        receipts_root: Hash32(field("receipts_root")),
        logs_bloom: vec![0; 256],
        // Post-merge: no proof of work.
        difficulty: 0,
        number,
        gas_limit: GAS_LIMIT,
        gas_used: first_u64(&field("gas_used")) % GAS_LIMIT,
        timestamp: block_timestamp(number),
        extra_data: b"tbtc-coord devnet".to_vec(),
        mix_hash: Hash32(field("mix_hash")),
        nonce: [0; 8],
        // 1..51 gwei.
        base_fee_per_gas: Some(
            1_000_000_000 + u128::from(first_u64(&field("base_fee_per_gas")) % 50_000_000_000),
        ),
        withdrawals_root: Some(Hash32(field("withdrawals_root"))),
        blob_gas_used: Some(BLOB_GAS_PER_BLOB * (first_u64(&field("blob_gas_used")) % 7)),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(Hash32(field("parent_beacon_block_root"))),
        requests_hash: prague.then_some(Hash32(EMPTY_REQUESTS_HASH)),
    }
}

/// Operator `index`'s key: sha256 of the label, seed and index, re-hashed until it is a valid
/// secp256k1 scalar.
fn operator_key(seed: u64, index: usize) -> Result<OperatorKey, DevnetError> {
    let mut secret = sha256_of(
        b"tbtc-coord devnet operator",
        &[&seed.to_be_bytes(), &(index as u64).to_be_bytes()],
    );
    for _ in 0..KEY_ATTEMPTS {
        if let Ok(key) = OperatorKey::from_secret(&secret) {
            return Ok(key);
        }
        secret = Sha256::digest(secret).into();
    }
    Err(DevnetError::OperatorKey { index })
}

/// Wallet `index`'s group public key: a real secp256k1 key, from sha256 of the label, seed
/// and index, re-hashed until it is a valid scalar. Its name is the key's HASH160.
pub fn wallet_key(seed: u64, index: usize) -> WalletPublicKey {
    let mut secret = sha256_of(
        b"tbtc-coord devnet wallet",
        &[&seed.to_be_bytes(), &(index as u64).to_be_bytes()],
    );
    loop {
        // An invalid scalar has probability about 2^-128: re-hashing ends at once.
        if let Some(key) = WalletPublicKey::of_secret(&secret) {
            return key;
        }
        secret = Sha256::digest(secret).into();
    }
}

/// Wallet `index`'s public key hash.
pub fn wallet_pkh(seed: u64, index: usize) -> WalletPkh {
    wallet_key(seed, index).pkh()
}

/// Whether the local operator (index 0) deliberately has no seat in wallet `index`.
pub fn local_operator_absent(wallets: usize, index: usize) -> bool {
    wallets >= 3 && index % LOCAL_ABSENT_EVERY == LOCAL_ABSENT_REMAINDER
}

/// Operators and wallets, built once.
pub(crate) struct World {
    pub operators: Vec<DevnetOperator>,
    /// Wallets in index order, each with its seats in member-index order.
    pub wallets: Vec<WalletInfo>,
}

impl World {
    pub fn build(config: &DevnetConfig) -> Result<World, DevnetError> {
        let seed = config.seed.to_be_bytes();
        let operators = (0..config.operators)
            .map(|index| {
                let key = operator_key(config.seed, index)?;
                Ok(DevnetOperator {
                    index,
                    address: key.address(),
                    key,
                })
            })
            .collect::<Result<Vec<_>, DevnetError>>()?;

        // Stake weights, like a sortition pool: seats go to operators in proportion to stake.
        let mut stake_rng = rng_for(b"tbtc-coord devnet stakes", &[&seed]);
        let stakes: Vec<u32> = (0..config.operators)
            .map(|_| stake_rng.gen_range(1..=MAX_STAKE_UNITS))
            .collect();
        let mut without_local = stakes.clone();
        without_local[0] = 0;
        let invalid = |e: rand::distributions::WeightedError| DevnetError::InvalidConfig {
            field: "operators",
            expected: "at least 2",
            got: format!("no drawable operator ({e})"),
        };
        let with_local_draw = WeightedIndex::new(&stakes).map_err(invalid)?;
        let without_local_draw = WeightedIndex::new(&without_local).map_err(invalid)?;

        // Wallet 0 is always a full 100-seat group; the rest vary like mainnet's groups.
        let mut size_rng = rng_for(b"tbtc-coord devnet seat counts", &[&seed]);
        let wallets = (0..config.wallets)
            .map(|index| {
                let drawn = size_rng.gen_range(MIN_SEATS as u32..=MAX_SEATS as u32) as usize;
                let seats = if index == 0 { MAX_SEATS } else { drawn };
                let mut rng = rng_for(
                    b"tbtc-coord devnet seats",
                    &[&seed, &(index as u64).to_be_bytes()],
                );
                let absent = local_operator_absent(config.wallets, index);
                let draw = if absent {
                    &without_local_draw
                } else {
                    &with_local_draw
                };
                let mut holders: Vec<usize> = (0..seats).map(|_| draw.sample(&mut rng)).collect();
                if !absent && !holders.contains(&0) {
                    let seat = rng.gen_range(0..seats as u32) as usize;
                    holders[seat] = 0;
                }
                let key = wallet_key(config.seed, index);
                WalletInfo {
                    wallet: key.pkh(),
                    public_key: Some(key),
                    operators: holders.iter().map(|&i| operators[i].address).collect(),
                }
            })
            .collect();

        Ok(World { operators, wallets })
    }
}
