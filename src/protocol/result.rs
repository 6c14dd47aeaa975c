//! The outcome of one wallet's coordination procedure for one window (SPEC §6.4), and what
//! becomes of an accepted proposal.

use serde::{Deserialize, Serialize};

use super::action::ActionType;
use super::fault::{Fault, FaultEvidence};
use super::proposal::Proposal;
use super::types::{Address, Hash32, Seed, WalletPkh};
use super::validation::Refusal;
use super::window::CoordinationWindow;

/// This node's part in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Leader,
    Follower,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
        }
    }
}

/// One (wallet, window) result: who led, what was accepted (Noop if nothing), and the faults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoordinationResult {
    pub wallet: WalletPkh,
    pub window: CoordinationWindow,
    pub safe_block_hash: Hash32,
    pub seed: Seed,
    pub leader: Address,
    pub leader_member_index: u8,
    pub role: Role,
    pub checklist: Vec<ActionType>,
    pub proposal: Proposal,
    pub faults: Vec<Fault>,
    /// A follower on a peer network: how many of the wallet's other members it was connected
    /// to during the active phase. `None` where that is not measured (a leader, the
    /// in-process hub, where every member is reachable).
    pub members_connected: Option<u32>,
    /// What shows each fault to someone who was not there, for the faults that have it.
    /// Kept in the history, not in the result's event.
    #[serde(skip)]
    pub evidence: std::collections::BTreeMap<Fault, FaultEvidence>,
    /// The action each mistake or impersonation proposed: that of the message kept as its
    /// evidence, read when the message was decoded (so the history need not decode it again).
    /// Kept in the history, not in the result's event.
    #[serde(skip)]
    pub proposed_actions: std::collections::BTreeMap<Fault, ActionType>,
    /// A leader: the candidates it did not send because the on-chain validator refused them
    /// or could not be asked (SPEC §12), in checklist order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
}

impl CoordinationResult {
    /// A follower that was connected to none of the wallet's other members heard nothing
    /// because it could not: it cannot tell the leader's idleness from its own isolation.
    pub fn unheard(&self) -> bool {
        self.members_connected == Some(0)
    }
}

/// How a dispatched action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    Completed,
    Failed,
    Expired,
}

impl ActionOutcome {
    pub fn name(self) -> &'static str {
        match self {
            ActionOutcome::Completed => "completed",
            ActionOutcome::Failed => "failed",
            ActionOutcome::Expired => "expired",
        }
    }

    pub fn from_name(s: &str) -> Option<ActionOutcome> {
        [
            ActionOutcome::Completed,
            ActionOutcome::Failed,
            ActionOutcome::Expired,
        ]
        .into_iter()
        .find(|o| o.name() == s)
    }
}
