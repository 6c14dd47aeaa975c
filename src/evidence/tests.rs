//! Unit tests of the evidence verifier, on messages signed here with known keys.

use std::sync::Mutex;

use super::*;
use crate::chain::{ActionRequest, BlockStream, ChainError};
use crate::devnet::{Devnet, DevnetConfig};
use crate::engine::history::HistoryWriter;
use crate::engine::records::FaultRow;
use crate::files::BoundedReader;
use crate::net::signing::OperatorKey;
use crate::protocol::BlockRef;
use crate::protocol::{
    ActionOutcome, CoordinationResult, Fault, Proposal, Role, WalletPublicKey, WalletSnapshot,
};
use crate::store::Store;

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
        verified(&f.verify(&entry));
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
        let verdict = f.verify(&tampered);
        assert_eq!(
            verdict.outcome,
            Outcome::Failed,
            "byte {i} flipped: {verdict:?}"
        );
    }
    // The last bytes are the signature's.
    let mut tampered = entry.clone();
    tampered.message.as_mut().unwrap().0[length - 2] ^= 0x01;
    let reason = failed(&f.verify(&tampered)).to_owned();
    assert!(reason.contains("pubsub signature"), "{reason}");
}

#[test]
fn a_wrong_claimed_seat_fails_naming_both_seats() {
    let f = Fixture::new();
    let mut entry = f.impersonation();
    entry.claimed.as_mut().unwrap().seat = 4;
    let reason = failed(&f.verify(&entry)).to_owned();
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
    let verdict = verify_against(&entry, &seats, &f.agreeing());
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
    assert!(failed(&f.verify(&entry)).contains("seed"));
    // The wallet and a seed consistent with it: the signed message still names its own.
    entry.seed = coordination_seed(&f.other.wallet, &f.safe_block_hash);
    let leader = SigningGroup::new(f.other.operators.clone())
        .unwrap()
        .leader(&entry.seed)
        .unwrap();
    entry.leader = leader.operator;
    entry.leader_member_index = leader.member_index;
    let reason = failed(&f.verify(&entry)).to_owned();
    assert!(
        reason.contains(&format!("names wallet {}", f.wallet.wallet)),
        "{reason}"
    );
    // A wallet the seats source does not know.
    entry.wallet = WalletPkh([0xee; 20]);
    assert!(failed(&f.verify(&entry)).contains("not in the seats source"));
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
    let reason = failed(&f.verify(&entry)).to_owned();
    assert!(reason.contains("Redemption is allowed"), "{reason}");
    // Noop is always allowed.
    let entry = f.mistake(Proposal::Noop);
    assert!(failed(&f.verify(&entry)).contains("allowed"));
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
    assert!(failed(&f.verify(&entry)).contains("not a mistake"));
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
    assert!(failed(&f.verify(&entry)).contains("not an impersonation"));
}

#[test]
fn idleness_blamed_on_someone_other_than_the_leader_fails() {
    let f = Fixture::new();
    let entry = f.idleness(f.key_of_seat(f.other_seat).address());
    assert!(failed(&f.verify(&entry)).contains("not the window's recomputed leader"));
    // An unheard window is not idleness.
    let mut entry = f.idleness(f.key_of_seat(f.leader_seat).address());
    entry.context.as_mut().unwrap().members_connected = Some(0);
    assert!(failed(&f.verify(&entry)).contains("unheard"));
}

#[test]
fn a_fault_without_evidence_fails() {
    let f = Fixture::new();
    let mut entry = f.impersonation();
    entry.message = None;
    assert!(failed(&f.verify(&entry)).contains("no message kept"));
}

#[test]
fn the_export_round_trips_through_json() {
    let f = Fixture::new();
    let entries = vec![f.impersonation(), f.idleness(f.keys[0].address())];
    let text = serde_json::to_string(&entries).unwrap();
    let back: Vec<EvidenceEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, entries);
}

