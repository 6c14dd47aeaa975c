//! A bit-exact port of Go's `math/rand` (the `rngSource` of Go ≤ 1.20 and the `Rand` methods
//! the reference client uses: `Int63`, `Uint32`, `Float64`, `Shuffle`).
//!
//! Go seeds all 607 state words up front: 1,841 Park–Miller steps and 607 table XORs, which
//! dwarfs the ~100 draws a leader shuffle needs. Here a state word is seeded only when it is
//! first read. The Park–Miller step is `x ↦ 48271·x mod (2³¹−1)`, so the `j`-th value of the
//! seeding sequence is `s·48271^j mod (2³¹−1)`; with the powers precomputed once, any word can
//! be seeded directly in three multiplications. The outputs are identical to Go's, word for
//! word, however many values are drawn.

use super::rng_cooked::RNG_COOKED;

const RNG_LEN: usize = 607;
const RNG_TAP: usize = 273;
const INT32_MAX: i64 = (1 << 31) - 1;
const RNG_MASK: u64 = (1 << 63) - 1;
/// Go's replacement for a seed that reduces to zero.
const ZERO_SEED_REPLACEMENT: i64 = 89_482_311;
/// Go runs the Park–Miller step 20 times before it seeds word 0.
const WARM_UP_STEPS: usize = 20;
const PARK_MILLER_A: u64 = 48_271;

/// Park–Miller steps the seeding of 607 words can reach.
const SEEDING_STEPS: usize = WARM_UP_STEPS + 3 * RNG_LEN + 1;

/// `48271^j mod (2³¹−1)` for every step `j` of the seeding, computed at compile time.
static PARK_MILLER_POWERS: [u32; SEEDING_STEPS] = {
    let mut powers = [0u32; SEEDING_STEPS];
    let mut p: u64 = 1;
    let mut j = 0;
    while j < SEEDING_STEPS {
        powers[j] = p as u32;
        p = p * PARK_MILLER_A % INT32_MAX as u64;
        j += 1;
    }
    powers
};

/// `x mod (2³¹−1)` without a division, for `x` a product of two values below 2³¹−1 (what
/// seeding multiplies): `2³¹ ≡ 1`, so the high bits fold onto the low ones, and the fold is
/// below `2·(2³¹−1)`, so one subtraction finishes it.
#[inline]
fn mod_mersenne31(x: u64) -> u64 {
    const M: u64 = INT32_MAX as u64;
    let r = (x & M) + (x >> 31);
    if r >= M {
        r - M
    } else {
        r
    }
}

/// Reduces a Go `int64` seed as `rngSource.Seed` does (truncating `%`, negatives wrapped,
/// zero replaced).
pub fn reduce_seed(seed: i64) -> i64 {
    let mut s = seed % INT32_MAX;
    if s < 0 {
        s += INT32_MAX;
    }
    if s == 0 {
        s = ZERO_SEED_REPLACEMENT;
    }
    s
}

/// Go's `rand.New(rand.NewSource(seed))`, seeded lazily.
#[derive(Clone)]
pub struct GoRand {
    reduced_seed: u64,
    vec: [i64; RNG_LEN],
    /// Bit `i` set: `vec[i]` holds a live value (seeded or written by a draw).
    ready: [u64; RNG_LEN.div_ceil(64)],
    tap: usize,
    feed: usize,
}

impl GoRand {
    pub fn new(seed: i64) -> Self {
        let mut rng = GoRand {
            reduced_seed: 0,
            vec: [0; RNG_LEN],
            ready: [0; RNG_LEN.div_ceil(64)],
            tap: 0,
            feed: 0,
        };
        rng.seed(seed);
        rng
    }

    /// Re-seeds in place, as Go's `Source.Seed`; cheap, so one generator can be reused.
    pub fn seed(&mut self, seed: i64) {
        self.reduced_seed = reduce_seed(seed) as u64;
        self.ready = [0; RNG_LEN.div_ceil(64)];
        self.tap = 0;
        self.feed = RNG_LEN - RNG_TAP;
    }

    /// The seed after Go's reduction (what the Park–Miller sequence starts from).
    pub fn reduced_seed(&self) -> i64 {
        self.reduced_seed as i64
    }

    /// The value of the seeding sequence after `step` Park–Miller steps.
    #[inline]
    fn seeding_value(&self, step: usize) -> i64 {
        mod_mersenne31(self.reduced_seed * u64::from(PARK_MILLER_POWERS[step])) as i64
    }

    /// Word `i` as `rngSource.Seed` leaves it.
    #[inline]
    fn seeded_word(&self, i: usize) -> i64 {
        let first = WARM_UP_STEPS + 3 * i + 1;
        let mut u = self.seeding_value(first) << 40;
        u ^= self.seeding_value(first + 1) << 20;
        u ^= self.seeding_value(first + 2);
        u ^ RNG_COOKED[i]
    }

    #[inline]
    fn word(&mut self, i: usize) -> i64 {
        let (slot, bit) = (i / 64, 1u64 << (i % 64));
        if self.ready[slot] & bit == 0 {
            self.vec[i] = self.seeded_word(i);
            self.ready[slot] |= bit;
        }
        self.vec[i]
    }

