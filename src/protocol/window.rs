//! Coordination windows (SPEC §2): every 900 blocks a window opens at its coordination block,
//! with an 80-block active phase, a 20-block passive phase, and a safe block 32 blocks back.

use serde::Serialize;

/// Blocks between two coordination blocks.
pub const COORDINATION_FREQUENCY_BLOCKS: u64 = 900;
/// Blocks during which the leader may talk and followers listen: `[cb, cb+80)`.
pub const ACTIVE_PHASE_BLOCKS: u64 = 80;
/// Blocks after the active phase in which no message is accepted.
pub const PASSIVE_PHASE_BLOCKS: u64 = 20;
/// Whole window: the active and passive phases.
pub const WINDOW_DURATION_BLOCKS: u64 = ACTIVE_PHASE_BLOCKS + PASSIVE_PHASE_BLOCKS;
/// How far back from the coordination block the seed's block hash is taken.
pub const SAFE_BLOCK_SHIFT: u64 = 32;

/// Where a block falls relative to a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the coordination block.
    Before,
    Active,
    Passive,
    /// At or after the window's end block.
    Ended,
}

/// One coordination window, named by its coordination block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CoordinationWindow {
    pub coordination_block: u64,
}

impl CoordinationWindow {
    pub fn new(coordination_block: u64) -> Self {
        CoordinationWindow { coordination_block }
    }

    /// The window's index: `cb / 900` for a coordination block, 0 ("not a window") otherwise.
    pub fn index(&self) -> u64 {
        if is_coordination_block(self.coordination_block) {
            self.coordination_block / COORDINATION_FREQUENCY_BLOCKS
        } else {
            0
        }
    }

    /// The first block after the active phase.
    pub fn active_phase_end(&self) -> u64 {
        self.coordination_block.saturating_add(ACTIVE_PHASE_BLOCKS)
    }

    /// The first block after the window; dispatched actions start here.
    pub fn end_block(&self) -> u64 {
        self.coordination_block
            .saturating_add(WINDOW_DURATION_BLOCKS)
    }

    /// The block whose hash seeds the window.
    pub fn safe_block(&self) -> u64 {
        self.coordination_block.saturating_sub(SAFE_BLOCK_SHIFT)
    }

    pub fn phase_at(&self, block: u64) -> Phase {
        if block < self.coordination_block {
            Phase::Before
        } else if block < self.active_phase_end() {
            Phase::Active
        } else if block < self.end_block() {
            Phase::Passive
        } else {
            Phase::Ended
        }
    }

    /// The window 900 blocks later.
    pub fn next(&self) -> CoordinationWindow {
        CoordinationWindow::new(
            self.coordination_block
                .saturating_add(COORDINATION_FREQUENCY_BLOCKS),
        )
    }
}

/// A block opens a window iff it is a positive multiple of 900.
pub fn is_coordination_block(block: u64) -> bool {
    block > 0 && block.is_multiple_of(COORDINATION_FREQUENCY_BLOCKS)
}

/// The latest window whose coordination block is at or before `block`, if any.
pub fn window_at_or_before(block: u64) -> Option<CoordinationWindow> {
    let cb = block - block % COORDINATION_FREQUENCY_BLOCKS;
    (cb > 0).then(|| CoordinationWindow::new(cb))
}

/// The first window whose coordination block is strictly after `block`.
pub fn next_window_after(block: u64) -> CoordinationWindow {
    let cb =
        (block / COORDINATION_FREQUENCY_BLOCKS + 1).saturating_mul(COORDINATION_FREQUENCY_BLOCKS);
    CoordinationWindow::new(cb)
}

/// The leader re-sends its message this many blocks after the first send, while the active
/// phase lasts (the reference client's backoff).
pub const RESEND_TICKS: [u64; 7] = [1, 3, 6, 11, 20, 37, 70];

/// The last block at which an honest leader that sent on time still re-sends (SPEC §6): a
/// follower listening from then on hears it, if it spoke at all.
pub fn last_send_heard_by_all(coordination_block: u64) -> u64 {
    coordination_block.saturating_add(RESEND_TICKS[RESEND_TICKS.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_geometry() {
        let w = CoordinationWindow::new(1800);
        assert_eq!(w.index(), 2);
        assert_eq!(w.safe_block(), 1768);
        assert_eq!(w.active_phase_end(), 1880);
        assert_eq!(w.end_block(), 1900);
        assert_eq!(w.phase_at(1799), Phase::Before);
        assert_eq!(w.phase_at(1800), Phase::Active);
        assert_eq!(w.phase_at(1879), Phase::Active);
        assert_eq!(w.phase_at(1880), Phase::Passive);
        assert_eq!(w.phase_at(1899), Phase::Passive);
        assert_eq!(w.phase_at(1900), Phase::Ended);
        assert_eq!(w.next().coordination_block, 2700);
    }

    #[test]
    fn index_zero_means_not_a_window() {
        assert_eq!(CoordinationWindow::new(0).index(), 0);
        assert_eq!(CoordinationWindow::new(901).index(), 0);
        assert!(!is_coordination_block(0));
        assert!(is_coordination_block(900));
    }

    #[test]
    fn window_lookup_around_a_block() {
        assert_eq!(window_at_or_before(899), None);
        assert_eq!(window_at_or_before(900), Some(CoordinationWindow::new(900)));
        assert_eq!(
            window_at_or_before(1799),
            Some(CoordinationWindow::new(900))
        );
        assert_eq!(next_window_after(900), CoordinationWindow::new(1800));
        assert_eq!(next_window_after(0), CoordinationWindow::new(900));
    }
}