// The safe block hash, checked against a source.

/// A chain that counts the blocks whose hash it is asked for.
struct Counting {
    devnet: Devnet,
    asked: Mutex<Vec<u64>>,
}

#[async_trait::async_trait]
impl Chain for Counting {
    fn chain_key(&self) -> String {
        self.devnet.chain_key()
    }
    async fn subscribe_blocks(&self) -> Result<BlockStream, ChainError> {
        self.devnet.subscribe_blocks().await
    }
    async fn latest_block(&self) -> Result<BlockRef, ChainError> {
        self.devnet.latest_block().await
    }
    async fn block_hash(&self, number: u64, rule: BlockHashRule) -> Result<Hash32, ChainError> {
        self.asked.lock().unwrap().push(number);
        self.devnet.block_hash(number, rule).await
    }
    async fn wallets(&self) -> Result<Vec<WalletInfo>, ChainError> {
        self.devnet.wallets().await
    }
    async fn wallet_snapshot(
        &self,
        wallet: &WalletPkh,
        block: u64,
    ) -> Result<WalletSnapshot, ChainError> {
        self.devnet.wallet_snapshot(wallet, block).await
    }
    async fn execute_action(&self, request: ActionRequest) -> Result<ActionOutcome, ChainError> {
        self.devnet.execute_action(request).await
    }
}

/// A devnet whose head is `head`: it has the hashes of the blocks up to it. Prague headers,
/// so the keep-v2 and canonical hashes differ.
fn chain_at(head: u64) -> Counting {
    let devnet = Devnet::new(DevnetConfig {
        seed: 11,
        operators: 2,
        wallets: 1,
        start_block: Some(head),
        prague: true,
        ..DevnetConfig::default()
    })
    .unwrap();
    Counting {
        devnet,
        asked: Mutex::new(Vec::new()),
    }
}

fn on_chain(chain: &Counting, rule: BlockHashRule) -> HashSource<'_> {
    HashSource::Chain {
        chain,
        rule,
        name: "the devnet".into(),
    }
}

/// Checks `entries` as the command does: each in itself, then their hashes against `source`.
async fn settle(entries: &[EvidenceEntry], seats: &Seats, source: &HashSource<'_>) -> Vec<Verdict> {
    let pending = entries.iter().map(|e| check_entry(e, seats)).collect();
    source.settle(pending).await
}

#[tokio::test]
async fn a_forged_safe_block_hash_with_a_recomputed_seed_and_leader_fails_against_the_chain() {
    let chain = chain_at(2000);
    let real = chain
        .devnet
        .block_hash(SAFE_BLOCK, BlockHashRule::KeepV2)
        .await
        .unwrap();
    let honest = Fixture::with_hash(real);
    let forged = forged_idleness(forged_hash(&honest));
    assert_ne!(
        forged.culprit,
        honest.leader(),
        "the forgery frames another operator"
    );
    let entries = [
        honest.honest_idleness(),
        forged,
        honest.mistake(moving_funds()),
    ];
    let verdicts = settle(
        &entries,
        &honest.seats(),
        &on_chain(&chain, BlockHashRule::KeepV2),
    )
    .await;
    verified(&verdicts[0]);
    assert!(
        verdicts[0]
            .reason
            .contains("the devnet (hash rule keep-v2)"),
        "{verdicts:?}"
    );
    let reason = failed(&verdicts[1]);
    assert!(
        reason.contains("is not the hash of block 1768 that the devnet"),
        "{reason}"
    );
    verified(&verdicts[2]);
    // Each distinct safe block is asked for once.
    assert_eq!(*chain.asked.lock().unwrap(), vec![SAFE_BLOCK]);
}

