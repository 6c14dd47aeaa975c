//! Shutdowns, crashes and restarts keep the history exactly true: a cut-off procedure records
//! nothing, a cut-off window is marked interrupted and is resumed late or reported missed
//! with the reason, open actions are restored, and a write that fails is never announced.
//! Time is block-driven (tokio's paused clock), so every run is repeatable.

use std::sync::Arc;
use std::time::Duration;

use tbtc_coord::devnet::DevnetConfig;
use tbtc_coord::devnet::{DevnetNetwork, DevnetNetworkConfig};
use tbtc_coord::engine::executor::{Strategy, Turn};
use tbtc_coord::engine::history::HistoryWriter;
use tbtc_coord::engine::records::{FaultFilter, FaultOrder, WindowStatus};
use tbtc_coord::engine::{Event, EventBus, NodeConfig};
use tbtc_coord::protocol::FaultType;
use tbtc_coord::protocol::Proposal;
use tbtc_coord::store::Store;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

fn config(fault_rate: f64, start_block: Option<u64>) -> DevnetNetworkConfig {
    DevnetNetworkConfig {
        devnet: DevnetConfig {
            seed: 23,
            block_time: Duration::from_millis(100),
            operators: 10,
            wallets: 6,
            start_block,
            ..DevnetConfig::default()
        },
        fault_rate,
        node: NodeConfig::default(),
        ..DevnetNetworkConfig::default()
    }
}

/// Starts a devnet network on `store`, subscribed before its first event.
async fn start(
    config: DevnetNetworkConfig,
    store: Arc<Store>,
) -> (DevnetNetwork, broadcast::Receiver<Event>) {
    let bus = EventBus::default();
    let events = bus.subscribe();
    let network = DevnetNetwork::start(config, store, bus, CancellationToken::new())
        .await
        .unwrap();
    (network, events)
}

async fn next(events: &mut broadcast::Receiver<Event>) -> Event {
    match events.recv().await {
        Ok(e) => e,
        Err(broadcast::error::RecvError::Lagged(n)) => panic!("test subscriber lagged by {n}"),
        Err(broadcast::error::RecvError::Closed) => panic!("bus closed"),
    }
}

/// Reads events until `stop` matches one; returns everything read, that one included.
async fn until(
    events: &mut broadcast::Receiver<Event>,
    stop: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = next(events).await;
        let done = stop(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

/// Faults of window `cb`; only idleness ones if `idleness_only`. Idleness can only be
/// concluded at the end of the active phase, so before it any such fault is invented.
fn faults_in(store: &Store, cb: u64, idleness_only: bool) -> usize {
    let filter = FaultFilter {
        from_block: Some(cb),
        to_block: Some(cb),
        fault: idleness_only.then_some(FaultType::LeaderIdleness),
        ..FaultFilter::default()
    };
    store
        .faults(&filter, FaultOrder::NewestFirst, 0, 1000)
        .unwrap()
        .len()
}

fn window_status(store: &Store, cb: u64) -> Option<(WindowStatus, Option<String>)> {
    store
        .windows(1000)
        .unwrap()
        .into_iter()
        .find(|w| w.coordination_block == cb)
        .map(|w| (w.status, w.reason))
}

/// Runs a devnet whose leaders all misbehave (so followers listen through the whole active
/// phase) until block `cb + 10`, then shuts it down. Returns what the local node announced
/// from the shutdown on.
async fn shut_down_inside_the_active_phase(store: Arc<Store>, cb: u64) -> Vec<Event> {
    let (network, mut events) = start(config(1.0, None), store).await;
    until(
        &mut events,
        |e| matches!(e, Event::Block { block } if block.number >= cb + 10),
    )
    .await;
    network.shutdown().await;
    until(&mut events, |e| matches!(e, Event::NodeStopped)).await
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_inside_the_active_phase_records_no_fault_and_marks_the_window_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("h.sqlite3")).unwrap());
    let after = shut_down_inside_the_active_phase(store.clone(), 900).await;

    assert!(
        !after.iter().any(|e| matches!(
            e,
            Event::Fault {
                fault: FaultType::LeaderIdleness,
                ..
            }
        )),
        "an idleness fault was announced after the shutdown: {after:?}"
    );
    assert_eq!(
        faults_in(&store, 900, true),
        0,
        "a cut-off procedure blamed its leader"
    );
    assert!(after.iter().any(|e| matches!(
        e,
        Event::WindowInterrupted {
            coordination_block: 900,
            ..
        }
    )));
    let (status, reason) = window_status(&store, 900).unwrap();
    assert_eq!(status, WindowStatus::Interrupted);
    assert!(reason.unwrap().contains("stopped during the window"));
}

