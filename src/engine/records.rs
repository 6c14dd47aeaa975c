//! The history's records: what the engine writes into its history and what the history's
//! queries return. Plain data owned by the engine, so that the console and the headless
//! printer see these and never a store type.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::protocol::bitcoin_facts::MainUtxo;
use crate::protocol::commitment::MovingFundsCommitment;
use crate::protocol::{
    ActionEvaluation, ActionOutcome, ActionType, Address, FaultEvidence, FaultType, Hash32,
    Proposal, Refusal, Role, Seed, WalletPkh,
};

/// Whether a window's handler ran or the window went by unhandled (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStatus {
    Started,
    Missed,
    /// Its procedures ran to their end (every wallet's result is in).
    Completed,
    /// Cut off by a shutdown or a crash before it completed.
    Interrupted,
}

impl WindowStatus {
    pub fn name(self) -> &'static str {
        match self {
            WindowStatus::Started => "started",
            WindowStatus::Missed => "missed",
            WindowStatus::Completed => "completed",
            WindowStatus::Interrupted => "interrupted",
        }
    }

    pub const ALL: [WindowStatus; 4] = [
        WindowStatus::Started,
        WindowStatus::Missed,
        WindowStatus::Completed,
        WindowStatus::Interrupted,
    ];

    pub fn from_name(name: &str) -> Option<WindowStatus> {
        WindowStatus::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Where a dispatched action stands (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchStatus {
    /// Handed to the dispatcher, waiting for its start block.
    Dispatched,
    Running,
    Completed,
    Failed,
    Expired,
    /// Never run: the wallet was busy with another action (the reference client drops these
    /// silently; we keep them).
    Rejected,
}

impl DispatchStatus {
    pub const ALL: [DispatchStatus; 6] = [
        DispatchStatus::Dispatched,
        DispatchStatus::Running,
        DispatchStatus::Completed,
        DispatchStatus::Failed,
        DispatchStatus::Expired,
        DispatchStatus::Rejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DispatchStatus::Dispatched => "dispatched",
            DispatchStatus::Running => "running",
            DispatchStatus::Completed => "completed",
            DispatchStatus::Failed => "failed",
            DispatchStatus::Expired => "expired",
            DispatchStatus::Rejected => "rejected",
        }
    }

    pub fn from_name(name: &str) -> Option<DispatchStatus> {
        DispatchStatus::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the action is over (no longer keeps its wallet busy).
    pub fn is_finished(self) -> bool {
        !matches!(self, DispatchStatus::Dispatched | DispatchStatus::Running)
    }
}

impl From<ActionOutcome> for DispatchStatus {
    fn from(outcome: ActionOutcome) -> Self {
        match outcome {
            ActionOutcome::Completed => DispatchStatus::Completed,
            ActionOutcome::Failed => DispatchStatus::Failed,
            ActionOutcome::Expired => DispatchStatus::Expired,
        }
    }
}

impl fmt::Display for DispatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An action handed to the dispatcher, or rejected because its wallet was busy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRecord {
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub proposal: Proposal,
    pub start_block: u64,
    pub expiry_block: u64,
    pub status: DispatchStatus,
    pub reason: Option<String>,
}

/// What a dry run computed (SPEC §10), without sending or dispatching anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunRecord {
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub current_block: u64,
    pub safe_block: u64,
    pub safe_block_hash: Hash32,
    /// The block-hash rule's name (`keep-v2`, `canonical`).
    pub hash_rule: String,
    pub seed: Seed,
    pub leader: Address,
    pub leader_is_self: bool,
    pub role: Role,
    pub checklist: Vec<ActionType>,
    /// The proposal this node would make as leader, if it got that far.
    pub proposal: Option<Proposal>,
    /// Why there is no proposal, or why earlier checklist actions were passed over.
    pub reason: Option<String>,
    /// Every checklist action: its candidate or why there is none, and the validator's
    /// verdict. The proposal is the first candidate the validator took (or was not asked).
    #[serde(default)]
    pub actions: Vec<ActionEvaluation>,
    /// What the Bitcoin view told (absent without one). Shown, not kept in the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitcoin: Option<BitcoinSide>,
    /// The moving-funds commitment the leader would submit before proposing MovingFunds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<Box<MovingFundsCommitment>>,
}

/// A wallet's main UTXO as this node last read it from both chains (the console's wallet
/// details): the output the Bridge names, its confirmations, and whether it is unspent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletBitcoin {
    pub wallet: WalletPkh,
    /// The Ethereum block the Bridge was read at.
    pub block: u64,
    /// Whether the Bridge holds a main UTXO hash for the wallet.
    pub has_main_utxo: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_utxo: Option<MainUtxo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u32>,
    /// "Synced between chains": found on Bitcoin and unspent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<bool>,
    /// Where the chains disagree, naming both sides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Why it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A wallet's Bitcoin side as a dry run shows it: each revealed deposit's confirmations and
/// whether the proposal sweeps it, the main UTXO, and whether the two chains agree on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitcoinSide {
    pub deposits: Vec<DepositLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_utxo: Option<MainUtxo>,
    /// "Synced between chains": the Bridge's main UTXO is unspent on Bitcoin. `None` when it
    /// could not be told (no main UTXO, or the view failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<bool>,
    /// Why the chains disagree, or why the view could not be read, naming both sides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositLine {
    pub funding_tx_hash: Hash32,
    pub output_index: u32,
    pub amount: u64,
    pub confirmations: u32,
    /// Swept by this dry run's proposal.
    pub included: bool,
}

