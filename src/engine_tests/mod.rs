//! Unit tests of the engine's components that need their private parts, run on the devnet's
//! simulated chain with an in-memory history. They live outside `engine` so that the engine
//! imports nothing of the devnet or the store, not even in its tests.

mod executor;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::chain::{ActionRequest, Chain, ChainError};
use crate::devnet::{Devnet, DevnetConfig};
use crate::engine::bus::EventBus;
use crate::engine::context::{Identity, NodeConfig, NodeContext};
use crate::engine::dispatcher::Dispatcher;
use crate::engine::dispatcher::NODE_WAS_DOWN;
use crate::engine::events::Event;
use crate::engine::executor::{Executor, ExecutorOutcome};
use crate::engine::query::HistoryQuery;
use crate::engine::records::{DispatchRecord, DispatchStatus};
use crate::net::envelope::Envelope;
use crate::net::local::LocalHub;
use crate::net::BroadcastChannel;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::proposal::HexBytes;
use crate::protocol::ActionOutcome;
use crate::protocol::{Address, CoordinationResult, CoordinationWindow, Role, WalletPkh};
use crate::protocol::{Hash32, Proposal, Seed};
use crate::store::Store;

fn context() -> (Arc<NodeContext>, Devnet) {
    context_with(NodeConfig::default())
}

