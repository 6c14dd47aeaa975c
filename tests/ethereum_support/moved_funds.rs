//! Bridge state for the moving-funds and deposit-sweep tests on the real contracts, made
//! without SPV proofs (no relay runs here):
//! - the two events the real moving-funds flow emits (`MovingFundsCommitmentSubmitted`,
//!   `MovingFundsCompleted`), put at the Bridge's address by swapping its proxy's code for a
//!   tiny log emitter for one transaction, then putting the code back (storage untouched);
//! - the storage `submitMovingFundsProof` leaves: the request in `movedFundsSweepRequests`
//!   and the target's `pendingMovedFundsSweepRequestsCount`;
//! - a deposit revealed through the real `revealDeposit`, its funding transaction built here;
//! - a wallet moved to MovingFunds through the real heartbeat-failure callback.

use ethers_core::abi::Token;
use ethers_core::types::U256;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::real::{uint, RealTbtc};
use super::{call_data, rpc, send, send_from, token_address, DEV_ACCOUNT};
use tbtc_coord::protocol::types::keccak256;
use tbtc_coord::protocol::{Address, WalletPkh, WalletPublicKey};

/// Runtime code emitting one LOG2 from its calldata `topic0 ‖ topic1 ‖ data`:
/// `PUSH1 0x20 CALLDATALOAD PUSH1 0 CALLDATALOAD` (the topics), `PUSH1 0x40 CALLDATASIZE
/// SUB DUP1 PUSH1 0x40 PUSH1 0 CALLDATACOPY` (the data to memory 0), `PUSH1 0 LOG2 STOP`.
const LOG2_EMITTER: &str = "0x602035600035604036038060406000376000a200";

/// How many mappings `BridgeState.Storage` declares between `movedFundsSweepRequests` and
/// `registeredWallets` (pendingRedemptions, timedOutRedemptions, fraudChallenges,
/// spentMainUTXOs), plus one.
const REQUESTS_BEFORE_WALLETS: u64 = 5;

/// `MovedFundsSweepRequestState`.
pub const PENDING: u8 = 1;
pub const PROCESSED: u8 = 2;

fn hex_word(word: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(word))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Chain time of the latest block.
pub async fn latest_timestamp(url: &str) -> u64 {
    let block = rpc(url, "eth_getBlockByNumber", json!(["latest", false])).await;
    super::quantity(&block["timestamp"])
}

/// Sends from `from`, impersonated and funded by anvil.
pub async fn send_as(url: &str, from: &Address, to: &Address, data: &[u8]) -> Value {
    let from = from.to_checksum();
    rpc(url, "anvil_impersonateAccount", json!([from])).await;
    rpc(url, "anvil_setBalance", json!([from, "0xde0b6b3a7640000"])).await;
    send_from(url, &from, Some(&to.to_checksum()), data).await
}

/// Emits the Bridge's event `name` with the wallet topic `wallet` and `data` as a log of the
/// Bridge itself; returns the log's block.
async fn emit_at_bridge(tbtc: &RealTbtc, name: &str, wallet: &WalletPkh, data: &[u8]) -> u64 {
    let event = tbtc.bridge_abi.event(name).expect("a Bridge event");
    let mut wallet_topic = [0u8; 32];
    wallet_topic[..20].copy_from_slice(&wallet.0);
    let calldata = [event.signature().0.as_slice(), &wallet_topic, data].concat();

    let bridge = tbtc.bridge.to_checksum();
    let original = rpc(&tbtc.url, "eth_getCode", json!([bridge, "latest"])).await;
    rpc(&tbtc.url, "anvil_setCode", json!([bridge, LOG2_EMITTER])).await;
    let receipt = send(&tbtc.url, Some(&bridge), &calldata).await;
    rpc(
        &tbtc.url,
        "anvil_setCode",
        json!([bridge, original.clone()]),
    )
    .await;
    let restored = rpc(&tbtc.url, "eth_getCode", json!([bridge, "latest"])).await;
    assert_eq!(restored, original, "the proxy's code is back");
    let logs = receipt["logs"].as_array().expect("the receipt's logs");
    assert_eq!(logs.len(), 1, "one log: {receipt}");
    assert_eq!(
        logs[0]["address"].as_str().map(str::to_lowercase),
        Some(bridge.to_lowercase())
    );
    super::quantity(&receipt["blockNumber"])
}

