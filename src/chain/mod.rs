//! What the engine needs from a chain, behind one trait: new heads, the hash of a block under a
//! hash rule, the wallets and their signing groups, the state a proposal generator reads, and a
//! way to carry out a dispatched action. The embedded devnet (`crate::devnet`) simulates all
//! of it in-process.

pub mod ethereum;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::protocol::{
    ActionOutcome, Address, BlockHashRule, CoordinationWindow, Hash32, Proposal, WalletPkh,
    WalletPublicKey, WalletSnapshot,
};

/// A new head as the chain announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    pub number: u64,
    pub hash: Hash32,
    pub parent_hash: Hash32,
    /// Chain timestamp, seconds.
    pub timestamp: u64,
}

/// A wallet and its signing group: `operators[k-1]` holds member index `k`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletInfo {
    pub wallet: WalletPkh,
    /// The group's public key, which names the wallet's coordination topic. Required to
    /// coordinate over the network; a wallets file may leave it out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<WalletPublicKey>,
    pub operators: Vec<Address>,
}

impl WalletInfo {
    /// The wallet's coordination pubsub topic, named after its public key (SPEC §11). A
    /// wallet listed without its key gets a topic named after its PKH instead: no keep-client
    /// node listens there, and networked nodes refuse such wallets at start, so it only
    /// ever carries the in-process hub's messages.
    pub fn coordination_topic(&self) -> String {
        match &self.public_key {
            Some(key) => key.coordination_topic(),
            None => format!("tbtc-pkh-{}-coordination", self.wallet),
        }
    }
}

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
}

/// A chain that lists a group no wallet can have (the back ends refuse such groups when they
/// read them; this covers any that does not).
impl From<crate::protocol::leader::SigningGroupError> for ChainError {
    fn from(e: crate::protocol::leader::SigningGroupError) -> Self {
        ChainError::Invalid(e.to_string())
    }
}

/// How the connection to the chain is doing, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Connection {
    /// In-process: nothing to lose.
    Embedded,
    Connecting,
    Connected,
    /// Lost; retrying. `error` says why.
    Disconnected {
        error: String,
    },
}

/// A chain back end's health: chain id, connection and RPC latency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    pub chain_id: Option<u64>,
    pub connection: Connection,
    /// Round trip of the last RPC call, microseconds.
    pub rpc_latency_us: Option<u64>,
}

impl Default for ChainStatus {
    fn default() -> Self {
        ChainStatus {
            chain_id: None,
            connection: Connection::Embedded,
            rpc_latency_us: None,
        }
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

    /// Connection health; in-process chains report [`Connection::Embedded`].
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

    /// Carries out a dispatched action and resolves when it has completed, failed or expired.
    /// Several nodes may submit the same (wallet, window) action; they all see one outcome.
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError>;
}
