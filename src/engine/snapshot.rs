//! The node's current state, folded from its events: what the console draws and what a
//! subscriber that fell behind the bus re-reads instead of showing a state with holes in it.
//! Pure: [`NodeSnapshot::apply`] takes one event at a time, in the bus's order.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::events::{CoordinationResultEvent, Event};
use super::network_view::{NetworkView, PeerView, WindowRejections};
use super::records::WalletBitcoin;
use crate::protocol::BlockRef;
use crate::protocol::{ActionOutcome, ActionType, Address, BlockHashRule, Hash32, Role, WalletPkh};

/// What a wallet's executor is doing, as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ExecutorState {
    Idle,
    Running { coordination_block: u64, role: Role },
    Busy { coordination_block: u64 },
    Done { coordination_block: u64 },
    Failed { coordination_block: u64 },
}

/// What a wallet's dispatcher is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DispatcherState {
    Idle,
    Dispatched {
        coordination_block: u64,
        action: ActionType,
        start_block: u64,
        expiry_block: u64,
    },
    Running {
        coordination_block: u64,
        action: ActionType,
        start_block: u64,
        expiry_block: u64,
    },
    Finished {
        coordination_block: u64,
        action: ActionType,
        outcome: ActionOutcome,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalletView {
    pub wallet: WalletPkh,
    pub operators: Vec<Address>,
    /// Member indices this node holds.
    pub seats: Vec<u8>,
    pub executor: ExecutorState,
    pub last_result: Option<CoordinationResultEvent>,
    /// The head when the last result was announced: for a follower, about when the leader's
    /// proposal was accepted.
    pub last_result_block: Option<u64>,
    /// The leader of the latest window an executor started for, once it started.
    pub window_leader: Option<(u64, Address)>,
    /// (coordination block, leader, is this node) of the next window, once known.
    pub next_leader: Option<(u64, Address, bool)>,
    pub dispatcher: DispatcherState,
    /// The main UTXO as last read, with a Bitcoin view.
    #[serde(default)]
    pub bitcoin: Option<WalletBitcoin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowView {
    pub coordination_block: u64,
    pub index: u64,
    pub late: bool,
    pub missed: bool,
    pub completed: bool,
    pub interrupted: bool,
    pub results: usize,
    pub faults: usize,
    pub safe_block_hash: Option<Hash32>,
    pub other_rule_hash: Option<Hash32>,
}

/// How many recent items the snapshot keeps of each kind.
pub const SNAPSHOT_HISTORY: usize = 64;

/// The node's current state, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    pub chain: String,
    pub operator: Option<Address>,
    pub observer: bool,
    pub block_hash_rule: BlockHashRule,
    pub head: Option<BlockRef>,
    pub wallets: Vec<WalletView>,
    pub windows: VecDeque<WindowView>,
    pub recent_faults: VecDeque<Event>,
    pub recent_dispatches: VecDeque<Event>,
    pub windows_started: u64,
    pub windows_missed: u64,
    /// Windows that ended while the history could not record them.
    #[serde(default)]
    pub windows_unrecorded: u64,
    pub windows_completed: u64,
    pub windows_interrupted: u64,
    /// History writes that failed (each also an error event and log line).
    pub history_errors: u64,
    /// Drop announcements of the router (see [`Event::MessagesDropped`]).
    pub messages_dropped: u64,
    /// Rejection announcements of the router (see [`Event::MessagesRejected`]).
    pub messages_rejected: u64,
    pub messages_lost: u64,
    /// Peers connected now, and refused so far (peer network only).
    pub peers_connected: u64,
    pub peers_refused: u64,
    /// Peers, seats heard and rejections by window.
    pub network: NetworkView,
    pub faults_seen: u64,
    pub stopped: bool,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == SNAPSHOT_HISTORY {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl NodeSnapshot {
    fn wallet_mut(&mut self, wallet: &WalletPkh) -> Option<&mut WalletView> {
        self.wallets.iter_mut().find(|w| w.wallet == *wallet)
    }

    fn window_mut(&mut self, cb: u64) -> Option<&mut WindowView> {
        self.windows
            .iter_mut()
            .rev()
            .find(|w| w.coordination_block == cb)
    }

    /// Folds one event into the snapshot.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::NodeStarted {
                chain,
                operator,
                observer,
                block_hash_rule,
                wallets,
                transport,
                bootstrap_peers,
            } => {
                self.network.transport = *transport;
                self.network.bootstrap_peers = *bootstrap_peers;
                self.chain = chain.clone();
                self.operator = Some(*operator);
                self.observer = *observer;
                self.block_hash_rule = *block_hash_rule;
                self.wallets = wallets
                    .iter()
                    .map(|w| WalletView {
                        wallet: w.wallet,
                        operators: w.operators.clone(),
                        seats: crate::protocol::leader::seats_held(&w.operators, operator),
                        executor: ExecutorState::Idle,
                        last_result: None,
                        last_result_block: None,
                        window_leader: None,
                        next_leader: None,
                        dispatcher: DispatcherState::Idle,
                        bitcoin: None,
                    })
                    .collect();
            }
            Event::Block { block } => self.head = Some(*block),
            Event::WindowStarted {
                coordination_block,
                index,
                late,
                safe_block_hash,
                other_rule_hash,
                ..
            } => {
                self.windows_started += 1;
                push_bounded(
                    &mut self.windows,
                    WindowView {
                        coordination_block: *coordination_block,
                        index: *index,
                        late: *late,
                        missed: false,
                        completed: false,
                        interrupted: false,
                        results: 0,
                        faults: 0,
                        safe_block_hash: Some(*safe_block_hash),
                        other_rule_hash: *other_rule_hash,
                    },
                );
            }
            Event::WindowMissed {
                coordination_block,
                index,
                ..
            } => {
                self.windows_missed += 1;
                push_bounded(
                    &mut self.windows,
                    WindowView {
                        coordination_block: *coordination_block,
                        index: *index,
                        late: false,
                        missed: true,
                        completed: false,
                        interrupted: false,
                        results: 0,
                        faults: 0,
                        safe_block_hash: None,
                        other_rule_hash: None,
                    },
                );
            }
            Event::ExecutorStarted {
                wallet,
                coordination_block,
                role,
                leader,
                ..
            } => {
                if let Some(w) = self.wallet_mut(wallet) {
                    w.window_leader = Some((*coordination_block, *leader));
                    w.executor = ExecutorState::Running {
                        coordination_block: *coordination_block,
                        role: *role,
                    };
                }
            }
            Event::ExecutorBusy {
                wallet,
                coordination_block,
            } => {
                if let Some(w) = self.wallet_mut(wallet) {
                    w.executor = ExecutorState::Busy {
                        coordination_block: *coordination_block,
                    };
                }
            }
            Event::ExecutorFailed {
                wallet,
                coordination_block,
                ..
            } => {
                if let Some(w) = self.wallet_mut(wallet) {
                    w.executor = ExecutorState::Failed {
                        coordination_block: *coordination_block,
                    };
                }
            }
            Event::LeaderForecast {
                coordination_block,
                leaders,
            } => {
                for l in leaders {
                    if let Some(w) = self.wallet_mut(&l.wallet) {
                        w.next_leader = Some((*coordination_block, l.leader, l.is_self));
                    }
                }
            }
            Event::CoordinationResult(r) => {
                let head = self.head.map(|h| h.number);
                if let Some(window) = self.window_mut(r.coordination_block) {
                    window.results += 1;
                }
                if let Some(w) = self.wallet_mut(&r.wallet) {
                    w.executor = ExecutorState::Done {
                        coordination_block: r.coordination_block,
                    };
                    if w.next_leader
                        .is_some_and(|(cb, _, _)| cb <= r.coordination_block)
                    {
                        w.next_leader = None;
                    }
                    w.last_result = Some(r.clone());
                    w.last_result_block = head;
                }
            }
            Event::Fault {
                coordination_block, ..
            } => {
                self.faults_seen += 1;
                if let Some(window) = self.window_mut(*coordination_block) {
                    window.faults += 1;
                }
                push_bounded(&mut self.recent_faults, event.clone());
            }
            Event::WindowCompleted {
                coordination_block, ..
            } => {
                self.windows_completed += 1;
                if let Some(window) = self.window_mut(*coordination_block) {
                    window.completed = true;
                }
            }
            Event::WindowUnrecorded { outcome, .. } => {
                if outcome != "interrupted" {
                    self.windows_unrecorded += 1;
                }
            }
            Event::WindowInterrupted {
                coordination_block, ..
            } => {
                self.windows_interrupted += 1;
                if let Some(window) = self.window_mut(*coordination_block) {
                    window.interrupted = true;
                }
            }
            Event::ActionRestored {
                wallet,
                coordination_block,
                action,
                start_block,
                expiry_block,
                running,
            } => {
                if let Some(w) = self.wallet_mut(wallet) {
                    let (coordination_block, action, start_block, expiry_block) =
                        (*coordination_block, *action, *start_block, *expiry_block);
                    w.dispatcher = if *running {
                        DispatcherState::Running {
                            coordination_block,
                            action,
                            start_block,
                            expiry_block,
                        }
                    } else {
                        DispatcherState::Dispatched {
                            coordination_block,
                            action,
                            start_block,
                            expiry_block,
                        }
                    };
                }
            }
            Event::HistoryError { .. } => self.history_errors += 1,
            Event::MessagesDropped { .. } => self.messages_dropped += 1,
            Event::MessagesRejected { reason, total } => {
                self.messages_rejected += 1;
                let known = self.network.rejected_totals.entry(*reason).or_insert(0);
                *known = (*known).max(*total);
            }
            Event::MessageTotals { rejected, .. } => {
                for (reason, total) in rejected {
                    let known = self.network.rejected_totals.entry(*reason).or_insert(0);
                    *known = (*known).max(*total);
                }
            }
            Event::MessagesLost { count } => self.messages_lost += count,
            Event::PeerConnected {
                peer,
                operator,
                admitted,
                bootstrap,
            } => {
                let view = PeerView {
                    operator: *operator,
                    admitted: admitted.clone(),
                    bootstrap: *bootstrap,
                    since_block: self.head.map(|h| h.number),
                    rtt_us: None,
                };
                self.network.connected(peer, view);
                self.peers_connected = self.network.peers.len() as u64;
            }
            Event::PeerDisconnected { peer } => {
                self.network.disconnected(peer);
                self.peers_connected = self.network.peers.len() as u64;
            }
            Event::PeerRefused { peer, reason } => {
                self.peers_refused += 1;
                self.network.refused(peer, reason);
                self.peers_connected = self.network.peers.len() as u64;
            }
            Event::PeerPing { peer, rtt_us } => self.network.ping(peer, *rtt_us),
            Event::MembersHeard {
                wallet,
                coordination_block,
                seats,
            } => {
                let head = self.head.map(|h| h.number);
                self.network
                    .heard(*wallet, *coordination_block, seats, head);
            }
            Event::WindowRejections {
                coordination_block,
                rejected,
            } => self.network.window_rejections(WindowRejections {
                coordination_block: *coordination_block,
                counts: rejected.clone(),
            }),
            Event::ProposalDispatched {
                wallet,
                coordination_block,
                action,
                start_block,
                expiry_block,
            } => {
                if let Some(w) = self.wallet_mut(wallet) {
                    w.dispatcher = DispatcherState::Dispatched {
                        coordination_block: *coordination_block,
                        action: *action,
                        start_block: *start_block,
                        expiry_block: *expiry_block,
                    };
                }
                push_bounded(&mut self.recent_dispatches, event.clone());
            }
            Event::DispatchRejected { .. } => {
                push_bounded(&mut self.recent_dispatches, event.clone());
            }
            Event::ActionStarted {
                wallet,
                coordination_block,
                ..
            } => {
                if let Some(w) = self.wallet_mut(wallet) {
                    if let DispatcherState::Dispatched {
                        coordination_block: cb,
                        action,
                        start_block,
                        expiry_block,
                    } = w.dispatcher
                    {
                        if cb == *coordination_block {
                            w.dispatcher = DispatcherState::Running {
                                coordination_block: cb,
                                action,
                                start_block,
                                expiry_block,
                            };
                        }
                    }
                }
            }
            Event::ActionFinished {
                wallet,
                coordination_block,
                action,
                outcome,
                ..
            } => {
                if let Some(w) = self.wallet_mut(wallet) {
                    w.dispatcher = DispatcherState::Finished {
                        coordination_block: *coordination_block,
                        action: *action,
                        outcome: *outcome,
                    };
                }
                push_bounded(&mut self.recent_dispatches, event.clone());
            }
            Event::NodeStopped => self.stopped = true,
            Event::WalletBitcoin(reading) => {
                if let Some(w) = self.wallet_mut(&reading.wallet) {
                    w.bitcoin = Some((**reading).clone());
                }
            }
            Event::ExecutorsStarted { .. } | Event::DryRun(_) => {}
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::engine::events::ForecastLeader;
    use crate::engine::network_view::MessageTransport;
    use crate::protocol::{FaultType, Proposal, WalletInfo};

    /// A head event of block `n`, for the engine's event tests.
    pub(in crate::engine) fn block(n: u64) -> Event {
        Event::Block {
            block: BlockRef {
                number: n,
                hash: Hash32([n as u8; 32]),
                parent_hash: Hash32::default(),
                timestamp: 12 * n,
            },
        }
    }

    fn started(wallet: WalletPkh, me: Address) -> Event {
        Event::NodeStarted {
            chain: "devnet-1".into(),
            operator: me,
            observer: false,
            block_hash_rule: BlockHashRule::KeepV2,
            wallets: vec![WalletInfo {
                wallet,
                public_key: None,
                operators: vec![Address([2; 20]), me, me],
            }],
            transport: MessageTransport::PeerNetwork,
            bootstrap_peers: 1,
        }
    }

    #[test]
    fn the_snapshot_follows_a_window_through_its_lifecycle() {
        let (wallet, me) = (WalletPkh([1; 20]), Address([9; 20]));
        let mut s = NodeSnapshot::default();
        s.apply(&started(wallet, me));
        assert_eq!(s.wallets[0].seats, vec![2, 3]);
        s.apply(&block(900));
        s.apply(&Event::LeaderForecast {
            coordination_block: 1800,
            leaders: vec![ForecastLeader {
                wallet,
                leader: me,
                is_self: true,
            }],
        });
        assert_eq!(s.wallets[0].next_leader, Some((1800, me, true)));
        s.apply(&Event::WindowStarted {
            coordination_block: 1800,
            index: 2,
            late: false,
            observed_block: 1800,
            safe_block: 1768,
            safe_block_hash: Hash32([3; 32]),
            other_rule_hash: None,
        });
        s.apply(&Event::ExecutorStarted {
            wallet,
            coordination_block: 1800,
            role: Role::Leader,
            leader: me,
            start_delay_us: 5,
        });
        assert_eq!(
            s.wallets[0].executor,
            ExecutorState::Running {
                coordination_block: 1800,
                role: Role::Leader
            }
        );
        s.apply(&Event::Fault {
            wallet,
            coordination_block: 1800,
            culprit: Address([2; 20]),
            fault: FaultType::LeaderImpersonation,
        });
        s.apply(&Event::CoordinationResult(CoordinationResultEvent {
            wallet,
            coordination_block: 1800,
            safe_block_hash: Hash32([3; 32]),
            seed: "00".repeat(32),
            leader: me,
            leader_member_index: 2,
            role: Role::Leader,
            checklist: vec![ActionType::Redemption],
            action: ActionType::Noop,
            proposal: Proposal::Noop,
            faults: vec![],
            members_connected: None,
            unheard: false,
            refusals: vec![],
        }));
        assert_eq!(
            s.wallets[0].executor,
            ExecutorState::Done {
                coordination_block: 1800
            }
        );
        assert_eq!(s.wallets[0].next_leader, None, "the forecast is used up");
        s.apply(&Event::WindowCompleted {
            coordination_block: 1800,
            results: 1,
            faults: 1,
        });
        let w = s.windows.back().unwrap();
        assert!(w.completed);
        assert_eq!((w.results, w.faults), (1, 1));
        assert_eq!(s.faults_seen, 1);

        s.apply(&Event::ProposalDispatched {
            wallet,
            coordination_block: 1800,
            action: ActionType::Redemption,
            start_block: 1900,
            expiry_block: 2500,
        });
        s.apply(&Event::ActionStarted {
            wallet,
            coordination_block: 1800,
            action: ActionType::Redemption,
            block: 1900,
        });
        assert!(matches!(
            s.wallets[0].dispatcher,
            DispatcherState::Running {
                start_block: 1900,
                ..
            }
        ));
        s.apply(&Event::ActionFinished {
            wallet,
            coordination_block: 1800,
            action: ActionType::Redemption,
            outcome: ActionOutcome::Completed,
            block: 1950,
        });
        assert!(matches!(
            s.wallets[0].dispatcher,
            DispatcherState::Finished {
                outcome: ActionOutcome::Completed,
                ..
            }
        ));
        assert_eq!(s.recent_dispatches.len(), 2);

        // A wallet's Bitcoin reading replaces the last one; another wallet's is not ours.
        let reading = |block: u64, wallet: WalletPkh| WalletBitcoin {
            wallet,
            block,
            has_main_utxo: true,
            main_utxo: None,
            confirmations: Some(block as u32),
            synced: Some(true),
            warning: None,
            error: None,
        };
        s.apply(&Event::WalletBitcoin(Box::new(reading(2700, wallet))));
        s.apply(&Event::WalletBitcoin(Box::new(reading(3600, wallet))));
        s.apply(&Event::WalletBitcoin(Box::new(reading(
            4500,
            WalletPkh([2; 20]),
        ))));
        assert_eq!(s.wallets[0].bitcoin, Some(reading(3600, wallet)));
    }

    #[test]
    fn the_snapshot_follows_peers_their_pings_and_the_seats_heard() {
        let (wallet, me) = (WalletPkh([1; 20]), Address([9; 20]));
        let mut s = NodeSnapshot::default();
        s.apply(&started(wallet, me));
        assert_eq!(s.network.transport, MessageTransport::PeerNetwork);
        s.apply(&block(905));
        let connect = |peer: &str, bootstrap| Event::PeerConnected {
            peer: peer.into(),
            operator: Some(Address([2; 20])),
            admitted: "allowlisted".into(),
            bootstrap,
        };
        s.apply(&connect("a", true));
        s.apply(&connect("b", false));
        s.apply(&Event::PeerPing {
            peer: "a".into(),
            rtt_us: 1500,
        });
        let a = &s.network.peers["a"];
        assert_eq!(
            (a.since_block, a.rtt_us, a.bootstrap),
            (Some(905), Some(1500), true)
        );
        assert_eq!((s.peers_connected, s.network.bootstrap_connected()), (2, 1));
        s.apply(&Event::PeerRefused {
            peer: "b".into(),
            reason: "no longer staked".into(),
        });
        s.apply(&Event::PeerDisconnected { peer: "b".into() });
        s.apply(&Event::PeerDisconnected { peer: "a".into() });
        assert_eq!(
            s.peers_connected, 0,
            "a refusal and its disconnection count once"
        );
        assert_eq!(s.network.refused.len(), 1);
        s.apply(&Event::MembersHeard {
            wallet,
            coordination_block: 900,
            seats: vec![1],
        });
        assert_eq!(s.network.heard[&wallet].seats.len(), 1);
        assert_eq!(s.network.heard[&wallet].at_block, Some(905));
    }

    #[test]
    fn history_in_the_snapshot_is_bounded() {
        let mut s = NodeSnapshot::default();
        for cb in 1..=(SNAPSHOT_HISTORY as u64 + 10) {
            s.apply(&Event::WindowMissed {
                reason: "test".into(),
                coordination_block: cb * 900,
                index: cb,
                observed_block: cb * 900 + 90,
            });
        }
        assert_eq!(s.windows.len(), SNAPSHOT_HISTORY);
        assert_eq!(s.windows_missed, SNAPSHOT_HISTORY as u64 + 10);
    }
}
