//! The executor's procedures cut short and judged under silence, on the devnet.

use std::sync::Arc;

use async_trait::async_trait;

use crate::devnet::Devnet;
use crate::engine::context::NodeConfig;
use crate::engine::context::NodeContext;
use crate::engine::executor::*;
use crate::protocol::*;

/// A leader that keeps its message to itself until long after the window.
struct Hesitant;

#[async_trait]
impl Strategy for Hesitant {
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        turn.wait_for_block(u64::MAX).await;
        Proposal::Noop
    }
}

fn context(strategy: Arc<dyn Strategy>) -> (Arc<NodeContext>, Devnet) {
    super::context_with(NodeConfig {
        strategy,
        ..NodeConfig::default()
    })
}

/// Begins a procedure for the local operator in `role` at window 900, trying safe block
/// hashes until the leader draw gives that role. Returns its inbox's sender too: a closed
/// inbox ends the listening.
fn procedure_in(ctx: &NodeContext, devnet: &Devnet, role: Role) -> (Procedure, InboxSender) {
    let info = devnet
        .wallet_infos()
        .into_iter()
        .find(|w| w.operators.contains(&ctx.identity.operator))
        .unwrap();
    let (executor, inbox) = Executor::for_wallet(&info, &ctx.identity.operator).unwrap();
    let procedure = (0..=255u8)
        .find_map(|i| {
            let p = executor
                .begin(ctx, CoordinationWindow::new(900), Hash32([i; 32]), 0)
                .ok()?;
            (p.role() == role).then_some(p)
        })
        .unwrap();
    (procedure, inbox)
}

/// The node stops while the procedure is in the active phase: no result, no fault.
async fn interrupted_in(role: Role) {
    let (ctx, devnet) = context(Arc::new(Hesitant));
    let (procedure, _inbox) = procedure_in(&ctx, &devnet, role);
    ctx.head.send_replace(900);
    let running = {
        let ctx = ctx.clone();
        tokio::spawn(async move { procedure.run(&ctx).await })
    };
    // Into the active phase, silence from the leader so far; then the node stops.
    for block in 901..=910 {
        ctx.head.send_replace(block);
        tokio::task::yield_now().await;
    }
    assert!(!running.is_finished(), "still listening (or leading)");
    ctx.cancel.cancel();
    match running.await.unwrap() {
        ExecutorOutcome::Interrupted { window, .. } => {
            assert_eq!(window.coordination_block, 900)
        }
        other => panic!("{role:?}: expected an interrupted procedure, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_follower_cancelled_in_the_active_phase_is_interrupted_and_blames_no_one() {
    interrupted_in(Role::Follower).await;
}

#[tokio::test(start_paused = true)]
async fn a_leader_cancelled_in_the_active_phase_is_interrupted() {
    interrupted_in(Role::Leader).await;
}

/// A peer network on which this node is connected to exactly `peers`, and hears nothing.
struct Connected(Vec<libp2p::PeerId>, crate::net::local::LocalHub);

#[async_trait]
impl crate::net::BroadcastChannel for Connected {
    async fn publish(&self, _: &str, _: Vec<u8>) -> Result<(), crate::net::NetError> {
        Ok(())
    }
    fn subscribe(&self) -> crate::net::MessageStream {
        self.1.subscribe()
    }
    fn connected_peers(&self) -> Option<Vec<libp2p::PeerId>> {
        Some(self.0.clone())
    }
}

/// A follower's window 900 under a silent leader, connected to the peers `connect` names
/// (given the leader's operator).
async fn silent_window(
    connect: impl Fn(&Devnet, Address) -> Vec<libp2p::PeerId>,
) -> CoordinationResult {
    let (base, devnet) = context(Arc::new(Hesitant));
    let (probe, _) = procedure_in(&base, &devnet, Role::Follower);
    let peers = connect(&devnet, probe.leader().operator);
    let ctx = Arc::new(NodeContext::new(
        base.chain.clone(),
        Arc::new(Connected(peers, crate::net::local::LocalHub::new(4))),
        base.history.clone(),
        base.bus.clone(),
        base.identity.clone(),
        NodeConfig::default(),
        tokio_util::sync::CancellationToken::new(),
    ));
    let (procedure, _inbox) = procedure_in(&ctx, &devnet, Role::Follower);
    ctx.head.send_replace(900);
    let running = {
        let ctx = ctx.clone();
        tokio::spawn(async move { procedure.run(&ctx).await })
    };
    for block in 901..=985 {
        ctx.head.send_replace(block);
        tokio::task::yield_now().await;
    }
    match running.await.unwrap() {
        ExecutorOutcome::Result(result) => *result,
        other => panic!("expected a result, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_follower_connected_to_no_member_records_the_window_unheard_and_blames_no_one() {
    let result = silent_window(|_, _| Vec::new()).await;
    assert_eq!(result.members_connected, Some(0));
    assert!(result.unheard());
    assert_eq!(result.faults, Vec::new());
    assert_eq!(result.proposal, Proposal::Noop);
}

#[tokio::test(start_paused = true)]
async fn a_follower_connected_to_the_leader_blames_its_silence_and_says_how_many_it_heard() {
    let result = silent_window(|devnet, leader| {
        let key = &devnet
            .operators()
            .iter()
            .find(|o| o.address == leader)
            .unwrap()
            .key;
        // The leader, and a peer that is no member, which does not count.
        vec![
            key.peer_id(),
            crate::net::signing::OperatorKey::generate().peer_id(),
        ]
    })
    .await;
    assert_eq!(result.members_connected, Some(1));
    assert!(!result.unheard());
    // The idleness keeps its context: listened from the block at which the procedure first
    // ran (the test sets 901 before it yields to the spawned task) to the end of the active
    // phase (900 + 80), connected to the leader, nothing heard.
    let idleness = Fault {
        fault: crate::protocol::FaultType::LeaderIdleness,
        culprit: result.leader,
    };
    assert_eq!(
        result.evidence.get(&idleness),
        Some(&FaultEvidence::Idleness(IdlenessContext {
            listened_from: 901,
            listened_until: 980,
            members_connected: Some(1),
            heard: Vec::new(),
            heard_omitted: 0,
        }))
    );
    assert_eq!(
        result.faults,
        vec![Fault {
            fault: crate::protocol::FaultType::LeaderIdleness,
            culprit: result.leader,
        }]
    );
}
