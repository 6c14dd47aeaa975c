//! One executor per wallet (SPEC §6): runs at most one coordination procedure at a time. A
//! procedure computes the window's seed, leader and checklist, then runs the leader routine
//! (generate, broadcast, re-send with backoff) or the follower routine (listen, filter, record
//! faults) and yields exactly one result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Mutex};

use super::context::NodeContext;
use super::events::Event;
use super::misbehaviour::{Injection, SLOW_LEADER_DELAY_BLOCKS};
use crate::protocol::checklist::checklist;
use crate::protocol::follower::{FollowerView, Verdict};
use crate::protocol::message::CoordinationMessage;
use crate::protocol::proposal::{generate_proposal, propose, HexBytes, ProposalDecision};
use crate::protocol::{
    coordination_seed, ActionType, Address, CoordinationResult, CoordinationWindow, Hash32, Leader,
    Proposal, Role, SigningGroup, WalletPkh,
};

/// The leader re-sends its message this many blocks after the first send, while the active
/// phase lasts (the reference client's backoff).
pub const RESEND_TICKS: [u64; 7] = [1, 3, 6, 11, 20, 37, 70];
/// Blocks the leader waits before its one retry of a failed proposal generation.
pub const GENERATION_RETRY_DELAY_BLOCKS: u64 = 2;
/// A follower buffers at most this many pending messages per wallet.
pub const INBOX_CAPACITY: usize = 512;

/// A wallet this node coordinates.
#[derive(Debug)]
pub struct WalletEntry {
    pub wallet: WalletPkh,
    pub group: SigningGroup,
    /// Member indices this node holds.
    pub seats: Vec<u8>,
}

/// A message that passed decoding and signature recovery, on its way to a follower.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub message: CoordinationMessage,
    pub signer: Address,
    /// keccak256 of the message body: identical for re-sent copies.
    pub id: [u8; 32],
}

/// What one executor run produced.
#[derive(Debug, Clone)]
pub enum ExecutorOutcome {
    Result(Box<CoordinationResult>),
    Busy {
        wallet: WalletPkh,
        window: CoordinationWindow,
    },
    Failed {
        wallet: WalletPkh,
        window: CoordinationWindow,
        error: String,
    },
    /// The node stopped while the procedure ran: no result, and nothing to record.
    Interrupted {
        wallet: WalletPkh,
        window: CoordinationWindow,
    },
}

impl ExecutorOutcome {
    /// The window the outcome is for.
    pub fn window(&self) -> CoordinationWindow {
        match self {
            ExecutorOutcome::Result(r) => r.window,
            ExecutorOutcome::Busy { window, .. }
            | ExecutorOutcome::Failed { window, .. }
            | ExecutorOutcome::Interrupted { window, .. } => *window,
        }
    }
}

pub struct Executor {
    pub entry: Arc<WalletEntry>,
    busy: AtomicBool,
    inbox: Mutex<mpsc::Receiver<Inbound>>,
}

impl Executor {
    /// A new executor and the sender that feeds its inbox.
    pub fn new(entry: WalletEntry) -> (Arc<Executor>, mpsc::Sender<Inbound>) {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        (
            Arc::new(Executor {
                entry: Arc::new(entry),
                busy: AtomicBool::new(false),
                inbox: Mutex::new(rx),
            }),
            tx,
        )
    }

    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Starts a procedure for `window`: claims the executor, computes seed, leader and
    /// checklist and announces the role. Synchronous and cheap (a few microseconds), so a
    /// window watch can start a thousand executors within milliseconds of the block; the
    /// listening and sending happen in [`Procedure::run`]. Reports busy at once if a
    /// procedure is running.
    pub fn begin(
        self: &Arc<Self>,
        ctx: &NodeContext,
        window: CoordinationWindow,
        safe_block_hash: Hash32,
        start_delay_us: u64,
    ) -> Result<Procedure, ExecutorOutcome> {
        let wallet = self.entry.wallet;
        let seed = coordination_seed(&wallet, &safe_block_hash);
        let Some(leader) = self.entry.group.leader(&seed) else {
            return Err(ExecutorOutcome::Failed {
                wallet,
                window,
                error: "wallet has an empty signing group".into(),
            });
        };
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(ExecutorOutcome::Busy { wallet, window });
        }
        let checklist = checklist(window, &seed);
        let role = if leader.operator == ctx.identity.operator {
            Role::Leader
        } else {
            Role::Follower
        };
        let injection = ctx
            .config
            .misbehaviour
            .as_ref()
            .and_then(|inj| inj.plan(&wallet, window, &self.entry.group, leader, &checklist));
        ctx.bus.publish(Event::ExecutorStarted {
            wallet,
            coordination_block: window.coordination_block,
            role,
            leader: leader.operator,
            start_delay_us,
        });
        // From here the procedure owns the busy flag and clears it when dropped.
        Ok(Procedure {
            executor: self.clone(),
            window,
            safe_block_hash,
            seed,
            leader,
            checklist,
            role,
            injection,
        })
    }

    /// Begins and runs a procedure to its result.
    pub async fn run(
        self: &Arc<Self>,
        ctx: &NodeContext,
        window: CoordinationWindow,
        safe_block_hash: Hash32,
    ) -> ExecutorOutcome {
        match self.begin(ctx, window, safe_block_hash, 0) {
            Ok(procedure) => procedure.run(ctx).await,
            Err(outcome) => outcome,
        }
    }
}

