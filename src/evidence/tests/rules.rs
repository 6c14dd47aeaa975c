//! Tests of the checks of an entry in itself: the signed message, the recomputed window and
//! seats, and the entries that contradict themselves. The safe block hash is taken as agreed
//! here (see `source.rs` for the tests of the hash itself).

use super::*;
use crate::protocol::fault::MAX_HEARD;

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

#[test]
fn a_sweep_is_a_mistake_under_mainnet_s_rule_and_allowed_where_sweeps_run_every_window() {
    let f = Fixture::new();
    // Window index 2 is not a 4th window: mainnet (before its activation block) does not
    // check deposit sweeps there; a chain that sweeps every window does.
    let sweep = Proposal::DepositSweep {
        deposits: vec![],
        sweep_tx_fee: 10,
        reveal_blocks: vec![],
    };
    let entry = f.mistake(sweep);
    assert!(f.verify(&entry).passed, "a mistake under mainnet's rule");
    let every_window = f.seats().under(ChecklistRules::EVERY_WINDOW);
    let verdict = verify_against(&entry, &every_window, &f.agreeing());
    let reason = failed(&verdict).to_owned();
    assert!(reason.contains("DepositSweep is allowed"), "{reason}");
}
