//! One executor per wallet (SPEC §6): runs at most one coordination procedure at a time. A
//! procedure computes the window's seed, leader and checklist, then runs the leader routine
//! (generate, broadcast, re-send with backoff) or the follower routine (listen, filter, record
//! faults) and yields exactly one result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Mutex};

use super::misbehaviour::{Injection, SLOW_LEADER_DELAY_BLOCKS};
use super::node::NodeContext;
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
}

pub struct Executor {
    pub entry: Arc<WalletEntry>,
    busy: AtomicBool,
    inbox: Mutex<mpsc::Receiver<Inbound>>,
}

/// Clears the busy flag however the procedure ends (including cancellation).
struct BusyGuard<'a>(&'a AtomicBool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
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

    /// Runs one procedure for `window`, or reports busy at once if one is running.
    pub async fn run(
        &self,
        ctx: &NodeContext,
        window: CoordinationWindow,
        safe_block_hash: Hash32,
    ) -> ExecutorOutcome {
        if self.busy.swap(true, Ordering::AcqRel) {
            return ExecutorOutcome::Busy {
                wallet: self.entry.wallet,
                window,
            };
        }
        let _guard = BusyGuard(&self.busy);
        let entry = &self.entry;
        let seed = coordination_seed(&entry.wallet, &safe_block_hash);
        let Some(leader) = entry.group.leader(&seed) else {
            return ExecutorOutcome::Failed {
                wallet: entry.wallet,
                window,
                error: "wallet has an empty signing group".into(),
            };
        };
        let checklist = checklist(window, &seed);
        let me = ctx.identity.operator;
        let role = if leader.operator == me {
            Role::Leader
        } else {
            Role::Follower
        };
        ctx.announce_executor_started(&entry.wallet, window, role, leader.operator);

        let injection = ctx
            .config
            .misbehaviour
            .as_ref()
            .and_then(|inj| inj.plan(&entry.wallet, window, &entry.group, leader, &checklist));
        let (proposal, faults) = match role {
            Role::Leader => (
                self.lead(ctx, window, leader, &checklist, injection).await,
                Vec::new(),
            ),
            Role::Follower => {
                if let Some(Injection::Impersonation { impersonator }) = injection {
                    if impersonator == me {
                        self.impersonate(ctx, window).await;
                    }
                }
                self.follow(ctx, window, leader, &checklist).await
            }
        };
        ExecutorOutcome::Result(Box::new(CoordinationResult {
            wallet: entry.wallet,
            window,
            safe_block_hash,
            seed,
            leader: leader.operator,
            leader_member_index: leader.member_index,
            role,
            checklist,
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
        let wallet = self.entry.wallet;
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
        let wallet = self.entry.wallet;
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
        let Some(&seat) = self.entry.seats.first() else {
            return;
        };
        tracing::debug!(wallet = %self.entry.wallet, cb = window.coordination_block, seat, "injected: impersonation");
        let message = CoordinationMessage {
            sender_member_index: seat,
            coordination_block: window.coordination_block,
            wallet: self.entry.wallet,
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
            wallet: self.entry.wallet,
            window,
            group: &self.entry.group,
            leader,
            checklist,
            seen: Default::default(),
        };
        let mut faults = Vec::new();
        let end = window.active_phase_end();
        let mut inbox = self.inbox.lock().await;
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
                            tracing::info!(wallet = %self.entry.wallet, cb = window.coordination_block,
                                fault = %fault.fault, culprit = %fault.culprit, "fault");
                            faults.push(fault);
                        }
                        Verdict::Ignore(reason) => {
                            tracing::trace!(wallet = %self.entry.wallet, ?reason, "message ignored");
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
