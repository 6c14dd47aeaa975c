//! One strategy per misbehaviour, and [`Scripted`], which plays them where the fault plan
//! says so.

use std::sync::Arc;

use async_trait::async_trait;

use super::injector::{FaultInjector, Injection, SLOW_LEADER_DELAY_BLOCKS};
use crate::engine::executor::{Honest, Strategy, Turn};
use crate::protocol::generator::propose;
use crate::protocol::proposal::HexBytes;
use crate::protocol::{ActionType, CoordinationWindow, Hash32, Proposal, WalletPkh};

/// A leader that sends nothing.
#[derive(Debug, Clone, Copy)]
pub struct IdleLeader;

#[async_trait]
impl Strategy for IdleLeader {
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        tracing::debug!(wallet = %turn.wallet(), cb = turn.window().coordination_block, "simulated: idle leader");
        Proposal::Noop
    }
}

/// A leader that proposes an action which is neither on the checklist nor Noop, and so does
/// not stand by it.
#[derive(Debug, Clone, Copy)]
pub struct WrongAction(pub ActionType);

#[async_trait]
impl Strategy for WrongAction {
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        let action = self.0;
        tracing::debug!(wallet = %turn.wallet(), cb = turn.window().coordination_block, %action, "simulated: wrong action");
        let proposal = wrong_proposal(action, &turn.wallet(), turn.window());
        turn.send(turn.leader().member_index, proposal).await;
        Proposal::Noop
    }
}

/// An honest leader that speaks `delay_blocks` blocks late.
#[derive(Debug, Clone, Copy)]
pub struct SlowLeader {
    pub delay_blocks: u64,
}

#[async_trait]
impl Strategy for SlowLeader {
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        if turn.wait_blocks(self.delay_blocks).await.is_none() {
            return Proposal::Noop;
        }
        turn.lead_honestly().await
    }
}

/// A member that, before it listens, sends a valid signed message from its own lowest seat,
/// which is not the leader's.
#[derive(Debug, Clone, Copy)]
pub struct Impersonator;

#[async_trait]
impl Strategy for Impersonator {
    async fn before_listening(&self, turn: &Turn<'_>) {
        let Some(&seat) = turn.seats().first() else {
            return;
        };
        tracing::debug!(wallet = %turn.wallet(), cb = turn.window().coordination_block, seat, "simulated: impersonation");
        turn.send(seat, Proposal::Noop).await;
    }
}

/// A simulated peer: honest, except where the fault plan makes it misbehave. In a planned
/// impersonation the (honest) leader is slow, so the impersonator's message reaches followers
/// first: a follower stops listening at the first acceptable message, and an impersonation
/// after it would go unseen (SPEC §6.3).
#[derive(Debug, Clone)]
pub struct Scripted {
    plan: Arc<FaultInjector>,
}

impl Scripted {
    pub fn new(plan: Arc<FaultInjector>) -> Self {
        Scripted { plan }
    }

    fn injection(&self, turn: &Turn<'_>) -> Option<Injection> {
        self.plan.plan(
            &turn.wallet(),
            turn.window(),
            turn.group(),
            turn.leader(),
            turn.checklist(),
        )
    }
}

#[async_trait]
impl Strategy for Scripted {
    async fn lead(&self, turn: &Turn<'_>) -> Proposal {
        match self.injection(turn) {
            Some(Injection::IdleLeader) => IdleLeader.lead(turn).await,
            Some(Injection::WrongAction(action)) => WrongAction(action).lead(turn).await,
            Some(Injection::Impersonation { .. }) => {
                SlowLeader {
                    delay_blocks: SLOW_LEADER_DELAY_BLOCKS,
                }
                .lead(turn)
                .await
            }
            None => Honest.lead(turn).await,
        }
    }

    async fn before_listening(&self, turn: &Turn<'_>) {
        if let Some(Injection::Impersonation { impersonator }) = self.injection(turn) {
            if impersonator == turn.me() {
                Impersonator.before_listening(turn).await;
            }
        }
    }
}

/// A well-formed proposal of an action the leader should not propose.
fn wrong_proposal(action: ActionType, wallet: &WalletPkh, window: CoordinationWindow) -> Proposal {
    let snapshot = crate::protocol::WalletSnapshot {
        wallet: *wallet,
        block: window.coordination_block,
        ..Default::default()
    };
    propose(action, &snapshot, &Default::default()).unwrap_or(match action {
        ActionType::MovingFunds => Proposal::MovingFunds {
            target_wallets: vec![*wallet],
            moving_funds_tx_fee: 1,
        },
        ActionType::MovedFundsSweep => Proposal::MovedFundsSweep {
            moving_funds_tx_hash: Hash32([0xAB; 32]),
            moving_funds_tx_output_index: 0,
            sweep_tx_fee: 1,
        },
        ActionType::DepositSweep => Proposal::DepositSweep {
            deposits: Vec::new(),
            sweep_tx_fee: 1,
            reveal_blocks: Vec::new(),
        },
        ActionType::Redemption => Proposal::Redemption {
            redeemers_output_scripts: vec![HexBytes(vec![0x00, 0x14])],
            redemption_tx_fee: 1,
        },
        ActionType::Heartbeat | ActionType::Noop => Proposal::Heartbeat {
            message: HexBytes(vec![0xFF; 16]),
        },
    })
}
