//! Ethereum-mode wiring: the `--rpc-url` family of flags into an [`EthereumChain`], an
//! identity (observer or keystore signer) and a node, for `run` (headless or console) and
//! `dry-run`. The history lives in `chain-<id>.sqlite3` in the data directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{signals, HistoryLock, LockError, Settings};
use crate::bitcoin::electrum::{BitcoinNetwork, ElectrumClient, ElectrumConfig, ServerUrl};
use crate::bitcoin::electrum_view::ElectrumView;
use crate::bitcoin::view::BitcoinView;
use crate::chain::ethereum::{
    self, wallets_file, CacheError, Contracts, DiscoveryCache, EthereumChain, EthereumConfig,
    WalletSource,
};
use crate::cli::BitcoinNetworkArg;
use crate::cli::{DryRunArgs, EthereumArgs, ExitStatusError, Network, RunArgs, UsageError};
use crate::config::{BitcoinSection, EthereumSection};
use crate::engine::history::HistoryWriter;
use crate::engine::{dry_run, DryRunWindow};
use crate::engine::{EventBus, Identity, Node, NodeHandle};
use crate::net::p2p::firewall::OnChainCheck;
use crate::net::signing::keystore::{self, PasswordSource};
use crate::net::signing::OperatorKey;
use crate::net::{BroadcastChannel, Unconnected};
use crate::protocol::checklist::ChecklistRules;
use crate::protocol::Address;
use crate::store::Store;

/// Ethereum discovery's cache in the history store's `meta` table, off the async workers.
struct StoreDiscoveryCache(Arc<Store>);

#[async_trait::async_trait]
impl DiscoveryCache for StoreDiscoveryCache {
    async fn load(&self, key: &str) -> Result<Option<String>, CacheError> {
        let (store, key) = (self.0.clone(), key.to_string());
        tokio::task::spawn_blocking(move || store.get_meta(&key))
            .await
            .map_err(|e| CacheError(e.to_string()))?
            .map_err(|e| CacheError(e.to_string()))
    }

    async fn save(&self, key: &str, value: &str) -> Result<(), CacheError> {
        let (store, key, value) = (self.0.clone(), key.to_string(), value.to_string());
        tokio::task::spawn_blocking(move || store.set_meta(&key, &value))
            .await
            .map_err(|e| CacheError(e.to_string()))?
            .map_err(|e| CacheError(e.to_string()))
    }
}

/// keep-client's on-chain firewall rule, asked of the chain (the transport caches answers).
struct StakedOperators(EthereumChain);

#[async_trait::async_trait]
impl OnChainCheck for StakedOperators {
    async fn is_recognised(&self, operator: Address) -> Result<bool, String> {
        self.0
            .operator_is_staked(operator)
            .await
            .map_err(|e| e.to_string())
    }
}

/// What the Ethereum flags asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthereumSettings {
    pub rpc_url: String,
    pub poll_interval: Option<Duration>,
    pub wallets_file: Option<PathBuf>,
    pub network: Option<Network>,
    pub contracts: Contracts,
    pub operator: Option<Address>,
    pub keystore: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub btc_confirmations: Option<u32>,
    /// `--sweeps-every-window-from` (or the file's): this chain's checklist rule.
    pub sweeps_every_window_from: Option<u64>,
    /// `--electrum-url` (or the file's `[bitcoin] electrum`): empty without a Bitcoin view.
    pub electrum: Vec<ServerUrl>,
    pub bitcoin_network: BitcoinNetwork,
}

impl EthereumSettings {
    /// The Bitcoin view, when Electrum servers are given: the first that answers with the
    /// configured network's genesis. Without servers, says what goes unchecked.
    pub async fn bitcoin_view(&self) -> anyhow::Result<Option<ElectrumView>> {
        if self.electrum.is_empty() {
            tracing::warn!(
                "no Electrum server (--electrum-url): deposit confirmations are estimated from \
                 the reveal's age, fees start from --btc-fee-rate, and deposit sweeps and moving \
                 funds are not checked on chain"
            );
            return Ok(None);
        }
        let shown: Vec<String> = self.electrum.iter().map(|u| u.display_short()).collect();
        let client = ElectrumClient::connect(
            self.electrum.clone(),
            self.bitcoin_network,
            ElectrumConfig::default(),
        )
        .await
        .with_context(|| format!("cannot use the Electrum servers {}", shown.join(", ")))?;
        tracing::info!(server = %client.status().server, network = self.bitcoin_network.name(),
            "Electrum server connected");
        Ok(Some(ElectrumView::new(client)))
    }

