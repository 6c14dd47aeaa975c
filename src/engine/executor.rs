//! One executor per wallet (SPEC §6): runs at most one coordination procedure at a time. A
//! procedure computes the window's seed, leader and checklist, then runs the leader routine
//! (generate, broadcast, re-send with backoff) or the follower routine (listen, filter, record
//! faults) and yields exactly one result. Where a member has a choice (what a leader sends,
//! whether a follower speaks), the procedure asks its node's [`Strategy`]: [`Honest`] in
//! production; the devnet hands its simulated peers misbehaving ones.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdMutexGuard, PoisonError};

use async_trait::async_trait;
use tokio::sync::{mpsc, Mutex};

use super::context::NodeContext;
use super::events::Event;
use super::pacing::Work;
use crate::net::signing::{operator_address, peer_public_key};
use crate::protocol::checklist::checklist;
use crate::protocol::fault::MAX_HEARD;
use crate::protocol::follower::IgnoreReason;
use crate::protocol::follower::{FollowerView, Verdict};
use crate::protocol::generator::generate_proposal;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::window::last_send_heard_by_all;
use crate::protocol::{
    coordination_seed, ActionType, Address, CoordinationResult, CoordinationWindow, Fault,
    FaultEvidence, Hash32, HeardMessage, IdlenessContext, Leader, Proposal, Role, SigningGroup,
    WalletPkh,
};

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
    /// The wallet's coordination pubsub topic.
    pub topic: String,
}

/// A message that passed decoding and signature recovery, on its way to a follower.
#[derive(Debug)]
pub struct Inbound {
    pub message: CoordinationMessage,
    pub signer: Address,
    /// keccak256 of the message body: identical for re-sent copies.
    pub id: [u8; 32],
    /// The signed pubsub message it came in, kept as evidence if it turns out a fault (only
    /// then is it encoded: strictly decoded, so its encoding is the bytes received).
    pub received: Arc<crate::net::Received>,
    /// Counted (where the node is paced) until a follower has classified the message.
    pub work: Work,
}

/// The router's end of a wallet's inbox.
#[derive(Debug, Clone)]
pub struct InboxSender {
    tx: mpsc::Sender<Inbound>,
    listening: Arc<StdMutex<bool>>,
}

impl InboxSender {
    /// Queues a message for the wallet's follower, or hands it back if the inbox is full.
    // The error hands the message back, as `mpsc::Sender::try_send` does.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, mut inbound: Inbound) -> Result<(), mpsc::error::TrySendError<Inbound>> {
        if !inbound.work.is_counted() {
            return self.tx.try_send(inbound);
        }
        // Checked and sent under the lock the follower takes to start and stop listening, so
        // a counted message is always one a follower will classify soon.
        let listening = lock(&self.listening);
        if !*listening {
            // Nobody is listening (this node leads, or the window is over): the message
            // waits for the next procedure without holding the chain back.
            inbound.work = Work::none();
        }
        self.tx.try_send(inbound)
    }
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

/// How a member acts where the protocol leaves it a choice. A procedure asks its node's
/// strategy what to send as the leader and whether to speak before it listens as a follower;
/// listening and judging are never up to the strategy.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// The leader routine: sends this window's message and returns the proposal this node
    /// stands by (Noop if it sent none).
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        turn.lead_honestly().await
    }

    /// Runs before a follower starts listening. An honest member has nothing to say.
    async fn before_listening(&self, _turn: &Turn<'_>) {}
}

/// The protocol as written: what every production node does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Honest;

impl Strategy for Honest {}

/// One procedure as its strategy sees it: the window's facts and the moves a member can make.
pub struct Turn<'a> {
    ctx: &'a NodeContext,
    entry: &'a WalletEntry,
    window: CoordinationWindow,
    leader: Leader,
    checklist: &'a [ActionType],
    /// Counted (where the node is paced) while the procedure works, released while it parks.
    work: StdMutex<Work>,
}