/// `MovingFundsCommitmentSubmitted(source, targets, submitter)`, as `submitMovingFundsCommitment`
/// emits it.
pub async fn commit_moving_funds(tbtc: &RealTbtc, source: &WalletPkh, targets: &[WalletPkh]) {
    let data = ethers_core::abi::encode(&[
        Token::Array(
            targets
                .iter()
                .map(|t| Token::FixedBytes(t.0.to_vec()))
                .collect(),
        ),
        token_address(&Address([0x5B; 20])),
    ]);
    emit_at_bridge(tbtc, "MovingFundsCommitmentSubmitted", source, &data).await;
}

/// `MovingFundsCompleted(source, movingFundsTxHash)`, as `submitMovingFundsProof` emits it.
pub async fn complete_moving_funds(tbtc: &RealTbtc, source: &WalletPkh, tx_hash: &[u8; 32]) {
    let data = ethers_core::abi::encode(&[Token::FixedBytes(tx_hash.to_vec())]);
    emit_at_bridge(tbtc, "MovingFundsCompleted", source, &data).await;
}

async fn storage(tbtc: &RealTbtc, slot: &[u8; 32]) -> [u8; 32] {
    let at = json!([tbtc.bridge.to_checksum(), hex_word(slot), "latest"]);
    let word = rpc(&tbtc.url, "eth_getStorageAt", at).await;
    let bytes =
        hex::decode(word.as_str().expect("a word").trim_start_matches("0x")).expect("a hex word");
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

async fn set_storage(tbtc: &RealTbtc, slot: &[u8; 32], word: &[u8; 32]) {
    let set = json!([tbtc.bridge.to_checksum(), hex_word(slot), hex_word(word)]);
    rpc(&tbtc.url, "anvil_setStorageAt", set).await;
}

fn word(v: U256) -> [u8; 32] {
    let mut out = [0u8; 32];
    v.to_big_endian(&mut out);
    out
}

/// `registeredWallets[wallet]`'s first slot and the mapping's own slot.
async fn wallet_slot(tbtc: &RealTbtc, wallet: &WalletPkh) -> (U256, u64) {
    let (slot, mapping) = tbtc.wallet_slot(wallet).await;
    (U256::from_big_endian(&slot), mapping)
}

/// Writes what `submitMovingFundsProof` leaves when output `index` of `tx_hash` paid
/// `target`: `movedFundsSweepRequests[keccak256(tx_hash ‖ uint32 index)]` in `state`, and,
/// for a Pending request, the target's `pendingMovedFundsSweepRequestsCount` raised by one.
pub async fn leave_sweep_request(
    tbtc: &RealTbtc,
    target: &WalletPkh,
    tx_hash: &[u8; 32],
    index: u32,
    value: u64,
    created_at: u32,
    state: u8,
) {
    let (wallet, mapping) = wallet_slot(tbtc, target).await;
    let key = keccak256(&[tx_hash.as_slice(), &index.to_be_bytes()].concat());
    let mut at = [0u8; 64];
    at[..32].copy_from_slice(&key);
    at[56..].copy_from_slice(&(mapping - REQUESTS_BEFORE_WALLETS).to_be_bytes());
    let slot = keccak256(&at);
    // Packed from the low-order end: walletPubKeyHash, value (uint64), createdAt (uint32);
    // the state no longer fits and takes the next slot.
    let mut first = [0u8; 32];
    first[..4].copy_from_slice(&created_at.to_be_bytes());
    first[4..12].copy_from_slice(&value.to_be_bytes());
    first[12..].copy_from_slice(&target.0);
    set_storage(tbtc, &slot, &first).await;
    let mut second = [0u8; 32];
    second[31] = state;
    set_storage(tbtc, &word(U256::from_big_endian(&slot) + 1), &second).await;
    if state == PENDING {
        // Wallet slot 2, from the low-order end: pendingRedemptionsValue (uint64),
        // createdAt, movingFundsRequestedAt, closingStartedAt,
        // pendingMovedFundsSweepRequestsCount (uint32s), state.
        let counts = word(wallet + 2);
        let mut packed = storage(tbtc, &counts).await;
        let count = u32::from_be_bytes(packed[8..12].try_into().expect("4 bytes")) + 1;
        packed[8..12].copy_from_slice(&count.to_be_bytes());
        set_storage(tbtc, &counts, &packed).await;
    }
}

/// A deposit's Bitcoin funding transaction, as `BitcoinTx.Info` splits it, and its reveal.
pub struct Deposit {
    pub version: [u8; 4],
    pub input_vector: Vec<u8>,
    pub output_vector: Vec<u8>,
    pub locktime: [u8; 4],
    /// hash256 of the transaction, in the Bridge's (internal) byte order.
    pub tx_hash: [u8; 32],
    pub blinding_factor: [u8; 8],
    pub wallet: WalletPkh,
    pub refund_pkh: [u8; 20],
    /// Little-endian, as Bitcoin's locktime (a timestamp).
    pub refund_locktime: [u8; 4],
    /// The output that pays the deposit.
    pub output_index: u32,
}

impl Deposit {
    /// A transaction paying `amount` to the P2WSH of the deposit script of `depositor`
    /// for `wallet`, refundable from `refund_at`.
    pub fn new(depositor: &Address, wallet: &WalletPkh, amount: u64, refund_at: u32) -> Deposit {
        Deposit::paying(depositor, wallet, amount, refund_at, &[])
    }

    /// As [`Deposit::new`], with `others` (value, P2WPKH key hash) paid first: the deposit is
    /// then output `others.len()`.
    pub fn paying(
        depositor: &Address,
        wallet: &WalletPkh,
        amount: u64,
        refund_at: u32,
        others: &[(u64, [u8; 20])],
    ) -> Deposit {
        let blinding_factor = [0xF0, 0x0D, 0, 0, 0, 0, 0, 1];
        let refund_pkh = [0x3E; 20];
        let refund_locktime = refund_at.to_le_bytes();
        // The script `_revealDeposit` expects of a deposit without extra data, as the node
        // builds it (the real Bridge checks it against the funding output).
        let script = tbtc_coord::bitcoin::reading::deposit_script(
            depositor,
            wallet,
            &tbtc_coord::protocol::proposal::DepositReveal {
                blinding_factor,
                refund_pubkey_hash: refund_pkh,
                refund_locktime,
            },
        )
        .into_bytes();
        // One input (any outpoint, empty scriptSig), one P2WSH output.
        let input_vector = [&[1u8][..], &[0x44; 32], &[0; 4], &[0], &[0xFF; 4]].concat();
        let mut output_vector = vec![others.len() as u8 + 1];
        for (value, key_hash) in others {
            output_vector.extend_from_slice(&value.to_le_bytes());
            output_vector.extend_from_slice(&[0x16, 0x00, 0x14]);
            output_vector.extend_from_slice(key_hash);
        }
        output_vector.extend_from_slice(&amount.to_le_bytes());
        output_vector.extend_from_slice(&[0x22, 0x00, 0x20]);
        output_vector.extend_from_slice(&sha256(&script));
        let version = 1u32.to_le_bytes();
        let locktime = [0; 4];
        let tx_hash = sha256(&sha256(
            &[&version[..], &input_vector, &output_vector, &locktime].concat(),
        ));
        Deposit {
            version,
            input_vector,
            output_vector,
            locktime,
            tx_hash,
            blinding_factor,
            wallet: *wallet,
            refund_pkh,
            refund_locktime,
            output_index: others.len() as u32,
        }
    }

    /// Output `output_index` of a real transaction `tx`, revealed with `reveal` for `wallet`.
    pub fn of_transaction(
        tx: &bitcoin::Transaction,
        output_index: u32,
        wallet: &WalletPkh,
        reveal: &tbtc_coord::protocol::proposal::DepositReveal,
    ) -> Deposit {
        let parts = tbtc_coord::bitcoin::reading::funding_tx(tx);
        Deposit {
            version: parts.version,
            input_vector: parts.input_vector,
            output_vector: parts.output_vector,
            locktime: parts.locktime,
            tx_hash: tbtc_coord::bitcoin::reading::bridge_tx_hash(tx).0,
            blinding_factor: reveal.blinding_factor,
            wallet: *wallet,
            refund_pkh: reveal.refund_pubkey_hash,
            refund_locktime: reveal.refund_locktime,
            output_index,
        }
    }

    /// `BitcoinTx.Info`.
    pub fn funding_tx(&self) -> Token {
        Token::Tuple(vec![
            Token::FixedBytes(self.version.to_vec()),
            Token::Bytes(self.input_vector.clone()),
            Token::Bytes(self.output_vector.clone()),
            Token::FixedBytes(self.locktime.to_vec()),
        ])
    }

    /// The validator's `DepositExtraInfo`.
    pub fn extra_info(&self) -> Token {
        Token::Tuple(vec![
            self.funding_tx(),
            Token::FixedBytes(self.blinding_factor.to_vec()),
            Token::FixedBytes(self.wallet.0.to_vec()),
            Token::FixedBytes(self.refund_pkh.to_vec()),
            Token::FixedBytes(self.refund_locktime.to_vec()),
        ])
    }
}

/// Reveals `deposit` through the real `revealDeposit`, from the development account (the
/// depositor its script names), to no vault. Returns the reveal's block.
pub async fn reveal_deposit(tbtc: &RealTbtc, deposit: &Deposit) -> u64 {
    let reveal = Token::Tuple(vec![
        uint(u128::from(deposit.output_index)),
        Token::FixedBytes(deposit.blinding_factor.to_vec()),
        Token::FixedBytes(deposit.wallet.0.to_vec()),
        Token::FixedBytes(deposit.refund_pkh.to_vec()),
        Token::FixedBytes(deposit.refund_locktime.to_vec()),
        token_address(&Address::default()),
    ]);
    let data = call_data(
        &tbtc.bridge_abi,
        "revealDeposit",
        &[deposit.funding_tx(), reveal],
    );
    let receipt = send(&tbtc.url, Some(&tbtc.bridge.to_checksum()), &data).await;
    super::quantity(&receipt["blockNumber"])
}

/// The development account, the depositor of [`reveal_deposit`].
pub fn depositor() -> Address {
    DEV_ACCOUNT.parse().expect("an address")
}

/// The registry reports the wallet's heartbeat failed: the real Bridge moves a wallet with
/// a main UTXO to MovingFunds (one without would start closing).
pub async fn fail_heartbeat(tbtc: &RealTbtc, key: &WalletPublicKey) {
    let point = key.uncompressed();
    let data = call_data(
        &tbtc.bridge_abi,
        "__ecdsaWalletHeartbeatFailedCallback",
        &[
            Token::FixedBytes(vec![0; 32]),
            Token::FixedBytes(point[1..33].to_vec()),
            Token::FixedBytes(point[33..65].to_vec()),
        ],
    );
    send_as(&tbtc.url, &tbtc.registry, &tbtc.bridge, &data).await;
}
