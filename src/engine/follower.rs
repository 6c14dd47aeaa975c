//! The follower routine (SPEC §6): listens to the wallet's inbox until the first acceptable
//! message or the end of the active phase, records the faults it sees, and judges whether
//! silence is the leader's idleness or says nothing (a late join, no member reachable, a
//! closed inbox).

use std::collections::{BTreeMap, HashSet};

use tokio::sync::mpsc;

use super::context::NodeContext;
use super::executor::WalletEntry;
use super::inbox::Inbox;
use super::turn::Turn;
use crate::net::signing::{operator_address, peer_public_key};
use crate::protocol::fault::MAX_HEARD;
use crate::protocol::follower::IgnoreReason;
use crate::protocol::follower::{FollowerView, Verdict};
use crate::protocol::window::last_send_heard_by_all;
use crate::protocol::{
    ActionType, Address, Fault, FaultEvidence, HeardMessage, IdlenessContext, Proposal,
};

/// What a routine ends with: the proposal stood by, the faults seen, what shows them and what
/// each offending message proposed, and the members connected where measured.
pub(super) struct Followed {
    pub(super) proposal: Proposal,
    pub(super) faults: Vec<Fault>,
    pub(super) members_connected: Option<u32>,
    pub(super) evidence: BTreeMap<Fault, FaultEvidence>,
    pub(super) proposed_actions: BTreeMap<Fault, ActionType>,
}

impl Followed {
    pub(super) fn nothing(proposal: Proposal) -> Self {
        Followed {
            proposal,
            faults: Vec::new(),
            members_connected: None,
            evidence: BTreeMap::new(),
            proposed_actions: BTreeMap::new(),
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
pub(super) async fn follow(turn: &Turn<'_>, inbox: &Inbox) -> Followed {
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
    let mut proposed_actions = BTreeMap::new();
    let end = turn.window.active_phase_end();
    let joined = ctx.head_number();
    let mut context = IdlenessContext {
        listened_from: joined,
        listened_until: end,
        ..IdlenessContext::default()
    };
    let connected_at_start = members_connected(ctx, turn.entry);
    let mut ear = inbox.listen().await;
    let mut head = ctx.head_watch();
    loop {
        if *head.borrow_and_update() >= end {
            break;
        }
        // What is queued already is classified before the procedure parks, so the devnet's
        // chain waits for it.
        let inbound = match ear.try_recv() {
            Ok(inbound) => inbound,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                return deaf(faults, evidence, proposed_actions, connected_at_start)
            }
            Err(mpsc::error::TryRecvError::Empty) => {
                turn.park();
                tokio::select! {
                    biased;
                    _ = head.wait_for(|h| *h >= end) => break,
                    inbound = ear.recv() => match inbound {
                        Some(inbound) => inbound,
                        None => return deaf(faults, evidence, proposed_actions, connected_at_start),
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
                    proposed_actions,
                };
            }
            Verdict::Fault(fault) => {
                node_info!(ctx.config, %wallet, cb, fault = %fault.fault, culprit = %fault.culprit, "fault");
                // One fault per (culprit, type), as the history keeps them: a re-sent copy
                // (a new sequence number, so a new message) or another offending message of
                // the same culprit adds nothing to blame, and would be announced twice.
                if !faults.contains(fault) {
                    faults.push(*fault);
                }
                // The first offending message of a (culprit, type) is the one kept.
                evidence
                    .entry(*fault)
                    .or_insert_with(|| FaultEvidence::Message(inbound.received.message.to_bytes()));
                proposed_actions
                    .entry(*fault)
                    .or_insert_with(|| inbound.message.proposal.action_type());
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
            proposed_actions,
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
            proposed_actions,
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
        proposed_actions,
    }
}

/// The inbox closed: this node cannot hear any more, and its deafness is no one's fault.
fn deaf(
    faults: Vec<Fault>,
    evidence: BTreeMap<Fault, FaultEvidence>,
    proposed_actions: BTreeMap<Fault, ActionType>,
    connected: Option<u32>,
) -> Followed {
    tracing::warn!("a wallet's inbox closed while its follower listened; no idleness recorded");
    Followed {
        proposal: Proposal::Noop,
        faults,
        members_connected: connected,
        evidence,
        proposed_actions,
    }
}
