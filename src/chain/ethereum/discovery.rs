//! Wallet discovery from the tBTC v2 contracts (SPEC §9):
//! 1. the Bridge's `NewWalletRegistered` events name every wallet and its ECDSA wallet id;
//! 2. the WalletRegistry's `WalletCreated` gives the id's DKG result hash, and the
//!    `DkgResultSubmitted` with that hash gives the group: `members` without the (1-based)
//!    misbehaved seats, order kept;
//! 3. the SortitionPool's `getIDOperators` turns member ids into operators;
//! 4. the Bridge's `wallets(bytes20)` drops closed and terminated wallets.
//!
//! Incremental: what was found, and the last block scanned, is kept (JSON) in the
//! [`DiscoveryCache`] the wiring hands in (the history store's `meta` table in the app), so a
//! restart only scans the blocks since. Groups never change once
//! a wallet exists, and Closed and Terminated are final, so only the states of live wallets
//! are read again.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::abi::{topic_bytes20, AbiError};
use super::client::Inner;
use super::contracts::{self, events, DkgResult};
use crate::chain::ChainError;
use crate::protocol::leader::check_seat_count;
use crate::protocol::WalletInfo;
use crate::protocol::{Address, Hash32, WalletPkh, WalletPublicKey};

/// Bridge wallet states that never change again.
const CLOSED: u8 = 4;
const TERMINATED: u8 = 5;

/// Where discovery keeps what it found between runs: text values under text keys. Without
/// one, every start scans from the first block.
#[async_trait]
pub trait DiscoveryCache: Send + Sync {
    async fn load(&self, key: &str) -> Result<Option<String>, CacheError>;
    async fn save(&self, key: &str, value: &str) -> Result<(), CacheError>;
}

/// A cache that could not be read or written; discovery then scans again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CacheError(pub String);

/// What discovery found, as cached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct DiscoveryState {
    bridge: Address,
    wallet_registry: Address,
    sortition_pool: Address,
    /// The last block whose registrations are in `wallets`.
    scanned_to: Option<u64>,
    /// A block well below `scanned_to` and its hash: a chain without that block is another
    /// chain (a devnet restarted at the same addresses) or one reorganised past the cache,
    /// which is then scanned again.
    #[serde(default)]
    anchor: Option<(u64, Hash32)>,
    wallets: Vec<CachedWallet>,
}

/// How far below the scanned head the cache anchors itself: deeper than any reorganisation.
const CACHE_ANCHOR_DEPTH: u64 = 64;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct CachedWallet {
    pkh: WalletPkh,
    ecdsa_wallet_id: Hash32,
    registered_at: u64,
    /// Seat holders in seat order.
    operators: Vec<Address>,
    /// The group key from the DKG result, if it is a point whose HASH160 is the wallet's.
    public_key: Option<WalletPublicKey>,
    /// Set once the wallet is Closed or Terminated.
    final_state: Option<u8>,
}

impl Inner {
    fn discovery_key(bridge: &Address) -> String {
        // v2: wallets carry their public key; a v1 cache, without keys, is scanned again.
        format!("ethereum.discovery.v2.{}", bridge.to_checksum())
    }

    async fn load_discovery(&self, fresh: &DiscoveryState) -> DiscoveryState {
        let Some(cache) = self.cache.get() else {
            return fresh.clone();
        };
        match cache.load(&Self::discovery_key(&fresh.bridge)).await {
            Ok(Some(text)) => match serde_json::from_str::<DiscoveryState>(&text) {
                Ok(c)
                    if c.wallet_registry == fresh.wallet_registry
                        && c.sortition_pool == fresh.sortition_pool =>
                {
                    c
                }
                Ok(_) => fresh.clone(),
                Err(e) => {
                    tracing::warn!(error = %e, "discovery cache unreadable; scanning again");
                    fresh.clone()
                }
            },
            Ok(None) => fresh.clone(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the discovery cache; scanning again");
                fresh.clone()
            }
        }
    }

    /// Whether the chain still has the cache's anchor block, with the same hash.
    async fn anchor_holds(&self, anchor: Option<(u64, Hash32)>) -> Result<bool, ChainError> {
        let Some((number, hash)) = anchor else {
            return Ok(false);
        };
        Ok(self
            .header_by_number(number)
            .await?
            .is_some_and(|h| h.hash == hash))
    }

    async fn save_discovery(&self, state: &DiscoveryState) {
        let Some(cache) = self.cache.get() else {
            return;
        };
        let result = match serde_json::to_string(state) {
            Ok(text) => cache
                .save(&Self::discovery_key(&state.bridge), &text)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot save the discovery cache; the next start scans again");
        }
    }

