//! Benchmark of the per-window protocol work (SPEC §3–§5): for every wallet and window, the
//! coordination seed, the leader and the actions checklist.
//!
//! ```text
//! cargo run --release --example coordination_bench -- --wallets 1000 --windows 10
//! ```
//!
//! Inputs (BE8 = 8-byte big-endian):
//! - operator `i` in `0..150` is `sha256("operator" || BE8(i))[0..20]`;
//! - wallet `w` has pkh `sha256("wallet" || BE8(w))[0..20]` and 100 seats, seat `k` held by
//!   operator `(w*7 + k*13) mod 150`;
//! - window `n` in `1..=windows` has coordination block `900n` and safe block hash
//!   `sha256("block" || BE8(n))`.
//!
//! Three paths do the same work and must give the same digest:
//! - **optimized**: signing groups built once (outside the timing), one reused [`GoRand`];
//! - **naive**: per wallet-window a fresh `SigningGroup` (re-sorting the candidates, one
//!   keccak per seat) and a fresh `GoRand` per call (`leader`, `checklist`);
//! - **eager**: as optimized, but with a literal port of Go's seeding (all 607 words seeded
//!   up front, 1,841 Park–Miller steps), to show what the lazy seeding saves.
//!
//! Only the per-window work is timed; the digest strings are built afterwards. The digest is
//! sha256 over `leader ":" checklist-joined-by-"," "\n"` per wallet-window, in loop order
//! (windows outer, wallets inner). The last line is, for the optimized path:
//! `wallets=W windows=N median_ns_per_wallet_window=X heartbeats=H digest=D`.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{bail, ensure, Result};
use clap::Parser;
use sha2::{Digest, Sha256};
use tbtc_coord::protocol::action::join_names;
use tbtc_coord::protocol::checklist::{
    checklist, checklist_with, HEARTBEAT_PROBABILITY, SWEEPS_EVERY_WINDOW_FROM_BLOCK,
};
use tbtc_coord::protocol::gorand::{reduce_seed, GoRand};
use tbtc_coord::protocol::rng_cooked::RNG_COOKED;
use tbtc_coord::protocol::{
    coordination_seed, ActionType, Address, CoordinationWindow, Hash32, SigningGroup, WalletPkh,
};

const OPERATORS: u64 = 150;
const SEATS: u64 = 100;

#[derive(Parser, Debug)]
#[command(about = "Times seed + leader + checklist per wallet-window")]
struct Args {
    /// Number of wallets.
    #[arg(long, default_value_t = 1000)]
    wallets: u64,
    /// Number of coordination windows (blocks 900, 1800, …).
    #[arg(long, default_value_t = 10)]
    windows: u64,
    /// Timed passes per path; the median is reported.
    #[arg(long, default_value_t = 15)]
    runs: usize,
    /// Timed passes of the naive path (default: as --runs); it is ~50× slower.
    #[arg(long)]
    naive_runs: Option<usize>,
    /// Skip the eager-seeding comparison path.
    #[arg(long)]
    no_eager: bool,
}

fn sha256_tagged(tag: &[u8], n: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(n.to_be_bytes());
    h.finalize().into()
}

fn first20(bytes: [u8; 32]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&bytes[..20]);
    out
}

struct Inputs {
    wallets: Vec<WalletPkh>,
    /// Seat holders per wallet, in seat order.
    seats: Vec<Vec<Address>>,
    windows: Vec<(CoordinationWindow, Hash32)>,
}

impl Inputs {
    fn build(wallets: u64, windows: u64) -> Inputs {
        let operators: Vec<Address> = (0..OPERATORS)
            .map(|i| Address(first20(sha256_tagged(b"operator", i))))
            .collect();
        let seats = (0..wallets)
            .map(|w| {
                (0..SEATS)
                    .map(|k| operators[((w * 7 + k * 13) % OPERATORS) as usize])
                    .collect()
            })
            .collect();
        Inputs {
            wallets: (0..wallets)
                .map(|w| WalletPkh(first20(sha256_tagged(b"wallet", w))))
                .collect(),
            seats,
            windows: (1..=windows)
                .map(|n| {
                    (
                        CoordinationWindow::new(900 * n),
                        Hash32(sha256_tagged(b"block", n)),
                    )
                })
                .collect(),
        }
    }

    fn wallet_windows(&self) -> usize {
        self.wallets.len() * self.windows.len()
    }
}

/// What one wallet-window yields: the leader operator and the checklist.
type Outcome = (Address, Vec<ActionType>);

