//! Who may connect (SPEC §11): the allowlist, the operators of wallets this node knows, and
//! keep-client's on-chain rule. The firewall runs inside the security step, right after Act3,
//! on inbound and outbound connections alike; `recheck` re-runs it on connected peers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use libp2p::identity::{PeerId, PublicKey};
use tokio::time::Instant;

use crate::net::signing::{operator_address, peer_public_key};
use crate::protocol::Address;

/// Why a peer was let in, for the logs and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted(pub String);

/// Why a peer was kept out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

#[async_trait]
pub trait Firewall: Send + Sync {
    async fn admit(&self, peer: &PublicKey) -> Result<Admitted, Refused>;
}

/// Admits the listed peers and nobody else (the bootstrap peers plus `--p2p-allow`).
#[derive(Debug, Clone, Default)]
pub struct Allowlist(pub HashSet<PeerId>);

impl Allowlist {
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.0.contains(&key.to_peer_id())
    }
}

#[async_trait]
impl Firewall for Allowlist {
    async fn admit(&self, peer: &PublicKey) -> Result<Admitted, Refused> {
        if self.contains(peer) {
            Ok(Admitted("allowlisted".into()))
        } else {
            Err(Refused("not on the allowlist".into()))
        }
    }
}

/// Admits everyone: for a devnet of tbtc-coord nodes and tests.
pub struct AdmitAll;

#[async_trait]
impl Firewall for AdmitAll {
    async fn admit(&self, _peer: &PublicKey) -> Result<Admitted, Refused> {
        Ok(Admitted("admit-all firewall".into()))
    }
}

/// Names the wallet in which an operator holds a seat (e.g. `"0x1234…"`), if any. A closure,
/// so the engine answers from its own, changing, view of the wallets.
pub type MemberLookup = Arc<dyn Fn(&Address) -> Option<String> + Send + Sync>;

/// A member lookup from a fixed map of operator address to wallet.
pub fn members_from(map: HashMap<Address, String>) -> MemberLookup {
    Arc::new(move |address| map.get(address).cloned())
}

/// keep-client's rule, implemented by the chain back end: the operator has a staking provider
/// (`WalletRegistry.operatorToStakingProvider`) whose `TokenStaking.rolesOf` names an owner.
#[async_trait]
pub trait OnChainCheck: Send + Sync {
    /// `Err` when the chain could not answer; that refuses, and is not cached.
    async fn is_recognised(&self, operator: Address) -> Result<bool, String>;
}

/// keep-client caches a yes for 12 h and a no for 1 h.
pub const CACHE_YES: Duration = Duration::from_secs(12 * 3600);
pub const CACHE_NO: Duration = Duration::from_secs(3600);
/// Bound on the cache: peers are many and cheap to invent.
const CACHE_CAP: usize = 4096;

/// An [`OnChainCheck`] behind keep-client's cache; time is tokio's, so tests pause it.
pub struct CachedCheck {
    inner: Arc<dyn OnChainCheck>,
    entries: Mutex<HashMap<Address, (bool, Instant)>>,
}

impl CachedCheck {
    pub fn new(inner: Arc<dyn OnChainCheck>) -> Self {
        CachedCheck {
            inner,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn is_recognised(&self, operator: Address) -> Result<bool, String> {
        let now = Instant::now();
        if let Ok(entries) = self.entries.lock() {
            if let Some((answer, until)) = entries.get(&operator) {
                if *until > now {
                    return Ok(*answer);
                }
            }
        }
        let answer = self.inner.is_recognised(operator).await?;
        let ttl = if answer { CACHE_YES } else { CACHE_NO };
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_CAP {
                entries.retain(|_, (_, until)| *until > now);
                if entries.len() >= CACHE_CAP {
                    entries.clear();
                }
            }
            entries.insert(operator, (answer, now + ttl));
        }
        Ok(answer)
    }
}

/// The node's firewall: allowlisted peers, then operators of wallets this node knows, then
/// (if a chain is attached) operators the chain recognises.
pub struct Rules {
    allow: Allowlist,
    members: MemberLookup,
    chain: Option<CachedCheck>,
}

impl Rules {
    pub fn new(allow: impl IntoIterator<Item = PeerId>, members: MemberLookup) -> Self {
        Rules {
            allow: Allowlist(allow.into_iter().collect()),
            members,
            chain: None,
        }
    }

    /// Adds keep-client's on-chain rule, behind its cache.
    pub fn with_chain(mut self, check: Arc<dyn OnChainCheck>) -> Self {
        self.chain = Some(CachedCheck::new(check));
        self
    }
}

#[async_trait]
impl Firewall for Rules {
    async fn admit(&self, peer: &PublicKey) -> Result<Admitted, Refused> {
        if self.allow.contains(peer) {
            return Ok(Admitted("allowlisted".into()));
        }
        let Some(address) = operator_address(peer) else {
            return Err(Refused("not a secp256k1 key, so not an operator".into()));
        };
        if let Some(wallet) = (self.members)(&address) {
            return Ok(Admitted(format!("holds a seat in wallet {wallet}")));
        }
        if let Some(chain) = &self.chain {
            return match chain.is_recognised(address).await {
                Ok(true) => Ok(Admitted("a staked operator on chain".into())),
                Ok(false) => Err(Refused("not a staked operator on chain".into())),
                Err(e) => Err(Refused(format!("the on-chain check failed: {e}"))),
            };
        }
        Err(Refused(
            "not an operator of any wallet this node knows".into(),
        ))
    }
}

/// The transport's firewall: the configured allowlist (bootstrap peers and `--p2p-allow`)
/// before the node's own rules.
pub(crate) struct Gate {
    pub allow: Allowlist,
    pub rules: Arc<dyn Firewall>,
}

#[async_trait]
impl Firewall for Gate {
    async fn admit(&self, peer: &PublicKey) -> Result<Admitted, Refused> {
        if self.allow.contains(peer) {
            return Ok(Admitted("allowlisted".into()));
        }
        self.rules.admit(peer).await
    }
}

/// keep-client re-checks connected peers every 10 minutes.
pub const RECHECK_EVERY: Duration = Duration::from_secs(600);

/// Every [`RECHECK_EVERY`], runs `firewall` on each peer `connected` names and sends those it
/// refuses to `refused` (the swarm disconnects them). Ends when `cancel` fires or the
/// receiver is gone.
pub(crate) async fn recheck(
    firewall: Arc<dyn Firewall>,
    connected: impl Fn() -> Vec<PeerId>,
    refused: tokio::sync::mpsc::Sender<(PeerId, Refused)>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        for peer in connected() {
            let Some(key) = peer_public_key(&peer) else {
                continue;
            };
            if let Err(reason) = firewall.admit(&key).await {
                tracing::info!(%peer, %reason, "re-check refused a connected peer");
                if refused.send((peer, reason)).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