    /// Every wallet the Bridge registered up to block `to`, oldest first: discovery's cache
    /// where it holds them, and a scan of the rest.
    pub(super) async fn registered_wallets(
        &self,
        bridge: Address,
        to: u64,
    ) -> Result<Vec<WalletPkh>, ChainError> {
        let c = self.config.contracts;
        let mut wallets = Vec::new();
        let mut from = self.config.first_block;
        if let (Some(wallet_registry), Some(sortition_pool)) = (c.wallet_registry, c.sortition_pool)
        {
            let fresh = DiscoveryState {
                bridge,
                wallet_registry,
                sortition_pool,
                scanned_to: None,
                anchor: None,
                wallets: Vec::new(),
            };
            let cache = self.load_discovery(&fresh).await;
            if let Some(scanned_to) = cache.scanned_to {
                if self.anchor_holds(cache.anchor).await? {
                    wallets.extend(
                        cache
                            .wallets
                            .iter()
                            .filter(|w| w.registered_at <= to)
                            .map(|w| w.pkh),
                    );
                    from = from.max(scanned_to.saturating_add(1));
                }
            }
        }
        if from <= to {
            for log in self
                .logs(
                    bridge,
                    &[Some(events::NEW_WALLET_REGISTERED.topic())],
                    from,
                    to,
                )
                .await?
            {
                let pkh = WalletPkh(topic_bytes20(log.indexed(1).map_err(|e| invalid(&e))?));
                if !wallets.contains(&pkh) {
                    wallets.push(pkh);
                }
            }
        }
        Ok(wallets)
    }

    /// Every live wallet (in which the configured operator holds a seat, if one is set).
    pub(super) async fn discover(&self) -> Result<Vec<WalletInfo>, ChainError> {
        let c = self.config.contracts;
        let (Some(bridge), Some(registry), Some(pool)) =
            (c.bridge, c.wallet_registry, c.sortition_pool)
        else {
            return Err(ChainError::Invalid(
                "wallet discovery needs the Bridge, WalletRegistry and SortitionPool addresses"
                    .into(),
            ));
        };
        self.ensure_code(bridge, "Bridge", "--bridge").await?;
        self.ensure_code(registry, "WalletRegistry", "--wallet-registry")
            .await?;
        self.ensure_code(pool, "SortitionPool", "--sortition-pool")
            .await?;

        let fresh = DiscoveryState {
            bridge,
            wallet_registry: registry,
            sortition_pool: pool,
            scanned_to: None,
            anchor: None,
            wallets: Vec::new(),
        };
        let mut cache = self.load_discovery(&fresh).await;
        if cache.scanned_to.is_some() && !self.anchor_holds(cache.anchor).await? {
            tracing::warn!(
                "the discovery cache does not match this chain (another chain at the same \
                 addresses, or a reorganisation); scanning again"
            );
            cache = fresh.clone();
        }
        let head = self.latest_header().await?.number();
        let from = cache
            .scanned_to
            .map_or(self.config.first_block, |b| b.saturating_add(1));
        if from <= head {
            let registered = self
                .logs(
                    bridge,
                    &[Some(events::NEW_WALLET_REGISTERED.topic())],
                    from,
                    head,
                )
                .await?;
            tracing::info!(
                from,
                to = head,
                found = registered.len(),
                "wallet discovery scanned"
            );
            for log in registered {
                let wallet_id = *log.indexed(0).map_err(|e| invalid(&e))?;
                let pkh = WalletPkh(topic_bytes20(log.indexed(1).map_err(|e| invalid(&e))?));
                if cache.wallets.iter().any(|w| w.pkh == pkh) {
                    continue;
                }
                let (operators, group_key) = self
                    .signing_group(registry, pool, &wallet_id, log.block_number, head)
                    .await
                    .map_err(|e| match e {
                        ChainError::Invalid(m) => ChainError::Invalid(format!("wallet {pkh}: {m}")),
                        other => other,
                    })?;
                let public_key = wallet_key(&group_key, &pkh);
                cache.wallets.push(CachedWallet {
                    pkh,
                    ecdsa_wallet_id: wallet_id,
                    registered_at: log.block_number,
                    operators,
                    public_key,
                    final_state: None,
                });
            }
            cache.scanned_to = Some(head);
            let anchor = head.saturating_sub(CACHE_ANCHOR_DEPTH);
            cache.anchor = self
                .header_by_number(anchor)
                .await?
                .map(|h| (anchor, h.hash));
        }
        for w in cache.wallets.iter_mut().filter(|w| w.final_state.is_none()) {
            let state = self.bridge_wallet(bridge, &w.pkh, head).await?.state;
            if state == CLOSED || state == TERMINATED {
                w.final_state = Some(state);
            }
        }
        self.save_discovery(&cache).await;

        let operator = self.config.operator;
        let found: Vec<WalletInfo> = cache
            .wallets
            .iter()
            .filter(|w| w.final_state.is_none())
            .filter(|w| operator.is_none_or(|op| w.operators.contains(&op)))
            .map(|w| WalletInfo {
                wallet: w.pkh,
                public_key: w.public_key,
                operators: w.operators.clone(),
            })
            .collect();
        if found.is_empty() {
            let total = cache.wallets.len();
            let live = cache
                .wallets
                .iter()
                .filter(|w| w.final_state.is_none())
                .count();
            if let Some(op) = operator {
                tracing::warn!(%op, total, live,
                    "discovery found no live wallet in which this operator holds a seat");
            }
        }
        Ok(found)
    }

