//! What a node announces: every state change, as an [`Event`], with the payload types the
//! events carry. The [`super::bus`] delivers them in order to any number of subscribers
//! (console, headless printer, metrics, tests), and [`super::snapshot`] folds them into the
//! node's current state.

use serde::{Deserialize, Serialize};

use super::network_view::MessageTransport;
use super::records::{DryRunRecord, WalletBitcoin};
use crate::protocol::{
    ActionOutcome, ActionType, Address, BlockHashRule, CoordinationResult, Fault, FaultType,
    Hash32, Role, WalletPkh,
};
use crate::protocol::{BlockRef, WalletInfo};

/// A wallet's leader for an upcoming window, known once its safe block exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastLeader {
    pub wallet: WalletPkh,
    pub leader: Address,
    pub is_self: bool,
}

/// Everything a node announces. Serialized with a `type` field for headless JSON output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    NodeStarted {
        chain: String,
        operator: Address,
        observer: bool,
        block_hash_rule: BlockHashRule,
        wallets: Vec<WalletInfo>,
        /// What carries coordination messages: `hub`, `peer_network` or `none`.
        transport: MessageTransport,
        /// Bootstrap peers configured (peer network only).
        bootstrap_peers: usize,
    },
    Block {
        #[serde(flatten)]
        block: BlockRef,
    },
    WindowStarted {
        coordination_block: u64,
        index: u64,
        late: bool,
        observed_block: u64,
        safe_block: u64,
        safe_block_hash: Hash32,
        /// The other rule's hash, when it differs (SPEC §3).
        other_rule_hash: Option<Hash32>,
    },
    WindowMissed {
        coordination_block: u64,
        index: u64,
        observed_block: u64,
        /// Why: the node saw it too late, or a shutdown or crash cut it off.
        reason: String,
    },
    /// A shutdown cut the window off: some of its procedures ended without a result (and
    /// recorded nothing). A restart inside the active phase resumes it late.
    WindowInterrupted {
        coordination_block: u64,
        index: u64,
        results: usize,
        interrupted: usize,
        reason: String,
    },
    /// A window ended (`completed`, `missed` or `interrupted`) but the history could not record
    /// it: a `history_error` says why. It has gone by all the same, so it counts towards
    /// `--stop-after-windows`, and nothing about it is announced as kept.
    WindowUnrecorded {
        coordination_block: u64,
        outcome: String,
    },
    ExecutorStarted {
        wallet: WalletPkh,
        coordination_block: u64,
        role: Role,
        leader: Address,
        start_delay_us: u64,
    },
    ExecutorsStarted {
        coordination_block: u64,
        executors: usize,
        max_start_delay_us: u64,
    },
    ExecutorBusy {
        wallet: WalletPkh,
        coordination_block: u64,
    },
    ExecutorFailed {
        wallet: WalletPkh,
        coordination_block: u64,
        error: String,
    },
    LeaderForecast {
        coordination_block: u64,
        leaders: Vec<ForecastLeader>,
    },
    CoordinationResult(CoordinationResultEvent),
    Fault {
        wallet: WalletPkh,
        coordination_block: u64,
        culprit: Address,
        fault: FaultType,
    },
    WindowCompleted {
        coordination_block: u64,
        results: usize,
        faults: usize,
    },
    ProposalDispatched {
        wallet: WalletPkh,
        coordination_block: u64,
        action: ActionType,
        start_block: u64,
        expiry_block: u64,
    },
    DispatchRejected {
        wallet: WalletPkh,
        coordination_block: u64,
        action: ActionType,
        reason: String,
    },
    ActionStarted {
        wallet: WalletPkh,
        coordination_block: u64,
        action: ActionType,
        block: u64,
    },
    ActionFinished {
        wallet: WalletPkh,
        coordination_block: u64,
        action: ActionType,
        outcome: ActionOutcome,
        block: u64,
    },
    /// An action dispatched before a restart, running again (or still waiting for its
    /// start block).
    ActionRestored {
        wallet: WalletPkh,
        coordination_block: u64,
        action: ActionType,
        start_block: u64,
        expiry_block: u64,
        running: bool,
    },
    DryRun(DryRunRecord),
    /// A wallet's main UTXO, read from both chains at a window's start.
    WalletBitcoin(Box<WalletBitcoin>),
    /// The router dropped messages for a wallet (counted; announced at the 1st, 10th, 100th…).
    MessagesDropped {
        wallet: WalletPkh,
        coordination_block: u64,
        reason: crate::engine::router::DropReason,
        total: u64,
    },
    /// The router rejected an invalid message; announced at the 1st, 10th, 100th, … of
    /// each reason.
    MessagesRejected {
        reason: crate::engine::router::RejectReason,
        total: u64,
    },
    /// A peer passed the handshake and the firewall; `admitted` says why it was let in.
    PeerConnected {
        peer: String,
        /// The operator its key belongs to.
        operator: Option<Address>,
        admitted: String,
        /// One of the configured bootstrap peers.
        bootstrap: bool,
    },
    PeerDisconnected {
        peer: String,
    },
    /// A connected peer's ping round trip, announced when it first arrives and when it
    /// moved by a quarter or more (and 1 ms or more) since the last announced one.
    PeerPing {
        peer: String,
        rtt_us: u64,
    },
    /// The router routed a wallet's first message from these seats (member indices) in
    /// this window. Coalesced: one event per wallet for each burst of messages, each seat
    /// announced once per window.
    MembersHeard {
        wallet: WalletPkh,
        coordination_block: u64,
        seats: Vec<u8>,
    },
    /// The router's rejections, by reason, while the head was in a window that is now over.
    /// Announced once per window that had any, when the first message after it arrives.
    WindowRejections {
        coordination_block: u64,
        rejected: std::collections::BTreeMap<crate::engine::router::RejectReason, u64>,
    },
    /// The router's running totals since the node started: messages received from the
    /// transport, those accepted, and those rejected by reason. Announced at most once per
    /// block, when they changed.
    MessageTotals {
        received: u64,
        accepted: u64,
        rejected: std::collections::BTreeMap<crate::engine::router::RejectReason, u64>,
    },
    /// A peer failed the handshake or the firewall, and its connection was closed.
    PeerRefused {
        peer: String,
        reason: String,
    },
    /// The node's message stream overflowed before routing: `count` messages were lost.
    MessagesLost {
        count: u64,
    },
    /// A fact could not be written to the history, so it was not announced.
    HistoryError {
        what: String,
        error: String,
    },
    NodeStopped,
}