    /// The node's settings on chain `chain_id`: the command's, under this chain's checklist
    /// rule (mainnet's on mainnet, every window elsewhere, unless configured), reading Bitcoin
    /// through `bitcoin` when there is a view.
    pub fn node_config(
        &self,
        settings: &Settings,
        chain_id: u64,
        bitcoin: Option<&ElectrumView>,
    ) -> crate::engine::NodeConfig {
        crate::engine::NodeConfig {
            checklist_rules: ChecklistRules::for_chain(chain_id, self.sweeps_every_window_from),
            bitcoin: bitcoin.map(|v| Arc::new(v.clone()) as Arc<dyn BitcoinView>),
            ..settings.node_config()
        }
    }

    /// `None` without `--rpc-url` (devnet mode); an error for Ethereum flags without it.
    pub fn from_args(
        args: &EthereumArgs,
        file: &EthereumSection,
        bitcoin: &BitcoinSection,
    ) -> anyhow::Result<Option<EthereumSettings>> {
        let Some(rpc_url) = args.rpc_url.clone() else {
            let stray = [
                ("--wallets", args.wallets.is_some()),
                ("--network", args.network.is_some()),
                ("--bridge", args.bridge.is_some()),
                ("--wallet-registry", args.wallet_registry.is_some()),
                ("--sortition-pool", args.sortition_pool.is_some()),
                ("--token-staking", args.token_staking.is_some()),
                (
                    "--wallet-proposal-validator",
                    args.wallet_proposal_validator.is_some(),
                ),
                ("--operator", args.operator.is_some()),
                ("--keystore", args.keystore.is_some()),
                ("--poll-interval", args.poll_interval.is_some()),
                ("--btc-confirmations", args.btc_confirmations.is_some()),
                (
                    "--sweeps-every-window-from",
                    args.sweeps_every_window_from.is_some(),
                ),
                // Not --electrum-url: its environment variable may be set for Ethereum mode
                // while the devnet runs.
                ("--bitcoin-network", args.bitcoin_network.is_some()),
            ];
            if let Some((flag, _)) = stray.iter().find(|(_, set)| *set) {
                return Err(UsageError(format!(
                    "{flag} is an Ethereum-mode flag: pass --rpc-url too"
                ))
                .into());
            }
            return Ok(None);
        };
        let base = match args.network {
            Some(Network::Mainnet) => Contracts::mainnet(),
            None => Contracts::default(),
        };
        if args.token_staking.is_some() && args.wallet_registry.or(base.wallet_registry).is_none() {
            return Err(UsageError(
                "--token-staking needs --wallet-registry (or --network mainnet): the firewall reads an operator's staking provider there".into(),
            )
            .into());
        }
        let electrum = match &args.electrum_url {
            Some(list) => ServerUrl::parse_list(list)
                .map_err(|e| UsageError(format!("--electrum-url: {e}")))?,
            None => bitcoin
                .electrum
                .iter()
                .map(|u| ServerUrl::parse(u))
                .collect::<Result<_, _>>()
                .map_err(|e| UsageError(format!("bitcoin.electrum: {e}")))?,
        };
        let bitcoin_network = match (args.bitcoin_network.or(bitcoin.network), args.network) {
            (Some(n), Some(Network::Mainnet)) if n != BitcoinNetworkArg::Mainnet => {
                return Err(UsageError(format!(
                    "--network mainnet reads Bitcoin mainnet, not {}: drop --bitcoin-network",
                    BitcoinNetwork::from(n).name()
                ))
                .into())
            }
            (Some(n), _) => n.into(),
            (None, _) => BitcoinNetwork::Mainnet,
        };
        let contracts = Contracts {
            bridge: args.bridge.or(base.bridge),
            wallet_registry: args.wallet_registry.or(base.wallet_registry),
            sortition_pool: args.sortition_pool.or(base.sortition_pool),
            token_staking: args.token_staking.or(base.token_staking),
            wallet_proposal_validator: args
                .wallet_proposal_validator
                .or(file.validator())
                .or(base.wallet_proposal_validator),
        };
        Ok(Some(EthereumSettings {
            rpc_url,
            poll_interval: args.poll_interval,
            wallets_file: args.wallets.clone(),
            network: args.network,
            contracts,
            operator: args.operator,
            keystore: args.keystore.clone(),
            password_file: args.password_file.clone(),
            btc_confirmations: args.btc_confirmations,
            sweeps_every_window_from: args
                .sweeps_every_window_from
                .or(file.sweeps_every_window_from),
            electrum,
            bitcoin_network,
        }))
    }

