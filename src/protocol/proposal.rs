//! Proposals (SPEC §8): what a leader proposes, how its payload is encoded, and the wallet
//! chain state and knobs the generator (in `generator`) reads.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::action::ActionType;
use super::types::{Address, Hash32, WalletPkh};

/// Average Bitcoin block interval, seconds: deposit confirmations are estimated as whole
/// intervals since the reveal (the one definition; the devnet and the Bridge reader use it).
pub const BITCOIN_BLOCK_SECONDS: u64 = 600;

/// Bytes shown as lowercase hex in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct HexBytes(pub Vec<u8>);

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.trim_start_matches("0x"))
            .map(HexBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// A deposit named by its funding output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DepositKey {
    pub funding_tx_hash: Hash32,
    pub output_index: u32,
}

/// A leader's proposal: an action and its payload. The JSON form (the history keeps it)
/// reads back to the same value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action")]
pub enum Proposal {
    Noop,
    Heartbeat {
        message: HexBytes,
    },
    DepositSweep {
        deposits: Vec<DepositKey>,
        sweep_tx_fee: u64,
        reveal_blocks: Vec<u64>,
    },
    Redemption {
        redeemers_output_scripts: Vec<HexBytes>,
        redemption_tx_fee: u64,
    },
    MovingFunds {
        target_wallets: Vec<WalletPkh>,
        moving_funds_tx_fee: u64,
    },
    MovedFundsSweep {
        moving_funds_tx_hash: Hash32,
        moving_funds_tx_output_index: u32,
        sweep_tx_fee: u64,
    },
}

impl Proposal {
    pub fn action_type(&self) -> ActionType {
        match self {
            Proposal::Noop => ActionType::Noop,
            Proposal::Heartbeat { .. } => ActionType::Heartbeat,
            Proposal::DepositSweep { .. } => ActionType::DepositSweep,
            Proposal::Redemption { .. } => ActionType::Redemption,
            Proposal::MovingFunds { .. } => ActionType::MovingFunds,
            Proposal::MovedFundsSweep { .. } => ActionType::MovedFundsSweep,
        }
    }

    /// A one-line summary for logs and the console.
    pub fn summary(&self) -> String {
        match self {
            Proposal::Noop => "Noop".into(),
            Proposal::Heartbeat { message } => format!("Heartbeat {}", hex::encode(&message.0)),
            Proposal::DepositSweep {
                deposits,
                sweep_tx_fee,
                ..
            } => format!(
                "DepositSweep of {}, fee {sweep_tx_fee} sat",
                counted(deposits.len(), "deposit")
            ),
            Proposal::Redemption {
                redeemers_output_scripts,
                redemption_tx_fee,
            } => format!(
                "Redemption of {}, fee {redemption_tx_fee} sat",
                counted(redeemers_output_scripts.len(), "request")
            ),
            Proposal::MovingFunds {
                target_wallets,
                moving_funds_tx_fee,
            } => format!(
                "MovingFunds to {}, fee {moving_funds_tx_fee} sat",
                counted(target_wallets.len(), "wallet")
            ),
            Proposal::MovedFundsSweep {
                moving_funds_tx_hash,
                moving_funds_tx_output_index,
                sweep_tx_fee,
            } => format!(
                "MovedFundsSweep of {}:{moving_funds_tx_output_index}, fee {sweep_tx_fee} sat",
                moving_funds_tx_hash.short()
            ),
        }
    }
}

