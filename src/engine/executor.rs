//! One executor per wallet (SPEC §6): runs at most one coordination procedure at a time. A
//! procedure computes the window's seed, leader and checklist, then runs the leader routine
//! (generate, broadcast, re-send with backoff) or the follower routine (listen, filter, record
//! faults) and yields exactly one result. Where a member has a choice (what a leader sends,
//! whether a follower speaks), the procedure asks its node's [`Strategy`]: [`Honest`] in
//! production; the devnet hands its simulated peers misbehaving ones.
//!
//! The wallet's inbox, the turn a strategy sees and the follower routine have files of their
//! own; the inbox's and the turn's public items are re-exported here, where callers find them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use super::context::NodeContext;
use super::events::Event;
use super::follower::{follow, Followed};
use super::inbox::{self, Inbox};
use super::pacing::Work;
use crate::protocol::checklist::checklist_for;
use crate::protocol::{
    coordination_seed, ActionType, Address, CoordinationResult, CoordinationWindow, Hash32, Leader,
    Proposal, Role, SigningGroup, WalletPkh,
};

pub use super::inbox::{Inbound, InboxSender, INBOX_CAPACITY};
pub use super::turn::{Honest, Strategy, Turn, GENERATION_RETRY_DELAY_BLOCKS};

/// A wallet this node coordinates.
#[derive(Debug)]
pub struct WalletEntry {
    pub wallet: WalletPkh,
    pub group: SigningGroup,
    /// Member indices this node holds.
    pub seats: Vec<u8>,
    /// The wallet's coordination pubsub topic.
    pub topic: String,
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
    /// The node stopped while the procedure ran: it observed nothing it could stand by, so
    /// there is no result and no fault.
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
    inbox: Inbox,
}

impl Executor {
    /// Messages waiting in the inbox (tests of the router).
    #[cfg(test)]
    pub(crate) fn queued_messages(&self) -> usize {
        self.inbox.queued()
    }

    /// The executor of `wallet` for `operator` (the seats it holds), and its inbox's sender.
    pub fn for_wallet(
        wallet: &crate::protocol::WalletInfo,
        operator: &Address,
    ) -> Result<(Arc<Executor>, InboxSender), crate::protocol::leader::SigningGroupError> {
        let group = SigningGroup::new(wallet.operators.clone())?;
        let seats = group.seats_of(operator);
        Ok(Executor::new(WalletEntry {
            wallet: wallet.wallet,
            group,
            seats,
            topic: wallet.coordination_topic(),
        }))
    }

    /// A new executor and the sender that feeds its inbox.
    pub fn new(entry: WalletEntry) -> (Arc<Executor>, InboxSender) {
        let (inbox, sender) = inbox::channel();
        (
            Arc::new(Executor {
                entry: Arc::new(entry),
                busy: AtomicBool::new(false),
                inbox,
            }),
            sender,
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
        let checklist = checklist_for(window, &seed, ctx.config.checklist_rules);
        let role = if leader.operator == ctx.identity.operator {
            Role::Leader
        } else {
            Role::Follower
        };
        // Counted from here, before the task that runs it exists, until it parks.
        let work = ctx.config.pacing.begin();
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
            work,
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
    work: Work,
}

impl Drop for Procedure {
    fn drop(&mut self) {
        self.executor.busy.store(false, Ordering::Release);
    }
}

impl Procedure {
    pub fn role(&self) -> Role {
        self.role
    }

    /// The window's leader.
    pub fn leader(&self) -> Leader {
        self.leader
    }

    /// The leader or follower routine, then the result. If the node's cancellation token
    /// fires meanwhile, the procedure records nothing: what it would conclude from a routine
    /// cut short (a silent leader, a wait that gave up) is not an observation.
    pub async fn run(mut self, ctx: &NodeContext) -> ExecutorOutcome {
        let wallet = self.executor.entry.wallet;
        let window = self.window;
        let turn = Turn {
            ctx,
            entry: &self.executor.entry,
            window,
            leader: self.leader,
            checklist: &self.checklist,
            work: StdMutex::new(std::mem::take(&mut self.work)),
            refusals: StdMutex::new(Vec::new()),
        };
        let routine = async {
            match self.role {
                Role::Leader => Followed::nothing(ctx.config.strategy.lead(&turn).await),
                // Without peers there is nothing to hear, and silence proves nothing about the
                // leader: no listening, no faults.
                Role::Follower if !ctx.net.reaches_peers() => Followed::nothing(Proposal::Noop),
                Role::Follower => {
                    ctx.config.strategy.before_listening(&turn).await;
                    follow(&turn, &self.executor.inbox).await
                }
            }
        };
        let Followed {
            proposal,
            faults,
            members_connected,
            evidence,
            proposed_actions,
        } = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return ExecutorOutcome::Interrupted { wallet, window },
            r = routine => r,
        };
        if ctx.cancel.is_cancelled() {
            return ExecutorOutcome::Interrupted { wallet, window };
        }
        let refusals = turn.refusals();
        drop(turn);
        ExecutorOutcome::Result(Box::new(CoordinationResult {
            wallet,
            window,
            safe_block_hash: self.safe_block_hash,
            seed: self.seed,
            leader: self.leader.operator,
            leader_member_index: self.leader.member_index,
            role: self.role,
            checklist: self.checklist.clone(),
            proposal,
            faults,
            members_connected,
            evidence,
            proposed_actions,
            refusals,
        }))
    }
}