    /// Observer (`--operator`) or signer (`--keystore`). The key never reaches a message.
    /// The key derivation runs off the async workers, and a signal (`cancel`) during it ends
    /// the command at once: nothing has started yet.
    pub async fn identity(&self, cancel: &CancellationToken) -> anyhow::Result<Identity> {
        match (&self.keystore, self.operator) {
            (Some(path), _) => {
                let password = match &self.password_file {
                    Some(p) => PasswordSource::File(p.clone()),
                    None => PasswordSource::Environment,
                };
                let locked = keystore::open_keystore(path, &password)?;
                let unlock = tokio::task::spawn_blocking(move || locked.unlock());
                let key = tokio::select! {
                    unlocked = unlock => unlocked.context("the key derivation failed")??,
                    _ = cancel.cancelled() => {
                        return Err(ExitStatusError {
                            status: signals::interrupted_status().unwrap_or(130),
                            message: "stopped by a signal while deriving the keystore's key; \
                                      nothing had started"
                                .into(),
                        }
                        .into())
                    }
                };
                Ok(Identity::signer(key))
            }
            (None, Some(operator)) => Ok(Identity::observer(operator)),
            (None, None) => bail!(UsageError(
                "Ethereum mode needs an identity: --operator ADDRESS (observe) or --keystore FILE (sign)".into()
            )),
        }
    }

    fn chain_config(
        &self,
        settings: &Settings,
        operator: Address,
    ) -> anyhow::Result<EthereumConfig> {
        let mut config = EthereumConfig::new(self.rpc_url.clone());
        if let Some(p) = self.poll_interval {
            config.poll_interval = p;
        }
        config.expected_chain_id = settings.chain_id;
        config.contracts = self.contracts;
        config.operator = Some(operator);
        config.deposit_confirmations = self.btc_confirmations;
        if self.network == Some(Network::Mainnet) {
            config.first_block = ethereum::mainnet::FIRST_BLOCK;
        }
        config.wallets = match &self.wallets_file {
            Some(path) => WalletSource::Listed(wallets_file::load(path)?),
            None => WalletSource::Discovered,
        };
        Ok(config)
    }

    /// Connects, and opens this chain's history (which discovery caches into). A node
    /// (`lock`) first takes the history's lock, known only once the chain id is.
    async fn connect(
        &self,
        settings: &mut Settings,
        operator: Address,
        lock: bool,
    ) -> anyhow::Result<(EthereumChain, Arc<Store>, Option<HistoryLock>)> {
        let config = self.chain_config(settings, operator)?;
        let chain = EthereumChain::connect(config, None).await?;
        settings.chain_id = Some(chain.chain_id());
        settings.check_socket_path()?;
        let lock = lock.then(|| settings.lock_history()).transpose()?;
        let store = settings.open_store().await?;
        chain.attach_cache(Arc::new(StoreDiscoveryCache(store.clone())));
        tracing::info!(url = %chain.endpoint(), chain_id = chain.chain_id(), "Ethereum node connected");
        Ok((chain, store, lock))
    }

