//! A whole devnet — simulated chain, in-process hub, every peer operator's node and ours —
//! runs several windows. Time is block-driven: tokio's clock is paused and only advances when
//! every task is idle, so each block is mined after all nodes have dealt with the previous
//! one. That makes these runs fast and exactly repeatable. The devnet's own back-pressure
//! gives the same rule in real time, which the fast-chain tests check.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tbtc_coord::devnet::DevnetConfig;
use tbtc_coord::devnet::{DevnetNetwork, DevnetNetworkConfig, DevnetTransport};
use tbtc_coord::engine::query::HistoryQuery;
use tbtc_coord::engine::records::{FaultFilter, FaultOrder, ResultRow};
use tbtc_coord::engine::{Event, EventBus, NodeConfig, NodeHandle};
use tbtc_coord::protocol::checklist::checklist;
use tbtc_coord::protocol::{
    ActionType, Address, CoordinationWindow, Fault, FaultType, Leader, Role, SigningGroup,
    WalletPkh,
};
use tbtc_coord::store::Store;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A misbehaviour the devnet's fault plan calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Planned {
    IdleLeader,
    WrongAction,
    Impersonation { impersonator: Address },
}

/// The devnet's fault plan, computed here from its documented rule rather than asked of the
/// injector under test: a (wallet, window) misbehaves if sha256("tbtc-coord devnet fault" ‖
/// seed ‖ wallet ‖ cb) draws below the rate; byte 8 picks the kind (idle leader, wrong action,
/// impersonation), byte 9 the impersonator among the members other than the leader and our
/// own operator, who never misbehaves.
struct Plan {
    seed: u64,
    rate: f64,
    honest: Address,
}

impl Plan {
    fn of(
        &self,
        wallet: &WalletPkh,
        cb: u64,
        group: &SigningGroup,
        leader: Leader,
        checklist: &[ActionType],
    ) -> Option<Planned> {
        let Plan { seed, rate, honest } = *self;
        let digest = Sha256::new()
            .chain_update(b"tbtc-coord devnet fault")
            .chain_update(seed.to_be_bytes())
            .chain_update(wallet.0)
            .chain_update(cb.to_be_bytes())
            .finalize();
        let draw = u64::from_be_bytes(digest[..8].try_into().unwrap());
        if rate <= 0.0 || (draw as f64) / (u64::MAX as f64) >= rate {
            return None;
        }
        let leader_may_misbehave = leader.operator != honest;
        let impersonators: Vec<Address> = group
            .candidates()
            .iter()
            .copied()
            .filter(|a| *a != leader.operator && *a != honest)
            .collect();
        let impersonation = (!impersonators.is_empty()).then(|| Planned::Impersonation {
            impersonator: impersonators[usize::from(digest[9]) % impersonators.len()],
        });
        // A wrong leader needs an action off the checklist; with all of them on it, it is idle.
        let all_on_checklist = [
            ActionType::MovingFunds,
            ActionType::Heartbeat,
            ActionType::MovedFundsSweep,
            ActionType::DepositSweep,
            ActionType::Redemption,
        ]
        .iter()
        .all(|a| checklist.contains(a));
        match digest[8] % 3 {
            0 if leader_may_misbehave => Some(Planned::IdleLeader),
            1 if leader_may_misbehave && all_on_checklist => Some(Planned::IdleLeader),
            1 if leader_may_misbehave => Some(Planned::WrongAction),
            _ => impersonation.or(leader_may_misbehave.then_some(Planned::IdleLeader)),
        }
    }
}

/// What an honest follower records when `plan` is carried out.
fn faults_of(plan: Planned, leader: Address) -> Vec<Fault> {
    let fault = |fault, culprit| Fault { fault, culprit };
    match plan {
        Planned::IdleLeader => vec![fault(FaultType::LeaderIdleness, leader)],
        // The mistaken message is ignored, so the phase also ends with nothing accepted.
        Planned::WrongAction => vec![
            fault(FaultType::LeaderMistake, leader),
            fault(FaultType::LeaderIdleness, leader),
        ],
        Planned::Impersonation { impersonator } => {
            vec![fault(FaultType::LeaderImpersonation, impersonator)]
        }
    }
}

fn config(seed: u64, wallets: usize, fault_rate: f64) -> DevnetNetworkConfig {
    DevnetNetworkConfig {
        devnet: DevnetConfig {
            seed,
            block_time: Duration::from_millis(100),
            operators: 12,
            wallets,
            ..DevnetConfig::default()
        },
        fault_rate,
        node: NodeConfig::default(),
        transport: DevnetTransport::Hub,
    }
}