/// `1 request`, `2 requests`.
fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A Bridge wallet state (numbers as on chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum WalletState {
    #[default]
    Unknown = 0,
    Live = 1,
    MovingFunds = 2,
    Closing = 3,
    Closed = 4,
    Terminated = 5,
}

impl WalletState {
    pub fn from_number(n: u8) -> WalletState {
        match n {
            1 => WalletState::Live,
            2 => WalletState::MovingFunds,
            3 => WalletState::Closing,
            4 => WalletState::Closed,
            5 => WalletState::Terminated,
            _ => WalletState::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRedemption {
    pub redeemer_output_script: Vec<u8>,
    pub requested_amount: u64,
    /// Chain timestamp of the request.
    pub requested_at: u64,
    /// The redemption watchtower's delay for this request, seconds (0 without a
    /// watchtower). The request must be older than this as well as the minimum age.
    pub watchtower_delay: u64,
    /// The most this request's share of the transaction fee may be, satoshi (`None`:
    /// unknown, no limit applied).
    pub tx_max_fee: Option<u64>,
}

/// The Bridge's maximum transaction fees, satoshi, read with the wallet; `None` where
/// unknown, and then no limit is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeeLimits {
    /// `depositParameters().depositTxMaxFee`: per deposit swept.
    pub deposit_tx_max_fee: Option<u64>,
    /// `redemptionParameters().redemptionTxMaxTotalFee`.
    pub redemption_tx_max_total_fee: Option<u64>,
    /// `movingFundsParameters().movingFundsTxMaxTotalFee`.
    pub moving_funds_tx_max_total_fee: Option<u64>,
    /// `movingFundsParameters().movedFundsSweepTxMaxTotalFee`.
    pub moved_funds_sweep_tx_max_total_fee: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedDeposit {
    pub key: DepositKey,
    pub amount: u64,
    pub vault: Option<Address>,
    /// Chain timestamp and block of the reveal.
    pub revealed_at: u64,
    pub reveal_block: u64,
    /// Bitcoin confirmations of the funding transaction.
    pub confirmations: u32,
    /// Timestamp from which the depositor may take the deposit back.
    pub refund_locktime: u64,
    /// The rest of what the reveal named, which the validator checks against the funding
    /// transaction.
    pub reveal: DepositReveal,
}

/// What a deposit's reveal names besides its funding output: with the funding transaction,
/// the validator's `DepositExtraInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DepositReveal {
    pub blinding_factor: [u8; 8],
    pub refund_pubkey_hash: [u8; 20],
    /// As revealed: Bitcoin's little-endian locktime bytes.
    pub refund_locktime: [u8; 4],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedFundsSweepRequest {
    pub moving_funds_tx_hash: Hash32,
    pub output_index: u32,
    pub value: u64,
    pub created_at: u64,
}

/// What the generator reads of a wallet's chain state, at one block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WalletSnapshot {
    pub wallet: WalletPkh,
    pub state: WalletState,
    pub block: u64,
    /// Chain timestamp of `block`.
    pub timestamp: u64,
    /// The Bridge's redemption timeout, seconds.
    pub redemption_timeout: u64,
    pub pending_redemptions: Vec<PendingRedemption>,
    /// Revealed deposits not yet swept.
    pub deposits: Vec<RevealedDeposit>,
    pub moving_funds_requested_at: Option<u64>,
    pub moving_funds_targets: Vec<WalletPkh>,
    /// The Bridge's `movingFundsTargetWalletsCommitmentHash`, `None` while no member has
    /// committed to target wallets.
    pub moving_funds_commitment: Option<Hash32>,
    pub moved_funds_sweep_requests: Vec<MovedFundsSweepRequest>,
    pub fee_limits: FeeLimits,
    /// The Bridge's `mainUtxoHash`, `None` while the wallet has no main UTXO: a sweep then
    /// spends one input fewer.
    pub main_utxo_hash: Option<Hash32>,
}

/// Knobs of proposal generation. Ages and margins are seconds of chain time.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposalParams {
    /// Estimated Bitcoin fee rate, sat/vB, that proposal fees start from.
    pub btc_fee_rate: u64,
    pub redemption_request_min_age: u64,
    pub redemption_timeout_safety_margin: u64,
    pub redemption_max_size: usize,
    pub deposit_min_age: u64,
    pub deposit_min_confirmations: u32,
    pub deposit_refund_safety_margin: u64,
    pub deposit_sweep_max_size: usize,
    pub moving_funds_safety_margin: u64,
}

impl Default for ProposalParams {
    fn default() -> Self {
        ProposalParams {
            btc_fee_rate: 10,
            redemption_request_min_age: 600,
            redemption_timeout_safety_margin: 2 * 3600,
            redemption_max_size: 20,
            deposit_min_age: 2 * 3600,
            deposit_min_confirmations: 6,
            deposit_refund_safety_margin: 24 * 3600,
            deposit_sweep_max_size: 20,
            moving_funds_safety_margin: 24 * 3600,
        }
    }
}

/// The 16-byte heartbeat message: eight 0xFF, then the first 8 bytes of
/// `sha256(pkh || block as u64 BE)`.
pub fn heartbeat_message(wallet: &WalletPkh, block: u64) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(wallet.0);
    hasher.update(block.to_be_bytes());
    let digest = hasher.finalize();
    let mut message = [0xFF; 16];
    message[8..].copy_from_slice(&digest[..8]);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_message_layout() {
        let m = heartbeat_message(&WalletPkh([0xAB; 20]), 1800);
        assert_eq!(&m[..8], &[0xFF; 8]);
        let mut h = Sha256::new();
        h.update([0xAB; 20]);
        h.update(1800u64.to_be_bytes());
        assert_eq!(&m[8..], &h.finalize()[..8]);
    }

    #[test]
    fn summaries_count_in_the_singular_and_the_plural() {
        let redemption = |n: usize| Proposal::Redemption {
            redeemers_output_scripts: vec![HexBytes(vec![0x00]); n],
            redemption_tx_fee: 1000,
        };
        assert_eq!(
            redemption(1).summary(),
            "Redemption of 1 request, fee 1000 sat"
        );
        assert_eq!(
            redemption(2).summary(),
            "Redemption of 2 requests, fee 1000 sat"
        );
    }
}
