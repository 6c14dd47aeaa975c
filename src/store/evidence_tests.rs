//! Unit tests of the fault evidence the store keeps (schema 4).

use std::collections::BTreeMap;

use super::*;
use crate::engine::history::HistoryWriter;
use crate::engine::records::FaultFilter;
use crate::protocol::WalletInfo;
use crate::protocol::{
    ActionType, Address, CoordinationResult, CoordinationWindow, Fault, FaultEvidence, FaultType,
    Hash32, HeardMessage, IdlenessContext, Proposal, Role, Seed, WalletPkh, WalletPublicKey,
};

fn wallet(n: u8) -> WalletPkh {
    WalletPkh([0xa0 + n; 20])
}

fn operator(n: u8) -> Address {
    Address([n; 20])
}

fn result_with(cb: u64, evidence: Vec<(Fault, FaultEvidence)>) -> CoordinationResult {
    CoordinationResult {
        wallet: wallet(1),
        window: CoordinationWindow::new(cb),
        safe_block_hash: Hash32([0xab; 32]),
        seed: Seed([0xcd; 32]),
        leader: operator(3),
        leader_member_index: 2,
        role: Role::Follower,
        checklist: vec![ActionType::Redemption],
        proposal: Proposal::Noop,
        faults: evidence.iter().map(|(f, _)| *f).collect(),
        members_connected: Some(4),
        evidence: evidence.into_iter().collect::<BTreeMap<_, _>>(),
        proposed_actions: BTreeMap::new(),
        refusals: Vec::new(),
    }
}

fn idle_context() -> IdlenessContext {
    IdlenessContext {
        listened_from: 1801,
        listened_until: 1880,
        members_connected: Some(4),
        heard: vec![HeardMessage {
            block: 1805,
            member_index: 5,
            operator: operator(9),
            coordination_block: 1800,
            action: ActionType::Heartbeat,
            verdict: "LeaderImpersonation".into(),
        }],
        heard_omitted: 0,
    }
}

#[test]
fn evidence_is_kept_with_its_fault_byte_for_byte_and_joined_to_its_window() {
    let store = Store::open_in_memory().unwrap();
    // Bytes that are not valid UTF-8, a NUL and a high byte: a BLOB keeps them all.
    let message = vec![0x0a, 0x00, 0xff, 0xfe, 0x80, 0x01];
    let impersonation = Fault {
        fault: FaultType::LeaderImpersonation,
        culprit: operator(9),
    };
    let idleness = Fault {
        fault: FaultType::LeaderIdleness,
        culprit: operator(3),
    };
    store
        .record_result(&result_with(
            1800,
            vec![
                (impersonation, FaultEvidence::Message(message.clone())),
                (idleness, FaultEvidence::Idleness(idle_context())),
            ],
        ))
        .unwrap();
    // A fault without evidence (a result from a build that kept none) reads back as None.
    let mut bare = result_with(
        2700,
        vec![(idleness, FaultEvidence::Idleness(idle_context()))],
    );
    bare.evidence.clear();
    store.record_result(&bare).unwrap();

    let rows = store
        .fault_evidence(&FaultFilter::default(), 0, u64::MAX)
        .unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.fault.coordination_block,
                r.fault.fault,
                r.evidence.clone(),
            )
        })
        .collect();
    // Newest window first; within a window, the later row first.
    assert_eq!(
        got,
        vec![
            (2700, FaultType::LeaderIdleness, None),
            (
                1800,
                FaultType::LeaderIdleness,
                Some(FaultEvidence::Idleness(idle_context()))
            ),
            (
                1800,
                FaultType::LeaderImpersonation,
                Some(FaultEvidence::Message(message))
            ),
        ]
    );
    let first = &rows[1];
    assert_eq!(first.safe_block_hash, Hash32([0xab; 32]));
    assert_eq!(first.seed, Seed([0xcd; 32]));
    assert_eq!(first.leader_member_index, 2);
    assert_eq!(first.checklist, vec![ActionType::Redemption]);
    assert_eq!(first.members_connected, Some(4));

    // The filters of `faults` apply.
    let only = store
        .fault_evidence(
            &FaultFilter {
                fault: Some(FaultType::LeaderImpersonation),
                ..FaultFilter::default()
            },
            0,
            u64::MAX,
        )
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].fault.culprit, operator(9));
}

