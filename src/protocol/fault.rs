//! Faults observed during a window, each blamed on one operator (SPEC §6).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::action::ActionType;
use super::types::Address;

/// The kinds of misbehaviour a follower records. Numbers follow the reference client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultType {
    /// The leader sent no acceptable message during the active phase.
    LeaderIdleness = 1,
    /// The leader proposed an action that is neither on the checklist nor Noop.
    LeaderMistake = 2,
    /// A member other than the leader's lowest seat sent a proposal.
    LeaderImpersonation = 3,
}

impl FaultType {
    pub const ALL: [FaultType; 3] = [
        FaultType::LeaderIdleness,
        FaultType::LeaderMistake,
        FaultType::LeaderImpersonation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultType::LeaderIdleness => "LeaderIdleness",
            FaultType::LeaderMistake => "LeaderMistake",
            FaultType::LeaderImpersonation => "LeaderImpersonation",
        }
    }

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(n: u8) -> Option<FaultType> {
        FaultType::ALL.into_iter().find(|f| f.number() == n)
    }
}

impl fmt::Display for FaultType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault type {0:?}: expected LeaderIdleness, LeaderMistake or LeaderImpersonation")]
pub struct UnknownFault(pub String);

impl FromStr for FaultType {
    type Err = UnknownFault;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultType::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFault(s.to_string()))
    }
}

/// A fault and its culprit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fault {
    pub fault: FaultType,
    pub culprit: Address,
}

/// What a follower keeps of a fault so that someone who was not there can check it
/// (`tbtc-coord verify-evidence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultEvidence {
    /// Impersonation and mistake: the offending signed pubsub message, its protobuf bytes as
    /// received (the author's StrictSign signature covers them).
    Message(Vec<u8>),
    /// Idleness cannot be shown by a message; its context is what the follower saw.
    Idleness(IdlenessContext),
}

/// What a follower saw in a window whose leader stayed silent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdlenessContext {
    /// The blocks listened: from the block at which the follower started listening to the
    /// end of the active phase (exclusive).
    pub listened_from: u64,
    pub listened_until: u64,
    /// How many of the wallet's other members were connected (`None` where not measured:
    /// the in-process hub reaches every member).
    pub members_connected: Option<u32>,
    /// The messages heard from other seats while listening, none of them acceptable, at
    /// most [`MAX_HEARD`].
    pub heard: Vec<HeardMessage>,
    /// How many more were heard than are listed.
    #[serde(default)]
    pub heard_omitted: u32,
}

/// At most this many heard messages are kept in an idleness context.
pub const MAX_HEARD: usize = 64;

/// One message a follower heard from another seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeardMessage {
    /// The head when it was classified.
    pub block: u64,
    pub member_index: u8,
    pub operator: Address,
    /// The window the message named.
    pub coordination_block: u64,
    pub action: ActionType,
    /// What the follower made of it (`LeaderImpersonation`, `LeaderMistake`, `other_window`,
    /// `other_wallet`, `not_seat_holder`).
    pub verdict: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for f in FaultType::ALL {
            assert_eq!(f.name().parse::<FaultType>(), Ok(f));
            assert_eq!(FaultType::from_number(f.number()), Some(f));
        }
        assert!("idle".parse::<FaultType>().is_err());
    }
}
