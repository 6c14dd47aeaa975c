//! What the console shows from the node's history beside its live snapshot: the Overview's
//! recent windows and latest results (a restarted node's snapshot starts empty), each
//! dispatched action as one line in its latest state, and a stored dry run as the dry-run
//! popup shows it.

use std::collections::HashMap;

use super::app::App;
use super::loads::RecentRead;
use crate::engine::events::Event;
use crate::engine::records::{
    DryRunRecord, DryRunRow, FaultRow, ResultRow, WindowRow, WindowStatus,
};
use crate::engine::snapshot::{WindowView, SNAPSHOT_HISTORY};
use crate::protocol::{
    ActionOutcome, ActionType, Address, CoordinationWindow, FaultType, WalletPkh,
};

/// Recent windows and results read from the history (see [`App::recent_windows`] and
/// [`App::latest_results`]).
#[derive(Debug, Clone, Default)]
pub struct RecentHistory {
    /// Oldest first, each counting its results and faults among `results`.
    pub windows: Vec<WindowView>,
    /// Newest first.
    pub results: Vec<ResultRow>,
    /// Newest first.
    pub faults: Vec<FaultRow>,
    /// The node's snapshot was replaced (first, or after a gap or a restart): read again.
    pub stale: bool,
    pub loading: bool,
}

impl RecentHistory {
    /// Takes what was read: the windows oldest first, each counting its results and faults.
    pub fn set(&mut self, read: RecentRead) {
        self.windows = window_views(&read.windows, &read.results);
        self.results = read.results;
        self.faults = read.faults;
    }
}

/// One line of the Overview's latest results: the node's own, or one from its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultLine {
    pub coordination_block: u64,
    pub wallet: WalletPkh,
    pub action: ActionType,
    pub faulty: bool,
    /// The leader's candidates the on-chain validator refused.
    pub refused: Vec<ActionType>,
}

/// One line of the Overview's latest faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultLine {
    pub coordination_block: u64,
    pub wallet: WalletPkh,
    pub culprit: Address,
    pub fault: FaultType,
}

/// Where one dispatched action stands, as the Overview's latest proposals show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalState {
    Dispatched,
    Rejected,
    Finished(ActionOutcome),
}

/// One line of the Overview's latest proposals: an action, from its dispatch to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalLine {
    pub coordination_block: u64,
    pub wallet: WalletPkh,
    pub action: ActionType,
    pub state: ProposalState,
}

impl App {
    /// The recent windows, oldest first: the node's own, and before them those of its
    /// history that its snapshot does not reach back to (it restarted since, or started
    /// after them).
    pub fn recent_windows(&self) -> Vec<WindowView> {
        let own = &self.view().windows;
        let oldest_own = own.front().map_or(u64::MAX, |w| w.coordination_block);
        let mut out: Vec<WindowView> = self
            .history
            .windows
            .iter()
            .filter(|w| w.coordination_block < oldest_own)
            .cloned()
            .collect();
        out.extend(own.iter().cloned());
        let excess = out.len().saturating_sub(SNAPSHOT_HISTORY);
        out.drain(..excess);
        out
    }

