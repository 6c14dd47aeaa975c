//! Engine behaviour on a devnet, with block-driven (paused-clock) time: the leader's re-send
//! backoff, the retry of a failed proposal generation, late starts and missed windows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tbtc_coord::chain::{ActionRequest, BlockStream, Chain, ChainError};
use tbtc_coord::devnet::{Devnet, DevnetConfig, Impersonator, WrongAction};
use tbtc_coord::engine::executor::{Strategy, Turn};
use tbtc_coord::engine::history::History;
use tbtc_coord::engine::query::{HistoryPage, HistoryQuery};
use tbtc_coord::engine::records::{FaultFilter, FaultOrder};
use tbtc_coord::engine::{Event, EventBus, Identity, Node, NodeConfig, NodeHandle};
use tbtc_coord::net::envelope::Envelope;
use tbtc_coord::net::local::LocalHub;
use tbtc_coord::protocol::{
    ActionOutcome, ActionType, BlockHashRule, CoordinationMessage, FaultType, Hash32, Proposal,
    WalletPkh, WalletSnapshot,
};
use tbtc_coord::protocol::{BlockRef, WalletInfo};
use tbtc_coord::store::Store;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A devnet whose wallet snapshots fail a given number of times.
struct FlakyChain {
    devnet: Devnet,
    snapshot_failures: AtomicUsize,
}

#[async_trait]
impl Chain for FlakyChain {
    fn chain_key(&self) -> String {
        self.devnet.chain_key()
    }
    async fn subscribe_blocks(&self) -> Result<BlockStream, ChainError> {
        self.devnet.subscribe_blocks().await
    }
    async fn latest_block(&self) -> Result<BlockRef, ChainError> {
        self.devnet.latest_block().await
    }
    async fn block_hash(&self, number: u64, rule: BlockHashRule) -> Result<Hash32, ChainError> {
        self.devnet.block_hash(number, rule).await
    }
    async fn wallets(&self) -> Result<Vec<WalletInfo>, ChainError> {
        self.devnet.wallets().await
    }
    async fn wallet_snapshot(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<WalletSnapshot, ChainError> {
        let failing = self
            .snapshot_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(ChainError::Unavailable("injected snapshot failure".into()));
        }
        self.devnet.wallet_snapshot(wallet, block).await
    }
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError> {
        self.devnet.execute_action(request).await
    }
}

fn devnet(wallets: usize, start_block: Option<u64>) -> Devnet {
    Devnet::new(DevnetConfig {
        seed: 21,
        block_time: Duration::from_millis(100),
        operators: 6,
        wallets,
        start_block,
        ..DevnetConfig::default()
    })
    .unwrap()
}

struct Network {
    nodes: Vec<NodeHandle>,
    local_events: broadcast::Receiver<Event>,
    hub: Arc<LocalHub>,
    cancel: CancellationToken,
}

/// Every devnet operator's node (operator 0 first), honest, on `chain`.
async fn start_nodes(devnet: &Devnet, chain: Arc<dyn Chain>) -> Network {
    start_nodes_with(devnet, chain, NodeConfig::default()).await
}

/// Every devnet operator's node (operator 0 first), each with `config`, on `chain`.
async fn start_nodes_with(devnet: &Devnet, chain: Arc<dyn Chain>, config: NodeConfig) -> Network {
    let hub = Arc::new(LocalHub::new(4096));
    let cancel = CancellationToken::new();
    let mut nodes = Vec::new();
    let mut local_events = None;
    for op in devnet.operators() {
        let bus = EventBus::default();
        if local_events.is_none() {
            local_events = Some(bus.subscribe());
        }
        nodes.push(
            Node::start(
                config.clone(),
                Identity::signer(op.key.clone()),
                chain.clone(),
                Arc::new(hub.endpoint(Some(op.key.clone()))),
                Arc::new(Store::open_in_memory().unwrap()),
                bus,
                cancel.child_token(),
            )
            .await
            .unwrap(),
        );
    }
    Network {
        nodes,
        local_events: local_events.unwrap(),
        hub,
        cancel,
    }
}

