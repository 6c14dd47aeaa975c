//! Wallet action types, their wire numbers and how long a dispatched action stays valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A wallet action. The discriminants are the wire and storage numbers of the reference client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum ActionType {
    Noop = 0,
    Heartbeat = 1,
    DepositSweep = 2,
    Redemption = 3,
    MovingFunds = 4,
    MovedFundsSweep = 5,
}

impl ActionType {
    pub const ALL: [ActionType; 6] = [
        ActionType::Noop,
        ActionType::Heartbeat,
        ActionType::DepositSweep,
        ActionType::Redemption,
        ActionType::MovingFunds,
        ActionType::MovedFundsSweep,
    ];

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(n: u8) -> Option<ActionType> {
        ActionType::ALL.get(usize::from(n)).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            ActionType::Noop => "Noop",
            ActionType::Heartbeat => "Heartbeat",
            ActionType::DepositSweep => "DepositSweep",
            ActionType::Redemption => "Redemption",
            ActionType::MovingFunds => "MovingFunds",
            ActionType::MovedFundsSweep => "MovedFundsSweep",
        }
    }

    /// Blocks a dispatched action stays valid, counted from the window's end block.
    /// Noop is never dispatched.
    pub fn validity_blocks(self) -> u64 {
        match self {
            ActionType::Noop => 0,
            ActionType::Heartbeat => 600,
            ActionType::DepositSweep => 1200,
            ActionType::Redemption => 600,
            ActionType::MovingFunds => 650,
            ActionType::MovedFundsSweep => 600,
        }
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}: expected one of Noop, Heartbeat, DepositSweep, Redemption, MovingFunds, MovedFundsSweep")]
pub struct UnknownAction(pub String);

impl FromStr for ActionType {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionType::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

/// Names joined by commas, as the CLI and the JSON events print a checklist.
pub fn join_names(actions: &[ActionType]) -> String {
    actions
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for a in ActionType::ALL {
            assert_eq!(ActionType::from_number(a.number()), Some(a));
            assert_eq!(a.name().parse::<ActionType>(), Ok(a));
        }
        assert_eq!(ActionType::Redemption.number(), 3);
        assert_eq!(ActionType::MovedFundsSweep.number(), 5);
        assert_eq!(ActionType::from_number(6), None);
    }

    #[test]
    fn validity_per_spec() {
        assert_eq!(ActionType::DepositSweep.validity_blocks(), 1200);
        assert_eq!(ActionType::MovingFunds.validity_blocks(), 650);
        assert_eq!(ActionType::Heartbeat.validity_blocks(), 600);
    }
}