    async fn start_node(
        &self,
        settings: &mut Settings,
        bus: EventBus,
        cancel: CancellationToken,
    ) -> anyhow::Result<RunningNode> {
        // Bound first, so a port in use is reported before the RPC node is asked anything.
        let endpoint = super::metrics_endpoint::bind(settings)?;
        let identity = self.identity(&cancel).await?;
        let (chain, store, lock) = self.connect(settings, identity.operator, true).await?;
        if let Some(key) = &identity.key {
            // The operator's own transactions (a moving-funds commitment) are signed with it.
            chain.sign_with(key.ethereum_signer()?);
        }
        // Named after the chain id, so bound once the chain is known (and its lock held).
        let socket = super::node_socket::bind(settings)?;
        let tasks = TaskTracker::new();
        let history = store.clone();
        let metrics =
            super::metrics_endpoint::start(endpoint, settings, &bus, history, &cancel, &tasks)
                .await?;
        if let Some(metrics) = metrics.clone() {
            chain.observe_rpc_latency(Arc::new(move |d| metrics.observe_rpc_latency(d)));
        }
        let net: Arc<dyn BroadcastChannel> = match &settings.peer_network {
            Some(peer_network) => {
                let wallets = crate::chain::Chain::wallets(&chain)
                    .await
                    .with_context(|| format!("reading the wallets from {}", chain.endpoint()))?;
                // An observer is admitted where peers let it in, under a key of its own that
                // names no operator; it never sends.
                let key = identity.key.clone().unwrap_or_else(OperatorKey::generate);
                let contracts = chain.config().contracts;
                let on_chain = (contracts.wallet_registry.is_some()
                    && contracts.token_staking.is_some())
                .then(|| Arc::new(StakedOperators(chain.clone())) as Arc<dyn OnChainCheck>);
                super::network::start(
                    peer_network,
                    &key,
                    &wallets,
                    on_chain,
                    &bus,
                    cancel.child_token(),
                    &tasks,
                )
                .await?
            }
            None => Arc::new(Unconnected::default()),
        };
        let bitcoin = self.bitcoin_view().await?;
        if let (Some(metrics), Some(view)) = (metrics, &bitcoin) {
            let status = view.clone();
            metrics.report_bitcoin(Arc::new(move || status.status()));
            view.client()
                .observe_calls(Arc::new(move |method, latency, ok| {
                    metrics.observe_electrum(method, latency, ok)
                }));
        }
        let node = Node::start(
            self.node_config(settings, chain.chain_id(), bitcoin.as_ref()),
            identity,
            Arc::new(chain.clone()),
            net,
            super::console_history(&store).await?,
            bus,
            cancel.clone(),
        )
        .await
        .with_context(|| format!("cannot start the node on {}", chain.endpoint()))?;
        super::node_socket::record_operator(&store, node.operator()).await?;
        if node.wallets().is_empty() {
            tracing::warn!(operator = %node.operator(),
                "this operator holds a seat in no wallet: nothing to coordinate");
        }
        let control = socket.serve(node.commands());
        Ok(RunningNode {
            chain,
            bitcoin,
            node,
            control,
            cancel,
            tasks,
            _lock: lock,
        })
    }
}

/// A node on an Ethereum chain, with what it holds while it runs.
struct RunningNode {
    chain: EthereumChain,
    bitcoin: Option<ElectrumView>,
    node: NodeHandle,
    control: crate::control::ControlServer,
    /// The run's token, and the tasks beside the node (metrics, peer network).
    cancel: CancellationToken,
    tasks: TaskTracker,
    _lock: Option<HistoryLock>,
}

impl RunningNode {
    /// Stops the node, then its control socket (whose clients see `node_stopped`), then the
    /// tasks beside it and the chain back end, waiting for each.
    async fn shutdown(self) {
        self.node.shutdown().await;
        self.control.shutdown().await;
        super::stop_tasks(&self.cancel, self.tasks).await;
        self.chain.shutdown().await;
        if let Some(view) = &self.bitcoin {
            view.client().shutdown().await;
        }
    }
}

/// `run --headless --rpc-url …`.
pub async fn run_headless(
    mut settings: Settings,
    eth: EthereumSettings,
    args: &RunArgs,
) -> anyhow::Result<()> {
    let bus = EventBus::default();
    let events = bus.subscribe();
    let cancel = CancellationToken::new();
    signals::spawn_listener(cancel.clone(), || {}).context("cannot listen for signals")?;
    let running = eth
        .start_node(&mut settings, bus.clone(), cancel.clone())
        .await?;
    super::print_until_done(events, bus, &args.output, cancel, running.shutdown()).await
}