/// Collects the local node's events until `windows` windows have completed and the head has
/// passed the last one's end, so every node has settled its results.
/// The node's recorded result of `wallet` for window `cb`.
fn result_of(node: &NodeHandle, wallet: &WalletPkh, cb: u64) -> Option<ResultRow> {
    node.history()
        .query(&HistoryQuery::Result {
            wallet: *wallet,
            coordination_block: cb,
        })
        .and_then(|page| Ok(page.into_result()?))
        .expect("reading the history")
}

async fn run_windows(events: &mut broadcast::Receiver<Event>, windows: usize) -> Vec<Event> {
    let mut seen = Vec::new();
    let mut completed = Vec::new();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => panic!("test subscriber lagged by {n}"),
            Err(broadcast::error::RecvError::Closed) => panic!("bus closed"),
        };
        if let Event::WindowCompleted {
            coordination_block, ..
        } = &event
        {
            completed.push(*coordination_block);
        }
        let done = match (&event, completed.get(windows - 1)) {
            (Event::Block { block }, Some(cb)) => block.number >= cb + 110,
            _ => false,
        };
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn windows_started(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::WindowStarted {
                coordination_block, ..
            } => Some(*coordination_block),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn nodes_agree_and_every_injected_fault_is_recorded_exactly() {
    every_injected_fault_is_recorded_exactly(Duration::from_millis(100), DevnetTransport::Hub)
        .await;
}

/// The same misbehaving devnet in real time with blocks as fast as the nodes allow: a slow
/// leader or an impersonator that waits for blocks is not outrun by the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_one_nanosecond_blocks_every_injected_fault_is_still_recorded_exactly() {
    every_injected_fault_is_recorded_exactly(Duration::from_nanos(1), DevnetTransport::Hub).await;
}

/// The same again with every node on its own libp2p swarm over loopback: keep's handshake,
/// the firewall and gossipsub carry the messages instead of the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_libp2p_every_injected_fault_is_recorded_exactly() {
    every_injected_fault_is_recorded_exactly(Duration::from_nanos(1), DevnetTransport::Libp2p)
        .await;
}