#[tokio::test(start_paused = true)]
async fn a_restart_after_the_active_phase_reports_the_interrupted_window_missed_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let store = Arc::new(Store::open(&path).unwrap());
    shut_down_inside_the_active_phase(store, 900).await;

    // The devnet resumes shortly before the next window: 900's active phase is over.
    let store = Arc::new(Store::open(&path).unwrap());
    let (network, mut events) = start(config(0.0, None), store.clone()).await;
    let seen = until(&mut events, |e| matches!(e, Event::WindowStarted { .. })).await;
    let reason = seen
        .iter()
        .find_map(|e| match e {
            Event::WindowMissed {
                coordination_block: 900,
                reason,
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .expect("window 900 reported missed");
    assert!(reason.contains("stopped during the window"), "{reason}");
    assert!(matches!(
        seen.last(),
        Some(Event::WindowStarted {
            coordination_block: 1800,
            late: false,
            ..
        })
    ));
    let (status, stored_reason) = window_status(&store, 900).unwrap();
    assert_eq!(status, WindowStatus::Missed);
    assert_eq!(stored_reason.as_deref(), Some(reason.as_str()));
    assert_eq!(faults_in(&store, 900, true), 0);
    network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_inside_the_active_phase_resumes_the_interrupted_window_late() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let store = Arc::new(Store::open(&path).unwrap());
    shut_down_inside_the_active_phase(store, 900).await;

    let store = Arc::new(Store::open(&path).unwrap());
    let (network, mut events) = start(config(0.0, Some(930)), store.clone()).await;
    let wallets = network.local.wallets().len();
    let seen = until(&mut events, |e| {
        matches!(
            e,
            Event::WindowCompleted {
                coordination_block: 900,
                ..
            }
        )
    })
    .await;
    assert!(seen.iter().any(|e| matches!(
        e,
        Event::WindowStarted {
            coordination_block: 900,
            late: true,
            ..
        }
    )));
    assert_eq!(
        window_status(&store, 900).unwrap().0,
        WindowStatus::Completed
    );
    // One result per wallet: none recorded twice across the restart.
    let results = store.results(None, 1000).unwrap();
    let in_900 = results
        .iter()
        .filter(|r| r.coordination_block == 900)
        .count();
    assert_eq!(in_900, wallets);
    // The honest leaders re-send while the active phase lasts, so the late followers hear
    // them: nobody is blamed for idleness.
    assert_eq!(faults_in(&store, 900, true), 0);
    network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_window_left_started_by_a_crash_is_reported_missed_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    {
        let store = Store::open(&path).unwrap();
        // What a kill -9 inside window 900 leaves behind.
        store
            .record_window(900, WindowStatus::Started, false, 900)
            .unwrap();
    }
    let store = Arc::new(Store::open(&path).unwrap());
    let (network, mut events) = start(config(0.0, Some(1000)), store.clone()).await;
    let seen = until(&mut events, |e| matches!(e, Event::WindowMissed { .. })).await;
    match seen.last() {
        Some(Event::WindowMissed {
            coordination_block: 900,
            reason,
            ..
        }) => assert!(reason.contains("crashed or was killed"), "{reason}"),
        other => panic!("expected window 900 missed, got {other:?}"),
    }
    assert_eq!(window_status(&store, 900).unwrap().0, WindowStatus::Missed);
    network.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_history_that_cannot_be_written_announces_errors_and_no_facts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    drop(Store::open(&path).unwrap());
    // Every write through this connection fails, as on a full or read-only disk.
    let store = Arc::new(Store::open_read_only(&path).unwrap());
    let (network, mut events) = start(config(0.5, None), store.clone()).await;
    let seen = until(
        &mut events,
        |e| matches!(e, Event::Block { block } if block.number >= 1000),
    )
    .await;
    let history_errors = network.local.snapshot().history_errors;
    network.shutdown().await;

    let errors = seen
        .iter()
        .filter(|e| matches!(e, Event::HistoryError { .. }))
        .count();
    assert!(errors > 0, "failed writes were not reported");
    let announced_facts: Vec<&Event> = seen
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::WindowStarted { .. }
                    | Event::WindowCompleted { .. }
                    | Event::CoordinationResult(_)
                    | Event::Fault { .. }
                    | Event::ProposalDispatched { .. }
            )
        })
        .collect();
    assert!(
        announced_facts.is_empty(),
        "facts announced although not kept: {announced_facts:?}"
    );
    assert!(history_errors as usize >= errors);
}

/// Runs window 900 of a devnet whose leaders all misbehave, with every node starting at
/// `start_block`; returns the idleness faults the local node recorded for it.
async fn idleness_when_joining_at(start_block: u64) -> usize {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let (network, mut events) = start(config(1.0, Some(start_block)), store.clone()).await;
    until(&mut events, |e| {
        matches!(
            e,
            Event::WindowCompleted {
                coordination_block: 900,
                ..
            }
        )
    })
    .await;
    network.shutdown().await;
    faults_in(&store, 900, true)
}

#[tokio::test(start_paused = true)]
async fn a_follower_that_joins_after_the_leaders_last_resend_blames_no_leader() {
    // Joining early, the silent leaders are blamed: the control.
    assert!(idleness_when_joining_at(905).await > 0);
    // Joining at 975, after the last re-send an honest leader makes (block 970), silence
    // proves nothing.
    assert_eq!(idleness_when_joining_at(975).await, 0);
}

/// Leads by panicking: a bug in a procedure.
struct PanickingLeader;

#[async_trait::async_trait]
impl Strategy for PanickingLeader {
    async fn lead(&self, _turn: &Turn<'_>) -> Proposal {
        panic!("a bug in the leader routine");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_procedure_is_reported_failed_and_its_window_still_completes() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mut network_config = config(0.0, None);
    network_config.node.strategy = Arc::new(PanickingLeader);
    let (network, mut events) = start(network_config, store).await;
    // Within a few windows this node leads some wallet.
    let seen = until(&mut events, |e| {
        matches!(e, Event::ExecutorFailed { .. })
            || matches!(e, Event::Block { block } if block.number > 20 * 900)
    })
    .await;
    let Some(Event::ExecutorFailed {
        coordination_block,
        error,
        ..
    }) = seen.last().cloned()
    else {
        panic!("this node never led a wallet in 20 windows");
    };
    assert!(
        error.contains("panicked") && error.contains("a bug in the leader routine"),
        "{error}"
    );
    until(&mut events, |e| {
        matches!(e, Event::WindowCompleted { coordination_block: cb, .. } if *cb == coordination_block)
    })
    .await;
    network.shutdown().await;
}