/// One timed pass of the optimized path: groups prepared, one generator reused.
fn pass_optimized(
    inputs: &Inputs,
    groups: &[SigningGroup],
    rng: &mut GoRand,
    out: &mut Vec<Outcome>,
) -> Result<()> {
    for &(window, hash) in &inputs.windows {
        for (pkh, group) in inputs.wallets.iter().zip(groups) {
            let seed = coordination_seed(pkh, &hash);
            let Some(leader) = group.leader_with(&seed, rng) else {
                bail!("wallet {pkh} has no leader");
            };
            let actions = checklist_with(window, &seed, rng);
            out.push((leader.operator, actions));
        }
    }
    Ok(())
}

/// One timed pass of the naive path: a group (re-sorted) and generators built per call.
fn pass_naive(inputs: &Inputs, out: &mut Vec<Outcome>) -> Result<()> {
    for &(window, hash) in &inputs.windows {
        for (pkh, seats) in inputs.wallets.iter().zip(&inputs.seats) {
            let seed = coordination_seed(pkh, &hash);
            let group = SigningGroup::new(seats.clone())?;
            let Some(leader) = group.leader(&seed) else {
                bail!("wallet {pkh} has no leader");
            };
            let actions = checklist(window, &seed);
            out.push((leader.operator, actions));
        }
    }
    Ok(())
}

/// Go's `rngSource` with its literal, eager seeding (as in `src/math/rand/rng.go`).
struct EagerGoRand {
    vec: [i64; 607],
    tap: usize,
    feed: usize,
}

impl EagerGoRand {
    fn new() -> Self {
        EagerGoRand {
            vec: [0; 607],
            tap: 0,
            feed: 0,
        }
    }

    fn seed(&mut self, seed: i64) {
        fn seedrand(x: i32) -> i32 {
            const A: i32 = 48271;
            const Q: i32 = 44488;
            const R: i32 = 3399;
            let hi = x / Q;
            let lo = x % Q;
            let x = A * lo - R * hi;
            if x < 0 {
                x + i32::MAX
            } else {
                x
            }
        }
        self.tap = 0;
        self.feed = 607 - 273;
        let mut x = reduce_seed(seed) as i32;
        for i in -20i32..607 {
            x = seedrand(x);
            if i >= 0 {
                let mut u = i64::from(x) << 40;
                x = seedrand(x);
                u ^= i64::from(x) << 20;
                x = seedrand(x);
                u ^= i64::from(x);
                self.vec[i as usize] = u ^ RNG_COOKED[i as usize];
            }
        }
    }

    fn int63(&mut self) -> i64 {
        self.tap = if self.tap == 0 { 606 } else { self.tap - 1 };
        self.feed = if self.feed == 0 { 606 } else { self.feed - 1 };
        let x = self.vec[self.feed].wrapping_add(self.vec[self.tap]);
        self.vec[self.feed] = x;
        x & i64::MAX
    }

    fn uint32(&mut self) -> u32 {
        (self.int63() >> 31) as u32
    }