#[tokio::test]
async fn the_chain_is_asked_under_the_hash_rule_given() {
    let chain = chain_at(2000);
    let keep_v2 = chain
        .devnet
        .block_hash(SAFE_BLOCK, BlockHashRule::KeepV2)
        .await
        .unwrap();
    let f = Fixture::with_hash(keep_v2);
    let verdicts = settle(
        &[f.honest_idleness()],
        &f.seats(),
        &on_chain(&chain, BlockHashRule::Canonical),
    )
    .await;
    assert!(
        failed(&verdicts[0]).contains("hash rule canonical"),
        "{verdicts:?}"
    );
}

#[tokio::test]
async fn a_safe_block_the_chain_does_not_have_leaves_the_entry_unchecked() {
    // The head is below the safe block: the chain cannot say.
    let chain = chain_at(1000);
    let f = Fixture::new();
    let verdicts = settle(
        &[f.honest_idleness()],
        &f.seats(),
        &on_chain(&chain, BlockHashRule::KeepV2),
    )
    .await;
    assert_eq!(verdicts[0].outcome, Outcome::Unchecked, "{verdicts:?}");
    assert!(!verdicts[0].passed);
    assert!(
        verdicts[0]
            .reason
            .contains("could not be checked: the devnet did not give the hash of block 1768"),
        "{verdicts:?}"
    );
}

#[tokio::test]
async fn entries_that_fail_in_themselves_ask_the_chain_nothing() {
    let chain = chain_at(2000);
    let f = Fixture::new();
    let mut entry = f.honest_idleness();
    entry.culprit = f.key_of_seat(f.other_seat).address();
    let verdicts = settle(
        &[entry],
        &f.seats(),
        &on_chain(&chain, BlockHashRule::KeepV2),
    )
    .await;
    failed(&verdicts[0]);
    assert!(chain.asked.lock().unwrap().is_empty());
}

/// A history in which the fixture's node recorded its result for window `CB`, seeded by
/// `hash`.
fn history_with(f: &Fixture, hash: Hash32) -> Store {
    let store = Store::open_in_memory().unwrap();
    let seed = coordination_seed(&f.wallet.wallet, &hash);
    let leader = SigningGroup::new(f.wallet.operators.clone())
        .unwrap()
        .leader(&seed)
        .unwrap();
    store
        .record_result(&CoordinationResult {
            wallet: f.wallet.wallet,
            window: CoordinationWindow::new(CB),
            safe_block_hash: hash,
            seed,
            leader: leader.operator,
            leader_member_index: leader.member_index,
            role: Role::Follower,
            checklist: checklist(CoordinationWindow::new(CB), &seed),
            proposal: Proposal::Noop,
            faults: vec![Fault {
                fault: FaultType::LeaderIdleness,
                culprit: leader.operator,
            }],
            members_connected: Some(3),
            evidence: Default::default(),
        })
        .unwrap();
    store
}

#[tokio::test]
async fn a_forged_safe_block_hash_with_a_recomputed_seed_and_leader_fails_against_the_history() {
    let honest = Fixture::new();
    let store = history_with(&honest, honest.safe_block_hash);
    let recorded = |w: &WalletPkh, cb: u64| store.safe_block_hash(w, cb).map_err(|e| e.to_string());
    let source = HashSource::History {
        recorded: &recorded,
        name: "the history".into(),
    };
    let forged = forged_idleness(forged_hash(&honest));
    let verdicts = settle(
        &[honest.honest_idleness(), forged],
        &honest.seats(),
        &source,
    )
    .await;
    verified(&verdicts[0]);
    let reason = failed(&verdicts[1]);
    assert!(reason.contains("that the history has"), "{reason}");

    // A history with no result for that window cannot say.
    let empty = Store::open_in_memory().unwrap();
    let recorded = |w: &WalletPkh, cb: u64| empty.safe_block_hash(w, cb).map_err(|e| e.to_string());
    let source = HashSource::History {
        recorded: &recorded,
        name: "the history".into(),
    };
    let verdicts = settle(&[honest.honest_idleness()], &honest.seats(), &source).await;
    assert_eq!(verdicts[0].outcome, Outcome::Unchecked, "{verdicts:?}");
    assert!(
        verdicts[0]
            .reason
            .contains("the history has no result of wallet"),
        "{verdicts:?}"
    );
}

