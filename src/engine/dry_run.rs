//! Dry runs: the whole procedure for one wallet and window — seed, leader, checklist, every
//! checklist action's candidate with the on-chain validator's verdict, and the proposal this
//! node would make as leader — without sending or dispatching anything.

use super::context::NodeConfig;
use super::history::HistoryError;
use super::proposing::{choose_with_bitcoin, Weigh};
use super::records::DryRunRecord;
use crate::chain::{Chain, ChainError};
use crate::protocol::checklist::checklist_for;
use crate::protocol::window::{is_coordination_block, next_window_after, window_at_or_before};
use crate::protocol::{Address, CoordinationWindow, Role, SigningGroup, WalletPkh};

/// Why a dry run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("wallet {0} is not known to the chain")]
    UnknownWallet(WalletPkh),
    #[error("block {0} is not a coordination block (expected a positive multiple of 900)")]
    NotACoordinationBlock(u64),
    #[error("the leader of window {window} is not known until its safe block {safe_block} is mined (head is {head})")]
    SafeBlockNotMined {
        window: u64,
        safe_block: u64,
        head: u64,
    },
    #[error("wallet {0} has an empty signing group")]
    EmptyGroup(WalletPkh),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// Which window a dry run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DryRunWindow {
    /// The next window after the head.
    Next,
    /// The latest window at or before the head.
    Current,
    /// The next window if its leader is known, else the current one: see [`choose_window`].
    Upcoming,
    /// A coordination block.
    At(u64),
}

/// Which window a dry run that names none is for, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WindowChoice {
    pub chosen: ChosenWindow,
    pub coordination_block: u64,
    /// The reason, as a sentence for the operator.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChosenWindow {
    Next,
    Current,
}

/// The window a dry run is for when none is named, at `head`: the next window once its leader
/// is known (its safe block is mined), else the current one, whose leader is. For most of a
/// window's 900 blocks the next window's safe block is still ahead, so insisting on the next
/// window would fail most of the time. Before any window has opened, the next one it is.
pub fn choose_window(head: u64) -> WindowChoice {
    let next = next_window_after(head);
    let next_safe = next.safe_block();
    if next_safe <= head {
        return WindowChoice {
            chosen: ChosenWindow::Next,
            coordination_block: next.coordination_block,
            reason: format!(
                "the next window: its safe block {next_safe} is mined (head {head}), so its leader is known"
            ),
        };
    }
    match window_at_or_before(head) {
        Some(current) => WindowChoice {
            chosen: ChosenWindow::Current,
            coordination_block: current.coordination_block,
            reason: format!(
                "the current window: the leader of the next one, {}, is not known until its safe block {next_safe} is mined (head {head})",
                next.coordination_block
            ),
        },
        None => WindowChoice {
            chosen: ChosenWindow::Next,
            coordination_block: next.coordination_block,
            reason: format!(
                "the next window: no window has opened yet (head {head}), and its leader is known once its safe block {next_safe} is mined"
            ),
        },
    }
}

/// Computes a dry run without recording it (see [`NodeCommands::dry_run`](super::NodeCommands::dry_run)), as `operator`
/// would see it at the chain's head (or `known_head`, if that is higher).
pub async fn dry_run(
    chain: &dyn Chain,
    operator: Address,
    config: &NodeConfig,
    known_head: u64,
    wallet: WalletPkh,
    which: DryRunWindow,
) -> Result<DryRunRecord, DryRunError> {
    let head = chain.latest_block().await?.number.max(known_head);
    let window = match which {
        DryRunWindow::Next => next_window_after(head),
        DryRunWindow::Current => {
            window_at_or_before(head).ok_or(DryRunError::NotACoordinationBlock(0))?
        }
        DryRunWindow::Upcoming => CoordinationWindow::new(choose_window(head).coordination_block),
        DryRunWindow::At(cb) if is_coordination_block(cb) => CoordinationWindow::new(cb),
        DryRunWindow::At(cb) => return Err(DryRunError::NotACoordinationBlock(cb)),
    };
    let safe_block = window.safe_block();
    if safe_block > head {
        return Err(DryRunError::SafeBlockNotMined {
            window: window.coordination_block,
            safe_block,
            head,
        });
    }
    let info = chain
        .wallets()
        .await?
        .into_iter()
        .find(|w| w.wallet == wallet)
        .ok_or(DryRunError::UnknownWallet(wallet))?;
    let group = SigningGroup::new(info.operators).map_err(ChainError::from)?;
    let rule = config.block_hash_rule;
    let safe_block_hash = chain.block_hash(safe_block, rule).await?;
    let seed = crate::protocol::coordination_seed(&wallet, &safe_block_hash);
    let leader = group.leader(&seed).ok_or(DryRunError::EmptyGroup(wallet))?;
    let checklist = checklist_for(window, &seed, config.checklist_rules);
    let snapshot = chain.wallet_snapshot(&wallet, head).await?;
    let choice = choose_with_bitcoin(
        chain,
        config.bitcoin.as_deref(),
        &checklist,
        snapshot,
        &config.proposal_params,
        Weigh::Every,
        leader.operator,
    )
    .await;
    let reason = choice.noop_reason();
    let leader_is_self = leader.operator == operator;
    Ok(DryRunRecord {
        wallet,
        coordination_block: window.coordination_block,
        current_block: head,
        safe_block,
        safe_block_hash,
        hash_rule: rule.name().to_string(),
        seed,
        leader: leader.operator,
        leader_is_self,
        role: if leader_is_self {
            Role::Leader
        } else {
            Role::Follower
        },
        checklist,
        proposal: Some(choice.proposal),
        reason,
        actions: choice.evaluations,
        bitcoin: choice.bitcoin,
        commitment: choice.commitment.map(Box::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::window::{COORDINATION_FREQUENCY_BLOCKS, SAFE_BLOCK_SHIFT};

    /// Window 2700's safe block is 2668 (RFC 12: 32 blocks before the coordination block).
    #[test]
    fn the_next_window_once_its_safe_block_is_mined() {
        for head in [2668, 2690, 2699] {
            let c = choose_window(head);
            assert_eq!(
                (c.chosen, c.coordination_block),
                (ChosenWindow::Next, 2700),
                "head {head}"
            );
            assert!(c.reason.contains("2668 is mined"), "{}", c.reason);
        }
    }

    #[test]
    fn the_current_window_while_the_next_leader_is_unknown() {
        for head in [1800, 1801, 2667] {
            let c = choose_window(head);
            assert_eq!(
                (c.chosen, c.coordination_block),
                (ChosenWindow::Current, 1800),
                "head {head}"
            );
            assert!(
                c.reason.contains("2700") && c.reason.contains("2668"),
                "{}",
                c.reason
            );
        }
        // Most of a window's blocks: all but the last SAFE_BLOCK_SHIFT.
        let current = (1800..2700).filter(|h| choose_window(*h).chosen == ChosenWindow::Current);
        assert_eq!(
            current.count() as u64,
            COORDINATION_FREQUENCY_BLOCKS - SAFE_BLOCK_SHIFT
        );
    }

    #[test]
    fn before_the_first_window_the_next_one() {
        for head in [0, 1, 867] {
            let c = choose_window(head);
            assert_eq!(
                (c.chosen, c.coordination_block),
                (ChosenWindow::Next, 900),
                "head {head}"
            );
            assert!(
                c.reason.contains("no window has opened yet"),
                "{}",
                c.reason
            );
        }
        assert_eq!(choose_window(868).chosen, ChosenWindow::Next);
        assert!(choose_window(868).reason.contains("is mined"));
    }
}