impl Turn<'_> {
    pub fn wallet(&self) -> WalletPkh {
        self.entry.wallet
    }

    pub fn window(&self) -> CoordinationWindow {
        self.window
    }

    pub fn group(&self) -> &SigningGroup {
        &self.entry.group
    }

    /// The member indices this node holds.
    pub fn seats(&self) -> &[u8] {
        &self.entry.seats
    }

    pub fn leader(&self) -> Leader {
        self.leader
    }

    pub fn checklist(&self) -> &[ActionType] {
        self.checklist
    }

    /// This node's operator.
    pub fn me(&self) -> Address {
        self.ctx.identity.operator
    }

    /// Waits `blocks` blocks from the head; `None` if the node is stopping.
    pub async fn wait_blocks(&self, blocks: u64) -> Option<u64> {
        let target = self.ctx.head_number().saturating_add(blocks);
        self.wait_for_block(target).await
    }

    /// Waits for block `target`; `None` if the node is stopping. On the devnet the procedure
    /// stops counting as work while it waits and counts again from the block on, so the chain
    /// does not run past what it does next.
    pub async fn wait_for_block(&self, target: u64) -> Option<u64> {
        self.park();
        let mut head = self.ctx.head_watch();
        let work = tokio::select! {
            biased;
            _ = self.ctx.cancel.cancelled() => return None,
            w = self.ctx.config.pacing.until_block(target, &mut head) => w?,
        };
        *lock(&self.work) = work;
        Some(self.ctx.head_number())
    }

    fn park(&self) {
        *lock(&self.work) = Work::none();
    }

    /// The protocol's proposal for this window, generated from the chain at the head; on
    /// failure tried once more after a short delay in blocks. `None` if both attempts failed.
    pub async fn generate(&self) -> Option<Proposal> {
        let wallet = self.entry.wallet;
        let cb = self.window.coordination_block;
        for attempt in 1..=2 {
            let head = self.ctx.head_number();
            match self.ctx.chain.wallet_snapshot(&wallet, head).await {
                Ok(snapshot) => {
                    let decision = generate_proposal(
                        self.checklist,
                        &snapshot,
                        &self.ctx.config.proposal_params,
                    );
                    return Some(decision.proposal);
                }
                Err(e) if attempt == 1 => {
                    tracing::warn!(%wallet, cb, error = %e,
                        "proposal generation failed; retrying in {GENERATION_RETRY_DELAY_BLOCKS} blocks");
                    self.wait_for_block(head + GENERATION_RETRY_DELAY_BLOCKS)
                        .await?;
                }
                Err(e) => {
                    tracing::error!(%wallet, cb, error = %e,
                        "proposal generation failed twice; sending nothing this window");
                }
            }
        }
        None
    }

    /// Signs and broadcasts `proposal` from `member_index`, then re-sends it on the backoff
    /// ticks while the active phase lasts. `false` if nothing could be sent.
    pub async fn send(&self, member_index: u8, proposal: Proposal) -> bool {
        let message = CoordinationMessage {
            sender_member_index: member_index,
            coordination_block: self.window.coordination_block,
            wallet: self.entry.wallet,
            proposal,
        };
        self.ctx
            .broadcast_with_backoff(&self.entry.topic, message, self.window)
            .await
    }

    /// The honest leader: generates the proposal and sends it from the leader's seat.
    pub async fn lead_honestly(&self) -> Proposal {
        let Some(proposal) = self.generate().await else {
            return Proposal::Noop;
        };
        if self.send(self.leader.member_index, proposal.clone()).await {
            proposal
        } else {
            Proposal::Noop
        }
    }
}

pub struct Executor {
    pub entry: Arc<WalletEntry>,
    busy: AtomicBool,
    inbox: Mutex<mpsc::Receiver<Inbound>>,
    /// Whether a follower is listening to the inbox (see [`InboxSender::try_send`]).
    listening: Arc<StdMutex<bool>>,
}

