//! Settings: the command line and the config file resolved into what a command runs with
//! (flags win over the file, the file over defaults), and the paths derived from them: the
//! history of each chain, its lock and its control socket.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};

use super::{lock_history, metrics_endpoint, network, EthereumSettings, HistoryLock};
use crate::cli::{ChainArgs, NodeArgs, UsageError};
use crate::config::{default_data_dir, parse_block_time, FileConfig};
use crate::devnet::{DevnetConfig, DevnetNetworkConfig, DevnetTransport};
use crate::engine::NodeConfig;
use crate::protocol::ProposalParams;
use crate::store::Store;

/// Everything a command needs to know about the chain and the history.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub devnet: DevnetConfig,
    pub devnet_transport: DevnetTransport,
    pub fault_rate: f64,
    pub node: NodeConfigSettings,
    /// Ethereum mode: the chain id the node must serve; names the history file.
    pub chain_id: Option<u64>,
    /// Ethereum mode (`--rpc-url`) instead of the devnet.
    pub ethereum: Option<EthereumSettings>,
    /// The config file's `[ethereum]` section, for commands that read their Ethereum flags
    /// themselves (`dry-run`, `verify-evidence`).
    pub ethereum_file: crate::config::EthereumSection,
    /// The config file's `[bitcoin]` section, likewise.
    pub bitcoin_file: crate::config::BitcoinSection,
    /// The peer network, if the node joins one.
    pub peer_network: Option<network::PeerNetworkSettings>,
    /// The metrics endpoint, if asked for.
    pub metrics: Option<metrics_endpoint::MetricsSettings>,
}

#[derive(Debug, Clone, Default)]
pub struct NodeConfigSettings {
    pub block_hash_rule: crate::protocol::BlockHashRule,
    pub btc_fee_rate: Option<u64>,
}

impl Settings {
    /// Flags win over the file, the file over defaults.
    pub fn resolve(
        file: &FileConfig,
        chain: &ChainArgs,
        run: Option<&NodeArgs>,
    ) -> anyhow::Result<Settings> {
        let data_dir = match (&chain.history.data_dir, &file.data_dir) {
            (Some(d), _) => checked_data_dir(d, "--data-dir")?,
            (None, Some(d)) => checked_data_dir(d, "the config file's data_dir")?,
            (None, None) => default_data_dir()
                .context("no home directory to keep the history in: pass --data-dir")?,
        };
        let mut devnet = DevnetConfig::default();
        if let Some(seed) = chain.history.devnet_seed.or(file.devnet.seed) {
            devnet.seed = seed;
        }
        if let Some(w) = chain.devnet_wallets.or(file.devnet.wallets) {
            devnet.wallets = w;
        }
        if let Some(o) = chain.devnet_operators.or(file.devnet.operators) {
            devnet.operators = o;
        }
        if let Some(p) = file.devnet.prague {
            devnet.prague = p;
        }
        let file_block_time = file
            .devnet
            .block_time
            .as_deref()
            .map(parse_block_time)
            .transpose()?;
        if let Some(bt) = run.and_then(|r| r.block_time).or(file_block_time) {
            devnet.block_time = bt;
        }
        let fault_rate = run
            .and_then(|r| r.devnet_fault_rate)
            .or(file.devnet.fault_rate)
            .unwrap_or(DEFAULT_FAULT_RATE);
        let devnet_transport = run
            .and_then(|r| r.devnet_transport)
            .or(file.devnet.transport)
            .unwrap_or_default();
        let ethereum = run
            .map(|r| EthereumSettings::from_args(&r.ethereum, &file.ethereum, &file.bitcoin))
            .transpose()?
            .flatten();
        if ethereum.is_some() && run.and_then(|r| r.devnet_transport).is_some() {
            bail!("--devnet-transport is for the embedded devnet; in Ethereum mode the peer network is set by --p2p-listen and --p2p-peers");
        }
        if run.is_some() && ethereum.is_none() && chain.history.chain_id.is_some() {
            bail!("--chain-id is for Ethereum mode: pass --rpc-url too");
        }
        let peer_network = match run {
            Some(r) if ethereum.is_some() => {
                network::PeerNetworkSettings::resolve(&r.network, &file.network)?
            }
            Some(r) => {
                let n = &r.network;
                if n.p2p_listen.is_some() || !n.p2p_peers.is_empty() || !n.p2p_allow.is_empty() {
                    bail!("--p2p-listen, --p2p-peers and --p2p-allow are for Ethereum mode: pass --rpc-url too");
                }
                None
            }
            None => None,
        };
        let metrics = match run {
            Some(r) => metrics_endpoint::MetricsSettings::resolve(r.metrics_addr, &file.metrics)?,
            None => None,
        };
        let settings = Settings {
            metrics,
            data_dir,
            devnet,
            devnet_transport,
            fault_rate,
            node: NodeConfigSettings {
                block_hash_rule: chain
                    .block_hash_rule
                    .or(file.block_hash_rule)
                    .unwrap_or_default(),
                btc_fee_rate: chain.btc_fee_rate.or(file.btc_fee_rate),
            },
            chain_id: chain.history.chain_id,
            ethereum,
            ethereum_file: file.ethereum.clone(),
            bitcoin_file: file.bitcoin.clone(),
            peer_network,
        };
        settings.check_socket_path()?;
        Ok(settings)
    }

