//! Unit tests of the SQLite history, one file per concern: schema and migrations, writes,
//! dispatches and dry runs, fault queries, durability, errors, and read-only use. This file
//! holds the fixtures they share.

use rusqlite::Connection;

use super::*;
use crate::engine::history::{HistoryError, HistoryReader, HistoryWriter};
use crate::engine::query::{HistoryPage, HistoryQuery};
use crate::engine::records::*;
use crate::protocol::proposal::HexBytes;
use crate::protocol::{
    ActionOutcome, ActionType, Address, CoordinationResult, CoordinationWindow, Fault, FaultType,
    Hash32, Proposal, Role, Seed, WalletPkh,
};

mod dispatches;
mod durability;
mod errors;
mod faults;
mod read_only;
mod schema;
mod writes;

/// Wallet bytes differ from operator bytes so that a search for one never hits the other.
fn wallet(n: u8) -> WalletPkh {
    WalletPkh([0xa0 + n; 20])
}

fn operator(n: u8) -> Address {
    Address([n; 20])
}

fn heartbeat() -> Proposal {
    Proposal::Heartbeat {
        message: HexBytes(vec![0xff; 16]),
    }
}

fn result_for(w: u8, cb: u64, leader: u8, faults: Vec<Fault>) -> CoordinationResult {
    CoordinationResult {
        wallet: wallet(w),
        window: CoordinationWindow::new(cb),
        safe_block_hash: Hash32([0xab; 32]),
        seed: Seed([0xcd; 32]),
        leader: operator(leader),
        leader_member_index: 7,
        role: Role::Follower,
        checklist: vec![ActionType::Redemption, ActionType::Heartbeat],
        proposal: heartbeat(),
        faults,
        members_connected: None,
        evidence: Default::default(),
        proposed_actions: Default::default(),
        refusals: Vec::new(),
    }
}

fn fault(f: FaultType, culprit: u8) -> Fault {
    Fault {
        fault: f,
        culprit: operator(culprit),
    }
}

fn dry_run(cb: u64, proposal: Option<Proposal>) -> DryRunRecord {
    DryRunRecord {
        wallet: wallet(4),
        coordination_block: cb,
        current_block: cb - 10,
        safe_block: cb - 32,
        safe_block_hash: Hash32([0x22; 32]),
        hash_rule: "keep-v2".into(),
        seed: Seed([0x33; 32]),
        leader: operator(0x44),
        leader_is_self: proposal.is_some(),
        role: if proposal.is_some() {
            Role::Leader
        } else {
            Role::Follower
        },
        checklist: vec![
            ActionType::Redemption,
            ActionType::DepositSweep,
            ActionType::MovedFundsSweep,
            ActionType::MovingFunds,
            ActionType::Heartbeat,
        ],
        reason: proposal
            .is_none()
            .then(|| "this node is not the leader".to_string()),
        actions: vec![
            crate::protocol::ActionEvaluation {
                action: ActionType::Redemption,
                candidate: Some(Proposal::Redemption {
                    redeemers_output_scripts: vec![],
                    redemption_tx_fee: 1,
                }),
                reason: None,
                validation: Some(crate::protocol::Validation::refused("min age not achieved")),
            },
            crate::protocol::ActionEvaluation {
                action: ActionType::DepositSweep,
                candidate: None,
                reason: Some("no sweepable deposits".into()),
                validation: None,
            },
        ],
        bitcoin: None,
        commitment: None,
        proposal,
    }
}

/// A file as version 1 of this program wrote it.
pub(super) fn v1_file(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    // `super::`: here `schema` names the test module, not the store's.
    conn.execute_batch(super::schema::SCHEMA_V1).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    conn
}

/// Reads the history as its front ends do.
fn read(history: &dyn HistoryReader, query: HistoryQuery) -> HistoryPage {
    history.query(&query).expect("reading the history")
}

fn fault_count(history: &dyn HistoryReader) -> u64 {
    let all = HistoryQuery::CountFaults {
        filter: FaultFilter::default(),
    };
    read(history, all).into_count().unwrap()
}
