//! Unit tests of the evidence verifier, on messages signed here with known keys.

use super::*;
use crate::engine::records::FaultRow;
use crate::net::signing::OperatorKey;
use crate::protocol::{Proposal, WalletPublicKey};

const CB: u64 = 1800;

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
        let safe_block_hash = Hash32([0x42; 32]);
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
    assert!(!verdict.passed, "expected a failure, got {verdict:?}");
    &verdict.reason
}

#[test]
fn the_window_of_the_fixture_does_not_allow_moving_funds() {
    // The premise of the mistake tests, from the rule rather than the code: window index 2.
    assert_eq!(CoordinationWindow::new(CB).index() % 4, 2);
}

#[test]
fn a_true_impersonation_mistake_and_idleness_pass() {
    let f = Fixture::new();
    for entry in [
        f.impersonation(),
        f.mistake(moving_funds()),
        f.idleness(f.key_of_seat(f.leader_seat).address()),
    ] {
        let verdict = verify(&entry, &f.seats());
        assert!(verdict.passed, "{entry:?}: {verdict:?}");
    }
}

#[test]
fn the_export_names_what_the_message_says() {
    let f = Fixture::new();
    let entry = f.impersonation();
    let claimed = entry.claimed.clone().unwrap();
    let key = f.key_of_seat(f.other_seat);
    assert_eq!(claimed.seat, f.other_seat);
    assert_eq!(claimed.author_operator, key.address());
    assert_eq!(claimed.author_peer_id, key.peer_id().to_base58());
    assert_eq!(claimed.action, ActionType::Heartbeat);
    assert_eq!(claimed.topic, f.wallet.coordination_topic());
}

#[test]
fn every_flipped_byte_of_a_message_fails_it() {
    let f = Fixture::new();
    let entry = f.impersonation();
    let length = entry.message.as_ref().unwrap().0.len();
    for i in 0..length {
        let mut tampered = entry.clone();
        tampered.message.as_mut().unwrap().0[i] ^= 0x01;
        let verdict = verify(&tampered, &f.seats());
        assert!(!verdict.passed, "byte {i} flipped still passed");
    }
    // The last bytes are the signature's.
    let mut tampered = entry.clone();
    tampered.message.as_mut().unwrap().0[length - 2] ^= 0x01;
    let reason = failed(&verify(&tampered, &f.seats())).to_owned();
    assert!(reason.contains("pubsub signature"), "{reason}");
}

#[test]
fn a_wrong_claimed_seat_fails_naming_both_seats() {
    let f = Fixture::new();
    let mut entry = f.impersonation();
    entry.claimed.as_mut().unwrap().seat = 4;
    let reason = failed(&verify(&entry, &f.seats())).to_owned();
    assert!(
        reason.contains("claims seat 4") && reason.contains(&format!("seat {}", f.other_seat)),
        "{reason}"
    );
}

#[test]
fn seats_held_by_others_in_the_source_fail_the_seat_check() {
    let f = Fixture::new();
    let entry = f.impersonation();
    // The same operators in another seat order: the signer no longer holds the seat it claims.
    let mut shuffled = f.wallet.clone();
    shuffled.operators.reverse();
    let seats = seats_of(vec![shuffled]);
    let verdict = verify(&entry, &seats);
    // Either the recomputed leader moved, or the seat is someone else's; both are failures.
    let reason = failed(&verdict);
    assert!(
        reason.contains("is held by") || reason.contains("recomputed leader"),
        "{reason}"
    );
}

#[test]
fn a_swapped_wallet_fails() {
    let f = Fixture::new();
    // Only the wallet replaced: the seed no longer follows.
    let mut entry = f.impersonation();
    entry.wallet = f.other.wallet;
    assert!(failed(&verify(&entry, &f.seats())).contains("seed"));
    // The wallet and a seed consistent with it: the signed message still names its own.
    entry.seed = coordination_seed(&f.other.wallet, &f.safe_block_hash);
    let leader = SigningGroup::new(f.other.operators.clone())
        .unwrap()
        .leader(&entry.seed)
        .unwrap();
    entry.leader = leader.operator;
    entry.leader_member_index = leader.member_index;
    let reason = failed(&verify(&entry, &f.seats())).to_owned();
    assert!(
        reason.contains(&format!("names wallet {}", f.wallet.wallet)),
        "{reason}"
    );
    // A wallet the seats source does not know.
    entry.wallet = WalletPkh([0xee; 20]);
    assert!(failed(&verify(&entry, &f.seats())).contains("not in the seats source"));
}

#[test]
fn a_mistake_whose_action_is_on_the_recomputed_checklist_fails() {
    let f = Fixture::new();
    let redemption = Proposal::Redemption {
        redeemers_output_scripts: vec![HexBytes(vec![0x00, 0x14])],
        redemption_tx_fee: 10,
    };
    let mut entry = f.mistake(redemption);
    // A forged claim that the checklist was empty changes nothing: it is recomputed.
    entry.checklist = Vec::new();
    let reason = failed(&verify(&entry, &f.seats())).to_owned();
    assert!(reason.contains("Redemption is allowed"), "{reason}");
    // Noop is always allowed.
    let entry = f.mistake(Proposal::Noop);
    assert!(failed(&verify(&entry, &f.seats())).contains("allowed"));
}

#[test]
fn a_mistake_blamed_on_a_message_from_another_seat_fails() {
    let f = Fixture::new();
    let bytes = f.signed(f.other_seat, moving_funds());
    let entry = f.entry(
        FaultType::LeaderMistake,
        f.key_of_seat(f.leader_seat).address(),
        FaultEvidence::Message(bytes),
    );
    assert!(failed(&verify(&entry, &f.seats())).contains("not a mistake"));
}

#[test]
fn an_impersonation_from_the_leaders_seat_fails() {
    let f = Fixture::new();
    let bytes = f.signed(f.leader_seat, heartbeat());
    let entry = f.entry(
        FaultType::LeaderImpersonation,
        f.key_of_seat(f.leader_seat).address(),
        FaultEvidence::Message(bytes),
    );
    assert!(failed(&verify(&entry, &f.seats())).contains("not an impersonation"));
}

#[test]
fn idleness_blamed_on_someone_other_than_the_leader_fails() {
    let f = Fixture::new();
    let entry = f.idleness(f.key_of_seat(f.other_seat).address());
    assert!(failed(&verify(&entry, &f.seats())).contains("not the window's recomputed leader"));
    // An unheard window is not idleness.
    let mut entry = f.idleness(f.key_of_seat(f.leader_seat).address());
    entry.context.as_mut().unwrap().members_connected = Some(0);
    assert!(failed(&verify(&entry, &f.seats())).contains("unheard"));
}

#[test]
fn a_fault_without_evidence_fails() {
    let f = Fixture::new();
    let mut entry = f.impersonation();
    entry.message = None;
    assert!(failed(&verify(&entry, &f.seats())).contains("no message kept"));
}

#[test]
fn the_export_round_trips_through_json() {
    let f = Fixture::new();
    let entries = vec![f.impersonation(), f.idleness(f.keys[0].address())];
    let text = serde_json::to_string(&entries).unwrap();
    let back: Vec<EvidenceEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, entries);
}