async fn until_window_completed(events: &mut broadcast::Receiver<Event>, cb: u64) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = events.recv().await.expect("event");
        let done = matches!(e, Event::WindowCompleted { coordination_block, .. } if coordination_block == cb);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_leader_resends_the_identical_message_on_the_backoff_ticks() {
    let devnet = devnet(1, None);
    let mut net = start_nodes(&devnet, Arc::new(devnet.clone())).await;
    let mut wire = net.hub.subscribe();
    let producer = devnet.start(net.cancel.child_token());
    until_window_completed(&mut net.local_events, 900).await;
    // Let the passive phase pass: no re-send may come after the active phase.
    let mut head = devnet.subscribe();
    while head.recv().await.unwrap().number < 1000 {}

    let mut sends = Vec::new();
    while let Ok(m) = wire.try_recv() {
        // Every copy is a new pubsub message (its own seqno) around the same envelope.
        let envelope = Envelope::decode(m.message.data()).unwrap();
        let decoded = CoordinationMessage::decode(&envelope.payload).unwrap();
        sends.push((decoded.coordination_block, m.message.data().to_vec()));
    }
    assert!(!sends.is_empty());
    assert!(
        sends
            .iter()
            .all(|(cb, bytes)| *cb == 900 && *bytes == sends[0].1),
        "identical envelopes, sequence number included"
    );
    // The first send at block 900, then ticks 1, 3, 6, 11, 20, 37, 70: all inside the
    // 80-block active phase.
    assert_eq!(sends.len(), 8);
    net.cancel.cancel();
    let _ = producer.await;
}

#[tokio::test(start_paused = true)]
async fn the_resend_schedule_follows_the_blocks() {
    let devnet = devnet(1, None);
    let mut net = start_nodes(&devnet, Arc::new(devnet.clone())).await;
    let mut wire = net.hub.subscribe();
    let probe = devnet.clone();
    let recorder = tokio::spawn(async move {
        let mut at = Vec::new();
        while let Ok(m) = wire.recv().await {
            if Envelope::decode(m.message.data()).is_ok() {
                at.push(probe.head().number);
            }
            if at.len() == 8 {
                break;
            }
        }
        at
    });
    let producer = devnet.start(net.cancel.child_token());
    until_window_completed(&mut net.local_events, 900).await;
    let at = recorder.await.unwrap();
    assert_eq!(at, vec![900, 901, 903, 906, 911, 920, 937, 970]);
    net.cancel.cancel();
    let _ = producer.await;
}

