//! The reference values published with the reference client (`tests/data/`, copied from the
//! project's shared vectors): Go's `math/rand`, seeds, leaders, checklists, end to end.

use serde::Deserialize;
use tbtc_coord::protocol::action::ActionType;
use tbtc_coord::protocol::checklist::checklist;
use tbtc_coord::protocol::gorand::GoRand;
use tbtc_coord::protocol::leader::{leader_candidates, SigningGroup};
use tbtc_coord::protocol::rng_cooked::RNG_COOKED;
use tbtc_coord::protocol::{
    coordination_seed, Address, CoordinationWindow, Hash32, Seed, WalletPkh,
};

#[derive(Deserialize)]
struct Vectors {
    go_rand: Vec<GoRandCase>,
    seed: Vec<SeedCase>,
    leader: Vec<LeaderCase>,
    checklist: Vec<ChecklistCase>,
    end_to_end: Vec<EndToEndCase>,
}

#[derive(Deserialize)]
struct GoRandCase {
    name: String,
    seed: i64,
    reduced_seed: i64,
    int63: Vec<i64>,
    float64_bits: Vec<u64>,
    shuffles: Vec<ShuffleCase>,
}

#[derive(Deserialize)]
struct ShuffleCase {
    n: usize,
    perm: Vec<usize>,
}

#[derive(Deserialize)]
struct SeedCase {
    wallet_public_key_hash: String,
    coordination_block: u64,
    safe_block_number: u64,
    safe_block_hash: String,
    seed: String,
}

#[derive(Deserialize)]
struct LeaderCase {
    name: String,
    seed: String,
    rng_seed: i64,
    unique_operators: usize,
    operators: Vec<String>,
    leader: String,
}

#[derive(Deserialize)]
struct ChecklistCase {
    name: String,
    coordination_block: u64,
    window_index: u64,
    seed: String,
    rng_seed: i64,
    first_float64_bits: u64,
    actions: Vec<String>,
}

#[derive(Deserialize)]
struct EndToEndCase {
    wallet_public_key_hash: String,
    coordination_block: u64,
    safe_block_number: u64,
    safe_block_hash: String,
    operators: Vec<String>,
    seed: String,
    leader: String,
    actions: Vec<String>,
}

fn vectors() -> Vectors {
    let text = include_str!("data/rfc12_public.json");
    serde_json::from_str(text).expect("vectors parse")
}

fn addresses(list: &[String]) -> Vec<Address> {
    list.iter()
        .map(|s| s.parse().expect("vector address"))
        .collect()
}

fn actions(names: &[String]) -> Vec<ActionType> {
    names
        .iter()
        .map(|s| s.parse().expect("vector action"))
        .collect()
}

#[test]
fn embedded_cooked_table_matches_the_published_one() {
    #[derive(Deserialize)]
    struct Cooked {
        rng_cooked: Vec<i64>,
    }
    let cooked: Cooked = serde_json::from_str(include_str!("data/go_rng_cooked.json")).unwrap();
    assert_eq!(cooked.rng_cooked, RNG_COOKED.to_vec());
}

#[test]
fn go_rand_streams() {
    for case in vectors().go_rand {
        let mut rng = GoRand::new(case.seed);
        assert_eq!(rng.reduced_seed(), case.reduced_seed, "{}", case.name);
        let got: Vec<i64> = (0..case.int63.len()).map(|_| rng.int63()).collect();
        assert_eq!(got, case.int63, "int63 of {}", case.name);

        let mut rng = GoRand::new(case.seed);
        let got: Vec<u64> = (0..case.float64_bits.len())
            .map(|_| rng.float64().to_bits())
            .collect();
        assert_eq!(got, case.float64_bits, "float64 of {}", case.name);

        for shuffle in &case.shuffles {
            let mut rng = GoRand::new(case.seed);
            let mut perm: Vec<usize> = (0..shuffle.n).collect();
            rng.shuffle(&mut perm);
            assert_eq!(
                perm, shuffle.perm,
                "shuffle({}) of {}",
                shuffle.n, case.name
            );
        }
    }
}

#[test]
fn seeds() {
    for case in vectors().seed {
        let wallet: WalletPkh = case.wallet_public_key_hash.parse().unwrap();
        let hash: Hash32 = case.safe_block_hash.parse().unwrap();
        let window = CoordinationWindow::new(case.coordination_block);
        assert_eq!(window.safe_block(), case.safe_block_number);
        assert_eq!(coordination_seed(&wallet, &hash).to_hex(), case.seed);
    }
}

#[test]
fn leaders() {
    for case in vectors().leader {
        let seed: Seed = case.seed.parse().unwrap();
        assert_eq!(seed.rng_seed(), case.rng_seed, "{}", case.name);
        let seats = addresses(&case.operators);
        assert_eq!(leader_candidates(&seats).len(), case.unique_operators);
        let group = SigningGroup::new(seats).expect("at most 255 seats");
        let leader = group.leader(&seed).expect("non-empty group");
        assert_eq!(leader.operator.to_checksum(), case.leader, "{}", case.name);
        assert_eq!(
            group.holder(leader.member_index),
            Some(leader.operator),
            "{}: the leader speaks through a seat it holds",
            case.name
        );
    }
}

#[test]
fn checklists() {
    for case in vectors().checklist {
        let seed: Seed = case.seed.parse().unwrap();
        assert_eq!(seed.rng_seed(), case.rng_seed, "{}", case.name);
        let window = CoordinationWindow::new(case.coordination_block);
        assert_eq!(window.index(), case.window_index, "{}", case.name);
        let mut rng = GoRand::new(case.rng_seed);
        assert_eq!(
            rng.float64().to_bits(),
            case.first_float64_bits,
            "{}",
            case.name
        );
        assert_eq!(
            checklist(window, &seed),
            actions(&case.actions),
            "{}",
            case.name
        );
    }
}

#[test]
fn end_to_end() {
    for case in vectors().end_to_end {
        let wallet: WalletPkh = case.wallet_public_key_hash.parse().unwrap();
        let hash: Hash32 = case.safe_block_hash.parse().unwrap();
        let window = CoordinationWindow::new(case.coordination_block);
        assert_eq!(window.safe_block(), case.safe_block_number);
        let seed = coordination_seed(&wallet, &hash);
        assert_eq!(seed.to_hex(), case.seed);
        let group = SigningGroup::new(addresses(&case.operators)).expect("at most 255 seats");
        assert_eq!(
            group.leader(&seed).unwrap().operator.to_checksum(),
            case.leader
        );
        assert_eq!(checklist(window, &seed), actions(&case.actions));
    }
}
