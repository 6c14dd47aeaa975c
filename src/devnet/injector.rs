//! The devnet's fault plan: for every (wallet, window), whether and how a simulated peer
//! misbehaves — an idle leader, a leader proposing an action off the checklist, or a member
//! impersonating the leader. A pure function of the devnet seed and the fault rate, so a test
//! can compute from the same rule which faults honest followers must record.

use sha2::{Digest, Sha256};

use crate::protocol::{
    ActionType, Address, CoordinationWindow, Fault, FaultType, Leader, SigningGroup, WalletPkh,
};

/// In an injected impersonation the (peer) leader speaks this many blocks late, so the
/// impersonator's message reaches followers first: a follower stops listening at the first
/// acceptable message, and an impersonation after it would go unseen (SPEC §6.3).
pub const SLOW_LEADER_DELAY_BLOCKS: u64 = 2;

/// One injected misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// The leader sends nothing.
    IdleLeader,
    /// The leader proposes this action, which is neither on the checklist nor Noop.
    WrongAction(ActionType),
    /// This member sends a proposal from its own (non-leader) seat.
    Impersonation { impersonator: Address },
}

impl Injection {
    /// The faults an honest follower (neither the leader nor the impersonator) records.
    pub fn expected_faults(&self, leader: Address) -> Vec<Fault> {
        match self {
            Injection::IdleLeader => vec![Fault {
                fault: FaultType::LeaderIdleness,
                culprit: leader,
            }],
            // The mistaken message is ignored, so the phase also ends with nothing accepted.
            Injection::WrongAction(_) => vec![
                Fault {
                    fault: FaultType::LeaderMistake,
                    culprit: leader,
                },
                Fault {
                    fault: FaultType::LeaderIdleness,
                    culprit: leader,
                },
            ],
            Injection::Impersonation { impersonator } => vec![Fault {
                fault: FaultType::LeaderImpersonation,
                culprit: *impersonator,
            }],
        }
    }
}

/// Decides, for every (wallet, window), whether and how a peer misbehaves.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    seed: u64,
    rate: f64,
    /// Never misbehaves (the operator's own node).
    honest: Address,
}

/// Actions a wrong leader may pick from, in order of preference.
const WRONG_ACTIONS: [ActionType; 5] = [
    ActionType::MovingFunds,
    ActionType::Heartbeat,
    ActionType::MovedFundsSweep,
    ActionType::DepositSweep,
    ActionType::Redemption,
];

impl FaultInjector {
    /// `rate` is clamped to 0..=1: the share of (wallet, window) pairs that get a fault.
    pub fn new(seed: u64, rate: f64, honest: Address) -> Self {
        FaultInjector {
            seed,
            rate: if rate.is_nan() {
                0.0
            } else {
                rate.clamp(0.0, 1.0)
            },
            honest,
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn plan(
        &self,
        wallet: &WalletPkh,
        window: CoordinationWindow,
        group: &SigningGroup,
        leader: Leader,
        checklist: &[ActionType],
    ) -> Option<Injection> {
        if self.rate <= 0.0 {
            return None;
        }
        let mut h = Sha256::new();
        h.update(b"tbtc-coord devnet fault");
        h.update(self.seed.to_be_bytes());
        h.update(wallet.0);
        h.update(window.coordination_block.to_be_bytes());
        let digest = h.finalize();
        let draw = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0xFF; 8]));
        if (draw as f64) / (u64::MAX as f64) >= self.rate {
            return None;
        }
        let leader_may_misbehave = leader.operator != self.honest;
        let impersonators: Vec<Address> = group
            .candidates()
            .iter()
            .copied()
            .filter(|a| *a != leader.operator && *a != self.honest)
            .collect();
        let impersonation = (!impersonators.is_empty()).then(|| Injection::Impersonation {
            impersonator: impersonators[usize::from(digest[9]) % impersonators.len()],
        });
        let wrong = WRONG_ACTIONS
            .into_iter()
            .find(|a| !checklist.contains(a))
            .map(Injection::WrongAction);
        match digest[8] % 3 {
            0 if leader_may_misbehave => Some(Injection::IdleLeader),
            1 if leader_may_misbehave => wrong.or(Some(Injection::IdleLeader)),
            _ => impersonation.or(leader_may_misbehave.then_some(Injection::IdleLeader)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> SigningGroup {
        SigningGroup::new((1..=6).map(|n| Address([n; 20])).collect()).unwrap()
    }

    fn leader(n: u8) -> Leader {
        Leader {
            operator: Address([n; 20]),
            member_index: n,
        }
    }

    #[test]
    fn rate_zero_never_and_rate_one_always_injects() {
        let g = group();
        let none = FaultInjector::new(1, 0.0, Address([1; 20]));
        let all = FaultInjector::new(1, 1.0, Address([1; 20]));
        for cb in (900..90_000).step_by(900) {
            let w = CoordinationWindow::new(cb);
            let wallet = WalletPkh([3; 20]);
            assert_eq!(
                none.plan(&wallet, w, &g, leader(2), &[ActionType::Redemption]),
                None
            );
            let plan = all.plan(&wallet, w, &g, leader(2), &[ActionType::Redemption]);
            assert!(plan.is_some());
            if let Some(Injection::Impersonation { impersonator }) = plan {
                assert_ne!(impersonator, Address([2; 20]));
                assert_ne!(
                    impersonator,
                    Address([1; 20]),
                    "the honest node never misbehaves"
                );
            }
        }
    }

    #[test]
    fn honest_leader_is_only_ever_impersonated() {
        let g = group();
        let inj = FaultInjector::new(7, 1.0, Address([2; 20]));
        for cb in (900..90_000).step_by(900) {
            let plan = inj.plan(
                &WalletPkh([3; 20]),
                CoordinationWindow::new(cb),
                &g,
                leader(2),
                &[],
            );
            assert!(
                matches!(plan, Some(Injection::Impersonation { .. })),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn wrong_action_is_off_the_checklist_and_all_kinds_occur() {
        let g = group();
        let inj = FaultInjector::new(3, 1.0, Address([1; 20]));
        let checklist = [ActionType::Redemption, ActionType::DepositSweep];
        let mut kinds = [false; 3];
        for cb in (900..900 * 200).step_by(900) {
            match inj.plan(
                &WalletPkh([4; 20]),
                CoordinationWindow::new(cb),
                &g,
                leader(2),
                &checklist,
            ) {
                Some(Injection::IdleLeader) => kinds[0] = true,
                Some(Injection::WrongAction(a)) => {
                    assert!(!checklist.contains(&a) && a != ActionType::Noop);
                    kinds[1] = true;
                }
                Some(Injection::Impersonation { .. }) => kinds[2] = true,
                None => panic!("rate 1 always injects"),
            }
        }
        assert_eq!(kinds, [true; 3]);
    }

    #[test]
    fn expected_faults_name_the_culprits() {
        let l = Address([2; 20]);
        assert_eq!(
            Injection::WrongAction(ActionType::Heartbeat)
                .expected_faults(l)
                .len(),
            2
        );
        assert_eq!(
            Injection::Impersonation {
                impersonator: Address([5; 20])
            }
            .expected_faults(l),
            vec![Fault {
                fault: FaultType::LeaderImpersonation,
                culprit: Address([5; 20])
            }]
        );
    }
}
