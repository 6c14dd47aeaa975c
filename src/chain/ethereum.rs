//! Ethereum mode: the [`Chain`] trait on a real JSON-RPC node (mainnet, Sepolia, anvil)
//! through ethers. Everything this node reads of Ethereum passes through here:
//! - new heads: a `newHeads` subscription on `ws(s)://` URLs, polling on `http(s)://` URLs;
//!   a lost connection is retried with backoff and the gap filled; the hash of each recent
//!   height is kept to notice reorgs, which re-announce the new branch from the fork point
//!   (the window watch never starts a window twice);
//! - safe block hashes under both rules of SPEC §3, hashed here from the header fields;
//! - wallets from a hand-written file or discovered from the tBTC v2 contracts (SPEC §9),
//!   incrementally, with the result cached through a [`DiscoveryCache`] the wiring hands in;
//! - the wallet state the proposal generator reads, from the Bridge;
//! - the outcome of dispatched actions, as far as an Ethereum observer can tell.
//!
//! Nothing here panics on what a node sends, and nothing stops silently: every failure is
//! shown in [`Chain::status`] and retried.

mod bridge;
mod contracts;
mod discovery;
mod header;
mod heads;
mod json;
pub mod keystore;
mod logs;
mod rpc;
mod staking;
pub mod wallets_file;

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ethers_providers::{Middleware, StreamExt};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{
    ActionRequest, BlockRef, BlockStream, Chain, ChainError, ChainStatus, Connection, WalletInfo,
};
use crate::protocol::{ActionOutcome, Address, BlockHashRule, Hash32, WalletPkh, WalletSnapshot};
use header::RpcHeader;
use heads::{Link, RecentBlocks, MAX_BACKFILL};
use rpc::{RpcFailure, Transport};

pub use contracts::mainnet;
pub use discovery::{CacheError, DiscoveryCache};
pub use keystore::{
    load_operator_key, new_operator_key, open_keystore, KeystoreError, LockedKeystore,
    PasswordSource, PASSWORD_ENV,
};
pub use rpc::{Endpoint, EndpointError, EndpointKind};
pub use wallets_file::WalletsFileError;

/// Capacity of the new-head channel: room for a burst of mined blocks (`anvil_mine`).
pub const BLOCK_CHANNEL_CAPACITY: usize = 4096;

/// The tBTC v2 contracts to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contracts {
    pub bridge: Option<Address>,
    pub wallet_registry: Option<Address>,
    pub sortition_pool: Option<Address>,
    /// Threshold's TokenStaking: the peer firewall's on-chain rule reads stakes there.
    pub token_staking: Option<Address>,
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
        }
    }
}

/// Where the wallets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalletSource {
    /// Listed by hand (`--wallets FILE`, see [`wallets_file`]).
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
    /// How far back a wallet snapshot looks for redemption requests and deposit reveals.
    pub snapshot_lookback_blocks: u64,
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
            snapshot_lookback_blocks: 100_000,
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

/// A chain back end on an Ethereum JSON-RPC node. Cheap to clone: clones share one connection
/// and one head watch.
#[derive(Clone)]
pub struct EthereumChain {
    inner: Arc<Inner>,
}

struct Inner {
    config: EthereumConfig,
    endpoint: Endpoint,
    chain_id: u64,
    transport: Mutex<Option<Arc<Transport>>>,
    /// Serialises connection attempts of callers that find no transport.
    connecting: tokio::sync::Mutex<()>,
    status: Mutex<ChainStatus>,
    /// Set while the endpoint serves another chain: every call is refused.
    wrong_chain: Mutex<Option<String>>,
    blocks: broadcast::Sender<BlockRef>,
    recent: Mutex<RecentBlocks>,
    /// When recent heads arrived, for latency measurements.
    arrivals: Mutex<VecDeque<(u64, Instant)>>,
    watching: AtomicBool,
    cancel: CancellationToken,
    /// Where discovery caches what it found (see `discovery`).
    cache: OnceLock<Arc<dyn DiscoveryCache>>,
    /// The block span of the next `eth_getLogs` request, shared by every scan.
    log_chunk: Mutex<logs::ChunkSize>,
    /// Contract addresses already seen to hold code.
    has_code: Mutex<HashSet<Address>>,
    /// Warnings given once.
    warned: Mutex<HashSet<&'static str>>,
    /// Told each answered request's latency (the metrics endpoint's histogram).
    latency_observer: OnceLock<LatencyObserver>,
}

