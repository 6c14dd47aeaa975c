//! What Ethereum mode is told before it connects: the RPC URL and its pacing, the tBTC v2
//! contract addresses, where the wallets come from, and why starting can fail. Plain data,
//! filled in by the command line (or a test) and handed to [`super::EthereumChain::connect`].

use std::time::Duration;

use super::contracts::mainnet;
use super::rpc::EndpointError;
use crate::protocol::Address;
use crate::protocol::WalletInfo;

/// The tBTC v2 contracts to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contracts {
    pub bridge: Option<Address>,
    pub wallet_registry: Option<Address>,
    pub sortition_pool: Option<Address>,
    /// Threshold's TokenStaking: the peer firewall's on-chain rule reads stakes there.
    pub token_staking: Option<Address>,
    /// The WalletProposalValidator every candidate proposal is checked with.
    pub wallet_proposal_validator: Option<Address>,
}

impl Contracts {
    /// The mainnet deployment (SPEC §9).
    pub fn mainnet() -> Contracts {
        let parse = |s: &str| s.parse::<Address>().ok();
        Contracts {
            bridge: parse(mainnet::BRIDGE),
            wallet_registry: parse(mainnet::WALLET_REGISTRY),
            sortition_pool: parse(mainnet::SORTITION_POOL),
            token_staking: parse(mainnet::TOKEN_STAKING),
            wallet_proposal_validator: parse(mainnet::WALLET_PROPOSAL_VALIDATOR),
        }
    }
}

/// Where the wallets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletSource {
    /// Listed by hand (`--wallets FILE`, see [`wallets_file`](super::wallets_file)).
    Listed(Vec<WalletInfo>),
    /// Discovered from the contracts; needs all three addresses.
    Discovered,
}

/// How to reach and read the chain.
#[derive(Debug, Clone)]
pub struct EthereumConfig {
    /// `http(s)://` (polled) or `ws(s)://` (subscribed).
    pub rpc_url: String,
    /// Time between polls of an HTTP endpoint.
    pub poll_interval: Duration,
    /// Refuse a node that serves another chain. Also lets the node start while the
    /// endpoint is unreachable (the history file is named after the chain id).
    pub expected_chain_id: Option<u64>,
    pub contracts: Contracts,
    pub wallets: WalletSource,
    /// Discovery keeps the wallets in which this operator holds a seat (all if `None`).
    pub operator: Option<Address>,
    /// Log scans (discovery, Bridge events) start no earlier than this block.
    pub first_block: u64,
    /// Bitcoin confirmations assumed for every revealed deposit; `None` estimates them from
    /// the reveal's age (one Bitcoin block per 10 minutes). No Bitcoin client is consulted.
    pub deposit_confirmations: Option<u32>,
    /// How far back every event scan of a wallet snapshot looks, in blocks, replacing the
    /// reference look-backs (`None`, the default: keep-core's, SPEC §12). An override for a
    /// node that serves only recent logs, or a test; the CLI does not set it.
    pub snapshot_lookback_blocks: Option<u64>,
    /// Keep what snapshot scans read between windows, and the deposits seen swept (see
    /// `scan_cache`). On by default; off reads every look-back whole every window.
    pub scan_cache: bool,
    /// Longest wait for one RPC answer.
    pub request_timeout: Duration,
    /// Reconnect backoff: first delay, doubled after each failure up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// A WebSocket that delivered no head for this long is probed, and reconnected if dead.
    pub stale_head_after: Duration,
    /// Largest block range of one `eth_getLogs` request: halved when a node refuses a
    /// range, grown back after a few successes (see `logs`).
    pub log_chunk_blocks: u64,
    /// Rate-limited `eth_getLogs` backoff: first wait, doubled (with jitter) up to
    /// `rate_limit_backoff_max`, for a bounded number of attempts.
    pub rate_limit_backoff_min: Duration,
    pub rate_limit_backoff_max: Duration,
}

impl EthereumConfig {
    pub fn new(rpc_url: impl Into<String>) -> EthereumConfig {
        EthereumConfig {
            rpc_url: rpc_url.into(),
            poll_interval: Duration::from_secs(2),
            expected_chain_id: None,
            contracts: Contracts::default(),
            wallets: WalletSource::Discovered,
            operator: None,
            first_block: 0,
            deposit_confirmations: None,
            snapshot_lookback_blocks: None,
            scan_cache: true,
            request_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            stale_head_after: Duration::from_secs(60),
            log_chunk_blocks: 10_000,
            rate_limit_backoff_min: Duration::from_millis(500),
            rate_limit_backoff_max: Duration::from_secs(10),
        }
    }
}

/// Why Ethereum mode could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EthereumError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("cannot reach the Ethereum node at {url}: {reason} (pass --chain-id to start anyway and keep retrying)")]
    Unreachable { url: String, reason: String },
    #[error("the node at {url} serves chain {got}, not the expected chain {expected}")]
    WrongChain {
        url: String,
        expected: u64,
        got: u64,
    },
    #[error("the node at {url} answered eth_chainId with {answer}, not a chain id")]
    BadChainId { url: String, answer: String },
    #[error("wallet discovery needs the Bridge, WalletRegistry and SortitionPool addresses (--bridge, --wallet-registry and --sortition-pool, or --network mainnet); missing: {0}")]
    MissingContracts(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_addresses_parse() {
        let c = Contracts::mainnet();
        assert!(c.bridge.is_some() && c.wallet_registry.is_some() && c.sortition_pool.is_some());
    }
}
