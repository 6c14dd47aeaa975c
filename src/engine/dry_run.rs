//! Dry runs: the whole procedure for one wallet and window — seed, leader, checklist, every
//! checklist action's candidate with the on-chain validator's verdict, and the proposal this
//! node would make as leader — without sending or dispatching anything.

use super::context::NodeConfig;
use super::history::HistoryError;
use super::proposing::{choose_with_bitcoin, Weigh};
use super::records::DryRunRecord;
use crate::chain::{Chain, ChainError};
use crate::protocol::checklist::checklist_for;
use crate::protocol::window::{is_coordination_block, next_window_after};
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
    /// A coordination block.
    At(u64),
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
        DryRunWindow::Current => crate::protocol::window::window_at_or_before(head)
            .ok_or(DryRunError::NotACoordinationBlock(0))?,
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
