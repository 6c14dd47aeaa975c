//! The chain facts every layer shares: a head, a wallet and its signing group, the health
//! of the connection to the chain. Plain data, so that the history, the console and the
//! control protocol speak of them without knowing any chain back end.

use serde::{Deserialize, Serialize};

use super::{Address, Hash32, WalletPkh, WalletPublicKey};

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

/// How the connection to the chain is doing, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ChainConnection {
    /// In-process: nothing to lose.
    Embedded,
    Connecting,
    Connected,
    /// Lost; retrying. `error` says why.
    Disconnected {
        error: String,
    },
}

/// A chain back end's health: chain id, connection and RPC latency, and the Bitcoin view's
/// when the node has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    pub chain_id: Option<u64>,
    pub connection: ChainConnection,
    /// Round trip of the last RPC call, microseconds.
    pub rpc_latency_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitcoin: Option<BitcoinStatus>,
}

/// How the Bitcoin view is doing, as the console and the metrics show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitcoinStatus {
    /// The server in use (`scheme://host:port`, or `devnet`).
    pub server: String,
    pub connected: bool,
    pub tip: Option<u64>,
    /// Round trip of the last request, microseconds.
    pub latency_us: Option<u64>,
    /// Why it is not connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Default for ChainStatus {
    fn default() -> Self {
        ChainStatus {
            chain_id: None,
            connection: ChainConnection::Embedded,
            rpc_latency_us: None,
            bitcoin: None,
        }
    }
}