/// A node context on the default devnet, with an in-memory history, at the devnet's head.
pub(super) fn context_with(config: NodeConfig) -> (Arc<NodeContext>, Devnet) {
    let devnet = Devnet::new(DevnetConfig::default()).unwrap();
    let key = devnet.local_operator().key.clone();
    let ctx = Arc::new(NodeContext::new(
        Arc::new(devnet.clone()),
        Arc::new(LocalHub::new(16).endpoint(Some(key.clone()))),
        Arc::new(Store::open_in_memory().unwrap()).into(),
        EventBus::default(),
        Identity::signer(key),
        config,
        CancellationToken::new(),
    ));
    ctx.head.send_replace(devnet.head().number);
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
        members_connected: None,
        evidence: Default::default(),
        proposed_actions: Default::default(),
        refusals: Vec::new(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_procedure_on_a_busy_executor_is_reported_busy() {
    let (ctx, devnet) = context();
    let info = devnet.wallet_infos().remove(0);
    let (executor, _inbox) = Executor::for_wallet(&info, &ctx.identity.operator).unwrap();
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
    dispatcher
        .dispatch(&ctx, &heartbeat_result(wallet, 900))
        .await;
    dispatcher
        .dispatch(&ctx, &heartbeat_result(wallet, 1800))
        .await;
    // Another wallet is not affected.
    let other = devnet.wallet_infos()[1].wallet;
    dispatcher
        .dispatch(&ctx, &heartbeat_result(other, 1800))
        .await;

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
    let rows = ctx
        .history
        .reader
        .query(&HistoryQuery::Dispatches {
            offset: 0,
            limit: 10,
        })
        .unwrap()
        .into_dispatches()
        .unwrap();
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
    Arc::new(Dispatcher::default())
        .dispatch(&ctx, &heartbeat_result(wallet, 900))
        .await;
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
    let row = dispatch_of(&ctx, wallet, 900);
    assert_eq!(row.status, DispatchStatus::from(finished.0));
    ctx.cancel.cancel();
    producer.abort();
}

fn open_dispatch(wallet: WalletPkh, cb: u64) -> DispatchRecord {
    let start_block = cb + 100;
    DispatchRecord {
        wallet,
        coordination_block: cb,
        proposal: Proposal::Heartbeat {
            message: HexBytes(vec![0xFF; 16]),
        },
        start_block,
        expiry_block: start_block + 600,
        status: DispatchStatus::Dispatched,
        reason: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_expires_the_actions_it_was_down_for_and_keeps_the_others_busy() {
    let (ctx, devnet) = context();
    let wallets = devnet.wallet_infos();
    let (stale, open) = (wallets[0].wallet, wallets[1].wallet);
    // Expiry 1600, passed while the node was down; and expiry 2900, still ahead.
    ctx.history
        .writer
        .record_dispatch(&open_dispatch(stale, 900))
        .unwrap();
    ctx.history
        .writer
        .record_dispatch(&open_dispatch(open, 2200))
        .unwrap();
    ctx.history
        .writer
        .set_dispatch_status(&open, 2200, DispatchStatus::Running, 2300)
        .unwrap();
    ctx.head.send_replace(2400);
    let mut events = ctx.bus.subscribe();

    let dispatcher = Arc::new(Dispatcher::default());
    dispatcher.restore(&ctx).await;

    let row = dispatch_of(&ctx, stale, 900);
    assert_eq!(row.status, DispatchStatus::Expired);
    assert_eq!(row.reason.as_deref(), Some(NODE_WAS_DOWN));
    assert_eq!(row.finished_block, Some(2400));
    assert!(matches!(
        events.recv().await.unwrap(),
        Event::ActionFinished {
            coordination_block: 900,
            outcome: ActionOutcome::Expired,
            ..
        }
    ));
    assert!(matches!(
        events.recv().await.unwrap(),
        Event::ActionRestored {
            coordination_block: 2200,
            running: true,
            ..
        }
    ));
    // The restored action keeps its wallet busy: the next proposal is rejected.
    dispatcher
        .dispatch(&ctx, &heartbeat_result(open, 3600))
        .await;
    let rejected = dispatch_of(&ctx, open, 3600);
    assert_eq!(rejected.status, DispatchStatus::Rejected);
    assert!(rejected.reason.unwrap().contains("from window 2200"));
    ctx.cancel.cancel();
}

/// A chain whose Bridge check finds the action's proof only once the head reaches the
/// expiry block, as a real node does when the action lands in the last blocks.
struct LandsAtExpiry {
    devnet: Devnet,
    head: tokio::sync::watch::Receiver<u64>,
}

#[async_trait::async_trait]
impl Chain for LandsAtExpiry {
    fn chain_key(&self) -> String {
        self.devnet.chain_key()
    }
    fn status(&self) -> crate::protocol::ChainStatus {
        self.devnet.status()
    }
    async fn wallets(&self) -> Result<Vec<crate::protocol::WalletInfo>, ChainError> {
        self.devnet.wallets().await
    }
    async fn latest_block(&self) -> Result<crate::protocol::BlockRef, ChainError> {
        self.devnet.latest_block().await
    }
    async fn subscribe_blocks(&self) -> Result<crate::chain::BlockStream, ChainError> {
        self.devnet.subscribe_blocks().await
    }
    async fn block_hash(
        &self,
        number: u64,
        rule: crate::protocol::BlockHashRule,
    ) -> Result<Hash32, ChainError> {
        self.devnet.block_hash(number, rule).await
    }
    async fn wallet_snapshot(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<crate::protocol::WalletSnapshot, ChainError> {
        self.devnet.wallet_snapshot(wallet, block).await
    }
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError> {
        let mut head = self.head.clone();
        let _ = head.wait_for(|h| *h >= request.expiry_block).await;
        Ok(ActionOutcome::Completed)
    }
}

#[tokio::test(start_paused = true)]
async fn an_action_that_lands_at_its_expiry_block_is_completed_not_expired() {
    let (base, devnet) = context();
    let head = base.head_watch();
    let ctx = Arc::new(NodeContext::new(
        Arc::new(LandsAtExpiry {
            devnet: devnet.clone(),
            head,
        }),
        base.net.clone(),
        base.history.clone(),
        base.bus.clone(),
        base.identity.clone(),
        NodeConfig::default(),
        CancellationToken::new(),
    ));
    ctx.head.send_replace(1000);
    // The test drives the same head watch the dispatcher waits on.
    let wallet = devnet.wallet_infos()[0].wallet;
    let mut events = ctx.bus.subscribe();
    Arc::new(Dispatcher::default())
        .dispatch(&ctx, &heartbeat_result(wallet, 900))
        .await;
    for block in 1001..=1600 {
        ctx.head.send_replace(block);
        base.head.send_replace(block);
        tokio::task::yield_now().await;
    }
    let outcome = loop {
        if let Event::ActionFinished { outcome, .. } = events.recv().await.unwrap() {
            break outcome;
        }
    };
    assert_eq!(outcome, ActionOutcome::Completed);
    let row = dispatch_of(&ctx, wallet, 900);
    assert_eq!(row.status, DispatchStatus::Completed);
    ctx.cancel.cancel();
}

/// A router on a fresh hub for the devnet's first wallet at block 905, and the hub.
fn router_on_hub() -> (
    Arc<NodeContext>,
    crate::protocol::WalletInfo,
    Arc<Executor>,
    LocalHub,
    tokio::task::JoinHandle<()>,
    Devnet,
) {
    let (base, devnet) = context();
    let hub = LocalHub::new(256);
    let ctx = Arc::new(NodeContext::new(
        base.chain.clone(),
        Arc::new(hub.endpoint(None)),
        base.history.clone(),
        base.bus.clone(),
        base.identity.clone(),
        NodeConfig::default(),
        CancellationToken::new(),
    ));
    ctx.head.send_replace(905);
    let info = devnet.wallet_infos().remove(0);
    let (executor, inbox) = Executor::for_wallet(&info, &ctx.identity.operator).unwrap();
    let route = crate::engine::router::Route {
        inbox,
        group: executor.entry.group.clone(),
        topic: info.coordination_topic(),
    };
    let routes = std::collections::HashMap::from([(info.wallet, route)]);
    let router = tokio::spawn(crate::engine::router::route_messages(
        ctx.clone(),
        ctx.net.subscribe(),
        routes,
    ));
    (ctx, info, executor, hub, router, devnet)
}

/// The operator key of `address` on the devnet.
fn key_of(devnet: &Devnet, address: Address) -> crate::net::signing::OperatorKey {
    devnet
        .operators()
        .iter()
        .find(|o| o.address == address)
        .unwrap()
        .key
        .clone()
}

fn heartbeat_from(seat: u8, wallet: WalletPkh, fill: u8) -> CoordinationMessage {
    CoordinationMessage {
        sender_member_index: seat,
        coordination_block: 900,
        wallet,
        proposal: Proposal::Heartbeat {
            message: HexBytes(vec![fill; 16]),
        },
    }
}

fn sealed(
    key: &crate::net::signing::OperatorKey,
    message: &CoordinationMessage,
    seq: u64,
) -> Vec<u8> {
    Envelope {
        sender: key.keypair().public(),
        payload: message.encode(),
        sequence_number: seq,
    }
    .encode()
}

#[tokio::test(start_paused = true)]
async fn a_sender_over_its_quota_is_cut_off_and_every_drop_is_counted() {
    let (ctx, info, executor, hub, router, devnet) = router_on_hub();
    let peer = hub.endpoint(Some(key_of(&devnet, info.operators[0])));
    let topic = info.coordination_topic();
    let mut events = ctx.bus.subscribe();
    // 20 distinct, validly signed messages from one member for one wallet and window, each
    // sent twice (a re-send is a copy and costs nothing).
    for i in 0..20u8 {
        let message = heartbeat_from(1, info.wallet, i);
        let envelope = sealed(
            &key_of(&devnet, info.operators[0]),
            &message,
            u64::from(i) + 1,
        );
        peer.publish(&topic, envelope.clone()).await.unwrap();
        peer.publish(&topic, envelope).await.unwrap();
    }
    let mut totals = Vec::new();
    while totals.last() != Some(&10) {
        if let Event::MessagesDropped { reason, total, .. } = events.recv().await.unwrap() {
            assert_eq!(reason, crate::engine::router::DropReason::SenderCap);
            totals.push(total);
        }
    }
    assert_eq!(totals, vec![1, 10]);
    ctx.cancel.cancel();
    router.await.unwrap();
    assert_eq!(
        executor.queued_messages(),
        crate::engine::router::MAX_MESSAGES_PER_SENDER_PER_WINDOW as usize
    );
}

#[tokio::test(start_paused = true)]
async fn every_invalid_message_is_rejected_with_its_reason_and_none_reaches_the_follower() {
    use crate::engine::router::RejectReason;
    let (ctx, info, executor, hub, router, devnet) = router_on_hub();
    let topic = info.coordination_topic();
    let seat_holder = key_of(&devnet, info.operators[0]);
    let outsider = devnet
        .operators()
        .iter()
        .find(|o| !info.operators.contains(&o.address))
        .map(|o| o.key.clone())
        .unwrap_or_else(crate::net::signing::OperatorKey::generate);
    let other_seat = (1..=info.operators.len())
        .find(|&i| info.operators[i - 1] != info.operators[0])
        .unwrap() as u8;
    let good = heartbeat_from(1, info.wallet, 1);
    let mut events = ctx.bus.subscribe();

    let as_holder = hub.endpoint(Some(seat_holder.clone()));
    // Signed, but not an envelope.
    as_holder.publish(&topic, vec![0xff, 0x01]).await.unwrap();
    // An envelope naming someone other than the author.
    as_holder
        .publish(&topic, sealed(&outsider, &good, 1))
        .await
        .unwrap();
    // An envelope around something that is not a coordination message.
    let mut not_a_message = Envelope::decode(&sealed(&seat_holder, &good, 1)).unwrap();
    not_a_message.payload = vec![0x08];
    as_holder
        .publish(&topic, not_a_message.encode())
        .await
        .unwrap();
    // The right wallet on another wallet's topic.
    as_holder
        .publish(
            "tbtc-elsewhere-coordination",
            sealed(&seat_holder, &good, 2),
        )
        .await
        .unwrap();
    // A seat its author does not hold.
    as_holder
        .publish(
            &topic,
            sealed(&seat_holder, &heartbeat_from(other_seat, info.wallet, 1), 3),
        )
        .await
        .unwrap();
    // An author who is no member at all.
    hub.endpoint(Some(outsider.clone()))
        .publish(&topic, sealed(&outsider, &good, 1))
        .await
        .unwrap();
    // A wrong signature: a valid message whose data was changed after signing.
    let mut forged = as_holder
        .sign(&topic, sealed(&seat_holder, &good, 4))
        .unwrap();
    forged.data = Some(sealed(&seat_holder, &heartbeat_from(1, info.wallet, 2), 4));
    hub.publish(forged);
    // Unsigned.
    let mut unsigned = as_holder
        .sign(&topic, sealed(&seat_holder, &good, 5))
        .unwrap();
    unsigned.signature = None;
    hub.publish(unsigned);

    // Announced at the 1st, 10th, 100th… of each reason: the second signature failure is
    // counted, not announced.
    let mut reasons = Vec::new();
    while reasons.len() < 7 {
        if let Event::MessagesRejected { reason, total } = events.recv().await.unwrap() {
            reasons.push((reason, total));
        }
    }
    assert_eq!(
        reasons,
        vec![
            (RejectReason::MalformedEnvelope, 1),
            (RejectReason::SenderNotAuthor, 1),
            (RejectReason::MalformedMessage, 1),
            (RejectReason::WrongTopic, 1),
            (RejectReason::NotSeatHolder, 1),
            (RejectReason::NotAMember, 1),
            (RejectReason::Signature, 1),
        ]
    );
    // The one valid message, sent last, is the only one queued.
    as_holder
        .publish(&topic, sealed(&seat_holder, &good, 6))
        .await
        .unwrap();
    while executor.queued_messages() == 0 {
        tokio::task::yield_now().await;
    }
    // The next block announces the running totals, every rejection counted (the second
    // signature failure too), and the one valid message accepted.
    ctx.head.send_replace(ctx.head_number() + 1);
    let totals = loop {
        if let Event::MessageTotals {
            received,
            accepted,
            rejected,
        } = events.recv().await.unwrap()
        {
            break (received, accepted, rejected);
        }
    };
    let expected_rejections = std::collections::BTreeMap::from([
        (RejectReason::Signature, 2),
        (RejectReason::MalformedEnvelope, 1),
        (RejectReason::SenderNotAuthor, 1),
        (RejectReason::MalformedMessage, 1),
        (RejectReason::WrongTopic, 1),
        (RejectReason::NotAMember, 1),
        (RejectReason::NotSeatHolder, 1),
    ]);
    assert_eq!(totals, (9, 1, expected_rejections));
    // Another block with nothing new announces nothing.
    ctx.head.send_replace(ctx.head_number() + 1);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    while let Ok(e) = events.try_recv() {
        assert!(!matches!(e, Event::MessageTotals { .. }), "{e:?}");
    }
    ctx.cancel.cancel();
    router.await.unwrap();
    assert_eq!(executor.queued_messages(), 1);
}

/// The wallet's dispatch for window `cb`, as the history has it.
fn dispatch_of(
    ctx: &NodeContext,
    wallet: WalletPkh,
    cb: u64,
) -> crate::engine::records::DispatchRow {
    ctx.history
        .reader
        .query(&HistoryQuery::Dispatch {
            wallet,
            coordination_block: cb,
        })
        .unwrap()
        .into_dispatch()
        .unwrap()
        .expect("the dispatch is recorded")
}
