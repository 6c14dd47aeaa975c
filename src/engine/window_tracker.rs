//! The window watch (SPEC §2): turns the stream of new heads into "window started" and
//! "window missed" decisions. The reference client only notices a window when it sees exactly
//! block `cb`; here every window is decided exactly once, at the first head at or past its
//! coordination block: started (late if that head is past `cb`) while the active phase is
//! open, missed otherwise. Duplicates, out-of-order heads and reorgs never decide a window
//! twice, because decisions only move forward.

use crate::protocol::window::{window_at_or_before, COORDINATION_FREQUENCY_BLOCKS};
use crate::protocol::CoordinationWindow;

/// A decision about one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowDecision {
    Start {
        window: CoordinationWindow,
        late: bool,
        observed_block: u64,
    },
    Missed {
        window: CoordinationWindow,
        observed_block: u64,
    },
}

impl WindowDecision {
    pub fn window(&self) -> CoordinationWindow {
        match self {
            WindowDecision::Start { window, .. } | WindowDecision::Missed { window, .. } => *window,
        }
    }
}

/// Beyond this many owed windows (about 100 days) a resumed node stops listing each missed
/// window and starts from the current one; the jump is logged.
pub const MAX_CATCH_UP_WINDOWS: u64 = 10_000;

/// The pure state machine behind the window watch.
#[derive(Debug, Clone, Default)]
pub struct WindowTracker {
    /// The lowest coordination block not yet decided; `None` before the first head.
    next: Option<u64>,
    /// The last coordination block that fits in a u64 has been decided.
    exhausted: bool,
}

impl WindowTracker {
    pub fn new() -> Self {
        WindowTracker::default()
    }

    /// A tracker for a node that had decided every window up to `last_decided` before it
    /// stopped: windows after it are still owed a decision.
    pub fn resume_after(last_decided: u64) -> Self {
        let next = last_decided.checked_add(COORDINATION_FREQUENCY_BLOCKS);
        WindowTracker {
            next,
            exhausted: next.is_none(),
        }
    }

    /// The next window that will be decided.
    pub fn next_window(&self) -> Option<CoordinationWindow> {
        self.next.map(CoordinationWindow::new)
    }

