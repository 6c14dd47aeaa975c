//! The RPC client: [`EthereumChain`] and the state its clones share. It opens (and reopens)
//! the connection, checks that the node serves the expected chain, and makes every call the
//! rest of the back end needs, keeping the status the console and the metrics show up to date.
//! The head watch, the log reader, discovery and the Bridge reads build on the calls here.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bridge::BridgeParameters;
use super::config::{EthereumConfig, EthereumError, WalletSource};
use super::discovery::DiscoveryCache;
use super::header::RpcHeader;
use super::heads::RecentBlocks;
use super::json;
use super::logs;
use super::rpc::{Endpoint, RpcFailure, RpcTransport};
use super::scan_cache::ScanCache;
use crate::chain::ChainError;
use crate::protocol::{Address, Hash32};
use crate::protocol::{BlockRef, ChainConnection, ChainStatus};

/// Capacity of the new-head channel: room for a burst of mined blocks (`anvil_mine`).
pub const BLOCK_CHANNEL_CAPACITY: usize = 4096;

/// A chain back end on an Ethereum JSON-RPC node. Cheap to clone: clones share one connection
/// and one head watch.
#[derive(Clone)]
pub struct EthereumChain {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) config: EthereumConfig,
    pub(super) endpoint: Endpoint,
    pub(super) chain_id: u64,
    pub(super) transport: Mutex<Option<Arc<RpcTransport>>>,
    /// Serialises connection attempts of callers that find no transport.
    pub(super) connecting: tokio::sync::Mutex<()>,
    pub(super) status: Mutex<ChainStatus>,
    /// Set while the endpoint serves another chain: every call is refused.
    pub(super) wrong_chain: Mutex<Option<String>>,
    pub(super) blocks: broadcast::Sender<BlockRef>,
    pub(super) recent: Mutex<RecentBlocks>,
    pub(super) watching: AtomicBool,
    pub(super) cancel: CancellationToken,
    /// The head watch, so that a shutdown can wait for it.
    pub(super) tasks: TaskTracker,
    /// Where discovery caches what it found (see `discovery`).
    pub(super) cache: OnceLock<Arc<dyn DiscoveryCache>>,
    /// The block span of the next `eth_getLogs` request, shared by every scan.
    pub(super) log_chunk: Mutex<logs::ChunkSize>,
    /// The Bridge's parameters as of the last block a snapshot read them at: the same for
    /// every wallet of that block.
    pub(super) bridge_parameters: Mutex<Option<(u64, BridgeParameters)>>,
    /// What snapshot scans keep between windows.
    pub(super) scan_cache: Mutex<ScanCache>,
    /// Contract addresses already seen to hold code.
    pub(super) has_code: Mutex<HashSet<Address>>,
    /// Warnings given once.
    pub(super) warned: Mutex<HashSet<&'static str>>,
    /// Told each answered request's latency (the metrics endpoint's histogram).
    pub(super) latency_observer: OnceLock<LatencyObserver>,
    /// The operator's key, when the node signs (see `transactions`).
    pub(super) signer: OnceLock<ethers_signers::LocalWallet>,
}

/// Told the latency of every JSON-RPC request the node answered (errors from the node
/// included; timeouts and transport failures not).
pub type LatencyObserver = Arc<dyn Fn(std::time::Duration) + Send + Sync>;