    /// The seat holders of the wallet with ECDSA id `wallet_id`, registered at `registered_at`,
    /// and the group key of its DKG result; `head` is where the sortition pool is read.
    async fn signing_group(
        &self,
        registry: Address,
        pool: Address,
        wallet_id: &Hash32,
        registered_at: u64,
        head: u64,
    ) -> Result<(Vec<Address>, Vec<u8>), ChainError> {
        let first = self.config.first_block;
        let created = self
            .last_log(
                registry,
                &[Some(events::WALLET_CREATED.topic()), Some(*wallet_id)],
                first,
                registered_at,
            )
            .await?
            .ok_or_else(|| {
                ChainError::Invalid(format!(
                    "no WalletCreated event for ECDSA wallet 0x{wallet_id} at or before block {registered_at}"
                ))
            })?;
        let result_hash = *created.indexed(1).map_err(|e| invalid(&e))?;
        let submitted = self
            .last_log(
                registry,
                &[
                    Some(events::DKG_RESULT_SUBMITTED.topic()),
                    Some(result_hash),
                ],
                first,
                created.block_number,
            )
            .await?
            .ok_or_else(|| {
                ChainError::Invalid(format!(
                    "no DkgResultSubmitted event for result 0x{result_hash} at or before block {}",
                    created.block_number
                ))
            })?;
        let result = DkgResult::decode(&submitted.data).map_err(|e| invalid(&e))?;
        let ids = result.signing_members();
        if ids.is_empty() {
            return Err(ChainError::Invalid(format!(
                "DKG result 0x{result_hash} leaves no signing members"
            )));
        }
        check_seat_count(ids.len())
            .map_err(|e| ChainError::Invalid(format!("DKG result 0x{result_hash}: {e}")))?;
        let data = self
            .eth_call(
                pool,
                contracts::get_id_operators_call(&ids),
                // At the head, not at the creation block: a full (non-archive) node only
                // answers calls on recent state, and member ids never change operator.
                head,
                "SortitionPool.getIDOperators",
            )
            .await?;
        let operators = contracts::decode_operators(&data).map_err(|e| invalid(&e))?;
        if operators.len() != ids.len() {
            return Err(ChainError::Invalid(format!(
                "getIDOperators returned {} operators for {} member ids",
                operators.len(),
                ids.len()
            )));
        }
        if let Some(k) = operators.iter().position(|a| *a == Address::default()) {
            return Err(ChainError::Invalid(format!(
                "member id {} (seat {}) has no operator in the sortition pool",
                ids[k],
                k + 1
            )));
        }
        Ok((operators, result.group_pub_key))
    }
}

/// A DKG result's 64-byte group key as the wallet's public key, if it is a point on the curve
/// that hashes to the wallet's PKH; otherwise `None`, said once in the log (such a wallet
/// cannot be coordinated over the peer network, which names its topic after the key).
fn wallet_key(group_pub_key: &[u8], pkh: &WalletPkh) -> Option<WalletPublicKey> {
    let mut uncompressed = [0x04; 65];
    let key = (group_pub_key.len() == 64)
        .then(|| {
            uncompressed[1..].copy_from_slice(group_pub_key);
            WalletPublicKey::from_uncompressed(uncompressed).ok()
        })
        .flatten()
        .filter(|key| key.pkh() == *pkh);
    if key.is_none() {
        tracing::warn!(wallet = %pkh, bytes = group_pub_key.len(),
            "the DKG result's group key is not this wallet's public key; the wallet has no coordination topic");
    }
    key
}

fn invalid(e: &AbiError) -> ChainError {
    ChainError::Invalid(e.to_string())
}