/// The JSON shape of a result: names rather than nested protocol types where scripts read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoordinationResultEvent {
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub safe_block_hash: Hash32,
    pub seed: String,
    pub leader: Address,
    pub leader_member_index: u8,
    pub role: Role,
    pub checklist: Vec<ActionType>,
    pub action: ActionType,
    pub proposal: crate::protocol::Proposal,
    pub faults: Vec<Fault>,
    /// How many of the wallet's other members a follower on the peer network was connected
    /// to; absent where not measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members_connected: Option<u32>,
    /// Connected to none of them: nothing could be heard, so no idleness was recorded.
    pub unheard: bool,
    /// A leader's candidates the on-chain validator refused or could not judge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<crate::protocol::Refusal>,
}

impl From<&CoordinationResult> for CoordinationResultEvent {
    fn from(r: &CoordinationResult) -> Self {
        CoordinationResultEvent {
            wallet: r.wallet,
            coordination_block: r.window.coordination_block,
            safe_block_hash: r.safe_block_hash,
            seed: r.seed.to_hex(),
            leader: r.leader,
            leader_member_index: r.leader_member_index,
            role: r.role,
            checklist: r.checklist.clone(),
            action: r.proposal.action_type(),
            proposal: r.proposal.clone(),
            faults: r.faults.clone(),
            members_connected: r.members_connected,
            unheard: r.unheard(),
            refusals: r.refusals.clone(),
        }
    }
}
