//! Unit tests of the evidence export and verifier, on messages signed here with known keys.
//! The fixture and the helpers shared by the test files are here; the tests are split as the
//! module is (the export, the checks of an entry in itself, the sources of block hashes).

use super::*;
use crate::engine::records::{FaultEvidenceRow, FaultRow};
use crate::net::envelope::Envelope;
use crate::net::pubsub::PubsubMessage;
use crate::net::signing::OperatorKey;
use crate::protocol::checklist::ChecklistRules;
use crate::protocol::proposal::HexBytes;
use crate::protocol::{
    checklist, coordination_seed, ActionType, Address, CoordinationMessage, CoordinationWindow,
    FaultEvidence, FaultType, Hash32, HeardMessage, IdlenessContext, Proposal, Seed, SigningGroup,
    WalletInfo, WalletPkh, WalletPublicKey,
};

mod export;
mod rules;
mod source;

const CB: u64 = 1800;
/// `CB - 32`.
const SAFE_BLOCK: u64 = 1768;

struct Fixture {
    keys: Vec<OperatorKey>,
    wallet: WalletInfo,
    other: WalletInfo,
    safe_block_hash: Hash32,
    seed: Seed,
    /// Seat (1-based) of the leader, and a seat held by someone else.
    leader_seat: u8,
    other_seat: u8,
}

impl Fixture {
    fn new() -> Self {
        Fixture::with_hash(Hash32([0x42; 32]))
    }

    /// The fixture's wallet with the window seeded by `safe_block_hash`.
    fn with_hash(safe_block_hash: Hash32) -> Self {
        let keys: Vec<OperatorKey> = (1..=4u8)
            .map(|i| OperatorKey::from_secret(&[i; 32]).unwrap())
            .collect();
        let public_key = WalletPublicKey::of_secret(&[9; 32]).unwrap();
        let wallet = WalletInfo {
            wallet: public_key.pkh(),
            public_key: Some(public_key),
            operators: keys.iter().map(|k| k.address()).collect(),
        };
        let other_key = WalletPublicKey::of_secret(&[10; 32]).unwrap();
        let other = WalletInfo {
            wallet: other_key.pkh(),
            public_key: Some(other_key),
            operators: wallet.operators.clone(),
        };
        let seed = coordination_seed(&wallet.wallet, &safe_block_hash);
        let leader = SigningGroup::new(wallet.operators.clone())
            .unwrap()
            .leader(&seed)
            .unwrap();
        let other_seat = if leader.member_index == 1 { 2 } else { 1 };
        Fixture {
            keys,
            wallet,
            other,
            safe_block_hash,
            seed,
            leader_seat: leader.member_index,
            other_seat,
        }
    }

    fn key_of_seat(&self, seat: u8) -> &OperatorKey {
        &self.keys[usize::from(seat - 1)]
    }

    fn seats(&self) -> Seats {
        seats_of(vec![self.wallet.clone(), self.other.clone()])
    }

    /// A source that agrees with the fixture's safe block hash.
    fn agreeing(&self) -> SourceHash {
        SourceHash::Known {
            hash: self.safe_block_hash,
            source: "the test's source".into(),
        }
    }

    /// Verified against a source that agrees with the fixture's hash: only the entry itself
    /// can fail.
    fn verify(&self, entry: &EvidenceEntry) -> Verdict {
        verify_against(entry, &self.seats(), &self.agreeing())
    }

    fn leader(&self) -> Address {
        self.key_of_seat(self.leader_seat).address()
    }

    /// The fixture's honest idleness, blaming the window's leader.
    fn honest_idleness(&self) -> EvidenceEntry {
        self.idleness(self.leader())
    }

    /// A message signed by the holder of `seat`, sent from `seat`.
    fn signed(&self, seat: u8, proposal: Proposal) -> Vec<u8> {
        let key = self.key_of_seat(seat);
        let message = CoordinationMessage {
            sender_member_index: seat,
            coordination_block: CB,
            wallet: self.wallet.wallet,
            proposal,
        };
        let envelope = Envelope {
            sender: key.keypair().public(),
            payload: message.encode(),
            sequence_number: 1,
        };
        PubsubMessage::signed(
            key,
            &self.wallet.coordination_topic(),
            envelope.encode(),
            0x1000,
        )
        .to_bytes()
    }

