//! The devnet's simulated tBTC activity: each wallet's Bridge state, a little history seeded at
//! start so the first window already has work, deposits revealed and redemptions requested as
//! blocks are mined, and the planned fate and effect of a dispatched action. Everything new is
//! a pure function of (seed, height, wallet) or (seed, wallet, window); only the effects of
//! completed actions depend on what the nodes proposed.

use std::collections::HashMap;

use bitcoin::Transaction;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::{ChaCha20Rng, ChaCha8Rng};

use super::world::{block_timestamp, rng_for, wallet_pkh, BLOCK_SECONDS};
use crate::bitcoin::reading::bridge_tx_hash;
use crate::devnet::simulated_bitcoin::{funding_transaction, main_utxo, reveal_of};
use crate::protocol::commitment::commitment_hash;
use crate::protocol::proposal::{
    DepositKey, MovedFundsSweepRequest, PendingRedemption, RevealedDeposit, WalletState,
};
use crate::protocol::types::keccak256;
use crate::protocol::{Address, Hash32, Proposal, WalletPkh, WalletSnapshot};

/// The Bridge's redemption timeout: 5 days.
pub const REDEMPTION_TIMEOUT_SECONDS: u64 = 5 * 86_400;
/// A deposit's refund locktime is its reveal time plus 30 days.
pub const DEPOSIT_REFUND_LOCKTIME_SECONDS: u64 = 30 * 86_400;
pub use crate::protocol::proposal::BITCOIN_BLOCK_SECONDS;
/// Per Live wallet and block, a deposit is revealed with probability 1/300 and, independently,
/// a redemption is requested with probability 1/300: about 3 of each per 900-block window.
pub const DEPOSIT_ONE_IN: u32 = 300;
pub const REDEMPTION_ONE_IN: u32 = 300;
/// How long before the start the MovingFunds wallet was asked to move its funds: past the
/// 24-hour safety margin, so its first every-4th window can propose MovingFunds.
pub const MOVING_FUNDS_REQUESTED_AGO_SECONDS: u64 = 2 * 86_400;
/// The vaults deposits name (synthetic addresses, not mainnet contracts). Most deposits go to
/// the first, as most mainnet deposits go to the TBTCVault.
pub const DEVNET_VAULTS: [Address; 2] = [Address([0x7b; 20]), Address([0x5a; 20])];

/// Age of the seeded deposits: 3 hours, so they are past the 2-hour minimum age and have 18
/// Bitcoin confirmations when the devnet starts.
const HISTORY_DEPOSIT_AGE_SECONDS: u64 = 3 * 3600;
/// Age of the seeded redemption requests: 20 minutes, past the 10-minute minimum age.
const HISTORY_REDEMPTION_AGE_SECONDS: u64 = 20 * 60;

/// One wallet's Bridge state as the devnet keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalletRecord {
    pub wallet: WalletPkh,
    pub state: WalletState,
    pub pending_redemptions: Vec<PendingRedemption>,
    /// Unswept deposits; `confirmations` is filled in when a snapshot is taken.
    pub deposits: Vec<RevealedDeposit>,
    /// Each unswept deposit's funding transaction, on the simulated Bitcoin.
    pub funding: HashMap<DepositKey, Transaction>,
    pub moving_funds_requested_at: Option<u64>,
    pub moving_funds_targets: Vec<WalletPkh>,
    pub moved_funds_sweep_requests: Vec<MovedFundsSweepRequest>,
}

impl WalletRecord {
    /// The generator's view of the wallet at the head.
    pub fn snapshot(&self, head: u64) -> WalletSnapshot {
        let now = block_timestamp(head);
        let deposits = self
            .deposits
            .iter()
            .map(|d| RevealedDeposit {
                confirmations: confirmations(d.revealed_at, now),
                ..d.clone()
            })
            .collect();
        WalletSnapshot {
            wallet: self.wallet,
            state: self.state,
            block: head,
            timestamp: now,
            redemption_timeout: REDEMPTION_TIMEOUT_SECONDS,
            pending_redemptions: self.pending_redemptions.clone(),
            deposits,
            moving_funds_requested_at: self.moving_funds_requested_at,
            moving_funds_targets: self.moving_funds_targets.clone(),
            moving_funds_commitment: (!self.moving_funds_targets.is_empty())
                .then(|| commitment_hash(&self.moving_funds_targets)),
            moved_funds_sweep_requests: self.moved_funds_sweep_requests.clone(),
            // The simulated Bridge sets no fee limits.
            fee_limits: Default::default(),
            // Every simulated wallet holds a main UTXO on the simulated Bitcoin.
            main_utxo_hash: Some(main_utxo(&self.wallet).bridge_hash()),
        }
    }
}

/// Whole Bitcoin blocks between a reveal and `now`.
fn confirmations(revealed_at: u64, now: u64) -> u32 {
    u32::try_from(now.saturating_sub(revealed_at) / BITCOIN_BLOCK_SECONDS).unwrap_or(u32::MAX)
}

fn random_hash(rng: &mut impl RngCore) -> Hash32 {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    Hash32(bytes)
}