    /// Each wallet's latest result, newest window first: the node's own, else the latest in
    /// its history.
    pub fn latest_results(&self) -> Vec<ResultLine> {
        let mut out: Vec<ResultLine> = self
            .view()
            .wallets
            .iter()
            .filter_map(|w| match &w.last_result {
                Some(r) => Some(ResultLine {
                    coordination_block: r.coordination_block,
                    wallet: r.wallet,
                    action: r.action,
                    faulty: !r.faults.is_empty(),
                    refused: r.refusals.iter().map(|x| x.action).collect(),
                }),
                // The history lists the newest first.
                None => self
                    .history
                    .results
                    .iter()
                    .find(|r| r.wallet == w.wallet)
                    .map(|r| ResultLine {
                        coordination_block: r.coordination_block,
                        wallet: r.wallet,
                        action: r.action,
                        faulty: r.fault_count > 0,
                        refused: r.refusals.iter().map(|x| x.action).collect(),
                    }),
            })
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.coordination_block));
        out
    }

    /// The latest faults, newest first: those the node announced, then older ones from its
    /// history (a fault is stored before it is announced, so the history holds the
    /// announced ones too).
    pub fn latest_faults(&self) -> Vec<FaultLine> {
        let mut out: Vec<FaultLine> = self
            .view()
            .recent_faults
            .iter()
            .rev()
            .filter_map(|e| match e {
                Event::Fault {
                    wallet,
                    coordination_block,
                    culprit,
                    fault,
                } => Some(FaultLine {
                    coordination_block: *coordination_block,
                    wallet: *wallet,
                    culprit: *culprit,
                    fault: *fault,
                }),
                _ => None,
            })
            .collect();
        for f in &self.history.faults {
            let line = FaultLine {
                coordination_block: f.coordination_block,
                wallet: f.wallet,
                culprit: f.culprit,
                fault: f.fault,
            };
            if out.len() >= SNAPSHOT_HISTORY {
                break;
            }
            if !out.contains(&line) {
                out.push(line);
            }
        }
        // Stable: within a window, the order they came in.
        out.sort_by_key(|l| std::cmp::Reverse(l.coordination_block));
        out
    }

    /// The latest dispatched actions, one line each with where it stands: newest window
    /// first, then by wallet (one window's dispatches run side by side, so the order they
    /// arrived in says nothing).
    pub fn latest_proposals(&self) -> Vec<ProposalLine> {
        let mut out: Vec<ProposalLine> = Vec::new();
        for event in &self.view().recent_dispatches {
            let (wallet, coordination_block, action, state) = match event {
                Event::ProposalDispatched {
                    wallet,
                    coordination_block,
                    action,
                    ..
                } => (
                    wallet,
                    coordination_block,
                    action,
                    ProposalState::Dispatched,
                ),
                Event::DispatchRejected {
                    wallet,
                    coordination_block,
                    action,
                    ..
                } => (wallet, coordination_block, action, ProposalState::Rejected),
                Event::ActionFinished {
                    wallet,
                    coordination_block,
                    action,
                    outcome,
                    ..
                } => (
                    wallet,
                    coordination_block,
                    action,
                    ProposalState::Finished(*outcome),
                ),
                _ => continue,
            };
            let line = ProposalLine {
                coordination_block: *coordination_block,
                wallet: *wallet,
                action: *action,
                state,
            };
            // Events come in order: a later one of the same action says where it is now.
            match out.iter_mut().find(|l| {
                l.wallet == line.wallet && l.coordination_block == line.coordination_block
            }) {
                Some(known) => *known = line,
                None => out.push(line),
            }
        }
        out.sort_by_key(|l| (std::cmp::Reverse(l.coordination_block), l.wallet));
        out
    }
}

/// A stored dry run as the dry-run popup shows it. The history keeps the proposal as JSON and
/// neither the Bitcoin side nor a planned commitment, which a dry run only shows when made.
pub fn dry_run_record(row: &DryRunRow) -> DryRunRecord {
    DryRunRecord {
        wallet: row.wallet,
        coordination_block: row.coordination_block,
        current_block: row.current_block,
        safe_block: row.safe_block,
        safe_block_hash: row.safe_block_hash,
        hash_rule: row.hash_rule.clone(),
        seed: row.seed,
        leader: row.leader,
        leader_is_self: row.leader_is_self,
        role: row.role,
        checklist: row.checklist.clone(),
        proposal: row
            .proposal_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok()),
        reason: row.reason.clone(),
        actions: row.actions.clone(),
        bitcoin: None,
        commitment: None,
    }
}

/// Stored windows as the Overview's timeline shows them, oldest first, each counting its
/// results and faults among `results` (read with them).
fn window_views(windows: &[WindowRow], results: &[ResultRow]) -> Vec<WindowView> {
    let mut counts: HashMap<u64, (usize, usize)> = HashMap::new();
    for r in results {
        let c = counts.entry(r.coordination_block).or_default();
        c.0 += 1;
        c.1 += r.fault_count as usize;
    }
    let mut out: Vec<WindowView> = windows
        .iter()
        .map(|w| {
            let (results, faults) = counts
                .get(&w.coordination_block)
                .copied()
                .unwrap_or_default();
            WindowView {
                coordination_block: w.coordination_block,
                index: CoordinationWindow::new(w.coordination_block).index(),
                late: w.late,
                missed: w.status == WindowStatus::Missed,
                completed: w.status == WindowStatus::Completed,
                interrupted: w.status == WindowStatus::Interrupted,
                results,
                faults,
                safe_block_hash: None,
                other_rule_hash: None,
            }
        })
        .collect();
    out.sort_by_key(|w| w.coordination_block);
    out
}