/// Which faults to list. Every set field narrows the list; `Default` lists all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultFilter {
    pub wallet: Option<WalletPkh>,
    /// The culprit.
    pub operator: Option<Address>,
    pub fault: Option<FaultType>,
    /// Inclusive bounds on the coordination block.
    pub from_block: Option<u64>,
    pub to_block: Option<u64>,
    /// A case-insensitive substring of the wallet hex (with or without `0x`), the culprit's
    /// address or the fault type name. Blank means no filter.
    pub search: Option<String>,
}

/// How to order a fault list. Every order ends in the row id, so the order is total and pages
/// of an unchanged table never overlap or skip (faults recorded between two pages shift the
/// offsets, as with any OFFSET paging).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultOrder {
    /// Coordination block descending.
    #[default]
    NewestFirst,
    /// Coordination block ascending.
    OldestFirst,
    /// Culprit (EIP-55 text, byte order), then newest first.
    ByOperator,
    /// Fault type name, then newest first.
    ByType,
    /// Wallet hex, then newest first.
    ByWallet,
}

impl FaultOrder {
    pub const ALL: [FaultOrder; 5] = [
        FaultOrder::NewestFirst,
        FaultOrder::OldestFirst,
        FaultOrder::ByOperator,
        FaultOrder::ByType,
        FaultOrder::ByWallet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultOrder::NewestFirst => "newest first",
            FaultOrder::OldestFirst => "oldest first",
            FaultOrder::ByOperator => "by operator",
            FaultOrder::ByType => "by type",
            FaultOrder::ByWallet => "by wallet",
        }
    }
}

/// One recorded fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRow {
    pub id: i64,
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub culprit: Address,
    pub fault: FaultType,
    /// The window's leader (the culprit too, except for impersonation).
    pub leader: Address,
    /// Unix seconds.
    pub recorded_at: i64,
    /// What a mistake or an impersonation proposed (the action of the message kept as its
    /// evidence). `None` for an idleness, and for a fault recorded before it was kept (history
    /// schema 5 and older; its evidence still says it) or by a node that sent no such field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_action: Option<ActionType>,
}

/// One recorded fault with its evidence and the window facts a verifier needs (from the
/// result the fault belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultEvidenceRow {
    pub fault: FaultRow,
    pub safe_block_hash: Hash32,
    pub seed: Seed,
    pub leader_member_index: u8,
    /// The checklist as this node computed it.
    pub checklist: Vec<ActionType>,
    pub members_connected: Option<u32>,
    /// `None` for a fault recorded before evidence was kept (schema 3 and older).
    pub evidence: Option<FaultEvidence>,
}

/// One operator's fault record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorFaultSummary {
    pub operator: Address,
    pub total: u64,
    /// Every fault type, zero included.
    pub by_type: BTreeMap<FaultType, u64>,
    pub last_coordination_block: u64,
    pub last_fault: FaultType,
}

impl OperatorFaultSummary {
    pub fn count(&self, fault: FaultType) -> u64 {
        self.by_type.get(&fault).copied().unwrap_or(0)
    }
}

/// One stored coordination result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRow {
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub safe_block_hash: Hash32,
    pub seed: Seed,
    pub leader: Address,
    pub leader_member_index: u8,
    pub role: Role,
    pub checklist: Vec<ActionType>,
    pub action: ActionType,
    /// The proposal as JSON (`Proposal` is only `Serialize`, so it is kept as text).
    pub proposal_json: String,
    pub fault_count: u64,
    pub recorded_at: i64,
    /// See [`CoordinationResult::members_connected`](crate::protocol::CoordinationResult).
    pub members_connected: Option<u32>,
    /// See [`CoordinationResult::refusals`](crate::protocol::CoordinationResult).
    #[serde(default)]
    pub refusals: Vec<Refusal>,
}

/// One stored dispatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRow {
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub action: ActionType,
    pub proposal_json: String,
    pub start_block: u64,
    pub expiry_block: u64,
    pub status: DispatchStatus,
    pub reason: Option<String>,
    /// The block at which it completed, failed or expired.
    pub finished_block: Option<u64>,
    pub recorded_at: i64,
    pub updated_at: i64,
}

/// One stored dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunRow {
    pub id: i64,
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub current_block: u64,
    pub safe_block: u64,
    pub safe_block_hash: Hash32,
    pub hash_rule: String,
    pub seed: Seed,
    pub leader: Address,
    pub leader_is_self: bool,
    pub role: Role,
    pub checklist: Vec<ActionType>,
    pub proposal_json: Option<String>,
    pub reason: Option<String>,
    /// See [`DryRunRecord::actions`]; empty for a dry run recorded before they were kept.
    #[serde(default)]
    pub actions: Vec<ActionEvaluation>,
    pub recorded_at: i64,
}

/// One stored window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRow {
    pub coordination_block: u64,
    pub status: WindowStatus,
    /// Started after its coordination block had gone by (gap, reconnect, late start).
    pub late: bool,
    /// The block at which the node noticed the window.
    pub observed_block: u64,
    /// Why it was missed or interrupted, if known.
    pub reason: Option<String>,
    pub recorded_at: i64,
}