/// One running coordination procedure. Holds its executor's busy flag until dropped, however
/// the procedure ends (including cancellation).
pub struct Procedure {
    executor: Arc<Executor>,
    window: CoordinationWindow,
    safe_block_hash: Hash32,
    seed: crate::protocol::Seed,
    leader: Leader,
    checklist: Vec<ActionType>,
    role: Role,
    injection: Option<Injection>,
}

impl Drop for Procedure {
    fn drop(&mut self) {
        self.executor.busy.store(false, Ordering::Release);
    }
}

impl Procedure {
    /// The leader or follower routine, then the result.
    pub async fn run(self, ctx: &NodeContext) -> ExecutorOutcome {
        let (window, leader, injection) = (self.window, self.leader, self.injection);
        let (proposal, faults) = match self.role {
            Role::Leader => (
                self.lead(ctx, window, leader, &self.checklist, injection)
                    .await,
                Vec::new(),
            ),
            // Without peers there is nothing to hear, and silence proves nothing about the
            // leader: no listening, no faults.
            Role::Follower if !ctx.net.reaches_peers() => (Proposal::Noop, Vec::new()),
            Role::Follower => {
                if let Some(Injection::Impersonation { impersonator }) = injection {
                    if impersonator == ctx.identity.operator {
                        self.impersonate(ctx, window).await;
                    }
                }
                self.follow(ctx, window, leader, &self.checklist).await
            }
        };
        ExecutorOutcome::Result(Box::new(CoordinationResult {
            wallet: self.executor.entry.wallet,
            window,
            safe_block_hash: self.safe_block_hash,
            seed: self.seed,
            leader: leader.operator,
            leader_member_index: leader.member_index,
            role: self.role,
            checklist: self.checklist.clone(),
            proposal,
            faults,
        }))
    }

    /// The leader routine. Returns the proposal this node stands by (Noop if it sent none).
    async fn lead(
        &self,
        ctx: &NodeContext,
        window: CoordinationWindow,
        leader: Leader,
        checklist: &[ActionType],
        injection: Option<Injection>,
    ) -> Proposal {
        let wallet = self.executor.entry.wallet;
        let proposal = match injection {
            Some(Injection::IdleLeader) => {
                tracing::debug!(%wallet, cb = window.coordination_block, "injected: idle leader");
                return Proposal::Noop;
            }
            Some(Injection::WrongAction(action)) => {
                tracing::debug!(%wallet, cb = window.coordination_block, %action, "injected: wrong action");
                wrong_proposal(action, &wallet, window)
            }
            Some(Injection::Impersonation { .. }) => {
                let start = ctx.head_number();
                ctx.wait_for_block(start + SLOW_LEADER_DELAY_BLOCKS).await;
                match self.generate_with_retry(ctx, window, checklist).await {
                    Some(decision) => decision.proposal,
                    None => return Proposal::Noop,
                }
            }
            None => match self.generate_with_retry(ctx, window, checklist).await {
                Some(decision) => decision.proposal,
                None => return Proposal::Noop,
            },
        };
        let message = CoordinationMessage {
            sender_member_index: leader.member_index,
            coordination_block: window.coordination_block,
            wallet,
            proposal: proposal.clone(),
        };
        if !ctx.broadcast_with_backoff(message, window).await {
            return Proposal::Noop;
        }
        // A leader that misbehaved on purpose does not stand by what it sent. (An
        // impersonation is another member's misbehaviour: the leader is honest then.)
        if matches!(injection, Some(Injection::WrongAction(_))) {
            Proposal::Noop
        } else {
            proposal
        }
    }