/// A deposit of `wallet` drawn from `rng`, revealed with its funding transaction.
fn draw_deposit(
    rng: &mut impl RngCore,
    wallet: &WalletPkh,
    revealed_at: u64,
    reveal_block: u64,
) -> (RevealedDeposit, Transaction) {
    let vault = match rng.gen_range(0..10u32) {
        0..=6 => Some(DEVNET_VAULTS[0]),
        7 => Some(DEVNET_VAULTS[1]),
        _ => None,
    };
    let spent = random_hash(rng);
    let output_index = rng.gen_range(0..2u32);
    // 0.01 to 10 BTC.
    let amount = rng.gen_range(1_000_000..=1_000_000_000u64);
    let refund_locktime = revealed_at.saturating_add(DEPOSIT_REFUND_LOCKTIME_SECONDS);
    let reveal = reveal_of(&spent, refund_locktime);
    let tx = funding_transaction(&spent, output_index, amount, wallet, &reveal);
    let deposit = RevealedDeposit {
        key: DepositKey {
            funding_tx_hash: bridge_tx_hash(&tx),
            output_index,
        },
        amount,
        vault,
        revealed_at,
        reveal_block,
        confirmations: 0,
        refund_locktime,
        reveal,
    };
    (deposit, tx)
}

/// A redemption request to a fresh P2WPKH script (`OP_0 PUSH20 <20 bytes>`).
fn draw_redemption(rng: &mut impl RngCore, requested_at: u64) -> PendingRedemption {
    let mut script = vec![0x00, 0x14];
    let mut pkh = [0u8; 20];
    rng.fill_bytes(&mut pkh);
    script.extend_from_slice(&pkh);
    PendingRedemption {
        redeemer_output_script: script,
        // 0.001 to 5 BTC.
        requested_amount: rng.gen_range(100_000..=500_000_000u64),
        requested_at,
        // The devnet's Bridge has no watchtower and no fee limits.
        watchtower_delay: 0,
        tx_max_fee: None,
    }
}

/// Every wallet's state when the devnet starts at block `start`: Live wallets with a little
/// history; with 3 or more wallets the last one is in MovingFunds towards wallets 0 and 1,
/// with nothing pending so that its first every-4th window proposes MovingFunds.
pub(crate) fn initial_wallets(seed: u64, wallets: usize, start: u64) -> Vec<WalletRecord> {
    let now = block_timestamp(start);
    let moving = (wallets >= 3).then(|| wallets - 1);
    (0..wallets)
        .map(|index| {
            let wallet = wallet_pkh(seed, index);
            if Some(index) == moving {
                return WalletRecord {
                    wallet,
                    state: WalletState::MovingFunds,
                    pending_redemptions: Vec::new(),
                    deposits: Vec::new(),
                    funding: HashMap::new(),
                    moving_funds_requested_at: Some(
                        now.saturating_sub(MOVING_FUNDS_REQUESTED_AGO_SECONDS),
                    ),
                    moving_funds_targets: vec![wallet_pkh(seed, 0), wallet_pkh(seed, 1)],
                    moved_funds_sweep_requests: Vec::new(),
                };
            }
            let mut rng = rng_for(
                b"tbtc-coord devnet history",
                &[&seed.to_be_bytes(), &(index as u64).to_be_bytes()],
            );
            // A minute apart, so "oldest first" has an order to follow.
            let (deposits, funding): (Vec<_>, Vec<_>) = (0..rng.gen_range(1..=3u64))
                .map(|j| {
                    let age = HISTORY_DEPOSIT_AGE_SECONDS + 60 * j;
                    let reveal_block = start.saturating_sub(age / BLOCK_SECONDS);
                    let (deposit, tx) =
                        draw_deposit(&mut rng, &wallet, now.saturating_sub(age), reveal_block);
                    ((deposit.clone(), (deposit.key, tx)), ())
                })
                .map(|(pair, ())| pair)
                .unzip();
            let pending_redemptions = (0..rng.gen_range(1..=3u64))
                .map(|j| {
                    let age = HISTORY_REDEMPTION_AGE_SECONDS + 60 * j;
                    draw_redemption(&mut rng, now.saturating_sub(age))
                })
                .collect();
            WalletRecord {
                wallet,
                state: WalletState::Live,
                pending_redemptions,
                deposits,
                funding: funding.into_iter().collect(),
                moving_funds_requested_at: None,
                moving_funds_targets: Vec::new(),
                moved_funds_sweep_requests: Vec::new(),
            }
        })
        .collect()
}

/// A generator for one event of one wallet at one height.
fn event_rng(seed: u64, number: u64, wallet: usize, event: &[u8]) -> ChaCha20Rng {
    rng_for(
        b"tbtc-coord devnet event",
        &[
            &seed.to_be_bytes(),
            &number.to_be_bytes(),
            &(wallet as u64).to_be_bytes(),
            event,
        ],
    )
}

