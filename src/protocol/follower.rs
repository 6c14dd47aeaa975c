//! What a follower makes of one coordination message (SPEC §6.3): ignore it, record a fault,
//! or accept its proposal. Pure, so every rule is tested without a network.

use std::collections::HashSet;

use super::action::ActionType;
use super::fault::{Fault, FaultType};
use super::leader::{Leader, SigningGroup};
use super::message::CoordinationMessage;
use super::proposal::Proposal;
use super::types::{Address, WalletPkh};
use super::window::CoordinationWindow;

/// Why a message was ignored without a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    OtherWallet,
    OtherWindow,
    FromSelf,
    /// The signer does not hold the seat the message claims.
    NotSeatHolder,
    /// A re-sent copy of a message already processed.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ignore(IgnoreReason),
    /// Recorded, and the message is otherwise ignored.
    Fault(Fault),
    Accept(Proposal),
}

/// The follower's view of its window.
#[derive(Debug)]
pub struct FollowerView<'a> {
    pub me: Address,
    pub wallet: WalletPkh,
    pub window: CoordinationWindow,
    pub group: &'a SigningGroup,
    pub leader: Leader,
    pub checklist: &'a [ActionType],
    /// Message ids already processed this window.
    pub seen: HashSet<[u8; 32]>,
}

impl FollowerView<'_> {
    /// Classifies a decoded message whose signature recovered to `signer`; `id` names its
    /// content so re-sent copies are processed once.
    pub fn classify(
        &mut self,
        message: &CoordinationMessage,
        signer: Address,
        id: [u8; 32],
    ) -> Verdict {
        if message.wallet != self.wallet {
            return Verdict::Ignore(IgnoreReason::OtherWallet);
        }
        if message.coordination_block != self.window.coordination_block {
            return Verdict::Ignore(IgnoreReason::OtherWindow);
        }
        if signer == self.me {
            return Verdict::Ignore(IgnoreReason::FromSelf);
        }
        if self.group.holder(message.sender_member_index) != Some(signer) {
            return Verdict::Ignore(IgnoreReason::NotSeatHolder);
        }
        if !self.seen.insert(id) {
            return Verdict::Ignore(IgnoreReason::Duplicate);
        }
        if message.sender_member_index != self.leader.member_index {
            return Verdict::Fault(Fault {
                fault: FaultType::LeaderImpersonation,
                culprit: signer,
            });
        }
        let action = message.proposal.action_type();
        if action != ActionType::Noop && !self.checklist.contains(&action) {
            return Verdict::Fault(Fault {
                fault: FaultType::LeaderMistake,
                culprit: self.leader.operator,
            });
        }
        Verdict::Accept(message.proposal.clone())
    }

    /// The fault recorded when the active phase ends with nothing accepted.
    pub fn idleness(&self) -> Fault {
        Fault {
            fault: FaultType::LeaderIdleness,
            culprit: self.leader.operator,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::proposal::HexBytes;

    fn addr(n: u8) -> Address {
        Address([n; 20])
    }

    struct Fixture {
        group: SigningGroup,
        checklist: Vec<ActionType>,
    }

    impl Fixture {
        fn new() -> Self {
            // Seats 1..=5: operators 1, 2, 3, 2, 4. The leader is operator 2, seat 2.
            Fixture {
                group: SigningGroup::new(vec![addr(1), addr(2), addr(3), addr(2), addr(4)])
                    .unwrap(),
                checklist: vec![ActionType::Redemption, ActionType::Heartbeat],
            }
        }

        fn view(&self) -> FollowerView<'_> {
            FollowerView {
                me: addr(1),
                wallet: WalletPkh([9; 20]),
                window: CoordinationWindow::new(1800),
                group: &self.group,
                leader: Leader {
                    operator: addr(2),
                    member_index: 2,
                },
                checklist: &self.checklist,
                seen: HashSet::new(),
            }
        }
    }

    fn message(seat: u8, proposal: Proposal) -> CoordinationMessage {
        CoordinationMessage {
            sender_member_index: seat,
            coordination_block: 1800,
            wallet: WalletPkh([9; 20]),
            proposal,
        }
    }

    fn heartbeat() -> Proposal {
        Proposal::Heartbeat {
            message: HexBytes(vec![0xFF; 16]),
        }
    }

    #[test]
    fn leader_proposal_on_the_checklist_is_accepted_once() {
        let f = Fixture::new();
        let mut view = f.view();
        let m = message(2, heartbeat());
        assert_eq!(
            view.classify(&m, addr(2), [1; 32]),
            Verdict::Accept(heartbeat())
        );
        assert_eq!(
            view.classify(&m, addr(2), [1; 32]),
            Verdict::Ignore(IgnoreReason::Duplicate)
        );
    }

    #[test]
    fn noop_is_always_acceptable() {
        let f = Fixture::new();
        let mut view = f.view();
        assert_eq!(
            view.classify(&message(2, Proposal::Noop), addr(2), [1; 32]),
            Verdict::Accept(Proposal::Noop)
        );
    }

    #[test]
    fn off_checklist_action_is_the_leaders_mistake() {
        let f = Fixture::new();
        let mut view = f.view();
        let m = message(
            2,
            Proposal::MovingFunds {
                target_wallets: vec![],
                moving_funds_tx_fee: 1,
            },
        );
        assert_eq!(
            view.classify(&m, addr(2), [1; 32]),
            Verdict::Fault(Fault {
                fault: FaultType::LeaderMistake,
                culprit: addr(2)
            })
        );
    }

    #[test]
    fn another_seat_is_impersonation_by_the_sender_even_the_leaders_other_seat() {
        let f = Fixture::new();
        let mut view = f.view();
        assert_eq!(
            view.classify(&message(3, heartbeat()), addr(3), [1; 32]),
            Verdict::Fault(Fault {
                fault: FaultType::LeaderImpersonation,
                culprit: addr(3)
            })
        );
        // Operator 2 also holds seat 4, but it leads through its lowest seat, 2.
        assert_eq!(
            view.classify(&message(4, heartbeat()), addr(2), [2; 32]),
            Verdict::Fault(Fault {
                fault: FaultType::LeaderImpersonation,
                culprit: addr(2)
            })
        );
    }

    #[test]
    fn filtered_messages_are_ignored_without_fault() {
        let f = Fixture::new();
        let mut view = f.view();
        let mut other_wallet = message(2, heartbeat());
        other_wallet.wallet = WalletPkh([8; 20]);
        assert_eq!(
            view.classify(&other_wallet, addr(2), [1; 32]),
            Verdict::Ignore(IgnoreReason::OtherWallet)
        );
        let mut other_window = message(2, heartbeat());
        other_window.coordination_block = 900;
        assert_eq!(
            view.classify(&other_window, addr(2), [2; 32]),
            Verdict::Ignore(IgnoreReason::OtherWindow)
        );
        assert_eq!(
            view.classify(&message(1, heartbeat()), addr(1), [3; 32]),
            Verdict::Ignore(IgnoreReason::FromSelf)
        );
        // Operator 3 signs a message claiming the leader's seat.
        assert_eq!(
            view.classify(&message(2, heartbeat()), addr(3), [4; 32]),
            Verdict::Ignore(IgnoreReason::NotSeatHolder)
        );
        assert_eq!(
            view.classify(&message(99, heartbeat()), addr(3), [5; 32]),
            Verdict::Ignore(IgnoreReason::NotSeatHolder)
        );
        assert_eq!(
            view.idleness(),
            Fault {
                fault: FaultType::LeaderIdleness,
                culprit: addr(2)
            }
        );
    }
}
