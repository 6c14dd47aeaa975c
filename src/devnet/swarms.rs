//! The devnet over real libp2p (`--devnet-transport libp2p`): every node of the embedded
//! devnet runs its own swarm on loopback, with keep's handshake, the firewall and gossipsub,
//! exactly as a networked node does. Only the chain stays simulated.
//!
//! The nodes form a full mesh (each dials every node started before it), so a message
//! published on a wallet's topic reaches each other member of the wallet directly, once.
//! That makes the devnet's back-pressure exact again: a publish counts one unit per other
//! member, and each member's router adopts one (`devnet::pace`). The chain starts only once
//! every member sees every other member on each of its topics.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use libp2p::identity::PeerId;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::pace::Activity;
use crate::engine::{peer_events, EventBus};
use crate::net::p2p::firewall::{members_from, OnChainCheck, Rules};
use crate::net::p2p::{published, P2pConfig, P2pError, P2pNetwork};
use crate::net::signing::OperatorKey;
use crate::net::{BroadcastChannel, MessageStream, NetError, Received, Verdict};
use crate::protocol::Address;
use crate::protocol::WalletInfo;

/// How long the mesh may take to form before the devnet gives up starting.
const MESH_DEADLINE: Duration = Duration::from_secs(60);
/// How often the start-up checks the mesh.
const MESH_POLL: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum SwarmsError {
    #[error("devnet swarm of operator {operator}: {source}")]
    Start {
        operator: Address,
        #[source]
        source: P2pError,
    },
    #[error(
        "the devnet's peer mesh did not form within {}s: {missing}",
        MESH_DEADLINE.as_secs()
    )]
    Mesh { missing: String },
}

/// The devnet's stake: every devnet operator is a staked operator, and nobody else is.
struct DevnetStake(HashSet<Address>);

#[async_trait]
impl OnChainCheck for DevnetStake {
    async fn is_recognised(&self, operator: Address) -> Result<bool, String> {
        Ok(self.0.contains(&operator))
    }
}

/// One swarm per devnet operator, and what each wallet's topic should reach.
pub(super) struct Swarms {
    networks: HashMap<Address, P2pNetwork>,
    /// Per topic, the members a message published there must reach besides its publisher.
    others: Arc<HashMap<String, usize>>,
    /// Per operator, the topics of the wallets it holds seats in.
    topics: HashMap<Address, Vec<String>>,
    pub tasks: TaskTracker,
}

impl Swarms {
    /// Starts a swarm for each key on 127.0.0.1, each dialling the ones before it. The
    /// `local` operator's peer events go on `bus`, as a networked node's do.
    pub async fn start(
        keys: &[OperatorKey],
        wallets: &[WalletInfo],
        (local, bus): (Address, &EventBus),
        cancel: &CancellationToken,
    ) -> Result<Swarms, SwarmsError> {
        let operators: HashSet<Address> = keys.iter().map(OperatorKey::address).collect();
        let stake: Arc<dyn OnChainCheck> = Arc::new(DevnetStake(operators));
        let mut others = HashMap::new();
        let mut topics: HashMap<Address, Vec<String>> = HashMap::new();
        for wallet in wallets {
            let topic = wallet.coordination_topic();
            let members: BTreeSet<Address> = wallet.operators.iter().copied().collect();
            others.insert(topic.clone(), members.len().saturating_sub(1));
            for member in members {
                topics.entry(member).or_default().push(topic.clone());
            }
        }
        let mut networks = HashMap::new();
        let tasks = TaskTracker::new();
        let mut bootstrap: Vec<Multiaddr> = Vec::new();
        for key in keys {
            let firewall = Rules::new([], members_from(HashMap::new())).with_chain(stake.clone());
            let config = P2pConfig {
                discovery: false,
                ..P2pConfig::new(vec![loopback()], bootstrap.clone(), Arc::new(firewall))
            };
            let (network, _swarm) =
                P2pNetwork::start(key.keypair().clone(), config, cancel.clone(), &tasks)
                    .await
                    .map_err(|source| SwarmsError::Start {
                        operator: key.address(),
                        source,
                    })?;
            if key.address() == local {
                let announce = peer_events::announce(network.clone(), bus.clone(), cancel.clone());
                tasks.spawn(announce);
            }
            if let Some(addr) = network.listen_addrs().first() {
                bootstrap.push(addr.clone().with(Protocol::P2p(network.local_peer_id())));
            }
            networks.insert(key.address(), network);
        }
        Ok(Swarms {
            networks,
            others: Arc::new(others),
            topics,
            tasks,
        })
    }

    /// The engine's channel for `operator`'s node, counting its publishes in `activity`.
    pub fn channel(
        &self,
        operator: &Address,
        activity: &Arc<Activity>,
    ) -> Option<Arc<dyn BroadcastChannel>> {
        let network = self.networks.get(operator)?.clone();
        Some(Arc::new(PacedP2p {
            network,
            others: self.others.clone(),
            activity: activity.clone(),
        }))
    }

    /// Waits until every node sees every other member on each of its topics (the nodes join
    /// their topics as they start, so call this after starting them).
    pub async fn mesh_formed(&self) -> Result<(), SwarmsError> {
        let deadline = tokio::time::Instant::now() + MESH_DEADLINE;
        loop {
            let missing = self.missing();
            if missing.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SwarmsError::Mesh {
                    missing: missing.join("; "),
                });
            }
            tokio::time::sleep(MESH_POLL).await;
        }
    }

    /// The (operator, topic) pairs whose topic peers are still short, described.
    fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for (operator, network) in &self.networks {
            for topic in self.topics.get(operator).into_iter().flatten() {
                let want = self.others.get(topic).copied().unwrap_or(0);
                let have = network.topic_peers(topic).len();
                if have < want {
                    missing.push(format!("{operator} sees {have} of {want} peers on {topic}"));
                }
            }
        }
        missing
    }
}

fn loopback() -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
        .with(Protocol::Tcp(0))
}

/// A node's swarm, counting each publish once per other member of the wallet until their
/// routers adopt it.
struct PacedP2p {
    network: P2pNetwork,
    others: Arc<HashMap<String, usize>>,
    activity: Arc<Activity>,
}

#[async_trait]
impl BroadcastChannel for PacedP2p {
    async fn join(&self, topic: &str) -> Result<(), NetError> {
        BroadcastChannel::join(&self.network, topic).await
    }

    async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetError> {
        let reach = self.others.get(topic).copied().unwrap_or(0);
        // Counted before it is sent, so a fast router never releases what is not counted yet.
        self.activity.add(reach);
        let result = self.network.publish(topic.to_owned(), data).await;
        if result.is_err() {
            // Not sent, so never adopted.
            self.activity.forget(reach);
        }
        published(result)
    }

    fn subscribe(&self) -> MessageStream {
        self.network.subscribe()
    }

    fn report(&self, received: &Received, verdict: Verdict) {
        BroadcastChannel::report(&self.network, received, verdict);
    }

    fn connected_peers(&self) -> Option<Vec<PeerId>> {
        Some(self.network.connected_peers())
    }

    fn bootstrap_peers(&self) -> usize {
        BroadcastChannel::bootstrap_peers(&self.network)
    }
}