    /// Feeds one head; returns the windows it decides, in order.
    pub fn observe(&mut self, block: u64) -> Vec<WindowDecision> {
        if self.exhausted {
            return Vec::new();
        }
        let first_owed = match self.next {
            Some(next) => {
                let owed = block.saturating_sub(next) / COORDINATION_FREQUENCY_BLOCKS;
                if block >= next && owed > MAX_CATCH_UP_WINDOWS {
                    tracing::warn!(
                        from = next,
                        to = block,
                        "more than {MAX_CATCH_UP_WINDOWS} windows passed while the node was away; \
                         resuming from the current window"
                    );
                    window_at_or_before(block).map_or(next, |w| w.coordination_block)
                } else {
                    next
                }
            }
            // First head: the window it falls in is the first one this node can speak for.
            None => window_at_or_before(block)
                .map_or(COORDINATION_FREQUENCY_BLOCKS, |w| w.coordination_block),
        };
        let mut decisions = Vec::new();
        let mut cb = first_owed;
        while cb <= block {
            let window = CoordinationWindow::new(cb);
            decisions.push(if block < window.active_phase_end() {
                WindowDecision::Start {
                    window,
                    late: block != cb,
                    observed_block: block,
                }
            } else {
                WindowDecision::Missed {
                    window,
                    observed_block: block,
                }
            });
            match cb.checked_add(COORDINATION_FREQUENCY_BLOCKS) {
                Some(next) => cb = next,
                None => {
                    self.exhausted = true;
                    break;
                }
            }
        }
        self.next = Some(cb);
        decisions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::window::ACTIVE_PHASE_BLOCKS;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn starts(decisions: &[WindowDecision]) -> Vec<(u64, bool)> {
        decisions
            .iter()
            .filter_map(|d| match d {
                WindowDecision::Start { window, late, .. } => {
                    Some((window.coordination_block, *late))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn on_time_start_then_duplicates_and_reorg_do_nothing() {
        let mut t = WindowTracker::new();
        assert!(t.observe(860).is_empty());
        assert_eq!(starts(&t.observe(900)), vec![(900, false)]);
        assert!(t.observe(900).is_empty());
        assert!(t.observe(899).is_empty());
        assert!(t.observe(901).is_empty());
        assert!(t.observe(900).is_empty());
    }

    #[test]
    fn gap_over_the_coordination_block_starts_late() {
        let mut t = WindowTracker::new();
        t.observe(1790);
        assert_eq!(starts(&t.observe(1805)), vec![(1800, true)]);
    }

    #[test]
    fn gap_past_the_active_phase_reports_missed() {
        let mut t = WindowTracker::new();
        t.observe(1790);
        let d = t.observe(1800 + ACTIVE_PHASE_BLOCKS);
        assert_eq!(
            d,
            vec![WindowDecision::Missed {
                window: CoordinationWindow::new(1800),
                observed_block: 1880
            }]
        );
    }

    #[test]
    fn late_start_of_the_node_inside_an_active_phase() {
        let mut t = WindowTracker::new();
        assert_eq!(starts(&t.observe(2710)), vec![(2700, true)]);
    }

    #[test]
    fn resume_reports_windows_missed_while_away() {
        let mut t = WindowTracker::resume_after(900);
        let d = t.observe(3610);
        assert_eq!(d.len(), 3);
        assert!(
            matches!(d[0], WindowDecision::Missed { window, .. } if window.coordination_block == 1800)
        );
        assert!(
            matches!(d[1], WindowDecision::Missed { window, .. } if window.coordination_block == 2700)
        );
        assert_eq!(starts(&d[2..]), vec![(3600, true)]);
    }

    #[test]
    fn huge_gap_after_resume_is_capped() {
        let mut t = WindowTracker::resume_after(900);
        let far = 900 * (MAX_CATCH_UP_WINDOWS + 50) + 5;
        let d = t.observe(far);
        assert_eq!(d.len(), 1);
        assert!(matches!(d[0], WindowDecision::Start { late: true, .. }));
    }

    #[test]
    fn near_the_top_of_u64_it_neither_panics_nor_repeats() {
        let mut t = WindowTracker::new();
        let top = u64::MAX - u64::MAX % 900;
        let d = t.observe(top);
        assert_eq!(starts(&d), vec![(top, false)]);
        assert!(t.observe(u64::MAX).is_empty());
        assert!(t.observe(u64::MAX).is_empty());
    }

    /// A head sequence: forward steps, gaps, duplicates and rewinds (reorgs, out of order).
    fn head_sequence() -> impl Strategy<Value = Vec<u64>> {
        let step = prop_oneof![
            4 => Just(1i64),
            2 => 2i64..40,
            1 => 40i64..2500,
            1 => Just(0i64),
            1 => -60i64..0,
        ];
        (0u64..4000, prop::collection::vec(step, 1..400)).prop_map(|(start, steps)| {
            let mut block = start;
            let mut out = vec![block];
            for s in steps {
                block = (block as i64 + s).max(0) as u64;
                out.push(block);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn every_window_is_decided_exactly_once_and_correctly(heads in head_sequence()) {
            let mut t = WindowTracker::new();
            let mut decided: BTreeMap<u64, WindowDecision> = BTreeMap::new();
            let mut last_cb = 0;
            for &h in &heads {
                for d in t.observe(h) {
                    let cb = d.window().coordination_block;
                    prop_assert!(cb > last_cb, "decisions move forward: {} after {}", cb, last_cb);
                    last_cb = cb;
                    prop_assert!(decided.insert(cb, d).is_none(), "window {} decided twice", cb);
                }
            }
            let first_cb = window_at_or_before(heads[0]).map_or(900, |w| w.coordination_block);
            let max_head = *heads.iter().max().unwrap();
            let mut cb = first_cb;
            while cb <= max_head {
                let d = decided.get(&cb);
                prop_assert!(d.is_some(), "window {} never decided", cb);
                // Decided at the first head at or past cb, in arrival order.
                let first_seen = *heads.iter().find(|&&h| h >= cb).unwrap();
                match d.unwrap() {
                    WindowDecision::Start { late, observed_block, .. } => {
                        prop_assert_eq!(*observed_block, first_seen);
                        prop_assert!(first_seen < cb + ACTIVE_PHASE_BLOCKS);
                        prop_assert_eq!(*late, first_seen != cb);
                    }
                    WindowDecision::Missed { observed_block, .. } => {
                        prop_assert_eq!(*observed_block, first_seen);
                        prop_assert!(first_seen >= cb + ACTIVE_PHASE_BLOCKS);
                    }
                }
                cb += 900;
            }
            prop_assert!(decided.keys().all(|&cb| cb >= first_cb && cb <= max_head));
        }
    }
}