    fn float64(&mut self) -> f64 {
        loop {
            let f = self.int63() as f64 / (1u64 << 63) as f64;
            if f != 1.0 {
                return f;
            }
        }
    }

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

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.int31n(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// One timed pass with eager seeding: groups prepared, leader and heartbeat each from a
/// freshly seeded generator, as the reference client does.
fn pass_eager(
    inputs: &Inputs,
    groups: &[SigningGroup],
    rng: &mut EagerGoRand,
    order: &mut Vec<usize>,
    out: &mut Vec<Outcome>,
) -> Result<()> {
    for &(window, hash) in &inputs.windows {
        let index = window.index();
        for (pkh, group) in inputs.wallets.iter().zip(groups) {
            let seed = coordination_seed(pkh, &hash);
            let candidates = group.candidates();
            ensure!(!candidates.is_empty(), "wallet {pkh} has no leader");
            order.clear();
            order.extend(0..candidates.len());
            rng.seed(seed.rng_seed());
            rng.shuffle(order);
            let operator = candidates[order[0]];
            ensure!(group.lowest_seat(&operator).is_some());
            let mut actions = Vec::new();
            if index > 0 {
                actions.push(ActionType::Redemption);
                let every_fourth = index.is_multiple_of(4);
                if every_fourth || window.coordination_block >= SWEEPS_EVERY_WINDOW_FROM_BLOCK {
                    actions.extend([ActionType::DepositSweep, ActionType::MovedFundsSweep]);
                }
                if every_fourth {
                    actions.push(ActionType::MovingFunds);
                }
                rng.seed(seed.rng_seed());
                if rng.float64() < HEARTBEAT_PROBABILITY {
                    actions.push(ActionType::Heartbeat);
                }
            }
            out.push((operator, actions));
        }
    }
    Ok(())
}

type Pass<'a> = Box<dyn FnMut(&mut Vec<Outcome>) -> Result<()> + 'a>;

/// One path under test: its timed pass, its per-run timings and its last outcomes.
struct Timed<'a> {
    runs: usize,
    pass: Pass<'a>,
    ns_per_ww: Vec<f64>,
    out: Vec<Outcome>,
}

impl<'a> Timed<'a> {
    fn new(runs: usize, pass: impl FnMut(&mut Vec<Outcome>) -> Result<()> + 'a) -> Self {
        Timed {
            runs,
            pass: Box::new(pass),
            ns_per_ww: Vec::with_capacity(runs),
            out: Vec::new(),
        }
    }
}

/// Runs the paths' passes interleaved (one of each per round, so that a change of machine
/// load hits every path alike); afterwards each path's timings are sorted.
fn time_interleaved(paths: &mut [Timed<'_>], wallet_windows: usize) -> Result<()> {
    let rounds = paths.iter().map(|p| p.runs).max().unwrap_or(0);
    for round in 0..rounds {
        for path in paths.iter_mut().filter(|p| round < p.runs) {
            path.out.clear();
            path.out.reserve(wallet_windows);
            let start = Instant::now();
            (path.pass)(&mut path.out)?;
            let elapsed = start.elapsed();
            black_box(&path.out);
            ensure!(
                path.out.len() == wallet_windows,
                "round {round}: wrong outcome count"
            );
            path.ns_per_ww
                .push(elapsed.as_nanos() as f64 / wallet_windows as f64);
        }
    }
    for path in paths {
        path.ns_per_ww.sort_by(f64::total_cmp);
    }
    Ok(())
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Digest and heartbeat count of a pass's outcomes.
fn digest(outcomes: &[Outcome]) -> (String, usize) {
    let mut h = Sha256::new();
    let mut heartbeats = 0;
    for (leader, actions) in outcomes {
        h.update(format!("{leader}:{}\n", join_names(actions)));
        if actions.contains(&ActionType::Heartbeat) {
            heartbeats += 1;
        }
    }
    (hex::encode(h.finalize()), heartbeats)
}

fn report(name: &str, sorted: &[f64]) {
    let m = median(sorted);
    println!(
        "{name}: runs={} min_ns={:.0} max_ns={:.0} median_ns={m:.0}",
        sorted.len(),
        sorted[0],
        sorted[sorted.len() - 1],
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let naive_runs = args.naive_runs.unwrap_or(args.runs);
    ensure!(
        args.runs > 0 && naive_runs > 0,
        "--runs and --naive-runs must be at least 1"
    );
    ensure!(
        args.wallets > 0 && args.windows > 0,
        "need at least one wallet and one window"
    );
    let inputs = Inputs::build(args.wallets, args.windows);
    let ww = inputs.wallet_windows();

    // Untimed setup of the optimized paths: one sort of the candidates per wallet.
    let groups: Vec<SigningGroup> = inputs
        .seats
        .iter()
        .map(|s| SigningGroup::new(s.clone()))
        .collect::<Result<_, _>>()?;

    let mut rng = GoRand::new(0);
    let mut erng = EagerGoRand::new();
    let mut order = Vec::new();
    let mut paths = vec![
        Timed::new(naive_runs, |out: &mut Vec<Outcome>| {
            pass_naive(&inputs, out)
        }),
        Timed::new(args.runs, |out: &mut Vec<Outcome>| {
            pass_optimized(&inputs, &groups, &mut rng, out)
        }),
    ];
    if !args.no_eager {
        paths.push(Timed::new(args.runs, |out: &mut Vec<Outcome>| {
            pass_eager(&inputs, &groups, &mut erng, &mut order, out)
        }));
    }
    time_interleaved(&mut paths, ww)?;
    let (naive, naive_out) = (&paths[0].ns_per_ww, &paths[0].out);
    let (opt, opt_out) = (&paths[1].ns_per_ww, &paths[1].out);
    ensure!(naive_out == opt_out, "naive path disagrees with optimized");
    let eager = paths.get(2).map(|p| &p.ns_per_ww);
    if let Some(p) = paths.get(2) {
        ensure!(p.out == *opt_out, "eager path disagrees with optimized");
    }
    let (digest_hex, heartbeats) = digest(opt_out);

    let naive_m = median(naive);
    let opt_m = median(opt);
    println!(
        "naive_median_ns_per_wallet_window={}",
        naive_m.round() as u64
    );
    report("naive", naive);
    if let Some(eager) = eager {
        report("eager_seeding", eager);
        println!(
            "eager_seeding_median_ns_per_wallet_window={}",
            median(eager).round() as u64
        );
    }
    report("optimized", opt);
    println!(
        "optimized_median_ns_per_wallet_window={}",
        opt_m.round() as u64
    );
    println!("ratio={:.2}", naive_m / opt_m);
    println!(
        "wallets={} windows={} median_ns_per_wallet_window={} heartbeats={heartbeats} digest={digest_hex}",
        args.wallets,
        args.windows,
        opt_m.round() as u64,
    );
    Ok(())
}