/// The console on an Ethereum node of its own; if a node is running on this chain's history
/// already (its lock is held), attached to that one instead.
pub async fn run_console(
    mut settings: Settings,
    eth: EthereumSettings,
    theme: crate::tui::theme::Theme,
    logs: String,
    cancel: CancellationToken,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    let bus = EventBus::default();
    let running = match eth.start_node(&mut settings, bus, cancel.clone()).await {
        Ok(r) => r,
        Err(e) if matches!(e.downcast_ref(), Some(LockError::Held { .. })) => {
            // The chain id is known now, and with it the running node's socket.
            return super::node_socket::attach_console(
                settings.socket_path(),
                theme,
                logs,
                cancel,
                started,
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let result = crate::tui::run(
        Arc::new(running.node.commands()),
        crate::tui::app::NodeLink::InProcess,
        Some(running.control.attached()),
        theme,
        cancel,
        started,
    )
    .await;
    running.shutdown().await;
    result
}

/// `dry-run --rpc-url …`: seed, leader, checklist and proposal for one wallet and window.
pub async fn dry_run_command(
    mut settings: Settings,
    eth: EthereumSettings,
    args: &DryRunArgs,
) -> anyhow::Result<()> {
    if settings.chain_id.is_some() {
        let socket = settings.socket_path();
        if let Some(mut node) =
            super::node_socket::running_node(&socket, "tbtc-coord dry-run").await?
        {
            return super::node_socket::dry_run_on_node(&mut node, args).await;
        }
    }
    let operator = eth.identity(&CancellationToken::new()).await?.operator;
    let (chain, store, _) = eth.connect(&mut settings, operator, false).await?;
    let head = crate::chain::Chain::latest_block(&chain)
        .await
        .with_context(|| format!("reading the head of {}", chain.endpoint()))?
        .number;
    let (window, choice) = match args.window {
        Some(cb) => (cb, None),
        None => {
            let choice = crate::engine::choose_window(head);
            (choice.coordination_block, Some(choice))
        }
    };
    let bitcoin = eth.bitcoin_view().await?;
    let config = eth.node_config(&settings, chain.chain_id(), bitcoin.as_ref());
    let record = dry_run(
        &chain,
        operator,
        &config,
        head,
        args.wallet,
        DryRunWindow::At(window),
    )
    .await
    .with_context(|| format!("dry run of wallet {} for window {window}", args.wallet))?;
    store.record_dry_run(&record)?;
    chain.shutdown().await;
    if let Some(view) = &bitcoin {
        view.client().shutdown().await;
    }
    super::print_dry_run(&record, choice.as_ref(), args.json)
}

/// `verify-evidence --rpc-url`: the wallets' seats as the chain has them, and the chain
/// itself, for the safe block hashes (the caller stops it). Discovery lists the live wallets
/// in which `--operator` (the node whose evidence it is) holds a seat; with `--wallets` the
/// file's list is used and only the chain's id is checked.
pub async fn wallets_for_evidence(
    settings: &Settings,
    args: &EthereumArgs,
) -> anyhow::Result<(Vec<crate::protocol::WalletInfo>, EthereumChain)> {
    let Some(eth) =
        EthereumSettings::from_args(args, &settings.ethereum_file, &settings.bitcoin_file)?
    else {
        bail!(UsageError(
            "--rpc-url is needed to read seats from the chain".into()
        ));
    };
    let operator = args.operator.ok_or_else(|| {
        UsageError(
            "verify-evidence --rpc-url needs --operator ADDRESS: discovery lists the wallets in which that operator holds a seat"
                .into(),
        )
    })?;
    // Read-only: the history is neither opened nor used as discovery's cache.
    let config = eth.chain_config(settings, operator)?;
    let chain = EthereumChain::connect(config, None).await?;
    match crate::chain::Chain::wallets(&chain).await {
        Ok(wallets) => Ok((wallets, chain)),
        Err(e) => {
            let endpoint = chain.endpoint().to_string();
            chain.shutdown().await;
            Err(e).with_context(|| format!("reading the wallets from {endpoint}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validator_comes_from_the_flag_then_the_file_then_the_network() {
        let flag = Address([1; 20]);
        let in_file = Address([2; 20]);
        let file = EthereumSection {
            wallet_proposal_validator: Some(in_file.to_checksum()),
            ..EthereumSection::default()
        };
        let resolve = |args: EthereumArgs, file: &EthereumSection| {
            EthereumSettings::from_args(&args, file, &BitcoinSection::default())
                .unwrap()
                .unwrap()
                .contracts
                .wallet_proposal_validator
        };
        let url = || Some("http://127.0.0.1:8545".to_string());
        let mainnet = EthereumArgs {
            rpc_url: url(),
            network: Some(Network::Mainnet),
            ..EthereumArgs::default()
        };
        assert_eq!(
            resolve(mainnet.clone(), &EthereumSection::default()),
            Some(
                crate::chain::ethereum::mainnet::WALLET_PROPOSAL_VALIDATOR
                    .parse()
                    .unwrap()
            )
        );
        assert_eq!(resolve(mainnet.clone(), &file), Some(in_file));
        let flagged = EthereumArgs {
            wallet_proposal_validator: Some(flag),
            ..mainnet
        };
        assert_eq!(resolve(flagged, &file), Some(flag));
        let bare = EthereumArgs {
            rpc_url: url(),
            ..EthereumArgs::default()
        };
        assert_eq!(resolve(bare, &EthereumSection::default()), None);
        // Without --rpc-url the flag is refused by name.
        let stray = EthereumArgs {
            wallet_proposal_validator: Some(flag),
            ..EthereumArgs::default()
        };
        let e = EthereumSettings::from_args(
            &stray,
            &EthereumSection::default(),
            &BitcoinSection::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("--wallet-proposal-validator"), "{e}");
    }

    #[test]
    fn electrum_servers_and_their_network_come_from_the_flags_or_the_file() {
        let url = || Some("http://127.0.0.1:8545".to_string());
        let resolve = |args: EthereumArgs, file: &BitcoinSection| {
            EthereumSettings::from_args(&args, &EthereumSection::default(), file)
                .map(|s| s.map(|s| (s.electrum, s.bitcoin_network)))
        };
        let flagged = EthereumArgs {
            rpc_url: url(),
            electrum_url: Some("ssl://a.example:50002,tcp://127.0.0.1:50001".into()),
            bitcoin_network: Some(BitcoinNetworkArg::Regtest),
            ..EthereumArgs::default()
        };
        let (servers, network) = resolve(flagged, &BitcoinSection::default())
            .unwrap()
            .unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].display_short(), "ssl://a.example:50002");
        assert_eq!(network, BitcoinNetwork::Regtest);
        // The file's servers when no flag names any; mainnet by default.
        let file = BitcoinSection {
            electrum: vec!["wss://b.example:443".into()],
            network: None,
        };
        let plain = EthereumArgs {
            rpc_url: url(),
            ..EthereumArgs::default()
        };
        let (servers, network) = resolve(plain.clone(), &file).unwrap().unwrap();
        assert_eq!(servers[0].display_short(), "wss://b.example:443");
        assert_eq!(network, BitcoinNetwork::Mainnet);
        // A bad URL is named; mainnet contracts with a test network are refused.
        let bad = EthereumArgs {
            electrum_url: Some("http://x:1".into()),
            ..plain.clone()
        };
        let e = resolve(bad, &BitcoinSection::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--electrum-url") && e.contains("http://x:1"),
            "{e}"
        );
        let mixed = EthereumArgs {
            network: Some(Network::Mainnet),
            bitcoin_network: Some(BitcoinNetworkArg::Testnet),
            ..plain
        };
        let e = resolve(mixed, &BitcoinSection::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--network mainnet") && e.contains("testnet"),
            "{e}"
        );
    }

    /// A keystore at the costliest parameters accepted (geth's "standard" scrypt).
    fn costly_keystore(dir: &std::path::Path) -> (PathBuf, PathBuf) {
        let pw = dir.join("pw");
        std::fs::write(&pw, "hunter22").unwrap();
        let path = dir.join("key.json");
        keystore::new_operator_key(&path, &PasswordSource::File(pw.clone())).unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        json["crypto"]["kdfparams"]["n"] = (1u64 << 18).into();
        let costly = dir.join("costly.json");
        std::fs::write(&costly, json.to_string()).unwrap();
        (costly, pw)
    }

    #[tokio::test]
    async fn a_signal_during_the_key_derivation_ends_the_command_without_waiting_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let (keystore, pw) = costly_keystore(dir.path());
        let settings = EthereumSettings {
            rpc_url: "http://127.0.0.1:9".into(),
            poll_interval: None,
            wallets_file: None,
            network: None,
            contracts: Contracts::default(),
            operator: None,
            keystore: Some(keystore),
            password_file: Some(pw),
            btc_confirmations: None,
            sweeps_every_window_from: None,
            electrum: Vec::new(),
            bitcoin_network: BitcoinNetwork::Mainnet,
        };
        let cancel = CancellationToken::new();
        cancel.cancel();
        // The derivation (a quarter of a GiB of scrypt) runs on a blocking thread; the
        // cancelled command returns without its result.
        let Err(err) = settings.identity(&cancel).await else {
            panic!("a cancelled command derived the key anyway");
        };
        let status = err.downcast_ref::<ExitStatusError>().map(|e| e.status);
        assert_eq!(status, Some(130), "{err:#}");
        assert!(err.to_string().contains("nothing had started"), "{err}");
    }
}