/// A std mutex whose data stays consistent when a holder panics (every critical section
/// here is a whole, synchronous step), so poisoning is ignored.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
    /// retrying. The head watch starts with the first
    /// [`Chain::subscribe_blocks`](crate::chain::Chain::subscribe_blocks). `cache` keeps
    /// discovery results between runs.
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
            let t = RpcTransport::connect(&endpoint, timeout).await?;
            let v = t
                .request(&endpoint, "eth_chainId", &json!([]), timeout)
                .await?;
            Ok::<_, RpcFailure>((t, v))
        };
        let (transport, chain_id, status) = match probe.await {
            Ok((t, answer)) => {
                let id = chain_id_of(&answer).ok_or_else(|| EthereumError::BadChainId {
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
                (Some(Arc::new(t)), id, ChainConnection::Connected)
            }
            Err(failure) => match config.expected_chain_id {
                Some(id) => {
                    tracing::warn!(url = %endpoint, error = %failure,
                        "Ethereum node unreachable; starting disconnected and retrying");
                    (
                        None,
                        id,
                        ChainConnection::Disconnected {
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
                    bitcoin: None,
                }),
                wrong_chain: Mutex::new(None),
                blocks,
                recent: Mutex::new(RecentBlocks::new()),
                watching: AtomicBool::new(false),
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
                cache: cache.map(OnceLock::from).unwrap_or_default(),
                log_chunk,
                bridge_parameters: Mutex::new(None),
                scan_cache: Mutex::new(ScanCache::default()),
                has_code: Mutex::new(HashSet::new()),
                warned: Mutex::new(HashSet::new()),
                latency_observer: OnceLock::new(),
                signer: OnceLock::new(),
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

    /// Stops the head watch and every pending action wait, and waits for the watch to end.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

/// The chain id in an `eth_chainId` answer: a `0x` quantity that fits in 64 bits.
fn chain_id_of(answer: &Value) -> Option<u64> {
    answer
        .as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|d| json::parse_quantity(d).ok())
        .and_then(|v| u64::try_from(v).ok())
}

impl Inner {
    pub(super) fn warn_once(&self, key: &'static str, message: &str) {
        if lock(&self.warned).insert(key) {
            tracing::warn!("{message}");
        }
    }

    pub(super) fn set_connection(&self, connection: ChainConnection) {
        lock(&self.status).connection = connection;
    }

    pub(super) fn current_transport(&self) -> Option<Arc<RpcTransport>> {
        lock(&self.transport).clone()
    }

    async fn transport(&self) -> Result<Arc<RpcTransport>, RpcFailure> {
        if let Some(t) = self.current_transport() {
            return Ok(t);
        }
        let _guard = self.connecting.lock().await;
        if let Some(t) = self.current_transport() {
            return Ok(t);
        }
        let t = Arc::new(RpcTransport::connect(&self.endpoint, self.config.request_timeout).await?);
        *lock(&self.transport) = Some(t.clone());
        Ok(t)
    }

    /// One call, no chain check; updates latency and connection state.
    pub(super) async fn raw_call(&self, method: &str, params: Value) -> Result<Value, RpcFailure> {
        let transport = match self.transport().await {
            Ok(t) => t,
            Err(f) => {
                self.set_connection(ChainConnection::Disconnected {
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
                self.set_connection(ChainConnection::Disconnected {
                    error: f.to_string(),
                });
            }
        }
        result
    }

    /// A call on behalf of the engine: refused while the endpoint serves the wrong chain.
    pub(super) async fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        if let Some(why) = lock(&self.wrong_chain).clone() {
            return Err(ChainError::Unavailable(why));
        }
        self.raw_call(method, params)
            .await
            .map_err(|f| self.chain_error(method, f))
    }

    pub(super) fn chain_error(&self, method: &str, failure: RpcFailure) -> ChainError {
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

    pub(super) async fn chain_id_now(&self) -> Result<u64, String> {
        let answer = self
            .raw_call("eth_chainId", json!([]))
            .await
            .map_err(|f| f.to_string())?;
        chain_id_of(&answer).ok_or_else(|| format!("eth_chainId answered {}", json::shown(&answer)))
    }

    /// The header at `number`, `None` if the node has no such block.
    pub(super) async fn header_by_number(
        &self,
        number: u64,
    ) -> Result<Option<RpcHeader>, ChainError> {
        let v = self
            .call(
                "eth_getBlockByNumber",
                json!([json::to_quantity(number), false]),
            )
            .await?;
        self.header_from(v, &format!("block {number}"))
    }

    pub(super) async fn header_by_hash(
        &self,
        hash: &Hash32,
    ) -> Result<Option<RpcHeader>, ChainError> {
        let v = self
            .call("eth_getBlockByHash", json!([format!("0x{hash}"), false]))
            .await?;
        self.header_from(v, &format!("block 0x{hash}"))
    }

    pub(super) async fn latest_header(&self) -> Result<RpcHeader, ChainError> {
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

    /// The code check behind "is this contract deployed here?", once per address.
    pub(super) async fn ensure_code(
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
    pub(super) async fn eth_call(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_are_read_from_0x_quantities_only() {
        assert_eq!(chain_id_of(&json!("0x1")), Some(1));
        assert_eq!(chain_id_of(&json!("0x7a69")), Some(31337));
        assert_eq!(chain_id_of(&json!("0xffffffffffffffff")), Some(u64::MAX));
        for bad in [
            json!("0x10000000000000000"),
            json!("0x"),
            json!("1"),
            json!("0xzz"),
            json!(1),
            Value::Null,
        ] {
            assert_eq!(chain_id_of(&bad), None, "{bad}");
        }
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