#[tokio::test]
async fn without_a_source_of_hashes_nothing_is_verified() {
    let f = Fixture::new();
    // Even a forgery that holds in itself is only unchecked, and says why.
    let forged = forged_idleness(forged_hash(&f));
    for entry in [f.honest_idleness(), f.impersonation(), forged] {
        let verdict = verify(&entry, &f.seats());
        assert_eq!(verdict.outcome, Outcome::Unchecked, "{verdict:?}");
        assert!(!verdict.passed);
        assert!(
            verdict
                .reason
                .starts_with("the safe block hash could not be checked")
                && verdict.reason.contains("pass --rpc-url or --data-dir"),
            "{verdict:?}"
        );
    }
    let verdicts = settle(&[f.honest_idleness()], &f.seats(), &HashSource::None).await;
    assert_eq!(verdicts[0].outcome, Outcome::Unchecked);
    // What fails in itself still fails.
    let mut entry = f.honest_idleness();
    entry.culprit = f.key_of_seat(f.other_seat).address();
    failed(&verify(&entry, &f.seats()));
}

#[test]
fn a_verdict_in_json_has_its_outcome_and_passed() {
    let f = Fixture::new();
    let value = serde_json::to_value(f.verify(&f.honest_idleness())).unwrap();
    assert_eq!(value["outcome"], "verified");
    assert_eq!(value["passed"], true);
    let value = serde_json::to_value(verify(&f.honest_idleness(), &f.seats())).unwrap();
    assert_eq!(value["outcome"], "unchecked");
    assert_eq!(value["passed"], false);
}

#[test]
fn a_safe_block_other_than_the_coordination_block_minus_32_fails_every_fault_type() {
    let f = Fixture::new();
    for entry in [
        f.impersonation(),
        f.mistake(moving_funds()),
        f.honest_idleness(),
    ] {
        assert_eq!(entry.safe_block, SAFE_BLOCK);
        for safe_block in [SAFE_BLOCK - 1, SAFE_BLOCK + 1, CB] {
            let mut off = entry.clone();
            off.safe_block = safe_block;
            let reason = failed(&f.verify(&off)).to_owned();
            assert!(
                reason.contains(&format!("the safe block {safe_block} is not block 1768")),
                "{reason}"
            );
        }
    }
}

// Self-contradicting entries.

