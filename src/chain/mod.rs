//! What the engine needs from a chain, behind one trait: new heads, the hash of a block under a
//! hash rule, the wallets and their signing groups, the state a proposal generator reads, and a
//! way to carry out a dispatched action. The embedded devnet (`crate::devnet`) simulates all
//! of it in-process.

pub mod ethereum;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::protocol::bitcoin_facts::{BitcoinFacts, MainUtxo};
use crate::protocol::commitment::MovingFundsCommitment;
use crate::protocol::{
    ActionOutcome, Address, BlockHashRule, BlockRef, ChainStatus, CoordinationWindow, Hash32,
    Proposal, Validation, WalletInfo, WalletPkh, WalletSnapshot,
};

/// New heads. A receiver that falls behind sees `Lagged` and skips ahead; the window watch
/// copes with such gaps.
pub type BlockStream = broadcast::Receiver<BlockRef>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("block {number} is not available (chain head is {head}): not mined yet, or not kept by this chain")]
    BlockNotFound { number: u64, head: u64 },
    #[error("wallet {0} is not known to the chain")]
    UnknownWallet(WalletPkh),
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected chain data: {0}")]
    Invalid(String),
    /// A transaction the chain would not take (its revert reason), or one this chain cannot
    /// send at all.
    #[error("{0}")]
    Refused(String),
}

/// A chain that lists a group no wallet can have (the back ends refuse such groups when they
/// read them; this covers any that does not).
impl From<crate::protocol::leader::SigningGroupError> for ChainError {
    fn from(e: crate::protocol::leader::SigningGroupError) -> Self {
        ChainError::Invalid(e.to_string())
    }
}

/// A dispatched action, as handed to the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub wallet: WalletPkh,
    pub window: CoordinationWindow,
    pub proposal: Proposal,
    pub start_block: u64,
    pub expiry_block: u64,
}

#[async_trait]
pub trait Chain: Send + Sync + 'static {
    /// Names the chain in logs and store file names: `devnet-1`, `chain-11155111`.
    fn chain_key(&self) -> String;

    /// Connection health; in-process chains report [`ChainConnection::Embedded`](crate::protocol::ChainConnection::Embedded).
    fn status(&self) -> ChainStatus {
        ChainStatus::default()
    }

    /// Subscribes to new heads.
    async fn subscribe_blocks(&self) -> Result<BlockStream, ChainError>;

    /// The current head.
    async fn latest_block(&self) -> Result<BlockRef, ChainError>;

    /// The hash of block `number` under `rule`.
    async fn block_hash(&self, number: u64, rule: BlockHashRule) -> Result<Hash32, ChainError>;

    /// Every wallet the chain knows, with its signing group.
    async fn wallets(&self) -> Result<Vec<WalletInfo>, ChainError>;

    /// What the proposal generator reads of a wallet, as of block `block`.
    async fn wallet_snapshot(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<WalletSnapshot, ChainError>;

    /// The Bridge's `mainUtxoHash` of `wallet` as of block `block`, `None` while it has no
    /// main UTXO. Chains that read it more cheaply than a whole snapshot say so.
    async fn main_utxo_hash(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<Option<Hash32>, ChainError> {
        Ok(self.wallet_snapshot(wallet, block).await?.main_utxo_hash)
    }

    /// The on-chain validator's verdict on a candidate `proposal` for the snapshot's wallet,
    /// at the snapshot's block (SPEC §12). Never an error: a failed check is a verdict that
    /// keeps the candidate from being sent. `facts` are what a Bitcoin view found: deposit
    /// sweeps and moving funds are checked only with them.
    async fn validate_proposal(
        &self,
        snapshot: &WalletSnapshot,
        proposal: &Proposal,
        facts: &BitcoinFacts,
    ) -> Validation {
        let _ = (snapshot, proposal, facts);
        Validation::not_checked("this chain has no validator")
    }

    /// The moving-funds commitment `submitter` would make for the snapshot's wallet, whose
    /// main UTXO is `main_utxo` (SPEC §12, [`crate::protocol::commitment`]): the newest Live
    /// wallets as targets, and the wallet's member IDs, as of the snapshot's block.
    async fn plan_moving_funds_commitment(
        &self,
        snapshot: &WalletSnapshot,
        main_utxo: &MainUtxo,
        submitter: Address,
    ) -> Result<MovingFundsCommitment, ChainError> {
        let _ = (snapshot, main_utxo, submitter);
        Err(ChainError::Refused(
            "this chain takes no moving-funds commitment".into(),
        ))
    }

    /// Submits `commitment`, signed with the operator's key, and returns the transaction's
    /// hash once the chain has taken it; that it was mined shows in the wallet's snapshots.
    async fn submit_moving_funds_commitment(
        &self,
        commitment: &MovingFundsCommitment,
    ) -> Result<Hash32, ChainError> {
        let _ = commitment;
        Err(ChainError::Refused(
            "this chain takes no moving-funds commitment".into(),
        ))
    }

    /// Carries out a dispatched action and resolves when it has completed, failed or expired.
    /// Several nodes may submit the same (wallet, window) action; they all see one outcome.
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError>;
}
