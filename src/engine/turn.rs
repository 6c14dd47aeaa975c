//! A procedure's turn, as its node's [`Strategy`] sees it: the window's facts and the moves a
//! member can make (generate the proposal, send it, wait for a block). The protocol leaves a
//! member a choice in two places, what a leader sends and whether a follower speaks first;
//! [`Honest`] makes them as written, the devnet hands its simulated peers other strategies.

use std::sync::{Mutex as StdMutex, MutexGuard as StdMutexGuard, PoisonError};

use async_trait::async_trait;

use super::commitment::{submit_commitment, Committed, COMMITMENT_WAIT_BLOCKS};
use super::context::NodeContext;
use super::executor::WalletEntry;
use super::pacing::Work;
use super::proposing::{choose_with_bitcoin, Choice, Weigh};
use crate::protocol::commitment::MovingFundsCommitment;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::{
    ActionType, Address, CoordinationWindow, Leader, Proposal, Refusal, SigningGroup, WalletPkh,
    WalletSnapshot,
};

/// Blocks the leader waits before its one retry of a failed proposal generation.
pub const GENERATION_RETRY_DELAY_BLOCKS: u64 = 2;

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
// The fields are the engine's (the procedure builds a turn, the follower routine reads it); a
// strategy, possibly outside the crate, makes its moves through the methods.
pub struct Turn<'a> {
    pub(super) ctx: &'a NodeContext,
    pub(super) entry: &'a WalletEntry,
    pub(super) window: CoordinationWindow,
    pub(super) leader: Leader,
    pub(super) checklist: &'a [ActionType],
    /// Counted (where the node is paced) while the procedure works, released while it parks.
    pub(super) work: StdMutex<Work>,
    /// The candidates the validator refused when this turn generated its proposal.
    pub(super) refusals: StdMutex<Vec<Refusal>>,
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

    /// The candidates the validator refused when this turn generated its proposal.
    pub fn refusals(&self) -> Vec<Refusal> {
        lock(&self.refusals).clone()
    }

    /// Stops counting as work while the procedure waits.
    pub(super) fn park(&self) {
        *lock(&self.work) = Work::none();
    }

    /// The protocol's proposal for this window, generated from the chain at the head and
    /// checked by the chain's validator (a refused candidate is passed over, see
    /// [`choose`]); on failure to read the chain, tried once more after a short delay in
    /// blocks. `None` if both attempts failed.
    pub async fn generate(&self) -> Option<Proposal> {
        let wallet = self.entry.wallet;
        let cb = self.window.coordination_block;
        for attempt in 1..=2 {
            let head = self.ctx.head_number();
            match self.ctx.chain.wallet_snapshot(&wallet, head).await {
                Ok(snapshot) => {
                    let mut choice = self.choose(snapshot).await;
                    // MovingFunds was reached with nothing but the commitment missing (a
                    // later action, such as a heartbeat, may be the candidate meanwhile).
                    if let Some(commitment) = choice.commitment.take() {
                        if let Some(snapshot) = self.commit(&commitment, head).await {
                            choice = self.choose(snapshot).await;
                        }
                    }
                    if let Some(e) = &choice.bitcoin_error {
                        tracing::warn!(%wallet, cb, error = %e,
                            "the Bitcoin view could not be read: no deposit counts as confirmed");
                    } else if let Some(w) = choice.bitcoin.as_ref().and_then(|b| b.warning.as_ref())
                    {
                        tracing::warn!(%wallet, cb, "the chains disagree: {w}");
                    }
                    if let Some(why) = choice.noop_reason() {
                        node_info!(self.ctx.config, %wallet, cb, "proposing Noop: {why}");
                    }
                    let refusals = choice.refusals();
                    for r in &refusals {
                        tracing::warn!(%wallet, cb, action = %r.action, reason = %r.reason,
                            "candidate not sent: the on-chain validator did not accept it");
                    }
                    *lock(&self.refusals) = refusals;
                    return Some(choice.proposal);
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

    async fn choose(&self, snapshot: WalletSnapshot) -> Choice {
        choose_with_bitcoin(
            self.ctx.chain.as_ref(),
            self.ctx.config.bitcoin.as_deref(),
            self.checklist,
            snapshot,
            &self.ctx.config.proposal_params,
            Weigh::UntilChosen,
            self.leader.operator,
        )
        .await
    }

    /// Submits the wallet's moving-funds commitment and waits for it; the wallet as of the
    /// block that holds it, or `None` (logged) if it is not there in time.
    async fn commit(
        &self,
        commitment: &MovingFundsCommitment,
        head: u64,
    ) -> Option<WalletSnapshot> {
        let wallet = self.entry.wallet;
        let cb = self.window.coordination_block;
        tracing::info!(%wallet, cb, commitment = %commitment.summary(),
            "submitting the moving-funds commitment before proposing MovingFunds");
        match submit_commitment(self.ctx.chain.as_ref(), commitment, head, |b| {
            self.wait_for_block(b)
        })
        .await
        {
            Committed::Mined { tx, snapshot } => {
                tracing::info!(%wallet, cb, tx = %format!("0x{tx}"), block = snapshot.block,
                    "the moving-funds commitment is on chain");
                Some(*snapshot)
            }
            Committed::NotIncluded { tx } => {
                tracing::warn!(%wallet, cb, tx = %format!("0x{tx}"),
                    "the moving-funds commitment was not mined within \
                     {COMMITMENT_WAIT_BLOCKS} blocks; proposing without it");
                None
            }
            Committed::Failed(e) => {
                tracing::warn!(%wallet, cb, error = %e,
                    "the moving-funds commitment could not be submitted; proposing without it");
                None
            }
            Committed::Stopped => None,
        }
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

fn lock<T>(m: &StdMutex<T>) -> StdMutexGuard<'_, T> {
    // Every critical section is a short step that leaves the data whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