/// A file as version 3 of this program wrote it.
fn v3_file(path: &std::path::Path) -> rusqlite::Connection {
    let conn = super::tests::v1_file(path);
    conn.execute_batch(schema::SCHEMA_V2).unwrap();
    conn.execute_batch(schema::SCHEMA_V3).unwrap();
    conn.pragma_update(None, "user_version", 3).unwrap();
    conn
}

#[test]
fn a_version_3_file_migrates_and_its_faults_read_back_without_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    {
        let conn = v3_file(&path);
        conn.execute_batch(&format!(
            "INSERT INTO results (wallet, coordination_block, safe_block_hash, seed, leader,
                 leader_member_index, role, checklist, action, proposal, fault_count,
                 recorded_at, members_connected)
             VALUES ('{w}', 900, '{h}', '{h}', '{l}', 1, 'follower', 'Redemption', 'Noop',
                 '\"Noop\"', 1, 4, 3);
             INSERT INTO faults (wallet, coordination_block, culprit, fault_type, leader,
                 recorded_at)
             VALUES ('{w}', 900, '{l}', 'LeaderIdleness', '{l}', 5);",
            w = wallet(1).to_hex(),
            h = Hash32([0xab; 32]).to_hex(),
            l = operator(3).to_checksum(),
        ))
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let version: i64 = store
        .conn()
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let rows = store
        .fault_evidence(&FaultFilter::default(), 0, u64::MAX)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].fault.fault, FaultType::LeaderIdleness);
    assert_eq!(rows[0].evidence, None, "kept before evidence existed");
    assert_eq!(rows[0].members_connected, Some(3));

    // New faults in the migrated file keep their evidence.
    let message = vec![1, 2, 3];
    store
        .record_result(&result_with(
            1800,
            vec![(
                Fault {
                    fault: FaultType::LeaderMistake,
                    culprit: operator(3),
                },
                FaultEvidence::Message(message.clone()),
            )],
        ))
        .unwrap();
    let rows = store
        .fault_evidence(&FaultFilter::default(), 0, u64::MAX)
        .unwrap();
    assert_eq!(rows[0].evidence, Some(FaultEvidence::Message(message)));
    // And the wallet seats table exists.
    assert_eq!(store.wallet_seats().unwrap(), Vec::new());
}

#[test]
fn wallet_seats_round_trip_in_seat_order_with_and_without_a_public_key() {
    let store = Store::open_in_memory().unwrap();
    let key = WalletPublicKey::of_secret(&[7; 32]).unwrap();
    let with_key = WalletInfo {
        wallet: key.pkh(),
        public_key: Some(key),
        // Seat order kept, a repeated holder too.
        operators: vec![operator(5), operator(2), operator(5)],
    };
    let without = WalletInfo {
        wallet: wallet(2),
        public_key: None,
        operators: vec![operator(1)],
    };
    store
        .record_wallets(&[with_key.clone(), without.clone()])
        .unwrap();
    // Listed again: replaced, not duplicated.
    store
        .record_wallets(std::slice::from_ref(&without))
        .unwrap();
    let mut expected = vec![with_key, without];
    expected.sort_by_key(|w| w.wallet.to_hex());
    assert_eq!(store.wallet_seats().unwrap(), expected);
}

#[test]
fn the_safe_block_hash_of_a_window_is_the_one_its_result_recorded() {
    let store = Store::open_in_memory().unwrap();
    let mut result = result_with(1800, Vec::new());
    result.safe_block_hash = Hash32([0x5a; 32]);
    store.record_result(&result).unwrap();
    store.record_result(&result_with(2700, Vec::new())).unwrap();
    assert_eq!(
        store.safe_block_hash(&wallet(1), 1800).unwrap(),
        Some(Hash32([0x5a; 32]))
    );
    assert_eq!(
        store.safe_block_hash(&wallet(1), 2700).unwrap(),
        Some(Hash32([0xab; 32]))
    );
    // No result of that wallet, or of that window: no record, not an error.
    assert_eq!(store.safe_block_hash(&wallet(2), 1800).unwrap(), None);
    assert_eq!(store.safe_block_hash(&wallet(1), 900).unwrap(), None);
}