impl Executor {
    /// Messages waiting in the inbox (tests of the router).
    #[cfg(test)]
    pub(crate) fn queued_messages(&self) -> usize {
        self.inbox.try_lock().map(|rx| rx.len()).unwrap_or(0)
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
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let listening = Arc::new(StdMutex::new(false));
        (
            Arc::new(Executor {
                entry: Arc::new(entry),
                busy: AtomicBool::new(false),
                inbox: Mutex::new(rx),
                listening: listening.clone(),
            }),
            InboxSender { tx, listening },
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
        };
        let routine = async {
            match self.role {
                Role::Leader => Followed::nothing(ctx.config.strategy.lead(&turn).await),
                // Without peers there is nothing to hear, and silence proves nothing about the
                // leader: no listening, no faults.
                Role::Follower if !ctx.net.reaches_peers() => Followed::nothing(Proposal::Noop),
                Role::Follower => {
                    ctx.config.strategy.before_listening(&turn).await;
                    follow(&turn, &self.executor).await
                }
            }
        };
        let Followed {
            proposal,
            faults,
            members_connected,
            evidence,
        } = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => return ExecutorOutcome::Interrupted { wallet, window },
            r = routine => r,
        };
        if ctx.cancel.is_cancelled() {
            return ExecutorOutcome::Interrupted { wallet, window };
        }
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
        }))
    }
}

/// What a routine ends with: the proposal stood by, the faults seen and what shows them, and
/// the members connected where measured.
struct Followed {
    proposal: Proposal,
    faults: Vec<Fault>,
    members_connected: Option<u32>,
    evidence: BTreeMap<Fault, FaultEvidence>,
}

impl Followed {
    fn nothing(proposal: Proposal) -> Self {
        Followed {
            proposal,
            faults: Vec::new(),
            members_connected: None,
            evidence: BTreeMap::new(),
        }
    }
}

/// How many of the wallet's other members this node is connected to now; `None` on a
/// channel where every member is reachable (the in-process hub).
fn members_connected(ctx: &NodeContext, entry: &WalletEntry) -> Option<u32> {
    let peers = ctx.net.connected_peers()?;
    let connected: HashSet<Address> = peers
        .iter()
        .filter_map(|peer| peer_public_key(peer).and_then(|key| operator_address(&key)))
        .collect();
    let members: HashSet<&Address> = entry
        .group
        .seats()
        .iter()
        .filter(|operator| **operator != ctx.identity.operator)
        .collect();
    let count = members.iter().filter(|m| connected.contains(m)).count();
    Some(u32::try_from(count).unwrap_or(u32::MAX))
}

