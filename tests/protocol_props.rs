//! Property tests of the protocol rules (SPEC §4–§5): Go's shuffle, leader selection and the
//! checklist, and the lazily seeded `GoRand` against a literal port of Go's eager seeding.

use proptest::collection::vec;
use proptest::prelude::*;
use tbtc_coord::protocol::checklist::{checklist, checklist_with, HEARTBEAT_PROBABILITY};
use tbtc_coord::protocol::gorand::GoRand;
use tbtc_coord::protocol::leader::{leader_candidates, select_leader, SigningGroup};
use tbtc_coord::protocol::rng_cooked::RNG_COOKED;
use tbtc_coord::protocol::{ActionType, Address, CoordinationWindow, Seed};

const RNG_LEN: usize = 607;
const RNG_TAP: usize = 273;
const INT32_MAX: i64 = (1 << 31) - 1;

/// Go's `rngSource` (`src/math/rand/rng.go`) written out literally: `Seed` runs `seedrand`
/// (Park–Miller by Schrage's method) over the whole state up front.
struct EagerGoSource {
    vec: [i64; RNG_LEN],
    tap: usize,
    feed: usize,
}

impl EagerGoSource {
    fn seedrand(x: i32) -> i32 {
        const A: i32 = 48271;
        const Q: i32 = 44488;
        const R: i32 = 3399;
        let hi = x / Q;
        let lo = x % Q;
        let mut x = A * lo - R * hi;
        if x < 0 {
            x += INT32_MAX as i32;
        }
        x
    }

    fn new(seed: i64) -> Self {
        let mut src = EagerGoSource {
            vec: [0; RNG_LEN],
            tap: 0,
            feed: RNG_LEN - RNG_TAP,
        };
        let mut seed = seed % INT32_MAX;
        if seed < 0 {
            seed += INT32_MAX;
        }
        if seed == 0 {
            seed = 89_482_311;
        }
        let mut x = seed as i32;
        for i in -20i32..RNG_LEN as i32 {
            x = Self::seedrand(x);
            if i >= 0 {
                let mut u = i64::from(x) << 40;
                x = Self::seedrand(x);
                u ^= i64::from(x) << 20;
                x = Self::seedrand(x);
                u ^= i64::from(x);
                u ^= RNG_COOKED[i as usize];
                src.vec[i as usize] = u;
            }
        }
        src
    }

    fn uint64(&mut self) -> u64 {
        self.tap = if self.tap == 0 {
            RNG_LEN - 1
        } else {
            self.tap - 1
        };
        self.feed = if self.feed == 0 {
            RNG_LEN - 1
        } else {
            self.feed - 1
        };
        let x = self.vec[self.feed].wrapping_add(self.vec[self.tap]);
        self.vec[self.feed] = x;
        x as u64
    }
}

fn arb_seed() -> impl Strategy<Value = Seed> {
    any::<[u8; 32]>().prop_map(Seed)
}

/// Seeds of every kind Go's reduction treats specially, and arbitrary ones.
fn arb_go_seed() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => any::<i64>(),
        1 => Just(0i64),
        1 => (-4i64..=4).prop_map(|k| k * INT32_MAX),
        1 => (-4i64..=4, -2i64..=2).prop_map(|(k, d)| k * INT32_MAX + d),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(i64::MIN + 1)],
    ]
}