/// Told the latency of every JSON-RPC request the node answered (errors from the node
/// included; timeouts and transport failures not).
pub type LatencyObserver = Arc<dyn Fn(std::time::Duration) + Send + Sync>;

/// A std mutex whose data stays consistent when a holder panics (every critical section
/// here is a whole, synchronous step), so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EthereumChain {
    /// Tells `observer` the latency of every answered request from now on (the first
    /// observer set stays).
    pub fn observe_rpc_latency(&self, observer: LatencyObserver) {
        let _ = self.inner.latency_observer.set(observer);
    }
}

impl std::fmt::Debug for EthereumChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthereumChain")
            .field("endpoint", &self.inner.endpoint)
            .field("chain_id", &self.inner.chain_id)
            .finish_non_exhaustive()
    }
}

impl EthereumChain {
    /// Checks the configuration and the node's chain id. An unreachable node is an error
    /// unless `expected_chain_id` is set; then the chain starts disconnected and keeps
    /// retrying. The head watch starts with the first [`Chain::subscribe_blocks`]. `cache`
    /// keeps discovery results between runs.
    pub async fn connect(
        config: EthereumConfig,
        cache: Option<Arc<dyn DiscoveryCache>>,
    ) -> Result<EthereumChain, EthereumError> {
        let endpoint = Endpoint::parse(&config.rpc_url)?;
        if config.wallets == WalletSource::Discovered {
            let c = &config.contracts;
            let missing: Vec<&str> = [
                ("Bridge", c.bridge),
                ("WalletRegistry", c.wallet_registry),
                ("SortitionPool", c.sortition_pool),
            ]
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(n, _)| *n)
            .collect();
            if !missing.is_empty() {
                return Err(EthereumError::MissingContracts(missing.join(", ")));
            }
        }
        let timeout = config.request_timeout;
        let probe = async {
            let t = Transport::connect(&endpoint, timeout).await?;
            let v = t
                .request(&endpoint, "eth_chainId", &json!([]), timeout)
                .await?;
            Ok::<_, RpcFailure>((t, v))
        };
        let (transport, chain_id, status) = match probe.await {
            Ok((t, answer)) => {
                let id = answer
                    .as_str()
                    .and_then(|s| s.strip_prefix("0x"))
                    .and_then(|d| json::parse_quantity(d).ok())
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| EthereumError::BadChainId {
                        url: endpoint.shown().to_string(),
                        answer: json::shown(&answer),
                    })?;
                if let Some(expected) = config.expected_chain_id {
                    if expected != id {
                        return Err(EthereumError::WrongChain {
                            url: endpoint.shown().to_string(),
                            expected,
                            got: id,
                        });
                    }
                }
                (Some(Arc::new(t)), id, Connection::Connected)
            }
            Err(failure) => match config.expected_chain_id {
                Some(id) => {
                    tracing::warn!(url = %endpoint, error = %failure,
                        "Ethereum node unreachable; starting disconnected and retrying");
                    (
                        None,
                        id,
                        Connection::Disconnected {
                            error: failure.to_string(),
                        },
                    )
                }
                None => {
                    return Err(EthereumError::Unreachable {
                        url: endpoint.shown().to_string(),
                        reason: failure.to_string(),
                    })
                }
            },
        };
        let (blocks, _) = broadcast::channel(BLOCK_CHANNEL_CAPACITY);
        let log_chunk = Mutex::new(logs::ChunkSize::new(config.log_chunk_blocks));
        Ok(EthereumChain {
            inner: Arc::new(Inner {
                endpoint,
                chain_id,
                transport: Mutex::new(transport),
                connecting: tokio::sync::Mutex::new(()),
                status: Mutex::new(ChainStatus {
                    chain_id: Some(chain_id),
                    connection: status,
                    rpc_latency_us: None,
                }),
                wrong_chain: Mutex::new(None),
                blocks,
                recent: Mutex::new(RecentBlocks::new()),
                arrivals: Mutex::new(VecDeque::new()),
                watching: AtomicBool::new(false),
                cancel: CancellationToken::new(),
                cache: cache.map(OnceLock::from).unwrap_or_default(),
                log_chunk,
                has_code: Mutex::new(HashSet::new()),
                warned: Mutex::new(HashSet::new()),
                latency_observer: OnceLock::new(),
                config,
            }),
        })
    }

    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    /// The RPC endpoint, in a form safe to show.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    pub fn config(&self) -> &EthereumConfig {
        &self.inner.config
    }

    /// Gives discovery a cache, when none was given to `connect` (the history file it lives
    /// in is named after the chain id, known only once connected). A cache already set stays.
    pub fn attach_cache(&self, cache: Arc<dyn DiscoveryCache>) {
        let _ = self.inner.cache.set(cache);
    }

    /// Stops the head watch and every pending action wait.
    pub fn stop(&self) {
        self.inner.cancel.cancel();
    }

    /// When the head `number` arrived from the node (kept for the last few hundred heads).
    pub fn head_arrival(&self, number: u64) -> Option<Instant> {
        lock(&self.inner.arrivals)
            .iter()
            .rev()
            .find(|(n, _)| *n == number)
            .map(|(_, t)| *t)
    }

    /// The highest block the head watch has seen.
    pub fn watched_head(&self) -> Option<u64> {
        lock(&self.inner.recent).tip().map(RpcHeader::number)
    }
}