#[test]
fn an_idleness_carrying_a_message_fails() {
    let f = Fixture::new();
    let impersonation = f.impersonation();
    let mut entry = f.honest_idleness();
    entry.message = impersonation.message.clone();
    assert!(failed(&f.verify(&entry)).contains("silence is not signed"));
    let mut entry = f.honest_idleness();
    entry.claimed = impersonation.claimed.clone();
    assert!(failed(&f.verify(&entry)).contains("silence is not signed"));
    // And a message fault carrying an idleness context.
    let mut entry = f.impersonation();
    entry.context = f.honest_idleness().context;
    assert!(failed(&f.verify(&entry)).contains("carries an idleness context"));
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

#[test]
fn an_idleness_that_heard_the_leader_propose_acceptably_fails() {
    let f = Fixture::new();
    let on_checklist = checklist(CoordinationWindow::new(CB), &f.seed)[0];
    for action in [ActionType::Noop, on_checklist] {
        let entry = idleness_hearing(
            &f,
            vec![heard_from(&f, f.leader_seat, CB, action, "LeaderMistake")],
        );
        let reason = failed(&f.verify(&entry)).to_owned();
        assert!(
            reason.contains(&format!("was heard proposing {action} from its seat")),
            "{reason}"
        );
    }
}

#[test]
fn an_idleness_may_list_the_leaders_mistake_and_what_did_not_count() {
    let f = Fixture::new();
    let heard = vec![
        // Off the checklist from the leader's seat: a mistake, recorded beside the idleness.
        heard_from(
            &f,
            f.leader_seat,
            CB,
            ActionType::MovingFunds,
            "LeaderMistake",
        ),
        // Another seat: an impersonation.
        heard_from(
            &f,
            f.other_seat,
            CB,
            ActionType::Noop,
            "LeaderImpersonation",
        ),
        // The leader's seat, but another window or another wallet.
        heard_from(
            &f,
            f.leader_seat,
            CB - 900,
            ActionType::Noop,
            "other_window",
        ),
        heard_from(&f, f.leader_seat, CB, ActionType::Noop, "other_wallet"),
    ];
    verified(&f.verify(&idleness_hearing(&f, heard)));
}

#[test]
fn an_idleness_listing_more_heard_messages_than_a_node_keeps_fails() {
    let f = Fixture::new();
    let one = heard_from(
        &f,
        f.other_seat,
        CB,
        ActionType::Heartbeat,
        "LeaderImpersonation",
    );
    let mut entry = idleness_hearing(&f, vec![one.clone(); MAX_HEARD]);
    entry.context.as_mut().unwrap().heard_omitted = 1000;
    verified(&f.verify(&entry));
    let entry = idleness_hearing(&f, vec![one.clone(); MAX_HEARD + 1]);
    assert!(failed(&f.verify(&entry)).contains("more than 64 heard messages"));
    // Omitted messages before the list is full contradict how a node keeps them.
    let mut entry = idleness_hearing(&f, vec![one; 3]);
    entry.context.as_mut().unwrap().heard_omitted = 1;
    assert!(failed(&f.verify(&entry)).contains("omitted"));
}

// Reading an export.

#[test]
fn a_long_heard_list_is_read_keeping_one_more_than_a_node_keeps() {
    let f = Fixture::new();
    let one = heard_from(
        &f,
        f.other_seat,
        CB,
        ActionType::Heartbeat,
        "LeaderImpersonation",
    );
    let entry = idleness_hearing(&f, vec![one; 10_000]);
    let text = serde_json::to_string(&vec![entry]).unwrap();
    let back: Vec<EvidenceEntry> = serde_json::from_str(&text).unwrap();
    assert_eq!(back[0].context.as_ref().unwrap().heard.len(), MAX_HEARD + 1);
    let checked = check_stream(text.as_bytes(), &f.seats()).unwrap();
    let verdict = checked.into_iter().next().unwrap().settle(&f.agreeing());
    assert!(failed(&verdict).contains("more than 64"));
}

#[test]
fn an_export_is_checked_as_a_stream_and_must_be_one_array() {
    let f = Fixture::new();
    let entries = vec![f.impersonation(), f.honest_idleness()];
    let text = serde_json::to_string(&entries).unwrap();
    let checked = check_stream(text.as_bytes(), &f.seats()).unwrap();
    assert_eq!(checked.len(), 2);
    for pending in checked {
        verified(&pending.settle(&f.agreeing()));
    }
    assert!(check_stream(&b"[]"[..], &f.seats()).unwrap().is_empty());
    for not_an_export in [
        format!("{text} []"),
        "{\"id\": 1}".to_string(),
        "[{\"id\": 1}]".to_string(),
        text[..text.len() - 1].to_string(),
        String::new(),
    ] {
        let err = check_stream(not_an_export.as_bytes(), &f.seats()).unwrap_err();
        assert!(!err.is_io(), "{err}");
    }
    // Past the reader's limit: an I/O error naming the limit.
    let limited = BoundedReader::new(text.as_bytes(), 100);
    let err = check_stream(limited, &f.seats()).unwrap_err();
    assert!(err.is_io(), "{err}");
    assert!(
        err.to_string()
            .contains("larger than the limit of 100 bytes"),
        "{err}"
    );
}