/// 1..=100 seats drawn from a pool of 1..=40 random addresses (so duplicates are common).
fn arb_seats() -> impl Strategy<Value = Vec<Address>> {
    (
        vec(any::<[u8; 20]>().prop_map(Address), 1..=40),
        vec(any::<usize>(), 1..=100),
    )
        .prop_map(|(pool, picks)| picks.iter().map(|p| pool[p % pool.len()]).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Go's `Shuffle` only reorders: the output is a permutation of the input.
    #[test]
    fn shuffle_is_a_permutation(seed in arb_go_seed(), n in 0usize..=300) {
        let mut rng = GoRand::new(seed);
        let mut items: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut items);
        prop_assert_eq!(items.len(), n);
        items.sort_unstable();
        prop_assert!(items.iter().copied().eq(0..n));
    }

    /// Only the seed's first 8 bytes reach the generator, so they alone decide the leader;
    /// the leader holds the seat it speaks through, and that seat is its lowest.
    #[test]
    fn first_eight_seed_bytes_decide_the_leader(
        seats in arb_seats(),
        head in any::<[u8; 8]>(),
        tail in any::<[u8; 24]>(),
        flip_at in 0usize..24,
        flip in 1u8..=255,
    ) {
        let mut a = [0u8; 32];
        a[..8].copy_from_slice(&head);
        a[8..].copy_from_slice(&tail);
        let mut b = a;
        b[8 + flip_at] ^= flip;
        let (seed_a, seed_b) = (Seed(a), Seed(b));
        prop_assert_ne!(seed_a, seed_b);
        prop_assert_eq!(seed_a.rng_seed(), i64::from_be_bytes(head));

        let group = SigningGroup::new(seats.clone()).expect("at most 255 seats");
        let leader_a = group.leader(&seed_a).expect("a non-empty group has a leader");
        let leader_b = group.leader(&seed_b).expect("a non-empty group has a leader");
        prop_assert_eq!(leader_a, leader_b);

        prop_assert_eq!(group.holder(leader_a.member_index), Some(leader_a.operator));
        let lowest = seats.iter().position(|s| *s == leader_a.operator).unwrap() + 1;
        prop_assert_eq!(usize::from(leader_a.member_index), lowest);
        prop_assert_eq!(group.lowest_seat(&leader_a.operator), Some(leader_a.member_index));

        // The free function and a reused generator agree with `leader`.
        prop_assert_eq!(select_leader(&seats, &seed_a), Some(leader_a.operator));
        let mut rng = GoRand::new(12345);
        rng.shuffle(&mut [0u8; 17]); // leave it in some used state
        prop_assert_eq!(group.leader_with(&seed_b, &mut rng), Some(leader_a));
    }

    /// The leader is computed from the sorted, deduplicated holders, so seat order does not
    /// matter (the seat it speaks through may change, the operator may not).
    #[test]
    fn leader_does_not_depend_on_seat_order(
        (seats, permuted) in arb_seats().prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle())),
        seed in arb_seed(),
    ) {
        prop_assert_eq!(leader_candidates(&seats), leader_candidates(&permuted));
        let a = SigningGroup::new(seats).unwrap().leader(&seed).unwrap();
        let b = SigningGroup::new(permuted.clone()).unwrap().leader(&seed).unwrap();
        prop_assert_eq!(a.operator, b.operator);
        prop_assert_eq!(
            usize::from(b.member_index),
            permuted.iter().position(|s| *s == b.operator).unwrap() + 1
        );
    }

    /// `checklist`: empty outside coordination blocks; otherwise Redemption first, the sweeps
    /// and MovingFunds as §5 says, and Heartbeat (last) iff the first Float64 is < 6.25%.
    #[test]
    fn checklist_shape(
        block in prop_oneof![
            2 => (0u64..40_000).prop_map(|k| k * 900),
            1 => (27_280u64..27_300).prop_map(|k| k * 900), // around 24,559,289
            1 => any::<u64>(),
            1 => 0u64..2_000,
        ],
        seed in arb_seed(),
    ) {
        let window = CoordinationWindow::new(block);
        let got = checklist(window, &seed);
        let mut rng = GoRand::new(-7);
        prop_assert_eq!(&checklist_with(window, &seed, &mut rng), &got);
        if block == 0 || !block.is_multiple_of(900) {
            prop_assert!(got.is_empty(), "block {} gave {:?}", block, got);
            return Ok(());
        }
        prop_assert_eq!(got.first(), Some(&ActionType::Redemption));
        let heartbeat = GoRand::new(seed.rng_seed()).float64() < HEARTBEAT_PROBABILITY;
        prop_assert_eq!(got.contains(&ActionType::Heartbeat), heartbeat);
        if heartbeat {
            prop_assert_eq!(got.last(), Some(&ActionType::Heartbeat));
        }
        let every_fourth = (block / 900).is_multiple_of(4);
        let sweeps = every_fourth || block >= 24_559_289;
        prop_assert_eq!(got.contains(&ActionType::DepositSweep), sweeps);
        prop_assert_eq!(got.contains(&ActionType::MovedFundsSweep), sweeps);
        prop_assert_eq!(got.contains(&ActionType::MovingFunds), every_fourth);
        prop_assert_eq!(got.len(), 1 + 2 * usize::from(sweeps) + usize::from(every_fourth) + usize::from(heartbeat));
    }

    /// The lazily seeded generator gives Go's stream draw for draw, past the point (273
    /// draws) where the tap starts reading words that earlier draws wrote, and past a full
    /// turn of the feed (607 draws); also after re-seeding a generator that was used.
    #[test]
    fn lazy_seeding_matches_eager_go_seeding(seed in arb_go_seed(), warm in 0usize..700) {
        const DRAWS: usize = 700;
        let mut eager = EagerGoSource::new(seed);
        let mut lazy = GoRand::new(seed);
        for draw in 0..DRAWS {
            prop_assert_eq!(lazy.uint64(), eager.uint64(), "seed {} draw {}", seed, draw);
        }

        let mut reused = GoRand::new(seed.wrapping_add(1));
        for _ in 0..warm {
            reused.uint64();
        }
        reused.seed(seed);
        let mut eager = EagerGoSource::new(seed);
        for draw in 0..DRAWS {
            let want = eager.uint64();
            prop_assert_eq!(reused.int63(), (want & (u64::MAX >> 1)) as i64, "reseeded {} draw {}", seed, draw);
        }
    }
}
