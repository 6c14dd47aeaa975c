//! The actions checklist of a window (SPEC §5): which actions the leader must consider, in
//! order.

use super::action::ActionType;
use super::gorand::GoRand;
use super::types::Seed;
use super::window::CoordinationWindow;

/// From this mainnet coordination block on, the reference client checks both sweeps in every
/// window (its March 2026 revision, keep-core #3864) instead of every 4th.
pub const SWEEPS_EVERY_WINDOW_FROM_BLOCK: u64 = 24_559_289;

/// A chain's checklist rule: from which coordination block both sweeps are on every window's
/// checklist (before it, every 4th window's). Mainnet activated it at
/// [`SWEEPS_EVERY_WINDOW_FROM_BLOCK`]; another chain names its own block, by default 0
/// (every window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecklistRules {
    pub sweeps_every_window_from: u64,
}

impl ChecklistRules {
    pub const MAINNET: ChecklistRules = ChecklistRules {
        sweeps_every_window_from: SWEEPS_EVERY_WINDOW_FROM_BLOCK,
    };
    pub const EVERY_WINDOW: ChecklistRules = ChecklistRules {
        sweeps_every_window_from: 0,
    };

    /// The rule of chain `chain_id`: a configured block wins; else mainnet's on mainnet and
    /// every window elsewhere.
    pub fn for_chain(chain_id: u64, configured: Option<u64>) -> ChecklistRules {
        match (configured, chain_id) {
            (Some(block), _) => ChecklistRules {
                sweeps_every_window_from: block,
            },
            (None, 1) => ChecklistRules::MAINNET,
            (None, _) => ChecklistRules::EVERY_WINDOW,
        }
    }
}

/// The embedded devnet and the published vectors follow mainnet.
impl Default for ChecklistRules {
    fn default() -> Self {
        ChecklistRules::MAINNET
    }
}
/// The reference client lowered the RFC's 12.5% heartbeat probability to 6.25%.
pub const HEARTBEAT_PROBABILITY: f64 = 0.0625;

/// Whether a window draws a heartbeat: the first `Float64` of a generator seeded with the seed.
pub fn heartbeat_drawn(seed: &Seed, rng: &mut GoRand) -> bool {
    rng.seed(seed.rng_seed());
    rng.float64() < HEARTBEAT_PROBABILITY
}

/// The checklist under mainnet's rule, reusing `rng` (re-seeded here) to avoid an allocation
/// per call.
pub fn checklist_with(
    window: CoordinationWindow,
    seed: &Seed,
    rng: &mut GoRand,
) -> Vec<ActionType> {
    checklist_under(window, seed, ChecklistRules::MAINNET, rng)
}

/// The checklist under a chain's rule, reusing `rng`.
pub fn checklist_under(
    window: CoordinationWindow,
    seed: &Seed,
    rules: ChecklistRules,
    rng: &mut GoRand,
) -> Vec<ActionType> {
    let index = window.index();
    if index == 0 {
        return Vec::new();
    }
    let mut actions = vec![ActionType::Redemption];
    let every_fourth = index.is_multiple_of(4);
    if every_fourth || window.coordination_block >= rules.sweeps_every_window_from {
        actions.push(ActionType::DepositSweep);
        actions.push(ActionType::MovedFundsSweep);
    }
    if every_fourth {
        actions.push(ActionType::MovingFunds);
    }
    if heartbeat_drawn(seed, rng) {
        actions.push(ActionType::Heartbeat);
    }
    actions
}

/// The checklist under mainnet's rule.
pub fn checklist(window: CoordinationWindow, seed: &Seed) -> Vec<ActionType> {
    checklist_with(window, seed, &mut GoRand::new(0))
}

/// The checklist under a chain's rule.
pub fn checklist_for(
    window: CoordinationWindow,
    seed: &Seed,
    rules: ChecklistRules,
) -> Vec<ActionType> {
    checklist_under(window, seed, rules, &mut GoRand::new(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use ActionType::*;

    fn minimal_be(n: u64) -> Vec<u8> {
        let bytes = n.to_be_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        bytes[first..].to_vec()
    }

    /// The reference client's published checklist vector (SPEC §5).
    #[test]
    fn reference_client_vector() {
        let mut block = 0;
        while block <= 14400 {
            for cb in [block, block + 1] {
                let seed = Seed(Sha256::digest(minimal_be(cb + 2)).into());
                let got = checklist(CoordinationWindow::new(cb), &seed);
                let want: Vec<ActionType> = match cb {
                    3600 => vec![
                        Redemption,
                        DepositSweep,
                        MovedFundsSweep,
                        MovingFunds,
                        Heartbeat,
                    ],
                    7200 | 10800 | 14400 => {
                        vec![Redemption, DepositSweep, MovedFundsSweep, MovingFunds]
                    }
                    0 | 901 => vec![],
                    cb if cb % 900 != 0 => vec![],
                    _ => vec![Redemption],
                };
                assert_eq!(got, want, "block {cb}");
            }
            block += 900;
        }
    }

    #[test]
    fn a_chain_s_rule_decides_when_both_sweeps_join_every_window() {
        let seed = Seed([0; 32]);
        // Window 5 (block 4500) is not a 4th window.
        let w = CoordinationWindow::new(4500);
        let mainnet = checklist_for(w, &seed, ChecklistRules::MAINNET);
        assert!(!mainnet.contains(&DepositSweep), "{mainnet:?}");
        let every = checklist_for(w, &seed, ChecklistRules::EVERY_WINDOW);
        assert_eq!(every[..3], [Redemption, DepositSweep, MovedFundsSweep]);
        assert!(
            !every.contains(&MovingFunds),
            "moving funds stays every 4th"
        );
        // Mainnet itself from its activation block on.
        let late =
            CoordinationWindow::new(SWEEPS_EVERY_WINDOW_FROM_BLOCK.div_ceil(900) * 900 + 900);
        let after = checklist_for(late, &seed, ChecklistRules::MAINNET);
        assert!(after.contains(&DepositSweep) && after.contains(&MovedFundsSweep));
        // The rule of a chain: configured, else mainnet's on chain 1, else every window.
        assert_eq!(ChecklistRules::for_chain(1, None), ChecklistRules::MAINNET);
        assert_eq!(
            ChecklistRules::for_chain(11155111, None),
            ChecklistRules::EVERY_WINDOW
        );
        assert_eq!(
            ChecklistRules::for_chain(1, Some(900)).sweeps_every_window_from,
            900
        );
    }
}