    /// Generates the proposal; on failure tries once more after a short delay in blocks.
    async fn generate_with_retry(
        &self,
        ctx: &NodeContext,
        window: CoordinationWindow,
        checklist: &[ActionType],
    ) -> Option<ProposalDecision> {
        let wallet = self.executor.entry.wallet;
        for attempt in 1..=2 {
            let head = ctx.head_number();
            match ctx.chain.wallet_snapshot(&wallet, head).await {
                Ok(snapshot) => {
                    return Some(generate_proposal(
                        checklist,
                        &snapshot,
                        &ctx.config.proposal_params,
                    ))
                }
                Err(e) if attempt == 1 => {
                    tracing::warn!(%wallet, cb = window.coordination_block, error = %e,
                        "proposal generation failed; retrying in {GENERATION_RETRY_DELAY_BLOCKS} blocks");
                    ctx.wait_for_block(head + GENERATION_RETRY_DELAY_BLOCKS)
                        .await?;
                }
                Err(e) => {
                    tracing::error!(%wallet, cb = window.coordination_block, error = %e,
                        "proposal generation failed twice; sending nothing this window");
                }
            }
        }
        None
    }

    /// Injected impersonation: a valid, signed message from this node's own lowest seat.
    async fn impersonate(&self, ctx: &NodeContext, window: CoordinationWindow) {
        let Some(&seat) = self.executor.entry.seats.first() else {
            return;
        };
        tracing::debug!(wallet = %self.executor.entry.wallet, cb = window.coordination_block, seat, "injected: impersonation");
        let message = CoordinationMessage {
            sender_member_index: seat,
            coordination_block: window.coordination_block,
            wallet: self.executor.entry.wallet,
            proposal: Proposal::Noop,
        };
        ctx.broadcast_with_backoff(message, window).await;
    }

    /// The follower routine: listens until the active phase ends.
    async fn follow(
        &self,
        ctx: &NodeContext,
        window: CoordinationWindow,
        leader: Leader,
        checklist: &[ActionType],
    ) -> (Proposal, Vec<crate::protocol::Fault>) {
        let mut view = FollowerView {
            me: ctx.identity.operator,
            wallet: self.executor.entry.wallet,
            window,
            group: &self.executor.entry.group,
            leader,
            checklist,
            seen: Default::default(),
        };
        let mut faults = Vec::new();
        let end = window.active_phase_end();
        let mut inbox = self.executor.inbox.lock().await;
        let mut head = ctx.head_watch();
        loop {
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => break,
                _ = head.wait_for(|h| *h >= end) => break,
                inbound = inbox.recv() => {
                    let Some(inbound) = inbound else { break };
                    match view.classify(&inbound.message, inbound.signer, inbound.id) {
                        Verdict::Accept(proposal) => return (proposal, faults),
                        Verdict::Fault(fault) => {
                            node_info!(ctx.config, wallet = %self.executor.entry.wallet, cb = window.coordination_block,
                                fault = %fault.fault, culprit = %fault.culprit, "fault");
                            faults.push(fault);
                        }
                        Verdict::Ignore(reason) => {
                            tracing::trace!(wallet = %self.executor.entry.wallet, ?reason, "message ignored");
                        }
                    }
                }
            }
        }
        faults.push(view.idleness());
        (Proposal::Noop, faults)
    }
}

/// A well-formed proposal of an action the leader should not propose.
fn wrong_proposal(action: ActionType, wallet: &WalletPkh, window: CoordinationWindow) -> Proposal {
    let snapshot = crate::protocol::WalletSnapshot {
        wallet: *wallet,
        block: window.coordination_block,
        ..Default::default()
    };
    propose(action, &snapshot, &Default::default()).unwrap_or(match action {
        ActionType::MovingFunds => Proposal::MovingFunds {
            target_wallets: vec![*wallet],
            moving_funds_tx_fee: 1,
        },
        ActionType::MovedFundsSweep => Proposal::MovedFundsSweep {
            moving_funds_tx_hash: Hash32([0xAB; 32]),
            moving_funds_tx_output_index: 0,
            sweep_tx_fee: 1,
        },
        ActionType::DepositSweep => Proposal::DepositSweep {
            deposits: Vec::new(),
            sweep_tx_fee: 1,
            reveal_blocks: Vec::new(),
        },
        ActionType::Redemption => Proposal::Redemption {
            redeemers_output_scripts: vec![HexBytes(vec![0x00, 0x14])],
            redemption_tx_fee: 1,
        },
        ActionType::Heartbeat | ActionType::Noop => Proposal::Heartbeat {
            message: HexBytes(vec![0xFF; 16]),
        },
    })
}
