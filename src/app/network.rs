//! The peer network of a node in Ethereum mode (SPEC §11): what `--p2p-listen`,
//! `--p2p-peers`, `--p2p-allow` and the `[network]` section ask for, and starting the libp2p
//! transport with the firewall's rules for the wallets this node knows.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::bail;
use libp2p::{Multiaddr, PeerId};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::NetworkArgs;
use crate::cli::UsageError;
use crate::config::NetworkSection;
use crate::engine::EventBus;
use crate::net::p2p::firewall::{members_from, OnChainCheck, Rules};
use crate::net::p2p::{P2pConfig, P2pError, P2pNetwork};
use crate::net::signing::OperatorKey;
use crate::net::BroadcastChannel;
use crate::protocol::WalletInfo;
use crate::values::{parse_listen_addr, parse_operator_peer_id, parse_peer_addr};

/// keep-client's port.
pub const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/3919";

/// The peer network a node joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNetworkSettings {
    pub listen: Multiaddr,
    pub peers: Vec<Multiaddr>,
    pub allow: Vec<PeerId>,
}

impl PeerNetworkSettings {
    /// Flags win over the file. `None` if neither asks for the peer network.
    pub fn resolve(
        args: &NetworkArgs,
        file: &NetworkSection,
    ) -> anyhow::Result<Option<PeerNetworkSettings>> {
        let flags = args.p2p_listen.is_some() || !args.p2p_peers.is_empty();
        if !flags && args.p2p_allow.is_empty() && file.is_empty() {
            return Ok(None);
        }
        if !flags && file.listen.is_none() && file.peers.is_empty() {
            bail!("--p2p-allow (or network.allow) needs --p2p-listen or --p2p-peers: it admits peers to a peer network this node would not join");
        }
        let listen = match (&args.p2p_listen, &file.listen) {
            (Some(flag), _) => flag.clone(),
            (None, Some(text)) => parse_listen_addr(text).map_err(anyhow::Error::msg)?,
            (None, None) => DEFAULT_LISTEN.parse()?,
        };
        let peers = if args.p2p_peers.is_empty() {
            file.peers
                .iter()
                .map(|p| parse_peer_addr(p).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?
        } else {
            args.p2p_peers.clone()
        };
        let mut allow = args.p2p_allow.clone();
        for text in &file.allow {
            allow.push(parse_operator_peer_id(text).map_err(anyhow::Error::msg)?);
        }
        Ok(Some(PeerNetworkSettings {
            listen,
            peers,
            allow,
        }))
    }
}

/// Joins the peer network as `key` (an observer passes a throwaway key, and never sends).
/// Every wallet must have its public key, which names its topic. The firewall admits the
/// allowlist, the operators of `wallets`, and those `on_chain` recognises.
pub async fn start(
    settings: &PeerNetworkSettings,
    key: &OperatorKey,
    wallets: &[WalletInfo],
    on_chain: Option<Arc<dyn OnChainCheck>>,
    bus: &EventBus,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<Arc<dyn BroadcastChannel>> {
    if let Some(w) = wallets.iter().find(|w| w.public_key.is_none()) {
        return Err(UsageError(format!(
            "wallet {} has no public key, and the peer network names its topic after it: \
             add public_key = \"0x04…\" to its entry in the wallets file",
            w.wallet
        ))
        .into());
    }
    let mut members = HashMap::new();
    for w in wallets {
        for operator in &w.operators {
            members
                .entry(*operator)
                .or_insert_with(|| format!("0x{}", w.wallet));
        }
    }
    let mut rules = Rules::new(settings.allow.iter().copied(), members_from(members));
    if let Some(check) = on_chain {
        rules = rules.with_chain(check);
    }
    let mut config = P2pConfig::new(
        vec![settings.listen.clone()],
        settings.peers.clone(),
        Arc::new(rules),
    );
    config.allow = settings.allow.clone();
    let (network, _task) = P2pNetwork::start(key.keypair().clone(), config, cancel.clone(), tasks)
        .await
        .map_err(|e| match e {
            P2pError::Listen { addr, reason } => {
                anyhow::Error::new(UsageError(format!("--p2p-listen {addr}: {reason}")))
            }
            other => anyhow::Error::new(other),
        })?;
    tracing::info!(peer_id = %network.local_peer_id(), listen = ?network.listen_addrs(),
        bootstrap = settings.peers.len(), "peer network started");
    tasks.spawn(crate::engine::peer_events::announce(
        network.clone(),
        bus.clone(),
        cancel,
    ));
    Ok(Arc::new(network))
}