#[tokio::test(start_paused = true)]
async fn one_failed_generation_is_retried_and_two_leave_the_leader_idle() {
    for (failures, expect_idle) in [(1, false), (2, true)] {
        let devnet = devnet(1, None);
        let chain = Arc::new(FlakyChain {
            devnet: devnet.clone(),
            snapshot_failures: AtomicUsize::new(failures),
        });
        let mut net = start_nodes(&devnet, chain).await;
        let producer = devnet.start(net.cancel.child_token());
        until_window_completed(&mut net.local_events, 900).await;
        let mut head = devnet.subscribe();
        while head.recv().await.unwrap().number < 1000 {}
        // Every follower sees the same thing.
        let wallet = devnet.wallet_infos()[0].wallet;
        let mut followers = 0;
        for node in &net.nodes {
            let Some(row) = read(
                node.history(),
                HistoryQuery::Result {
                    wallet,
                    coordination_block: 900,
                },
            )
            .into_result()
            .unwrap() else {
                continue; // holds no seat
            };
            if row.role == tbtc_coord::protocol::Role::Leader {
                continue;
            }
            followers += 1;
            let faults = read(
                node.history(),
                HistoryQuery::Faults {
                    filter: FaultFilter::default(),
                    order: Default::default(),
                    offset: 0,
                    limit: 10,
                },
            )
            .into_faults()
            .unwrap();
            if expect_idle {
                assert_eq!(row.action, tbtc_coord::protocol::ActionType::Noop);
                assert_eq!(faults.len(), 1, "failures {failures}");
                assert_eq!(faults[0].fault, FaultType::LeaderIdleness);
                assert_eq!(faults[0].culprit, row.leader);
            } else {
                assert_ne!(
                    row.action,
                    tbtc_coord::protocol::ActionType::Noop,
                    "the retry produced a proposal"
                );
                assert!(faults.is_empty());
            }
        }
        assert!(followers > 0);
        net.cancel.cancel();
        let _ = producer.await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_starting_inside_an_active_phase_starts_the_window_late() {
    let devnet = devnet(3, Some(1810));
    let mut net = start_nodes(&devnet, Arc::new(devnet.clone())).await;
    let producer = devnet.start(net.cancel.child_token());
    let seen = until_window_completed(&mut net.local_events, 1800).await;
    let started: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::WindowStarted {
                coordination_block,
                late,
                observed_block,
                ..
            } => Some((*coordination_block, *late, *observed_block)),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec![(1800, true, 1811)]);
    let results = seen
        .iter()
        .filter(|e| matches!(e, Event::CoordinationResult(_)))
        .count();
    assert_eq!(results, net.nodes[0].wallets().len());
    // Everyone started late together, so nobody was idle.
    let faults = fault_count(net.nodes[0].history());
    assert_eq!(faults, 0);
    net.cancel.cancel();
    let _ = producer.await;
}

#[tokio::test(start_paused = true)]
async fn a_node_starting_after_the_active_phase_reports_the_window_missed() {
    let devnet = devnet(2, Some(1885));
    let mut net = start_nodes(&devnet, Arc::new(devnet.clone())).await;
    let producer = devnet.start(net.cancel.child_token());
    let seen = until_window_completed(&mut net.local_events, 2700).await;
    let decided: Vec<(u64, &str)> = seen
        .iter()
        .filter_map(|e| match e {
            Event::WindowStarted {
                coordination_block, ..
            } => Some((*coordination_block, "started")),
            Event::WindowMissed {
                coordination_block, ..
            } => Some((*coordination_block, "missed")),
            _ => None,
        })
        .collect();
    assert_eq!(decided, vec![(1800, "missed"), (2700, "started")]);
    let windows = read(net.nodes[0].history(), HistoryQuery::Windows { limit: 10 })
        .into_windows()
        .unwrap();
    assert_eq!(windows.len(), 2);
    net.cancel.cancel();
    let _ = producer.await;
}

#[tokio::test(start_paused = true)]
async fn a_node_without_peers_blames_no_leader() {
    let devnet = devnet(3, None);
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let cancel = CancellationToken::new();
    let op = &devnet.operators()[0];
    let node = Node::start(
        NodeConfig::default(),
        Identity::signer(op.key.clone()),
        Arc::new(devnet.clone()),
        Arc::new(tbtc_coord::net::Unconnected::default()),
        Arc::new(Store::open_in_memory().unwrap()),
        bus,
        cancel.child_token(),
    )
    .await
    .unwrap();
    let producer = devnet.start(cancel.child_token());
    let seen = until_window_completed(&mut events, 900).await;
    let results: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::CoordinationResult(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), node.wallets().len());
    assert!(results
        .iter()
        .any(|r| r.role == tbtc_coord::protocol::Role::Follower));
    assert!(
        results.iter().all(|r| r.faults.is_empty()),
        "silence is not idleness without peers"
    );
    assert_eq!(fault_count(node.history()), 0);
    cancel.cancel();
    let _ = producer.await;
}

/// A leader that says nothing until long after the window.
struct Hesitant;

#[async_trait]
impl Strategy for Hesitant {
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        turn.wait_for_block(u64::MAX).await;
        Proposal::Noop
    }
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_in_the_active_phase_records_no_fault() {
    let devnet = devnet(3, None);
    let cancel = CancellationToken::new();
    let hub = Arc::new(LocalHub::new(4096));
    let mut nodes = Vec::new();
    let mut started = 0;
    for op in devnet.operators() {
        let bus = EventBus::default();
        let mut events = bus.subscribe();
        let node = Node::start(
            NodeConfig {
                strategy: Arc::new(Hesitant),
                ..NodeConfig::default()
            },
            Identity::signer(op.key.clone()),
            Arc::new(devnet.clone()),
            Arc::new(hub.endpoint(Some(op.key.clone()))),
            Arc::new(Store::open_in_memory().unwrap()),
            bus,
            cancel.child_token(),
        )
        .await
        .unwrap();
        nodes.push((
            node,
            tokio::spawn(async move {
                // Every follower is listening once its node has started its executors.
                while let Ok(e) = events.recv().await {
                    if matches!(e, Event::ExecutorsStarted { .. }) {
                        return true;
                    }
                }
                false
            }),
        ));
    }
    let mut head = devnet.subscribe();
    let producer = devnet.start(cancel.child_token());
    while head.recv().await.unwrap().number < 920 {}
    let mut running = Vec::new();
    for (node, listening) in nodes {
        started += usize::from(listening.await.unwrap());
        running.push(node);
    }
    assert_eq!(started, devnet.operators().len());
    // Silence so far, 60 blocks of the phase to go: then the whole network stops.
    cancel.cancel();
    let _ = producer.await;
    for node in running {
        let store = node.history().clone();
        let mut events = node.subscribe();
        node.shutdown().await;
        assert_eq!(fault_count(&store), 0);
        while let Ok(e) = events.try_recv() {
            assert!(!matches!(e, Event::Fault { .. }), "{e:?}");
        }
    }
}

