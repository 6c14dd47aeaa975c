//! The embedded devnet as a network: the simulated chain, an in-process broadcast hub, one
//! node per simulated peer operator (misbehaving where the fault plan says so, see
//! `devnet::strategies`) and this operator's node. The protocol really runs between the nodes; only
//! the chain is simulated, and the wire too unless `transport` is [`DevnetTransport::Libp2p`]
//! (see `devnet::swarms`). The chain mines a block only once every node has
//! handled the previous one (`devnet::pace`), so no block time makes an honest leader late.

use crate::bitcoin::view::BitcoinView;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::chain::{BlockGate, Devnet, DevnetConfig, DevnetError};
use super::pace::{Activity, Patient};
use super::swarms::{Swarms, SwarmsError};
use super::{FaultInjector, Scripted};
use crate::chain::{Chain, ChainError};
use crate::engine::context::HistoryHandles;
use crate::engine::history::{HistoryError, HistoryWriter};
use crate::engine::{EventBus, Identity, Node, NodeConfig, NodeHandle, RoutineLogs};
use crate::net::local::{HubEndpoint, LocalHub};
use crate::net::signing::OperatorKey;
use crate::net::{BroadcastChannel, MessageStream, NetError};
use crate::protocol::window::next_window_after;
use crate::store::{Store, StoreError};

/// Blocks between the devnet's start and its first window, when resuming from history.
const RESUME_LEAD_IN_BLOCKS: u64 = 40;
/// Messages the hub buffers per subscriber before a slow node starts dropping.
const HUB_CAPACITY: usize = 65_536;
/// Over real sockets, how long a block waits for counted messages before writing them off.
const SOCKET_PATIENCE: Duration = Duration::from_secs(5);

/// What carries the devnet's messages between its nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevnetTransport {
    /// The in-process hub: the same signed messages, handed over in memory.
    #[default]
    Hub,
    /// A real libp2p swarm per node on loopback, as networked nodes use.
    Libp2p,
}

impl DevnetTransport {
    pub fn name(self) -> &'static str {
        match self {
            DevnetTransport::Hub => "hub",
            DevnetTransport::Libp2p => "libp2p",
        }
    }
}

impl fmt::Display for DevnetTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown devnet transport {0:?}: expected hub or libp2p")]
pub struct UnknownTransport(String);

