//! Tests of the safe block hash checked against an independent source (the chain or the
//! node's history) or against none, and of the outcomes that follow.

use std::sync::Mutex;

use super::*;
use crate::chain::{ActionRequest, BlockStream, Chain, ChainError};
use crate::devnet::{Devnet, DevnetConfig};
use crate::engine::history::HistoryWriter;
use crate::protocol::{
    ActionOutcome, BlockHashRule, BlockRef, CoordinationResult, Fault, Role, WalletSnapshot,
};
use crate::store::Store;

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
            proposed_actions: Default::default(),
            refusals: Vec::new(),
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
