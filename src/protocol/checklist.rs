//! The actions checklist of a window (SPEC §5): which actions the leader must consider, in
//! order.

use super::action::ActionType;
use super::gorand::GoRand;
use super::types::Seed;
use super::window::CoordinationWindow;

/// From this coordination block on, the reference client checks both sweeps in every window
/// (its March 2026 revision) instead of every 4th.
pub const SWEEPS_EVERY_WINDOW_FROM_BLOCK: u64 = 24_559_289;
/// The reference client lowered the RFC's 12.5% heartbeat probability to 6.25%.
pub const HEARTBEAT_PROBABILITY: f64 = 0.0625;

/// Whether a window draws a heartbeat: the first `Float64` of a generator seeded with the seed.
pub fn heartbeat_drawn(seed: &Seed, rng: &mut GoRand) -> bool {
    rng.seed(seed.rng_seed());
    rng.float64() < HEARTBEAT_PROBABILITY
}

/// The checklist, reusing `rng` (re-seeded here) to avoid an allocation per call.
pub fn checklist_with(
    window: CoordinationWindow,
    seed: &Seed,
    rng: &mut GoRand,
) -> Vec<ActionType> {
    let index = window.index();
    if index == 0 {
        return Vec::new();
    }
    let mut actions = vec![ActionType::Redemption];
    let every_fourth = index.is_multiple_of(4);
    if every_fourth || window.coordination_block >= SWEEPS_EVERY_WINDOW_FROM_BLOCK {
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

pub fn checklist(window: CoordinationWindow, seed: &Seed) -> Vec<ActionType> {
    checklist_with(window, seed, &mut GoRand::new(0))
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
}
