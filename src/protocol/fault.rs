//! Faults observed during a window, each blamed on one operator (SPEC §6).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