#[test]
fn the_action_a_culprit_proposed_is_kept_with_its_fault() {
    let store = Store::open_in_memory().unwrap();
    let mistake = Fault {
        fault: FaultType::LeaderMistake,
        culprit: operator(3),
    };
    let impersonation = Fault {
        fault: FaultType::LeaderImpersonation,
        culprit: operator(9),
    };
    let idleness = Fault {
        fault: FaultType::LeaderIdleness,
        culprit: operator(3),
    };
    let mut result = result_with(
        1800,
        vec![
            (mistake, FaultEvidence::Message(vec![1])),
            (impersonation, FaultEvidence::Message(vec![2])),
            (idleness, FaultEvidence::Idleness(idle_context())),
        ],
    );
    result.proposed_actions = BTreeMap::from([
        (mistake, ActionType::MovingFunds),
        (impersonation, ActionType::Heartbeat),
    ]);
    store.record_result(&result).unwrap();

    let proposed = |rows: Vec<crate::engine::records::FaultRow>| -> Vec<_> {
        let mut got: Vec<_> = rows
            .into_iter()
            .map(|r| (r.fault, r.proposed_action))
            .collect();
        got.sort();
        got
    };
    let expected = vec![
        (FaultType::LeaderIdleness, None),
        (FaultType::LeaderMistake, Some(ActionType::MovingFunds)),
        (FaultType::LeaderImpersonation, Some(ActionType::Heartbeat)),
    ];
    // A page of faults (what the console lists and opens) and the evidence export agree.
    let page = store
        .faults(
            &FaultFilter::default(),
            crate::engine::records::FaultOrder::NewestFirst,
            0,
            10,
        )
        .unwrap();
    assert_eq!(proposed(page), expected);
    let exported = store
        .fault_evidence(&FaultFilter::default(), 0, u64::MAX)
        .unwrap();
    assert_eq!(
        proposed(exported.into_iter().map(|r| r.fault).collect()),
        expected
    );
}

/// A file as version 5 of this program wrote it.
fn v5_file(path: &std::path::Path) -> rusqlite::Connection {
    let conn = v3_file(path);
    conn.execute_batch(schema::SCHEMA_V4).unwrap();
    conn.execute_batch(schema::SCHEMA_V5).unwrap();
    conn.pragma_update(None, "user_version", 5).unwrap();
    conn
}

#[test]
fn a_version_5_file_migrates_and_its_mistakes_read_back_without_a_proposed_action() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    {
        let conn = v5_file(&path);
        conn.execute_batch(&format!(
            "INSERT INTO results (wallet, coordination_block, safe_block_hash, seed, leader,
                 leader_member_index, role, checklist, action, proposal, fault_count,
                 recorded_at, members_connected)
             VALUES ('{w}', 900, '{h}', '{h}', '{l}', 1, 'follower', 'Redemption', 'Noop',
                 '\"Noop\"', 1, 4, 3);
             INSERT INTO faults (wallet, coordination_block, culprit, fault_type, leader,
                 recorded_at, evidence_message)
             VALUES ('{w}', 900, '{l}', 'LeaderMistake', '{l}', 5, x'0102');",
            w = wallet(1).to_hex(),
            h = Hash32([0xab; 32]).to_hex(),
            l = operator(3).to_checksum(),
        ))
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let version: i64 = store
        .conn()
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 6);
    let rows = store
        .fault_evidence(&FaultFilter::default(), 0, u64::MAX)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].fault.fault, FaultType::LeaderMistake);
    assert_eq!(rows[0].fault.proposed_action, None, "kept before version 6");
    assert_eq!(rows[0].evidence, Some(FaultEvidence::Message(vec![1, 2])));

    // A mistake recorded in the migrated file keeps what it proposed.
    let mistake = Fault {
        fault: FaultType::LeaderMistake,
        culprit: operator(3),
    };
    let mut result = result_with(1800, vec![(mistake, FaultEvidence::Message(vec![3]))]);
    result.proposed_actions = BTreeMap::from([(mistake, ActionType::DepositSweep)]);
    store.record_result(&result).unwrap();
    let rows = store
        .fault_evidence(&FaultFilter::default(), 0, u64::MAX)
        .unwrap();
    assert_eq!(rows[0].fault.coordination_block, 1800);
    assert_eq!(
        rows[0].fault.proposed_action,
        Some(ActionType::DepositSweep)
    );
}