/// The follower routine: listens until the first acceptable message or the end of the active
/// phase, recording the faults it sees; a phase that ends with nothing accepted is the
/// leader's idleness, unless this node was connected to none of the wallet's other members
/// (then the window is unheard). Returns the members connected, the most seen at the start
/// and at the end of listening, where the channel measures it.
async fn follow(turn: &Turn<'_>, executor: &Executor) -> Followed {
    let ctx = turn.ctx;
    let wallet = turn.entry.wallet;
    let cb = turn.window.coordination_block;
    let mut view = FollowerView {
        me: ctx.identity.operator,
        wallet,
        window: turn.window,
        group: &turn.entry.group,
        leader: turn.leader,
        checklist: turn.checklist,
        seen: Default::default(),
    };
    let mut faults = Vec::new();
    let mut evidence = BTreeMap::new();
    let end = turn.window.active_phase_end();
    let joined = ctx.head_number();
    let mut context = IdlenessContext {
        listened_from: joined,
        listened_until: end,
        ..IdlenessContext::default()
    };
    let connected_at_start = members_connected(ctx, turn.entry);
    let mut ear = Ear::open(executor.inbox.lock().await, &executor.listening);
    let mut head = ctx.head_watch();
    loop {
        if *head.borrow_and_update() >= end {
            break;
        }
        // What is queued already is classified before the procedure parks, so the devnet's
        // chain waits for it.
        let inbound = match ear.inbox.try_recv() {
            Ok(inbound) => inbound,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                return ear.deaf(faults, evidence, connected_at_start)
            }
            Err(mpsc::error::TryRecvError::Empty) => {
                turn.park();
                tokio::select! {
                    biased;
                    _ = head.wait_for(|h| *h >= end) => break,
                    inbound = ear.inbox.recv() => match inbound {
                        Some(inbound) => inbound,
                        None => return ear.deaf(faults, evidence, connected_at_start),
                    },
                }
            }
        };
        let verdict = view.classify(&inbound.message, inbound.signer, inbound.id);
        let heard_as = match &verdict {
            Verdict::Accept(proposal) => {
                let connected = connected_at_start.max(members_connected(ctx, turn.entry));
                return Followed {
                    proposal: proposal.clone(),
                    faults,
                    members_connected: connected,
                    evidence,
                };
            }
            Verdict::Fault(fault) => {
                node_info!(ctx.config, %wallet, cb, fault = %fault.fault, culprit = %fault.culprit, "fault");
                faults.push(*fault);
                // The first offending message of a (culprit, type) is the one kept, as the
                // history keeps one fault per (wallet, window, culprit, type).
                evidence
                    .entry(*fault)
                    .or_insert_with(|| FaultEvidence::Message(inbound.received.message.to_bytes()));
                Some(fault.fault.name())
            }
            Verdict::Ignore(reason) => {
                tracing::trace!(%wallet, ?reason, "message ignored");
                match reason {
                    IgnoreReason::OtherWallet => Some("other_wallet"),
                    IgnoreReason::OtherWindow => Some("other_window"),
                    IgnoreReason::NotSeatHolder => Some("not_seat_holder"),
                    IgnoreReason::FromSelf | IgnoreReason::Duplicate => None,
                }
            }
        };
        if let Some(verdict) = heard_as {
            if context.heard.len() < MAX_HEARD {
                context.heard.push(HeardMessage {
                    block: ctx.head_number(),
                    member_index: inbound.message.sender_member_index,
                    operator: inbound.signer,
                    coordination_block: inbound.message.coordination_block,
                    action: inbound.message.proposal.action_type(),
                    verdict: verdict.to_owned(),
                });
            } else {
                context.heard_omitted = context.heard_omitted.saturating_add(1);
            }
        }
    }
    let connected = connected_at_start.max(members_connected(ctx, turn.entry));
    if joined > last_send_heard_by_all(cb) {
        // Joined (a late start, a restart) after the leader's last re-send: silence says
        // nothing about the leader, so it is not blamed.
        node_warn!(ctx.config, %wallet, cb, joined,
            "nothing heard, but this follower joined after the leader's last re-send: no idleness recorded");
        return Followed {
            proposal: Proposal::Noop,
            faults,
            members_connected: connected,
            evidence,
        };
    }
    if connected == Some(0) {
        tracing::warn!(%wallet, cb, leader = %turn.leader.operator,
            "window unheard: connected to none of the wallet's other members, so silence \
             cannot be told from this node's isolation; no idleness recorded");
        return Followed {
            proposal: Proposal::Noop,
            faults,
            members_connected: connected,
            evidence,
        };
    }
    let idleness = view.idleness();
    context.members_connected = connected;
    faults.push(idleness);
    evidence.insert(idleness, FaultEvidence::Idleness(context));
    Followed {
        proposal: Proposal::Noop,
        faults,
        members_connected: connected,
        evidence,
    }
}

/// A follower's hold on its inbox while it listens. Dropped however the routine ends: then
/// nobody listens, and what is still queued (late copies of this window's messages) is let go.
struct Ear<'a> {
    inbox: tokio::sync::MutexGuard<'a, mpsc::Receiver<Inbound>>,
    listening: &'a StdMutex<bool>,
}

impl<'a> Ear<'a> {
    fn open(
        inbox: tokio::sync::MutexGuard<'a, mpsc::Receiver<Inbound>>,
        listening: &'a StdMutex<bool>,
    ) -> Self {
        *lock(listening) = true;
        Ear { inbox, listening }
    }

    /// The inbox closed: this node cannot hear any more, and its deafness is no one's fault.
    fn deaf(
        &self,
        faults: Vec<Fault>,
        evidence: BTreeMap<Fault, FaultEvidence>,
        connected: Option<u32>,
    ) -> Followed {
        tracing::warn!("a wallet's inbox closed while its follower listened; no idleness recorded");
        Followed {
            proposal: Proposal::Noop,
            faults,
            members_connected: connected,
            evidence,
        }
    }
}

impl Drop for Ear<'_> {
    fn drop(&mut self) {
        *lock(self.listening) = false;
        while self.inbox.try_recv().is_ok() {}
    }
}

fn lock<T>(m: &StdMutex<T>) -> StdMutexGuard<'_, T> {
    // Every critical section is a short step that leaves the data whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