async fn every_injected_fault_is_recorded_exactly(
    block_time: Duration,
    transport: DevnetTransport,
) {
    let cancel = CancellationToken::new();
    let store = Arc::new(Store::open_in_memory().unwrap());
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let mut config = config(11, 8, 0.5);
    config.devnet.block_time = block_time;
    config.transport = transport;
    let network = DevnetNetwork::start(config, store.clone(), bus, cancel.clone())
        .await
        .unwrap();
    let seen = run_windows(&mut events, 4).await;

    // No window missed or doubled.
    assert_eq!(windows_started(&seen), vec![900, 1800, 2700, 3600]);
    assert!(!seen.iter().any(|e| matches!(e, Event::WindowMissed { .. })));
    assert!(seen
        .iter()
        .all(|e| !matches!(e, Event::WindowStarted { late: true, .. })));

    let local = network.local.operator();
    // Over libp2p, the local node's swarm connected to every other operator's (a full mesh)
    // and said why each was let in; the hub has no peers to announce.
    let connected: BTreeSet<(Address, String)> = seen
        .iter()
        .filter_map(|e| match e {
            Event::PeerConnected {
                operator: Some(operator),
                admitted,
                ..
            } => Some((*operator, admitted.clone())),
            _ => None,
        })
        .collect();
    let others: BTreeSet<Address> = network
        .devnet
        .operators()
        .iter()
        .map(|o| o.address)
        .filter(|a| *a != local)
        .collect();
    match transport {
        DevnetTransport::Hub => assert!(connected.is_empty(), "{connected:?}"),
        DevnetTransport::Libp2p => {
            let operators: BTreeSet<Address> = connected.iter().map(|(a, _)| *a).collect();
            assert_eq!(operators, others);
            assert!(connected
                .iter()
                .all(|(_, why)| why == "allowlisted" || why == "a staked operator on chain"));
        }
    }
    let test_plan = Plan {
        seed: 11,
        rate: 0.5,
        honest: local,
    };
    let all_wallets = network.devnet.wallet_infos();
    let windows: Vec<u64> = vec![900, 1800, 2700, 3600];

    // The local node has completed the last window; a peer may still be recording its own
    // results (over sockets a late message can hold it back). Wait until every seat holder
    // has a result for every window, then compare.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut missing = Vec::new();
        for info in &all_wallets {
            for node in std::iter::once(&network.local).chain(network.peers.iter()) {
                if !info.operators.contains(&node.operator()) {
                    continue;
                }
                for &cb in &windows {
                    if result_of(node, &info.wallet, cb).is_none() {
                        missing.push((node.operator(), info.wallet, cb));
                    }
                }
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "seat holders without a result: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every honest node agrees on the leader and the accepted proposal of every
    // (wallet, window). Misbehaving nodes are excluded where they misbehaved.
    let mut kinds = std::collections::HashSet::new();
    let mut checked_pairs = 0;
    for info in &all_wallets {
        let group = SigningGroup::new(info.operators.clone()).unwrap();
        for &cb in &windows {
            let mut views: BTreeMap<Address, (Address, String)> = BTreeMap::new();
            let mut plan = None;
            for node in std::iter::once(&network.local).chain(network.peers.iter()) {
                let Some(row) = result_of(node, &info.wallet, cb) else {
                    assert!(
                        !info.operators.contains(&node.operator()),
                        "node {} holds a seat in {} but has no result for {cb}",
                        node.operator(),
                        info.wallet
                    );
                    continue;
                };
                let window = CoordinationWindow::new(cb);
                let seed = row.seed;
                let leader = group.leader(&seed).unwrap();
                assert_eq!(row.leader, leader.operator);
                assert_eq!(row.checklist, checklist(window, &seed));
                plan = test_plan.of(&info.wallet, cb, &group, leader, &row.checklist);
                let misbehaved = match plan {
                    Some(Planned::IdleLeader) | Some(Planned::WrongAction) => {
                        node.operator() == leader.operator
                    }
                    Some(Planned::Impersonation { impersonator }) => {
                        node.operator() == impersonator
                    }
                    None => false,
                };
                if !misbehaved {
                    views.insert(node.operator(), (row.leader, row.proposal_json.clone()));
                }
            }
            if let Some(p) = plan {
                kinds.insert(std::mem::discriminant(&p));
            }
            let distinct: BTreeSet<_> = views.values().collect();
            assert_eq!(
                distinct.len(),
                1,
                "disagreement on {} at {cb}: {views:?}",
                info.wallet
            );
            checked_pairs += 1;
        }
    }
    assert_eq!(checked_pairs, all_wallets.len() * windows.len());
    assert_eq!(
        kinds.len(),
        3,
        "this seed and rate exercise all three misbehaviours"
    );

    // The local node records exactly the injected faults: right type, right culprit, no other.
    let mut expected: Vec<(WalletPkh, u64, Fault)> = Vec::new();
    for row in store.results(None, 1000).unwrap() {
        let info = all_wallets.iter().find(|w| w.wallet == row.wallet).unwrap();
        let group = SigningGroup::new(info.operators.clone()).unwrap();
        let leader = group.leader(&row.seed).unwrap();
        if row.role == Role::Leader {
            continue; // a leader does not listen, so it records nothing
        }
        if let Some(p) = test_plan.of(
            &row.wallet,
            row.coordination_block,
            &group,
            leader,
            &row.checklist,
        ) {
            for fault in faults_of(p, leader.operator) {
                expected.push((row.wallet, row.coordination_block, fault));
            }
        }
    }
    let mut recorded: Vec<(WalletPkh, u64, Fault)> = store
        .faults(&FaultFilter::default(), FaultOrder::OldestFirst, 0, 10_000)
        .unwrap()
        .into_iter()
        .map(|f| {
            (
                f.wallet,
                f.coordination_block,
                Fault {
                    fault: f.fault,
                    culprit: f.culprit,
                },
            )
        })
        .collect();
    expected.sort();
    recorded.sort();
    assert!(!expected.is_empty());
    assert_eq!(recorded, expected);
    assert!(recorded.iter().all(|(_, _, f)| f.culprit != local));

    // Fault events on the bus match the store.
    let announced = seen
        .iter()
        .filter(|e| matches!(e, Event::Fault { .. }))
        .count();
    assert_eq!(announced, recorded.len());

    // Each local wallet has exactly one result per window.
    let local_wallets = network.local.wallets().len();
    assert_eq!(
        store.results(None, 1000).unwrap().len(),
        local_wallets * windows.len()
    );

    // Accepted proposals were dispatched at the window's end with the action's validity.
    for e in &seen {
        if let Event::ProposalDispatched {
            coordination_block,
            action,
            start_block,
            expiry_block,
            ..
        } = e
        {
            assert_ne!(*action, ActionType::Noop);
            assert_eq!(*start_block, coordination_block + 100);
            assert_eq!(*expiry_block, start_block + action.validity_blocks());
        }
    }
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::ProposalDispatched { .. })));
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::ActionFinished { .. })));

    network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn history_survives_a_restart_and_the_chain_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet-5.sqlite3");

    let first_faults;
    {
        let store = Arc::new(Store::open(&path).unwrap());
        let bus = EventBus::default();
        let mut events = bus.subscribe();
        let network = DevnetNetwork::start(
            config(5, 4, 0.6),
            store.clone(),
            bus,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let seen = run_windows(&mut events, 2).await;
        assert_eq!(windows_started(&seen), vec![900, 1800]);
        first_faults = store.count_faults(&FaultFilter::default()).unwrap();
        network.shutdown().await;
    }
    assert!(first_faults > 0, "the first run records faults");

    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(
        store.count_faults(&FaultFilter::default()).unwrap(),
        first_faults
    );
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let network = DevnetNetwork::start(
        config(5, 4, 0.6),
        store.clone(),
        bus,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let seen = run_windows(&mut events, 2).await;
    // The chain resumed after the recorded windows: nothing replayed, nothing skipped.
    assert_eq!(windows_started(&seen), vec![2700, 3600]);
    assert!(!seen.iter().any(|e| matches!(e, Event::WindowMissed { .. })));
    let windows: BTreeSet<u64> = store
        .results(None, 1000)
        .unwrap()
        .iter()
        .map(|r| r.coordination_block)
        .collect();
    assert_eq!(windows, BTreeSet::from([900, 1800, 2700, 3600]));
    assert!(store.count_faults(&FaultFilter::default()).unwrap() >= first_faults);
    network.shutdown().await;
}

/// An honest devnet of `wallets` wallets in real time (no paused clock, several worker
/// threads) at `block_time`: the chain must wait for its nodes, so no leader is ever late.
async fn an_honest_fast_devnet_records_no_fault(
    wallets: usize,
    block_time: Duration,
    transport: DevnetTransport,
) {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let bus = EventBus::default();
    let mut events = bus.subscribe();
    let mut config = config(3, wallets, 0.0);
    config.devnet.block_time = block_time;
    config.transport = transport;
    let network = DevnetNetwork::start(config, store.clone(), bus, CancellationToken::new())
        .await
        .unwrap();
    let seen = run_windows(&mut events, 3).await;
    assert_eq!(windows_started(&seen), vec![900, 1800, 2700]);
    let results = seen
        .iter()
        .filter(|e| matches!(e, Event::CoordinationResult(_)))
        .count();
    assert_eq!(results, network.local.wallets().len() * 3);
    let announced: Vec<&Event> = seen
        .iter()
        .filter(|e| matches!(e, Event::Fault { .. }))
        .collect();
    assert!(announced.is_empty(), "{announced:?}");
    for node in std::iter::once(&network.local).chain(network.peers.iter()) {
        let faults = node
            .history()
            .query(&HistoryQuery::Faults {
                filter: FaultFilter::default(),
                order: FaultOrder::OldestFirst,
                offset: 0,
                limit: 10,
            })
            .and_then(|page| Ok(page.into_faults()?))
            .unwrap();
        assert!(faults.is_empty(), "node {}: {faults:?}", node.operator());
    }
    network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_honest_devnet_at_one_nanosecond_blocks_records_no_fault() {
    an_honest_fast_devnet_records_no_fault(200, Duration::from_nanos(1), DevnetTransport::Hub)
        .await;
}

/// Over libp2p, with fewer wallets: every message crosses real sockets in a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_honest_devnet_over_libp2p_records_no_fault() {
    an_honest_fast_devnet_records_no_fault(40, Duration::from_nanos(1), DevnetTransport::Libp2p)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_honest_devnet_at_two_millisecond_blocks_records_no_fault() {
    an_honest_fast_devnet_records_no_fault(200, Duration::from_millis(2), DevnetTransport::Hub)
        .await;
}

#[test]
fn the_binary_at_one_nanosecond_blocks_prints_no_fault() {
    let events = binary_at_one_nanosecond_blocks(&[]);
    assert!(events.iter().all(|e| e["type"] != "peer_connected"));
}

/// `--devnet-transport libp2p`: the same run with a swarm per simulated operator, whose
/// connections the headless output reports.
#[test]
fn the_binary_over_libp2p_prints_no_fault_and_its_peers() {
    let events = binary_at_one_nanosecond_blocks(&["--devnet-transport", "libp2p"]);
    let peers: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["type"] == "peer_connected")
        .filter_map(|e| e["operator"].as_str())
        .collect();
    // The default devnet has 20 operators: ours and 19 peers.
    assert_eq!(peers.len(), 19, "{peers:?}");
}

/// Runs the binary headless for three windows of an honest devnet and checks that it
/// printed them and no fault.
fn binary_at_one_nanosecond_blocks(extra: &[&str]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tbtc-coord"))
        .args([
            "run",
            "--headless",
            "--json",
            "--block-time",
            "1ns",
            "--devnet-fault-rate",
            "0",
            "--stop-after-windows",
            "3",
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of_type = |t: &str| events.iter().filter(|e| e["type"] == t).count();
    assert_eq!(of_type("window_completed"), 3, "{stdout}");
    assert!(of_type("coordination_result") > 0);
    assert_eq!(of_type("fault"), 0, "{stdout}");
    events
}