/// Reveals deposits and requests redemptions for block `number`. One cheap draw per wallet
/// decides whether anything happens; details come from a generator of their own, so what
/// happens to a wallet at a height never depends on the other wallets' states. Only Live
/// wallets take new deposits and redemption requests, as on the Bridge.
pub(crate) fn apply_block_activity(seed: u64, number: u64, wallets: &mut [WalletRecord]) {
    let now = block_timestamp(number);
    let mut draws = ChaCha8Rng::from_seed(keccak256(
        &[
            b"tbtc-coord devnet activity".as_slice(),
            &seed.to_be_bytes(),
            &number.to_be_bytes(),
        ]
        .concat(),
    ));
    for (index, record) in wallets.iter_mut().enumerate() {
        let draw = draws.next_u64();
        if record.state != WalletState::Live {
            continue;
        }
        let (low, high) = (draw as u32, (draw >> 32) as u32);
        if low % DEPOSIT_ONE_IN == 0 {
            let mut rng = event_rng(seed, number, index, b"deposit");
            let (deposit, tx) = draw_deposit(&mut rng, &record.wallet, now, number);
            record.funding.insert(deposit.key, tx);
            record.deposits.push(deposit);
        }
        if high % REDEMPTION_ONE_IN == 0 {
            let mut rng = event_rng(seed, number, index, b"redemption");
            record
                .pending_redemptions
                .push(draw_redemption(&mut rng, now));
        }
    }
}

/// How a dispatched action will end, decided by (seed, wallet, window) alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionPlan {
    /// Completes this many blocks after its start block.
    Complete { after: u64 },
    /// Fails this many blocks after its start block.
    Fail { after: u64 },
    /// Never lands; expires at its expiry block.
    Stall,
}

/// 80% complete after 5..=60 blocks, 10% fail after 5..=30, 10% never land.
pub(crate) fn plan_action(seed: u64, wallet: &WalletPkh, coordination_block: u64) -> ActionPlan {
    let mut rng = rng_for(
        b"tbtc-coord devnet action",
        &[
            &seed.to_be_bytes(),
            &wallet.0,
            &coordination_block.to_be_bytes(),
        ],
    );
    match rng.gen_range(0..100u32) {
        0..=79 => ActionPlan::Complete {
            after: rng.gen_range(5..=60u64),
        },
        80..=89 => ActionPlan::Fail {
            after: rng.gen_range(5..=30u64),
        },
        _ => ActionPlan::Stall,
    }
}

/// The moving-funds transaction of a wallet's MovingFunds action in a window.
fn moving_funds_tx_hash(seed: u64, wallet: &WalletPkh, coordination_block: u64) -> Hash32 {
    Hash32(keccak256(
        &[
            b"tbtc-coord devnet moving funds tx".as_slice(),
            &seed.to_be_bytes(),
            &wallet.0,
            &coordination_block.to_be_bytes(),
        ]
        .concat(),
    ))
}

/// Applies a completed action to the wallets. Idempotent: what was already removed stays
/// removed, and MovingFunds acts only on a wallet still in MovingFunds, so applying the same
/// action twice changes nothing more.
pub(crate) fn apply_completed(
    seed: u64,
    wallets: &mut [WalletRecord],
    wallet: &WalletPkh,
    coordination_block: u64,
    proposal: &Proposal,
    head: u64,
) {
    let Some(position) = wallets.iter().position(|w| w.wallet == *wallet) else {
        return;
    };
    match proposal {
        Proposal::Noop | Proposal::Heartbeat { .. } => {}
        Proposal::Redemption {
            redeemers_output_scripts,
            ..
        } => {
            wallets[position].pending_redemptions.retain(|r| {
                !redeemers_output_scripts
                    .iter()
                    .any(|s| s.0 == r.redeemer_output_script)
            });
        }
        Proposal::DepositSweep { deposits, .. } => {
            let record = &mut wallets[position];
            record.deposits.retain(|d| !deposits.contains(&d.key));
            record.funding.retain(|key, _| !deposits.contains(key));
        }
        Proposal::MovedFundsSweep {
            moving_funds_tx_hash,
            moving_funds_tx_output_index,
            ..
        } => {
            wallets[position].moved_funds_sweep_requests.retain(|r| {
                !(r.moving_funds_tx_hash == *moving_funds_tx_hash
                    && r.output_index == *moving_funds_tx_output_index)
            });
        }
        Proposal::MovingFunds { target_wallets, .. } => {
            if wallets[position].state != WalletState::MovingFunds {
                return;
            }
            wallets[position].state = WalletState::Closing;
            let tx_hash = moving_funds_tx_hash(seed, wallet, coordination_block);
            let mut rng = rng_for(b"tbtc-coord devnet moved funds", &[&tx_hash.0]);
            let created_at = block_timestamp(head);
            for (output_index, target) in (0u32..).zip(target_wallets) {
                let Some(record) = wallets.iter_mut().find(|w| w.wallet == *target) else {
                    continue;
                };
                record
                    .moved_funds_sweep_requests
                    .push(MovedFundsSweepRequest {
                        moving_funds_tx_hash: tx_hash,
                        output_index,
                        // 1 to 50 BTC.
                        value: rng.gen_range(100_000_000..=5_000_000_000u64),
                        created_at,
                    });
            }
        }
    }
}