    /// Go's `rngSource.Uint64`.
    #[inline]
    pub fn uint64(&mut self) -> u64 {
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
        let x = self.word(self.feed).wrapping_add(self.word(self.tap));
        self.vec[self.feed] = x;
        x as u64
    }

    /// Go's `Rand.Int63`.
    pub fn int63(&mut self) -> i64 {
        (self.uint64() & RNG_MASK) as i64
    }

    /// Go's `Rand.Uint32`.
    pub fn uint32(&mut self) -> u32 {
        (self.int63() >> 31) as u32
    }

    /// Go's `Rand.Float64` (Go 1.x): `Int63 / 2^63`, drawn again if it rounds to 1.0.
    pub fn float64(&mut self) -> f64 {
        loop {
            let f = self.int63() as f64 / (1u64 << 63) as f64;
            if f != 1.0 {
                return f;
            }
        }
    }

    /// Go's unexported `Rand.int31n`: Lemire's multiply-shift with rejection.
    #[inline]
    fn int31n(&mut self, n: u32) -> u32 {
        let mut prod = u64::from(self.uint32()) * u64::from(n);
        let mut low = prod as u32;
        if low < n {
            let thresh = n.wrapping_neg() % n;
            while low < thresh {
                prod = u64::from(self.uint32()) * u64::from(n);
                low = prod as u32;
            }
        }
        (prod >> 32) as u32
    }

    /// Go's `Rand.Shuffle` for slices shorter than 2³¹ (the only ones a wallet can have).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        assert!(
            items.len() < (1usize << 31),
            "Go's Shuffle switches algorithm at 2^31 elements; wallets never get there"
        );
        for i in (1..items.len()).rev() {
            let j = self.int31n(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }
}

impl std::fmt::Debug for GoRand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoRand")
            .field("reduced_seed", &self.reduced_seed)
            .field("feed", &self.feed)
            .field("tap", &self.tap)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's seeding done the slow, literal way, to check the lazy version against.
    fn eager_state(seed: i64) -> [i64; RNG_LEN] {
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
        let mut vec = [0i64; RNG_LEN];
        let mut x = reduce_seed(seed) as i32;
        for i in -20i32..RNG_LEN as i32 {
            x = seedrand(x);
            if i >= 0 {
                let mut u = i64::from(x) << 40;
                x = seedrand(x);
                u ^= i64::from(x) << 20;
                x = seedrand(x);
                u ^= i64::from(x);
                u ^= RNG_COOKED[i as usize];
                vec[i as usize] = u;
            }
        }
        vec
    }

    #[test]
    fn lazy_seeding_matches_literal_seeding() {
        for seed in [
            0,
            1,
            -1,
            42,
            i64::MAX,
            i64::MIN + 1,
            2_147_483_646,
            -2_147_483_647,
        ] {
            let eager = eager_state(seed);
            let lazy = GoRand::new(seed);
            for (i, want) in eager.iter().enumerate() {
                assert_eq!(lazy.seeded_word(i), *want, "seed {seed} word {i}");
            }
        }
    }

    #[test]
    fn draws_past_one_full_cycle_match_an_eager_generator() {
        // Past 273 draws the tap starts reading words earlier draws wrote.
        let seed = 7_524_619_218_437_185_681;
        let mut vec = eager_state(seed);
        let (mut tap, mut feed) = (0usize, RNG_LEN - RNG_TAP);
        let mut lazy = GoRand::new(seed);
        for draw in 0..3 * RNG_LEN {
            tap = (tap + RNG_LEN - 1) % RNG_LEN;
            feed = (feed + RNG_LEN - 1) % RNG_LEN;
            let x = vec[feed].wrapping_add(vec[tap]);
            vec[feed] = x;
            assert_eq!(lazy.uint64(), x as u64, "draw {draw}");
        }
    }

    #[test]
    fn reseeding_in_place_restarts_the_stream() {
        let mut a = GoRand::new(5);
        let first: Vec<i64> = (0..10).map(|_| a.int63()).collect();
        a.seed(5);
        let again: Vec<i64> = (0..10).map(|_| a.int63()).collect();
        assert_eq!(first, again);
    }

    #[test]
    fn folding_modulo_matches_division() {
        let m = INT32_MAX as u64;
        for x in [
            0,
            1,
            m - 1,
            m,
            m + 1,
            2 * m,
            (m - 1) * (m - 1),
            (m - 1) * (m - 2),
            48_271 * (m - 1),
            (1 << 31) * (m - 1),
        ] {
            assert_eq!(mod_mersenne31(x), x % m, "{x}");
        }
    }

    #[test]
    fn seed_reduction_follows_go() {
        assert_eq!(reduce_seed(0), ZERO_SEED_REPLACEMENT);
        assert_eq!(reduce_seed(INT32_MAX), ZERO_SEED_REPLACEMENT);
        assert_eq!(reduce_seed(-1), INT32_MAX - 1);
        assert_eq!(reduce_seed(-INT32_MAX), ZERO_SEED_REPLACEMENT);
        assert_eq!(reduce_seed(1 << 31), 1);
    }
}
