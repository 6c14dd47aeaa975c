//! What the router tells the console about traffic, coalesced so the bus stays small however
//! many wallets and seats there are: which seats of a wallet were heard in a window (each
//! seat once per window, gathered over a burst of messages), and how many messages were
//! rejected for each reason while the head was in a window.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::events::Event;
use super::router::RejectReason;
use crate::protocol::WalletPkh;

/// Pending seats are announced before the buffer grows past this many wallets, even in a
/// burst that does not end.
const MAX_PENDING_WALLETS: usize = 1024;
/// Seats remembered as announced before those of windows over are forgotten.
const MAX_ANNOUNCED: usize = 1 << 16;

/// Seats heard, waiting to be announced, and those already announced.
#[derive(Debug, Default)]
pub(super) struct Heard {
    pending: BTreeMap<(WalletPkh, u64), BTreeSet<u8>>,
    announced: HashSet<(WalletPkh, u64, u8)>,
}

impl Heard {
    /// A message from `seat` of `wallet` for window `cb` was routed. `live` says whether a
    /// window is still current, for forgetting old ones.
    pub fn note(&mut self, wallet: WalletPkh, cb: u64, seat: u8, live: impl Fn(u64) -> bool) {
        if self.announced.len() >= MAX_ANNOUNCED {
            self.announced.retain(|(_, window, _)| live(*window));
        }
        if self.announced.insert((wallet, cb, seat)) {
            self.pending.entry((wallet, cb)).or_default().insert(seat);
        }
    }

    /// Whether the buffer should be emptied now even though messages keep coming.
    pub fn is_full(&self) -> bool {
        self.pending.len() >= MAX_PENDING_WALLETS
    }

    /// One event per wallet and window with seats not yet announced.
    pub fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(
                |((wallet, coordination_block), seats)| Event::MembersHeard {
                    wallet,
                    coordination_block,
                    seats: seats.into_iter().collect(),
                },
            )
            .collect()
    }
}

/// Rejections counted against the window the head was in.
#[derive(Debug, Default)]
pub(super) struct WindowTally {
    window: Option<u64>,
    counts: BTreeMap<RejectReason, u64>,
}

impl WindowTally {
    /// The head is now in window `current` (`None` before the first): if that ends the
    /// window being counted, its tally, when it had any rejection.
    pub fn advance(&mut self, current: Option<u64>) -> Option<Event> {
        if current == self.window {
            return None;
        }
        let finished = self.window.replace(current?);
        let counts = std::mem::take(&mut self.counts);
        match finished {
            Some(coordination_block) if !counts.is_empty() => Some(Event::WindowRejections {
                coordination_block,
                rejected: counts,
            }),
            _ => None,
        }
    }

    pub fn count(&mut self, reason: RejectReason) {
        *self.counts.entry(reason).or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_seat_is_announced_once_per_window_and_a_burst_is_one_event_per_wallet() {
        let (a, b) = (WalletPkh([1; 20]), WalletPkh([2; 20]));
        let mut h = Heard::default();
        h.note(a, 900, 3, |_| true);
        h.note(a, 900, 3, |_| true);
        h.note(a, 900, 1, |_| true);
        h.note(b, 900, 2, |_| true);
        assert_eq!(
            h.take(),
            vec![
                Event::MembersHeard {
                    wallet: a,
                    coordination_block: 900,
                    seats: vec![1, 3]
                },
                Event::MembersHeard {
                    wallet: b,
                    coordination_block: 900,
                    seats: vec![2]
                },
            ]
        );
        h.note(a, 900, 3, |_| true);
        assert_eq!(h.take(), vec![], "seat 3 was announced for window 900");
        h.note(a, 1800, 3, |_| true);
        assert_eq!(h.take().len(), 1, "a new window hears it again");
    }

    #[test]
    fn a_windows_rejections_are_announced_when_the_head_leaves_it() {
        let mut t = WindowTally::default();
        assert_eq!(t.advance(None), None);
        assert_eq!(t.advance(Some(900)), None);
        t.count(RejectReason::Signature);
        t.count(RejectReason::Signature);
        t.count(RejectReason::NotAMember);
        assert_eq!(t.advance(Some(900)), None, "still in it");
        assert_eq!(
            t.advance(Some(1800)),
            Some(Event::WindowRejections {
                coordination_block: 900,
                rejected: BTreeMap::from([
                    (RejectReason::Signature, 2),
                    (RejectReason::NotAMember, 1)
                ]),
            })
        );
        assert_eq!(t.advance(Some(2700)), None, "1800 had none");
    }
}