impl FromStr for DevnetTransport {
    type Err = UnknownTransport;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hub" => Ok(DevnetTransport::Hub),
            "libp2p" => Ok(DevnetTransport::Libp2p),
            other => Err(UnknownTransport(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevnetNetworkError {
    #[error(transparent)]
    Devnet(#[from] DevnetError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Swarms(#[from] SwarmsError),
    #[error("a history call panicked or was cancelled: {0}")]
    Blocking(String),
}

#[derive(Clone, Default)]
pub struct DevnetNetworkConfig {
    pub devnet: DevnetConfig,
    /// Share of (wallet, window) pairs in which a peer misbehaves, 0..=1.
    pub fault_rate: f64,
    /// The local node's settings; peers take the same rule and parameters.
    pub node: NodeConfig,
    pub transport: DevnetTransport,
}

pub struct DevnetNetwork {
    pub devnet: Devnet,
    pub local: NodeHandle,
    pub peers: Vec<NodeHandle>,
    pub injector: Arc<FaultInjector>,
    /// The back-pressure gauge every node and the chain share.
    pub activity: Arc<Activity>,
    producer: JoinHandle<()>,
    /// The swarms' tasks, with the libp2p transport.
    swarms: TaskTracker,
    cancel: CancellationToken,
}

/// Runs a history call (SQLite) off the async workers.
async fn off_workers<T, E>(
    call: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, DevnetNetworkError>
where
    T: Send + 'static,
    E: Into<DevnetNetworkError> + Send + 'static,
{
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| DevnetNetworkError::Blocking(e.to_string()))?
        .map_err(Into::into)
}

/// Where a devnet resumes: a little before the window after the last one in the history, so
/// a restart continues the chain instead of replaying windows already recorded.
pub fn resume_block(history: &dyn HistoryWriter) -> Result<Option<u64>, HistoryError> {
    Ok(history.last_window()?.map(|cb| {
        next_window_after(cb)
            .coordination_block
            .saturating_sub(RESUME_LEAD_IN_BLOCKS)
    }))
}

impl DevnetNetwork {
    /// Builds the devnet, starts every node, then starts mining.
    pub async fn start(
        mut config: DevnetNetworkConfig,
        history: impl Into<HistoryHandles>,
        bus: EventBus,
        cancel: CancellationToken,
    ) -> Result<DevnetNetwork, DevnetNetworkError> {
        let history: HistoryHandles = history.into();
        if config.devnet.start_block.is_none() {
            let writer = history.writer.clone();
            config.devnet.start_block = off_workers(move || resume_block(writer.as_ref())).await?;
        }
        let devnet = Devnet::new(config.devnet.clone())?;
        let chain: Arc<dyn Chain> = Arc::new(devnet.clone());
        let activity = Activity::new();
        let swarms = match config.transport {
            DevnetTransport::Hub => None,
            DevnetTransport::Libp2p => {
                let keys: Vec<OperatorKey> =
                    devnet.operators().iter().map(|o| o.key.clone()).collect();
                let local = (devnet.local_operator().address, &bus);
                Some(Swarms::start(&keys, &chain.wallets().await?, local, &cancel).await?)
            }
        };
        let hub = LocalHub::new(HUB_CAPACITY);
        let endpoint = |key: &OperatorKey| -> Arc<dyn BroadcastChannel> {
            if let Some(channel) = swarms
                .as_ref()
                .and_then(|s| s.channel(&key.address(), &activity))
            {
                return channel;
            }
            Arc::new(PacedHub {
                endpoint: hub.endpoint(Some(key.clone())),
                activity: activity.clone(),
            })
        };
        let local_operator = devnet.local_operator().clone();
        let injector = Arc::new(FaultInjector::new(
            config.devnet.seed,
            config.fault_rate,
            local_operator.address,
        ));
        let head = devnet.head().number;
        let peer_strategy = Arc::new(Scripted::new(injector.clone()));
        // Every node reads the devnet's simulated Bitcoin, as a node reads Electrum.
        let bitcoin: Arc<dyn BitcoinView> = Arc::new(devnet.clone());

        let mut peers = Vec::new();
        for operator in devnet
            .operators()
            .iter()
            .filter(|o| o.index != local_operator.index)
        {
            let peer_config = NodeConfig {
                strategy: peer_strategy.clone(),
                pacing: Arc::new(activity.join(head)),
                routine_logs: RoutineLogs::Debug,
                bitcoin: Some(bitcoin.clone()),
                ..config.node.clone()
            };
            let peer = Node::start(
                peer_config,
                Identity::signer(operator.key.clone()),
                chain.clone(),
                endpoint(&operator.key),
                Arc::new(off_workers(Store::open_in_memory).await?),
                EventBus::new(4096),
                cancel.child_token(),
            )
            .await?;
            peers.push(peer);
        }
        let local = Node::start(
            // The local node acts as its config says: honest unless a test says otherwise.
            NodeConfig {
                pacing: Arc::new(activity.join(head)),
                routine_logs: RoutineLogs::Info,
                bitcoin: Some(bitcoin),
                ..config.node.clone()
            },
            Identity::signer(local_operator.key.clone()),
            chain,
            endpoint(&local_operator.key),
            history,
            bus,
            cancel.child_token(),
        )
        .await?;
        let gate: Arc<dyn BlockGate> = match &swarms {
            None => activity.clone(),
            Some(swarms) => {
                swarms.mesh_formed().await?;
                Arc::new(Patient {
                    activity: activity.clone(),
                    patience: SOCKET_PATIENCE,
                })
            }
        };
        let producer = devnet.start_gated(cancel.child_token(), gate);
        Ok(DevnetNetwork {
            devnet,
            local,
            peers,
            injector,
            activity,
            producer,
            swarms: swarms.map(|s| s.tasks).unwrap_or_default(),
            cancel,
        })
    }

    /// Stops mining and every node.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.producer.await;
        for peer in self.peers {
            peer.shutdown().await;
        }
        self.local.shutdown().await;
        self.swarms.close();
        self.swarms.wait().await;
    }
}

/// The in-process hub, counting every message once per subscriber until that node's router
/// has routed or dropped it (it adopts the count, see `devnet::pace`).
struct PacedHub {
    endpoint: HubEndpoint,
    activity: Arc<Activity>,
}

#[async_trait]
impl BroadcastChannel for PacedHub {
    async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetError> {
        let message = self.endpoint.sign(topic, data)?;
        let hub = self.endpoint.hub();
        // Counted before it is sent, so a fast router never releases what is not counted yet.
        let expected = hub.receiver_count();
        self.activity.add(expected);
        let reached = hub.publish(message);
        if reached < expected {
            self.activity.forget(expected - reached);
        } else {
            self.activity.add(reached - expected);
        }
        Ok(())
    }

    fn subscribe(&self) -> MessageStream {
        self.endpoint.subscribe()
    }
}