    /// The control socket's path must fit a Unix socket address, checked before a node
    /// creates anything in the data directory. In Ethereum mode before the chain id is known,
    /// the shortest name (`chain-1.sock`) is checked here, and the real one once connected.
    pub fn check_socket_path(&self) -> anyhow::Result<()> {
        let path = match (&self.ethereum, self.chain_id) {
            (Some(_), None) => self.data_dir.join("chain-1.sock"),
            _ => self.socket_path(),
        };
        crate::control::check_socket_path(&path).map_err(|e| UsageError(e.to_string()))?;
        Ok(())
    }

    pub fn network_config(&self) -> DevnetNetworkConfig {
        DevnetNetworkConfig {
            devnet: self.devnet.clone(),
            fault_rate: self.fault_rate,
            node: self.node_config(),
            transport: self.devnet_transport,
        }
    }

    pub fn node_config(&self) -> NodeConfig {
        let mut params = ProposalParams::default();
        if let Some(rate) = self.node.btc_fee_rate {
            params.btc_fee_rate = rate;
        }
        NodeConfig {
            block_hash_rule: self.node.block_hash_rule,
            proposal_params: params,
            ..NodeConfig::default()
        }
    }

    /// One history database per chain.
    pub fn store_path(&self) -> PathBuf {
        match self.chain_id {
            Some(id) => self.data_dir.join(format!("chain-{id}.sqlite3")),
            None => self
                .data_dir
                .join(format!("devnet-{}.sqlite3", self.devnet.seed)),
        }
    }

    /// The node's control socket, beside its history.
    pub fn socket_path(&self) -> PathBuf {
        crate::control::socket_path(&self.store_path())
    }

    /// Takes the history's lock, for a node: see [`lock_history`].
    pub fn lock_history(&self) -> anyhow::Result<HistoryLock> {
        Ok(lock_history(&self.store_path())?)
    }

    /// Opens (and if need be creates or migrates) the history, off the async workers.
    pub async fn open_store(&self) -> anyhow::Result<Arc<Store>> {
        let path = self.store_path();
        let opening = path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&opening))
            .await
            .context("opening the history")?
            .with_context(|| format!("cannot open the history at {}", path.display()))?;
        Ok(Arc::new(store))
    }
}

/// A data directory given by the operator: an empty path would put the history in whatever
/// directory the node happens to start in.
fn checked_data_dir(dir: &std::path::Path, source: &str) -> anyhow::Result<PathBuf> {
    if dir.as_os_str().is_empty() {
        bail!(UsageError(format!(
            "{source}: expected a directory, got an empty path"
        )));
    }
    Ok(dir.to_path_buf())
}

/// A little misbehaviour by default, so the devnet shows what faults look like.
pub const DEFAULT_FAULT_RATE: f64 = 0.05;