/// Why a watch session ended.
struct SessionEnd {
    reason: String,
    /// Heads were delivered before it ended: the next attempt starts with a short delay.
    progressed: bool,
}

impl Inner {
    fn warn_once(&self, key: &'static str, message: &str) {
        if lock(&self.warned).insert(key) {
            tracing::warn!("{message}");
        }
    }

    fn set_connection(&self, connection: Connection) {
        lock(&self.status).connection = connection;
    }

    fn current_transport(&self) -> Option<Arc<Transport>> {
        lock(&self.transport).clone()
    }

    async fn transport(&self) -> Result<Arc<Transport>, RpcFailure> {
        if let Some(t) = self.current_transport() {
            return Ok(t);
        }
        let _guard = self.connecting.lock().await;
        if let Some(t) = self.current_transport() {
            return Ok(t);
        }
        let t = Arc::new(Transport::connect(&self.endpoint, self.config.request_timeout).await?);
        *lock(&self.transport) = Some(t.clone());
        Ok(t)
    }

    /// One call, no chain check; updates latency and connection state.
    async fn raw_call(&self, method: &str, params: Value) -> Result<Value, RpcFailure> {
        let transport = match self.transport().await {
            Ok(t) => t,
            Err(f) => {
                self.set_connection(Connection::Disconnected {
                    error: f.to_string(),
                });
                return Err(f);
            }
        };
        let started = Instant::now();
        let result = transport
            .request(&self.endpoint, method, &params, self.config.request_timeout)
            .await;
        match &result {
            Ok(_) | Err(RpcFailure::Node { .. }) => {
                let elapsed = started.elapsed();
                if let Some(observe) = self.latency_observer.get() {
                    observe(elapsed);
                }
                let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                // Only the head watch says "connected": an answer to one call does not
                // mean new heads are flowing.
                lock(&self.status).rpc_latency_us = Some(us);
            }
            Err(f) => {
                // Forget this connection (if it is still the current one) so the next call
                // opens a new one.
                {
                    let mut current = lock(&self.transport);
                    if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &transport)) {
                        *current = None;
                    }
                }
                self.set_connection(Connection::Disconnected {
                    error: f.to_string(),
                });
            }
        }
        result
    }

    /// A call on behalf of the engine: refused while the endpoint serves the wrong chain.
    async fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        if let Some(why) = lock(&self.wrong_chain).clone() {
            return Err(ChainError::Unavailable(why));
        }
        self.raw_call(method, params)
            .await
            .map_err(|f| self.chain_error(method, f))
    }

    fn chain_error(&self, method: &str, failure: RpcFailure) -> ChainError {
        let url = self.endpoint.shown();
        match &failure {
            RpcFailure::Node { message, .. } if message.contains("revert") => {
                ChainError::Invalid(format!("{url}: {method}: {failure}"))
            }
            RpcFailure::Node { .. } | RpcFailure::Transport(_) | RpcFailure::Timeout(_) => {
                ChainError::Unavailable(format!("{url}: {method}: {failure}"))
            }
            RpcFailure::Garbage(_) => ChainError::Invalid(format!("{url}: {method}: {failure}")),
        }
    }

    async fn chain_id_now(&self) -> Result<u64, String> {
        let answer = self
            .raw_call("eth_chainId", json!([]))
            .await
            .map_err(|f| f.to_string())?;
        answer
            .as_str()
            .and_then(|s| s.strip_prefix("0x"))
            .and_then(|d| json::parse_quantity(d).ok())
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| format!("eth_chainId answered {}", json::shown(&answer)))
    }

    /// The header at `number`, `None` if the node has no such block.
    async fn header_by_number(&self, number: u64) -> Result<Option<RpcHeader>, ChainError> {
        let v = self
            .call(
                "eth_getBlockByNumber",
                json!([json::to_quantity(number), false]),
            )
            .await?;
        self.header_from(v, &format!("block {number}"))
    }

    async fn header_by_hash(&self, hash: &Hash32) -> Result<Option<RpcHeader>, ChainError> {
        let v = self
            .call("eth_getBlockByHash", json!([format!("0x{hash}"), false]))
            .await?;
        self.header_from(v, &format!("block 0x{hash}"))
    }

    async fn latest_header(&self) -> Result<RpcHeader, ChainError> {
        let v = self
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        self.header_from(v, "the latest block")?.ok_or_else(|| {
            ChainError::Invalid(format!(
                "{}: the node has no latest block",
                self.endpoint.shown()
            ))
        })
    }

    fn header_from(&self, v: Value, what: &str) -> Result<Option<RpcHeader>, ChainError> {
        if v.is_null() {
            return Ok(None);
        }
        RpcHeader::from_json(&v)
            .map(Some)
            .map_err(|e| ChainError::Invalid(format!("{}: {what}: {e}", self.endpoint.shown())))
    }

    fn head_number(&self) -> u64 {
        lock(&self.recent).tip().map_or(0, RpcHeader::number)
    }

    fn record_arrival(&self, number: u64, at: Instant) {
        let mut arrivals = lock(&self.arrivals);
        arrivals.push_back((number, at));
        while arrivals.len() > 512 {
            arrivals.pop_front();
        }
    }

    /// Links a new head to the known chain (fetching missing ancestors), records it and
    /// announces what the window watch should see (see `heads`).
    async fn ingest(&self, head: RpcHeader) -> Result<(), ChainError> {
        let mut segment = vec![head];
        loop {
            let Some(oldest) = segment.last() else {
                return Ok(());
            };
            let link = lock(&self.recent).link(oldest);
            match link {
                Link::Known => {
                    if segment.len() == 1 {
                        return Ok(());
                    }
                    // The walk back reached a block we already have: it anchors the rest.
                    segment.pop();
                    break;
                }
                Link::Linked => break,
                Link::Unanchored => {
                    self.drop_stale_blocks().await?;
                    break;
                }
                Link::NeedParent { number, hash } => {
                    if segment.len() >= MAX_BACKFILL {
                        self.drop_stale_blocks().await?;
                        break;
                    }
                    // A node that cannot produce the parent (a chain whose genesis is not
                    // block 0, or a parent pruned away) leaves nothing to link to.
                    let Some(parent) = self.header_by_hash(&hash).await? else {
                        tracing::debug!(block = number + 1, "parent unknown to the node");
                        self.drop_stale_blocks().await?;
                        break;
                    };
                    if parent.number() != number {
                        return Err(ChainError::Invalid(format!(
                            "{}: block 0x{hash} has number {}, expected {number}",
                            self.endpoint.shown(),
                            parent.number()
                        )));
                    }
                    segment.push(parent);
                }
            }
        }
        segment.reverse();
        let (first, last) = match (segment.first(), segment.last()) {
            (Some(f), Some(l)) => (f.number(), l.number()),
            _ => return Ok(()),
        };
        let old_tip = self.head_number();
        if !lock(&self.recent).is_empty() && first <= old_tip {
            tracing::info!(
                fork_point = first.saturating_sub(1),
                old_tip,
                new_tip = last,
                "chain reorganisation: re-announcing the new branch"
            );
        } else if last > old_tip.saturating_add(heads::GAP_ANNOUNCE_LIMIT) && old_tip > 0 {
            tracing::info!(
                from = old_tip,
                to = last,
                "caught up over a gap; the window watch sees a jump"
            );
        }
        let announce = lock(&self.recent).apply(segment);
        for block in announce {
            // No subscriber is not an error.
            let _ = self.blocks.send(block);
        }
        Ok(())
    }

    /// Called when a new head cannot be linked to what we keep: if our tip is no longer on
    /// the node's chain (a deep reorg, or a node restarted as a new chain), forget it all.
    async fn drop_stale_blocks(&self) -> Result<(), ChainError> {
        let tip = lock(&self.recent).tip().map(|t| (t.number(), t.hash));
        let Some((number, hash)) = tip else {
            return Ok(());
        };
        let current = self.header_by_number(number).await?;
        if current.as_ref().map(|h| h.hash) != Some(hash) {
            tracing::warn!(
                block = number,
                "the node's chain no longer has the blocks this node saw; starting over"
            );
            lock(&self.recent).clear();
        }
        Ok(())
    }

    /// Fetches the head and ingests it if new.
    async fn catch_up(&self) -> Result<(), ChainError> {
        let latest = self.latest_header().await?;
        if latest.number() > self.head_number() {
            self.record_arrival(latest.number(), Instant::now());
        }
        self.ingest(latest).await
    }

    /// The head watch: sessions with backoff until cancelled.
    async fn watch(self: Arc<Self>) {
        let mut backoff = self.config.reconnect_min;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let end = match self.session().await {
                Ok(()) => return,
                Err(end) => end,
            };
            tracing::warn!(url = %self.endpoint, error = %end.reason,
                retry_in = ?backoff, "Ethereum head watch interrupted; retrying");
            self.set_connection(Connection::Disconnected {
                error: end.reason.clone(),
            });
            if end.progressed {
                backoff = self.config.reconnect_min;
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.config.reconnect_max);
        }
    }

    /// One connection's worth of head watching. `Ok` only when cancelled.
    async fn session(&self) -> Result<(), SessionEnd> {
        let mut progressed = false;
        let end = |reason: String, progressed: bool| SessionEnd { reason, progressed };
        // A WebSocket session gets a fresh socket: the old one is what failed.
        if self.endpoint.kind() == EndpointKind::Ws {
            let fresh = Transport::connect(&self.endpoint, self.config.request_timeout)
                .await
                .map_err(|f| end(f.to_string(), false))?;
            *lock(&self.transport) = Some(Arc::new(fresh));
        }
        let id = self.chain_id_now().await.map_err(|e| end(e, false))?;
        if id != self.chain_id {
            let why = format!(
                "wrong chain: the node at {} now serves chain {id}, not {}",
                self.endpoint, self.chain_id
            );
            *lock(&self.wrong_chain) = Some(why.clone());
            return Err(end(why, false));
        }
        *lock(&self.wrong_chain) = None;

        match self.endpoint.kind() {
            EndpointKind::Ws => {
                let transport = self
                    .current_transport()
                    .ok_or_else(|| end("connection lost".into(), false))?;
                let Some(provider) = transport.ws() else {
                    return Err(end("not a WebSocket connection".into(), false));
                };
                let mut stream = provider
                    .subscribe::<_, Value>(["newHeads"])
                    .await
                    .map_err(|e| end(self.endpoint.scrub(&format!("eth_subscribe: {e}")), false))?;
                // Subscribed first, then caught up: nothing falls between the two.
                self.catch_up()
                    .await
                    .map_err(|e| end(e.to_string(), false))?;
                self.set_connection(Connection::Connected);
                loop {
                    let next = tokio::select! {
                        _ = self.cancel.cancelled() => return Ok(()),
                        n = tokio::time::timeout(self.config.stale_head_after, stream.next()) => n,
                    };
                    match next {
                        Ok(Some(value)) => {
                            let arrived = Instant::now();
                            let header = match RpcHeader::from_json(&value) {
                                Ok(h) => h,
                                // Some nodes send trimmed headers: fetch the full one.
                                Err(e) => {
                                    let hash = value
                                        .get("hash")
                                        .and_then(|h| serde_json::from_value(h.clone()).ok())
                                        .and_then(|s: String| s.parse::<Hash32>().ok())
                                        .ok_or_else(|| {
                                            end(
                                                format!("unusable newHeads notification: {e}"),
                                                progressed,
                                            )
                                        })?;
                                    self.header_by_hash(&hash)
                                        .await
                                        .map_err(|e| end(e.to_string(), progressed))?
                                        .ok_or_else(|| {
                                            end(
                                                format!("announced block 0x{hash} is unknown"),
                                                progressed,
                                            )
                                        })?
                                }
                            };
                            self.record_arrival(header.number(), arrived);
                            self.ingest(header)
                                .await
                                .map_err(|e| end(e.to_string(), progressed))?;
                            // Also repairs a "disconnected" left by a failed engine call.
                            self.set_connection(Connection::Connected);
                            progressed = true;
                        }
                        Ok(None) => {
                            return Err(end(
                                "the newHeads subscription ended: connection lost".into(),
                                progressed,
                            ))
                        }
                        // Quiet for a while: make sure the connection still answers.
                        Err(_) => {
                            self.catch_up()
                                .await
                                .map_err(|e| end(e.to_string(), progressed))?;
                            self.set_connection(Connection::Connected);
                        }
                    }
                }
            }
            EndpointKind::Http => loop {
                self.catch_up()
                    .await
                    .map_err(|e| end(e.to_string(), progressed))?;
                self.set_connection(Connection::Connected);
                progressed = true;
                tokio::select! {
                    _ = self.cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                }
            },
        }
    }

    /// The code check behind "is this contract deployed here?", once per address.
    async fn ensure_code(
        &self,
        address: Address,
        name: &str,
        flag: &str,
    ) -> Result<(), ChainError> {
        if lock(&self.has_code).contains(&address) {
            return Ok(());
        }
        let code = self
            .call("eth_getCode", json!([address.to_checksum(), "latest"]))
            .await?;
        let empty = code
            .as_str()
            .map(|s| s.trim_start_matches("0x").is_empty())
            .unwrap_or(true);
        if empty {
            return Err(ChainError::Invalid(format!(
                "no {name} contract at {address} on chain {}: check {flag} (or --network)",
                self.chain_id
            )));
        }
        lock(&self.has_code).insert(address);
        Ok(())
    }

    /// `eth_call` at a block; the raw return data.
    async fn eth_call(
        &self,
        to: Address,
        data: Vec<u8>,
        block: u64,
        what: &str,
    ) -> Result<Vec<u8>, ChainError> {
        let v = self
            .call(
                "eth_call",
                json!([
                    {"to": to.to_checksum(), "data": format!("0x{}", hex::encode(data))},
                    json::to_quantity(block)
                ]),
            )
            .await?;
        let wrapped = json!({ "result": v });
        json::bytes(&wrapped, "result")
            .map_err(|e| ChainError::Invalid(format!("{what} at {to}: {e}")))
    }

    /// Logs of `address` matching `topics` (`None` = any) in `[from, to]`, oldest first,
    /// fetched in ranges the node accepts.
    async fn logs(
        &self,
        address: Address,
        topics: &[Option<Hash32>],
        from: u64,
        to: u64,
    ) -> Result<Vec<contracts::Log>, ChainError> {
        let topics_json: Vec<Value> = topics
            .iter()
            .map(|t| match t {
                Some(h) => json!(format!("0x{h}")),
                None => Value::Null,
            })
            .collect();
        let mut out = Vec::new();
        let mut start = from;
        let mut backoff = logs::Backoff::new(
            self.config.rate_limit_backoff_min,
            self.config.rate_limit_backoff_max,
        );
        while start <= to {
            let chunk = lock(&self.log_chunk).current();
            let end = start.saturating_add(chunk - 1).min(to);
            let span = end - start + 1;
            let filter = json!([{
                "address": address.to_checksum(),
                "topics": topics_json,
                "fromBlock": json::to_quantity(start),
                "toBlock": json::to_quantity(end),
            }]);
            match self.raw_call("eth_getLogs", filter).await {
                Ok(Value::Array(items)) => {
                    for item in &items {
                        out.push(contracts::Log::from_json(item).map_err(|e| {
                            ChainError::Invalid(format!("{}: eth_getLogs: {e}", self.endpoint))
                        })?);
                    }
                    lock(&self.log_chunk).succeeded(span);
                    backoff = logs::Backoff::new(
                        self.config.rate_limit_backoff_min,
                        self.config.rate_limit_backoff_max,
                    );
                    let Some(next) = end.checked_add(1) else {
                        break;
                    };
                    start = next;
                }
                Ok(other) => {
                    return Err(ChainError::Invalid(format!(
                        "{}: eth_getLogs answered {}",
                        self.endpoint,
                        json::shown(&other)
                    )))
                }
                Err(f) => match logs::classify(&f) {
                    // Narrow the range and ask again at once: this is not about pace.
                    logs::LogsFailure::RangeTooLarge if lock(&self.log_chunk).refused(span) => {
                        tracing::debug!(span, error = %f, "eth_getLogs range refused; halving");
                    }
                    logs::LogsFailure::RateLimited => {
                        let Some(wait) = backoff.next_delay(&mut rand::rngs::OsRng) else {
                            return Err(self.chain_error("eth_getLogs", f));
                        };
                        tracing::debug!(?wait, error = %f, "eth_getLogs rate limited; backing off");
                        tokio::select! {
                            _ = self.cancel.cancelled() => {
                                return Err(ChainError::Unavailable(format!(
                                    "{}: eth_getLogs: stopped while rate limited",
                                    self.endpoint
                                )));
                            }
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                    _ => return Err(self.chain_error("eth_getLogs", f)),
                },
            }
        }
        out.sort_by_key(|l| (l.block_number, l.log_index));
        Ok(out)
    }

    /// The newest log matching `topics` at or before `to` (not before `from`), searching
    /// backwards range by range: the event sought is usually close to `to`.
    async fn last_log(
        &self,
        address: Address,
        topics: &[Option<Hash32>],
        from: u64,
        to: u64,
    ) -> Result<Option<contracts::Log>, ChainError> {
        let mut end = to;
        loop {
            let chunk = lock(&self.log_chunk).current();
            let start = end.saturating_sub(chunk - 1).max(from);
            if let Some(log) = self.logs(address, topics, start, end).await?.pop() {
                return Ok(Some(log));
            }
            if start <= from {
                return Ok(None);
            }
            end = start - 1;
        }
    }
}

#[async_trait]
impl Chain for EthereumChain {
    fn chain_key(&self) -> String {
        format!("chain-{}", self.inner.chain_id)
    }

    fn status(&self) -> ChainStatus {
        lock(&self.inner.status).clone()
    }

    async fn subscribe_blocks(&self) -> Result<BlockStream, ChainError> {
        // Subscribed before the watch starts, so the first head is not missed.
        let receiver = self.inner.blocks.subscribe();
        if !self.inner.watching.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.inner.clone().watch());
        }
        Ok(receiver)
    }

    async fn latest_block(&self) -> Result<BlockRef, ChainError> {
        Ok(self.inner.latest_header().await?.block_ref())
    }

    /// Recent blocks come from the head watch's memory, so the safe block of a window is
    /// hashed without a round trip; older ones are fetched.
    async fn block_hash(&self, number: u64, rule: BlockHashRule) -> Result<Hash32, ChainError> {
        let cached = lock(&self.inner.recent).get(number).cloned();
        let header = match cached {
            Some(h) => h,
            None => self.inner.header_by_number(number).await?.ok_or_else(|| {
                ChainError::BlockNotFound {
                    number,
                    head: self.inner.head_number(),
                }
            })?,
        };
        header.hash_under(rule).map_err(ChainError::Invalid)
    }

    async fn wallets(&self) -> Result<Vec<WalletInfo>, ChainError> {
        match &self.inner.config.wallets {
            WalletSource::Listed(list) => Ok(list.clone()),
            WalletSource::Discovered => self.inner.discover().await,
        }
    }

    async fn wallet_snapshot(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<WalletSnapshot, ChainError> {
        self.inner.snapshot(wallet, block).await
    }

    /// This node signs no Bitcoin transactions: carrying out a wallet action takes the tBTC
    /// signing client (keep-core) of the wallet's operators. What it can do honestly is watch
    /// the Bridge for the proof that the action landed: `Completed` when the Bridge records
    /// it between the start and expiry blocks, `Expired` otherwise. A heartbeat leaves no
    /// trace on the Bridge, so it always ends `Expired` (meaning "not observed").
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError> {
        self.inner.watch_action(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_addresses_parse() {
        let c = Contracts::mainnet();
        assert!(c.bridge.is_some() && c.wallet_registry.is_some() && c.sortition_pool.is_some());
    }

    #[tokio::test]
    async fn discovery_without_addresses_and_bad_urls_are_refused_before_any_traffic() {
        let err = EthereumChain::connect(EthereumConfig::new("http://127.0.0.1:1"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, EthereumError::MissingContracts(_)), "{err}");
        let mut config = EthereumConfig::new("tcp://127.0.0.1:1");
        config.wallets = WalletSource::Listed(Vec::new());
        let err = EthereumChain::connect(config, None).await.unwrap_err();
        assert!(matches!(err, EthereumError::Endpoint(_)), "{err}");
    }
}