    fn entry(&self, fault: FaultType, culprit: Address, evidence: FaultEvidence) -> EvidenceEntry {
        EvidenceEntry::from_row(&FaultEvidenceRow {
            fault: FaultRow {
                id: 7,
                wallet: self.wallet.wallet,
                coordination_block: CB,
                culprit,
                fault,
                leader: self.key_of_seat(self.leader_seat).address(),
                recorded_at: 1,
                proposed_action: None,
            },
            safe_block_hash: self.safe_block_hash,
            seed: self.seed,
            leader_member_index: self.leader_seat,
            checklist: checklist(CoordinationWindow::new(CB), &self.seed),
            members_connected: Some(3),
            evidence: Some(evidence),
        })
    }

    fn impersonation(&self) -> EvidenceEntry {
        let bytes = self.signed(self.other_seat, heartbeat());
        self.entry(
            FaultType::LeaderImpersonation,
            self.key_of_seat(self.other_seat).address(),
            FaultEvidence::Message(bytes),
        )
    }

    fn mistake(&self, proposal: Proposal) -> EvidenceEntry {
        let bytes = self.signed(self.leader_seat, proposal);
        self.entry(
            FaultType::LeaderMistake,
            self.key_of_seat(self.leader_seat).address(),
            FaultEvidence::Message(bytes),
        )
    }

    fn idleness(&self, culprit: Address) -> EvidenceEntry {
        self.entry(
            FaultType::LeaderIdleness,
            culprit,
            FaultEvidence::Idleness(IdlenessContext {
                listened_from: CB,
                listened_until: CB + 80,
                members_connected: Some(3),
                heard: Vec::new(),
                heard_omitted: 0,
            }),
        )
    }
}

fn heartbeat() -> Proposal {
    Proposal::Heartbeat {
        message: HexBytes(vec![0xFF; 16]),
    }
}

/// Not on the checklist of window 1800 (index 2): moving funds is every 4th window.
fn moving_funds() -> Proposal {
    Proposal::MovingFunds {
        target_wallets: vec![WalletPkh([3; 20])],
        moving_funds_tx_fee: 1000,
    }
}

fn failed(verdict: &Verdict) -> &str {
    assert_eq!(
        verdict.outcome,
        Outcome::Failed,
        "expected a failure, got {verdict:?}"
    );
    assert!(!verdict.passed);
    &verdict.reason
}

fn verified(verdict: &Verdict) {
    assert_eq!(
        verdict.outcome,
        Outcome::Verified,
        "expected verified, got {verdict:?}"
    );
    assert!(verdict.passed);
}

/// A hash whose window another operator leads than the one `honest` leads: what a forger
/// would pick to frame someone.
fn forged_hash(honest: &Fixture) -> Hash32 {
    (0..=255u8)
        .map(|i| Hash32([i; 32]))
        .find(|h| {
            *h != honest.safe_block_hash && Fixture::with_hash(*h).leader() != honest.leader()
        })
        .expect("some hash elects another leader")
}

/// An entry reseeded from `forged`: seed, leader, checklist and culprit all recomputed, so
/// it holds in itself.
fn forged_idleness(forged: Hash32) -> EvidenceEntry {
    let f = Fixture::with_hash(forged);
    let entry = f.honest_idleness();
    verified(&f.verify(&entry));
    entry
}

fn heard_from(f: &Fixture, seat: u8, cb: u64, action: ActionType, verdict: &str) -> HeardMessage {
    HeardMessage {
        block: CB + 3,
        member_index: seat,
        operator: f.key_of_seat(seat).address(),
        coordination_block: cb,
        action,
        verdict: verdict.into(),
    }
}

fn idleness_hearing(f: &Fixture, heard: Vec<HeardMessage>) -> EvidenceEntry {
    let mut entry = f.honest_idleness();
    entry.context.as_mut().unwrap().heard = heard;
    entry
}