/// Every leader proposes MovingFunds whatever its checklist, and every other member sends a
/// Noop from its own seat before it listens.
struct Misbehaving;

#[async_trait]
impl Strategy for Misbehaving {
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        WrongAction(ActionType::MovingFunds).lead(turn).await
    }
    async fn before_listening(&self, turn: &Turn<'_>) {
        Impersonator.before_listening(turn).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_follower_records_what_a_mistaken_leader_and_an_impersonator_proposed() {
    let devnet = devnet(3, None);
    let config = NodeConfig {
        strategy: Arc::new(Misbehaving),
        ..NodeConfig::default()
    };
    let mut net = start_nodes_with(&devnet, Arc::new(devnet.clone()), config).await;
    let producer = devnet.start(net.cancel.child_token());
    until_window_completed(&mut net.local_events, 900).await;
    let history = net.nodes[0].history();
    let faults = read(
        history,
        HistoryQuery::Faults {
            filter: FaultFilter::default(),
            order: FaultOrder::NewestFirst,
            offset: 0,
            limit: 100,
        },
    )
    .into_faults()
    .unwrap();
    let mut mistakes = 0;
    let mut impersonations = 0;
    for f in &faults {
        let checklist = read(
            history,
            HistoryQuery::Result {
                wallet: f.wallet,
                coordination_block: f.coordination_block,
            },
        )
        .into_result()
        .unwrap()
        .unwrap()
        .checklist;
        match f.fault {
            FaultType::LeaderMistake => {
                mistakes += 1;
                assert_eq!(f.proposed_action, Some(ActionType::MovingFunds), "{f:?}");
                assert!(
                    !checklist.contains(&ActionType::MovingFunds),
                    "{checklist:?}"
                );
            }
            FaultType::LeaderImpersonation => {
                impersonations += 1;
                assert_eq!(f.proposed_action, Some(ActionType::Noop), "{f:?}");
            }
            FaultType::LeaderIdleness => assert_eq!(f.proposed_action, None, "{f:?}"),
        }
    }
    assert!(mistakes > 0, "no mistake recorded: {faults:?}");
    assert!(impersonations > 0, "no impersonation recorded: {faults:?}");
    net.cancel.cancel();
    let _ = producer.await;
}

/// Every leader stays silent, and every other member sends two different messages from its
/// own seat before it listens: two impersonations by one culprit in one window.
struct ImpersonatingTwice;

#[async_trait]
impl Strategy for ImpersonatingTwice {
    async fn lead(&self, _turn: &Turn<'_>) -> Proposal {
        Proposal::Noop
    }
    async fn before_listening(&self, turn: &Turn<'_>) {
        let Some(&seat) = turn.seats().first() else {
            return;
        };
        let heartbeat = Proposal::Heartbeat {
            message: tbtc_coord::protocol::proposal::HexBytes(vec![0xFF; 16]),
        };
        tokio::join!(turn.send(seat, Proposal::Noop), turn.send(seat, heartbeat));
    }
}

#[tokio::test(start_paused = true)]
async fn a_culprit_offending_twice_in_a_window_is_one_fault_announced_once() {
    let devnet = devnet(3, None);
    let config = NodeConfig {
        strategy: Arc::new(ImpersonatingTwice),
        ..NodeConfig::default()
    };
    let mut net = start_nodes_with(&devnet, Arc::new(devnet.clone()), config).await;
    let producer = devnet.start(net.cancel.child_token());
    let events = until_window_completed(&mut net.local_events, 900).await;
    let history = net.nodes[0].history();
    let announced: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Fault { .. }))
        .collect();
    let stored = fault_count(history);
    assert!(
        announced.iter().any(|e| matches!(
            e,
            Event::Fault {
                fault: FaultType::LeaderImpersonation,
                ..
            }
        )),
        "{announced:?}"
    );
    assert_eq!(announced.len() as u64, stored, "{announced:?}");
    net.cancel.cancel();
    let _ = producer.await;
}

/// Reads the history as the node's front ends do.
fn read(history: &Arc<dyn History>, query: HistoryQuery) -> HistoryPage {
    history.query(&query).expect("reading the history")
}

fn fault_count(history: &Arc<dyn History>) -> u64 {
    let all = HistoryQuery::CountFaults {
        filter: FaultFilter::default(),
    };
    read(history, all).into_count().unwrap()
}
