//! A wallet's seats in its latest window, as tmtop shows a round's votes: each seat heard,
//! the leader's, this node's, or held by an operator this node is not connected to. Pure: the
//! Network tab's grid and the Wallets tab's columns read the same answer.

use std::collections::BTreeSet;

use crate::engine::network_view::{MessageTransport, NetworkView};
use crate::engine::snapshot::WalletView;
use crate::protocol::Address;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatState {
    /// Held by this node.
    You,
    /// The window's leader; `heard` says whether its message arrived.
    Leader { heard: bool },
    /// A message from this seat arrived this window.
    Heard,
    /// Connected (or on the hub), silent so far: what an honest follower is.
    Online,
    /// Its operator is not among the connected peers.
    NotConnected,
}

/// The seats of one wallet in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatGrid {
    /// The window the states are for, if any window started for the wallet yet.
    pub coordination_block: Option<u64>,
    /// One per seat, seat `i + 1` at index `i`.
    pub seats: Vec<SeatState>,
    /// Seats held by this node or by a connected operator.
    pub online: usize,
    pub heard: usize,
}

/// The window the wallet's latest facts are about: the newest of its executor's, its heard
/// seats' and its result's.
fn latest_window(w: &WalletView, net: &NetworkView) -> Option<u64> {
    let heard = net.heard.get(&w.wallet).map(|h| h.coordination_block);
    let leader = w.window_leader.map(|(cb, _)| cb);
    let result = w.last_result.as_ref().map(|r| r.coordination_block);
    [heard, leader, result].into_iter().flatten().max()
}

pub fn grid(
    w: &WalletView,
    net: &NetworkView,
    me: Option<Address>,
    online_operators: &BTreeSet<Address>,
) -> SeatGrid {
    let cb = latest_window(w, net);
    let heard: BTreeSet<u8> = net
        .heard
        .get(&w.wallet)
        .filter(|h| Some(h.coordination_block) == cb)
        .map(|h| h.seats.clone())
        .unwrap_or_default();
    // The leader's seat exactly once the result says it; until then every seat its
    // operator holds.
    let result = w
        .last_result
        .as_ref()
        .filter(|r| Some(r.coordination_block) == cb);
    let leader_seat = result.map(|r| r.leader_member_index);
    let leader_operator = w
        .window_leader
        .filter(|(lcb, _)| Some(*lcb) == cb)
        .map(|(_, a)| a)
        .or(result.map(|r| r.leader));
    let everyone_reachable = net.transport != MessageTransport::PeerNetwork;
    let mut grid = SeatGrid {
        coordination_block: cb,
        seats: Vec::with_capacity(w.operators.len()),
        online: 0,
        heard: 0,
    };
    for (i, holder) in w.operators.iter().enumerate() {
        let seat = u8::try_from(i + 1).unwrap_or(u8::MAX);
        let is_heard = heard.contains(&seat);
        let is_me = Some(*holder) == me;
        let online = is_me || everyone_reachable || online_operators.contains(holder);
        let is_leader = match leader_seat {
            Some(s) => s == seat,
            None => Some(*holder) == leader_operator,
        };
        grid.online += usize::from(online);
        grid.heard += usize::from(is_heard);
        grid.seats.push(if is_leader {
            SeatState::Leader { heard: is_heard }
        } else if is_me {
            SeatState::You
        } else if is_heard {
            SeatState::Heard
        } else if online {
            SeatState::Online
        } else {
            SeatState::NotConnected
        });
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::network_view::HeardSeats;
    use crate::engine::snapshot::{DispatcherState, ExecutorState};
    use crate::protocol::WalletPkh;

    fn wallet(operators: Vec<Address>) -> WalletView {
        WalletView {
            wallet: WalletPkh([1; 20]),
            operators,
            seats: vec![],
            executor: ExecutorState::Idle,
            last_result: None,
            last_result_block: None,
            window_leader: None,
            next_leader: None,
            dispatcher: DispatcherState::Idle,
            bitcoin: None,
        }
    }

    #[test]
    fn seats_are_you_leader_heard_online_or_not_connected() {
        let (me, a, b, c) = (
            Address([9; 20]),
            Address([1; 20]),
            Address([2; 20]),
            Address([3; 20]),
        );
        // Seats: 1 a, 2 me, 3 b, 4 c, 5 b.
        let mut w = wallet(vec![a, me, b, c, b]);
        w.window_leader = Some((1800, b));
        let mut net = NetworkView {
            transport: MessageTransport::PeerNetwork,
            ..NetworkView::default()
        };
        net.heard.insert(
            w.wallet,
            HeardSeats {
                coordination_block: 1800,
                seats: BTreeSet::from([1, 3]),
                at_block: Some(1801),
            },
        );
        let online = BTreeSet::from([a, b]);
        let g = grid(&w, &net, Some(me), &online);
        assert_eq!(g.coordination_block, Some(1800));
        use SeatState::*;
        assert_eq!(
            g.seats,
            vec![
                Heard,
                You,
                Leader { heard: true },
                NotConnected,
                Leader { heard: false }
            ],
            "before the result every seat of the leader's operator is marked"
        );
        assert_eq!((g.online, g.heard), (4, 2));

        // Heard seats of an older window do not colour a newer one.
        w.window_leader = Some((2700, b));
        let g = grid(&w, &net, Some(me), &online);
        assert_eq!(g.coordination_block, Some(2700));
        assert_eq!(g.heard, 0);

        // On the hub every member is reachable.
        net.transport = MessageTransport::Hub;
        let g = grid(&w, &net, Some(me), &BTreeSet::new());
        assert_eq!(g.online, 5);
        assert!(!g.seats.contains(&NotConnected));
    }
}
