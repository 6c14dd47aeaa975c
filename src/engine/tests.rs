//! Unit tests of the node's components that need their private parts.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::context::{Identity, NodeConfig, NodeContext};
use super::dispatcher::Dispatcher;
use super::events::{Event, EventBus};
use super::executor::{Executor, ExecutorOutcome, WalletEntry};
use crate::chain::devnet::{Devnet, DevnetConfig};
use crate::net::local::LocalHub;
use crate::protocol::proposal::HexBytes;
use crate::protocol::{
    Address, CoordinationResult, CoordinationWindow, Role, SigningGroup, WalletPkh,
};
use crate::protocol::{Hash32, Proposal, Seed};
use crate::store::{DispatchStatus, Store};

fn context() -> (Arc<NodeContext>, Devnet) {
    let devnet = Devnet::new(DevnetConfig::default()).unwrap();
    let key = devnet.local_operator().key.clone();
    let (head, _) = watch::channel(devnet.head().number);
    let ctx = Arc::new(NodeContext {
        chain: Arc::new(devnet.clone()),
        net: Arc::new(LocalHub::new(16)),
        store: Arc::new(Store::open_in_memory().unwrap()),
        bus: EventBus::default(),
        identity: Identity::signer(key),
        config: NodeConfig::default(),
        cancel: CancellationToken::new(),
        head,
    });
    (ctx, devnet)
}

fn heartbeat_result(wallet: WalletPkh, cb: u64) -> CoordinationResult {
    CoordinationResult {
        wallet,
        window: CoordinationWindow::new(cb),
        safe_block_hash: Hash32::default(),
        seed: Seed::default(),
        leader: Address::default(),
        leader_member_index: 1,
        role: Role::Follower,
        checklist: vec![crate::protocol::ActionType::Heartbeat],
        proposal: Proposal::Heartbeat {
            message: HexBytes(vec![0xFF; 16]),
        },
        faults: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_procedure_on_a_busy_executor_is_reported_busy() {
    let (ctx, devnet) = context();
    let info = devnet.wallet_infos().remove(0);
    let group = SigningGroup::new(info.operators.clone()).unwrap();
    let seats = group.seats_of(&ctx.identity.operator);
    let (executor, _inbox) = Executor::new(WalletEntry {
        wallet: info.wallet,
        group,
        seats,
    });
    let window = CoordinationWindow::new(900);
    let first = executor.begin(&ctx, window, Hash32([1; 32]), 0).unwrap();
    assert!(executor.is_busy());
    match executor.begin(&ctx, window.next(), Hash32([1; 32]), 0) {
        Err(ExecutorOutcome::Busy { wallet, window: w }) => {
            assert_eq!(wallet, info.wallet);
            assert_eq!(w, window.next());
        }
        Err(other) => panic!("expected busy, got {other:?}"),
        Ok(_) => panic!("expected busy, got a second procedure"),
    }
    drop(first);
    assert!(
        !executor.is_busy(),
        "a finished procedure frees its executor"
    );
    assert!(executor
        .begin(&ctx, window.next(), Hash32([1; 32]), 0)
        .is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_proposal_for_a_wallet_with_a_running_action_is_rejected_and_reported() {
    let (ctx, devnet) = context();
    let wallet = devnet.wallet_infos()[0].wallet;
    let mut events = ctx.bus.subscribe();
    let dispatcher = Arc::new(Dispatcher::default());
    dispatcher.dispatch(&ctx, &heartbeat_result(wallet, 900));
    dispatcher.dispatch(&ctx, &heartbeat_result(wallet, 1800));
    // Another wallet is not affected.
    let other = devnet.wallet_infos()[1].wallet;
    dispatcher.dispatch(&ctx, &heartbeat_result(other, 1800));

    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(events.recv().await.unwrap());
    }
    assert!(matches!(
        kinds[0],
        Event::ProposalDispatched {
            coordination_block: 900,
            start_block: 1000,
            expiry_block: 1600,
            ..
        }
    ));
    match &kinds[1] {
        Event::DispatchRejected {
            wallet: w,
            coordination_block: 1800,
            reason,
            ..
        } => {
            assert_eq!(*w, wallet);
            assert!(
                reason.contains("Heartbeat") && reason.contains("900"),
                "{reason}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(matches!(
        kinds[2],
        Event::ProposalDispatched {
            coordination_block: 1800,
            ..
        }
    ));
    let rows = ctx.store.dispatches(10).unwrap();
    let rejected = rows
        .iter()
        .find(|r| r.wallet == wallet && r.coordination_block == 1800)
        .unwrap();
    assert_eq!(rejected.status, DispatchStatus::Rejected);
    assert!(rejected.reason.is_some());
    ctx.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_dispatched_action_runs_from_its_start_block_until_it_finishes() {
    let (ctx, devnet) = context();
    let wallet = devnet.wallet_infos()[0].wallet;
    let mut events = ctx.bus.subscribe();
    Arc::new(Dispatcher::default()).dispatch(&ctx, &heartbeat_result(wallet, 900));
    // Drive the head block by block, as the window watch would.
    let producer = {
        let ctx = ctx.clone();
        let devnet = devnet.clone();
        tokio::spawn(async move {
            for _ in 0..2000 {
                devnet.mine(1);
                ctx.head.send_replace(devnet.head().number);
                tokio::task::yield_now().await;
            }
        })
    };
    let mut started = None;
    let finished = loop {
        match events.recv().await.unwrap() {
            Event::ActionStarted { block, .. } => started = Some(block),
            Event::ActionFinished { outcome, block, .. } => break (outcome, block),
            _ => {}
        }
    };
    assert_eq!(started, Some(1000));
    assert!(finished.1 >= 1000 && finished.1 <= 1600, "{finished:?}");
    let row = ctx.store.dispatch(&wallet, 900).unwrap().unwrap();
    assert_eq!(row.status, DispatchStatus::from(finished.0));
    ctx.cancel.cancel();
    producer.abort();
}
