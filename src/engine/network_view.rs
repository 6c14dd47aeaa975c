//! The peer network as the snapshot keeps it: who is connected (why the firewall let them in,
//! since which block, their ping), who was refused, which seats of each wallet were heard in
//! its latest window, and rejections by reason per window. Folded from events like the rest
//! of [`super::NodeSnapshot`], so a subscriber that lags re-reads it whole.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::router::RejectReason;
use crate::protocol::{Address, WalletPkh};

/// How many finished windows of rejection counts are kept.
pub const REJECTION_WINDOWS: usize = 8;
/// How many refused peers are remembered.
pub const RECENT_REFUSED: usize = 16;

/// What carries the node's coordination messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageTransport {
    /// Not known yet (no `node_started` seen).
    #[default]
    Unknown,
    /// The devnet's in-process hub: every member is reachable, there are no peers.
    Hub,
    /// libp2p: real peers, a firewall, bootstrap peers.
    PeerNetwork,
    /// No transport: nothing is sent or heard.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub operator: Option<Address>,
    /// Why the firewall admitted it.
    pub admitted: String,
    pub bootstrap: bool,
    /// The head when it connected (`None` before the first block).
    pub since_block: Option<u64>,
    /// The last announced ping round trip.
    pub rtt_us: Option<u64>,
}

/// The seats of a wallet heard in one window, and the head when the latest was announced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeardSeats {
    pub coordination_block: u64,
    pub seats: BTreeSet<u8>,
    pub at_block: Option<u64>,
}

/// Rejections in one window, by reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRejections {
    pub coordination_block: u64,
    pub counts: BTreeMap<RejectReason, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkView {
    pub transport: MessageTransport,
    /// Bootstrap peers configured.
    pub bootstrap_peers: usize,
    /// Connected peers by peer ID (base58).
    pub peers: BTreeMap<String, PeerView>,
    /// The most recent refusals, newest last: (peer, reason).
    pub refused: VecDeque<(String, String)>,
    /// Per wallet, the seats heard in its latest window.
    pub heard: HashMap<WalletPkh, HeardSeats>,
    /// Finished windows' rejections, oldest first.
    pub rejections: VecDeque<WindowRejections>,
    /// The latest announced total per reason (announced at the 1st, 10th, 100th…).
    pub rejected_totals: BTreeMap<RejectReason, u64>,
}

impl NetworkView {
    pub fn bootstrap_connected(&self) -> usize {
        self.peers.values().filter(|p| p.bootstrap).count()
    }

    /// Operators connected now.
    pub fn online_operators(&self) -> BTreeSet<Address> {
        self.peers.values().filter_map(|p| p.operator).collect()
    }

    pub(super) fn connected(&mut self, peer: &str, view: PeerView) {
        self.peers.insert(peer.to_owned(), view);
    }

    pub(super) fn disconnected(&mut self, peer: &str) {
        self.peers.remove(peer);
    }

    pub(super) fn refused(&mut self, peer: &str, reason: &str) {
        self.peers.remove(peer);
        if self.refused.len() == RECENT_REFUSED {
            self.refused.pop_front();
        }
        self.refused.push_back((peer.to_owned(), reason.to_owned()));
    }

    pub(super) fn ping(&mut self, peer: &str, rtt_us: u64) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.rtt_us = Some(rtt_us);
        }
    }

    /// Seats heard in `cb`: a later window starts the wallet's set over, an earlier one (a
    /// late copy) is ignored.
    pub(super) fn heard(&mut self, wallet: WalletPkh, cb: u64, seats: &[u8], head: Option<u64>) {
        let entry = self.heard.entry(wallet).or_default();
        if cb < entry.coordination_block {
            return;
        }
        if cb > entry.coordination_block {
            *entry = HeardSeats {
                coordination_block: cb,
                ..HeardSeats::default()
            };
        }
        entry.seats.extend(seats.iter().copied());
        entry.at_block = head;
    }

    pub(super) fn window_rejections(&mut self, tally: WindowRejections) {
        if self.rejections.len() == REJECTION_WINDOWS {
            self.rejections.pop_front();
        }
        self.rejections.push_back(tally);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heard_seats_start_over_in_a_later_window_and_ignore_an_earlier_one() {
        let w = WalletPkh([1; 20]);
        let mut n = NetworkView::default();
        n.heard(w, 900, &[3], Some(905));
        n.heard(w, 900, &[1, 3], Some(910));
        assert_eq!(n.heard[&w].seats, BTreeSet::from([1, 3]));
        assert_eq!(n.heard[&w].at_block, Some(910));
        n.heard(w, 1800, &[2], Some(1802));
        n.heard(w, 900, &[7], Some(1803));
        assert_eq!(n.heard[&w].coordination_block, 1800);
        assert_eq!(n.heard[&w].seats, BTreeSet::from([2]));
    }

    #[test]
    fn refusals_and_rejection_windows_are_bounded() {
        let mut n = NetworkView::default();
        for i in 0..(RECENT_REFUSED + 3) {
            n.refused(&format!("p{i}"), "no");
        }
        assert_eq!(n.refused.len(), RECENT_REFUSED);
        assert_eq!(n.refused.front().map(|r| r.0.as_str()), Some("p3"));
        for i in 1..=(REJECTION_WINDOWS as u64 + 2) {
            n.window_rejections(WindowRejections {
                coordination_block: 900 * i,
                counts: BTreeMap::new(),
            });
        }
        assert_eq!(n.rejections.len(), REJECTION_WINDOWS);
        assert_eq!(n.rejections[0].coordination_block, 2700);
    }
}
