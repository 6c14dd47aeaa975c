//! The proposal generator (SPEC §8): walks a checklist against a wallet's chain state and
//! proposes the first action whose preconditions hold, with fees from the estimated
//! transaction sizes. The proposal types it produces live in `proposal`.

use serde::Serialize;

use super::action::ActionType;
use super::proposal::{
    heartbeat_message, HexBytes, PendingRedemption, Proposal, ProposalParams, RevealedDeposit,
    WalletSnapshot, WalletState,
};
use super::validation::ActionEvaluation;

/// Estimated virtual sizes of the Bitcoin transactions, vbytes (P2WPKH main UTXO).
mod vsize {
    pub const OVERHEAD: u64 = 11;
    pub const MAIN_UTXO_INPUT: u64 = 68;
    pub const DEPOSIT_INPUT: u64 = 150;
    pub const P2WPKH_OUTPUT: u64 = 31;
    /// An output is its script plus 8 value bytes and a length byte.
    pub fn output(script_len: usize) -> u64 {
        9 + script_len as u64
    }
}

/// The lowest fee rate a leader proposes, sat/vB (keep-core #4172).
pub const MIN_FEE_RATE: u64 = 5;

/// A transaction's fee, `vsize * rate`, or why it has none: a fee rate so large that the fee
/// overflows a u64 is refused rather than wrapped into a small (or zero) fee.
fn fee(vsize: u64, rate: u64) -> Result<u64, String> {
    vsize.checked_mul(rate).ok_or_else(|| {
        format!("the fee of {vsize} vB at a fee rate of {rate} sat/vB overflows a 64-bit amount")
    })
}

/// The Bridge's limit on a transaction's fee: a total, and, when the fee is shared among
/// `n` requests or deposits (the last one also taking the remainder), a limit on each share.
#[derive(Debug, Clone, Copy, Default)]
struct FeeLimit {
    total: Option<u64>,
    shares: Option<(u64, u64)>,
}

/// The fee a leader proposes (keep-core #4172): the estimated rate ×1.25 rounded up, at least
/// [`MIN_FEE_RATE`], times the size, then lowered to the Bridge's limit. If even the lowest
/// rate exceeds the limit, the action has no fee the Bridge would take.
fn proposed_fee(vsize: u64, estimate: u64, limit: FeeLimit) -> Result<u64, String> {
    let rate = estimate
        .checked_mul(5)
        .map(|r| r.div_ceil(4).max(MIN_FEE_RATE))
        .ok_or_else(|| {
            format!("a fee rate of {estimate} sat/vB overflows a 64-bit amount once raised by a quarter")
        })?;
    let floor = fee(vsize, MIN_FEE_RATE)?;
    let mut fee = fee(vsize, rate)?;
    let share_total = limit
        .shares
        .map(|(n, per_share)| per_share.saturating_mul(n));
    let cap = match (limit.total, share_total) {
        (None, None) => return Ok(fee),
        (a, b) => a.unwrap_or(u64::MAX).min(b.unwrap_or(u64::MAX)),
    };
    if floor > cap {
        return Err(format!(
            "even {MIN_FEE_RATE} sat/vB ({floor} sat for {vsize} vB) exceeds the Bridge's maximum fee of {cap} sat"
        ));
    }
    fee = fee.min(cap);
    // The last share takes the remainder: keep it within its limit too.
    if let Some((n, per_share)) = limit.shares.filter(|(n, _)| *n > 0) {
        if fee / n + fee % n > per_share {
            fee -= fee % n;
        }
    }
    Ok(fee)
}

/// The generator's answer: a proposal, and why each earlier checklist action was passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalDecision {
    pub proposal: Proposal,
    pub passed_over: Vec<(ActionType, String)>,
}

/// Every checklist action's candidate, or why its preconditions do not hold, in checklist
/// order; nothing validated yet (the engine asks the on-chain validator).
pub fn evaluate_checklist(
    checklist: &[ActionType],
    snapshot: &WalletSnapshot,
    params: &ProposalParams,
) -> Vec<ActionEvaluation> {
    checklist
        .iter()
        .map(|action| {
            let (candidate, reason) = match propose(*action, snapshot, params) {
                Ok(p) => (Some(p), None),
                Err(why) => (None, Some(why)),
            };
            ActionEvaluation {
                action: *action,
                candidate,
                reason,
                validation: None,
            }
        })
        .collect()
}

/// Walks the checklist in order; the first action whose preconditions hold wins; else Noop.
pub fn generate_proposal(
    checklist: &[ActionType],
    snapshot: &WalletSnapshot,
    params: &ProposalParams,
) -> ProposalDecision {
    let mut passed_over = Vec::new();
    for action in checklist {
        match propose(*action, snapshot, params) {
            Ok(proposal) => {
                return ProposalDecision {
                    proposal,
                    passed_over,
                }
            }
            Err(reason) => passed_over.push((*action, reason)),
        }
    }
    ProposalDecision {
        proposal: Proposal::Noop,
        passed_over,
    }
}

fn mature_deposits<'a>(
    snapshot: &'a WalletSnapshot,
    params: &ProposalParams,
) -> impl Iterator<Item = &'a RevealedDeposit> + 'a {
    let now = snapshot.timestamp;
    let (min_age, confirmations, margin) = (
        params.deposit_min_age,
        params.deposit_min_confirmations,
        params.deposit_refund_safety_margin,
    );
    // The validator's minimum age is strict: a deposit exactly `min_age` old is refused.
    snapshot.deposits.iter().filter(move |d| {
        d.revealed_at.saturating_add(min_age) < now
            && d.confirmations >= confirmations
            && now.saturating_add(margin) < d.refund_locktime
    })
}

/// Why a wallet ready to move its funds has no MovingFunds candidate when nothing but the
/// commitment to target wallets is missing: the leader then commits (see
/// [`commitment`](super::commitment)).
pub const NO_COMMITMENT: &str = "no target wallets committed";

/// One action's proposal, or why its preconditions do not hold.
pub fn propose(
    action: ActionType,
    snapshot: &WalletSnapshot,
    params: &ProposalParams,
) -> Result<Proposal, String> {
    let now = snapshot.timestamp;
    let rate = params.btc_fee_rate;
    match action {
        ActionType::Noop => Ok(Proposal::Noop),
        ActionType::Heartbeat => Ok(Proposal::Heartbeat {
            message: HexBytes(heartbeat_message(&snapshot.wallet, snapshot.block).to_vec()),
        }),
        ActionType::Redemption => {
            if !matches!(snapshot.state, WalletState::Live | WalletState::MovingFunds) {
                return Err(format!("wallet is {:?}", snapshot.state));
            }
            let mut eligible: Vec<&PendingRedemption> = snapshot
                .pending_redemptions
                .iter()
                // The validator's minimum age is the larger of its own and the watchtower's
                // delay, and strict: a request exactly that old is refused ("Redemption
                // request min age not achieved yet").
                .filter(|r| {
                    let min_age = params.redemption_request_min_age.max(r.watchtower_delay);
                    r.requested_at.saturating_add(min_age) < now
                        && now.saturating_add(params.redemption_timeout_safety_margin)
                            < r.requested_at.saturating_add(snapshot.redemption_timeout)
                })
                .collect();
            if eligible.is_empty() {
                return Err(format!(
                    "no eligible redemption requests ({} pending)",
                    snapshot.pending_redemptions.len()
                ));
            }
            eligible.sort_by_key(|r| r.requested_at);
            eligible.truncate(params.redemption_max_size);
            let size = vsize::OVERHEAD
                + vsize::MAIN_UTXO_INPUT
                + vsize::P2WPKH_OUTPUT
                + eligible
                    .iter()
                    .map(|r| vsize::output(r.redeemer_output_script.len()))
                    .sum::<u64>();
            let per_request = eligible.iter().filter_map(|r| r.tx_max_fee).min();
            let limit = FeeLimit {
                total: snapshot.fee_limits.redemption_tx_max_total_fee,
                shares: per_request.map(|m| (eligible.len() as u64, m)),
            };
            Ok(Proposal::Redemption {
                redeemers_output_scripts: eligible
                    .iter()
                    .map(|r| HexBytes(r.redeemer_output_script.clone()))
                    .collect(),
                redemption_tx_fee: proposed_fee(size, rate, limit)?,
            })
        }
        ActionType::DepositSweep => {
            // A wallet moving its funds away still sweeps what was deposited to it.
            if !matches!(snapshot.state, WalletState::Live | WalletState::MovingFunds) {
                return Err(format!("wallet is {:?}", snapshot.state));
            }
            let mut mature: Vec<&RevealedDeposit> = mature_deposits(snapshot, params).collect();
            if mature.is_empty() {
                return Err(format!(
                    "no sweepable deposits ({} revealed)",
                    snapshot.deposits.len()
                ));
            }
            mature.sort_by_key(|d| (d.revealed_at, d.reveal_block));
            // A sweep moves deposits of one vault only: the vault with the most sweepable
            // deposits (keep-core #3864). Among groups of equal size, the one holding the
            // oldest deposit (our choice, so the choice is deterministic: #3864's tie-break
            // is not in the keep-core we follow). Groups are listed oldest deposit first.
            let mut groups = Vec::new();
            for d in &mature {
                match groups.iter_mut().find(|(vault, _)| *vault == d.vault) {
                    Some((_, count)) => *count += 1,
                    None => groups.push((d.vault, 1)),
                }
            }
            let (mut vault, mut largest) = (mature[0].vault, 0);
            for (group, count) in groups {
                // Strictly larger: an equal group found later holds only younger deposits.
                if count > largest {
                    (vault, largest) = (group, count);
                }
            }
            mature.retain(|d| d.vault == vault);
            mature.truncate(params.deposit_sweep_max_size);
            // The deposits, plus the wallet's main UTXO when it has one.
            let main_utxo = u64::from(snapshot.main_utxo_hash.is_some());
            let size = vsize::OVERHEAD
                + main_utxo * vsize::MAIN_UTXO_INPUT
                + vsize::P2WPKH_OUTPUT
                + vsize::DEPOSIT_INPUT * mature.len() as u64;
            let limit = FeeLimit {
                total: None,
                shares: snapshot
                    .fee_limits
                    .deposit_tx_max_fee
                    .map(|m| (mature.len() as u64, m)),
            };
            Ok(Proposal::DepositSweep {
                deposits: mature.iter().map(|d| d.key).collect(),
                sweep_tx_fee: proposed_fee(size, rate, limit)?,
                reveal_blocks: mature.iter().map(|d| d.reveal_block).collect(),
            })
        }
        ActionType::MovingFunds => {
            if snapshot.state != WalletState::MovingFunds {
                return Err(format!("wallet is {:?}, not MovingFunds", snapshot.state));
            }
            let requested_at = snapshot.moving_funds_requested_at.unwrap_or(now);
            if requested_at.saturating_add(params.moving_funds_safety_margin) > now {
                return Err("moving funds safety margin has not passed".into());
            }
            if !snapshot.pending_redemptions.is_empty() {
                return Err("wallet has pending redemptions".into());
            }
            if !snapshot.moved_funds_sweep_requests.is_empty() {
                return Err("wallet has pending moved funds sweeps".into());
            }
            if mature_deposits(snapshot, params).next().is_some() {
                return Err("wallet has unswept mature deposits".into());
            }
            if snapshot.moving_funds_targets.is_empty() {
                return Err(match snapshot.moving_funds_commitment {
                    None => NO_COMMITMENT.into(),
                    Some(_) => {
                        "the committed target wallets were not found in the look-back".into()
                    }
                });
            }
            let size = vsize::OVERHEAD
                + vsize::MAIN_UTXO_INPUT
                + vsize::P2WPKH_OUTPUT * snapshot.moving_funds_targets.len() as u64;
            Ok(Proposal::MovingFunds {
                target_wallets: snapshot.moving_funds_targets.clone(),
                moving_funds_tx_fee: proposed_fee(
                    size,
                    rate,
                    FeeLimit {
                        total: snapshot.fee_limits.moving_funds_tx_max_total_fee,
                        shares: None,
                    },
                )?,
            })
        }
        ActionType::MovedFundsSweep => {
            if !matches!(snapshot.state, WalletState::Live | WalletState::MovingFunds) {
                return Err(format!("wallet is {:?}", snapshot.state));
            }
            let request = snapshot
                .moved_funds_sweep_requests
                .iter()
                .min_by_key(|r| r.created_at)
                .ok_or_else(|| "no pending moved funds sweep request".to_string())?;
            // The moved output, plus the wallet's main UTXO when it has one.
            let inputs = 1 + u64::from(snapshot.main_utxo_hash.is_some());
            let size = vsize::OVERHEAD + inputs * vsize::MAIN_UTXO_INPUT + vsize::P2WPKH_OUTPUT;
            Ok(Proposal::MovedFundsSweep {
                moving_funds_tx_hash: request.moving_funds_tx_hash,
                moving_funds_tx_output_index: request.output_index,
                sweep_tx_fee: proposed_fee(
                    size,
                    rate,
                    FeeLimit {
                        total: snapshot.fee_limits.moved_funds_sweep_tx_max_total_fee,
                        shares: None,
                    },
                )?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::proposal::{DepositKey, MovedFundsSweepRequest};
    use crate::protocol::types::{Address, Hash32, WalletPkh};

    fn snapshot() -> WalletSnapshot {
        WalletSnapshot {
            wallet: WalletPkh([7; 20]),
            state: WalletState::Live,
            block: 1000,
            timestamp: 1_000_000,
            redemption_timeout: 5 * 86_400,
            main_utxo_hash: Some(Hash32([0x11; 32])),
            ..Default::default()
        }
    }

    #[test]
    fn a_wallet_without_a_main_utxo_sweeps_with_one_input_fewer() {
        let params = ProposalParams::default();
        let mut snap = snapshot();
        let now = snap.timestamp;
        snap.deposits = vec![deposit(1, now - 9000, None)];
        snap.moved_funds_sweep_requests = vec![MovedFundsSweepRequest {
            moving_funds_tx_hash: Hash32([3; 32]),
            output_index: 0,
            value: 1_000_000,
            created_at: now - 100,
        }];
        let fees = |snap: &WalletSnapshot| {
            let sweep = match propose(ActionType::DepositSweep, snap, &params) {
                Ok(Proposal::DepositSweep { sweep_tx_fee, .. }) => sweep_tx_fee,
                other => panic!("{other:?}"),
            };
            let moved = match propose(ActionType::MovedFundsSweep, snap, &params) {
                Ok(Proposal::MovedFundsSweep { sweep_tx_fee, .. }) => sweep_tx_fee,
                other => panic!("{other:?}"),
            };
            (sweep, moved)
        };
        assert_eq!(params.btc_fee_rate, 10);
        // 10 sat/vB raised by a quarter, rounded up.
        let rate = 13;
        let with = fees(&snap);
        // One P2WPKH input, one deposit input (150 vB) and one output.
        assert_eq!(with.0, (11 + 68 + 150 + 31) * rate);
        // The moved output and the main UTXO, one output.
        assert_eq!(with.1, (11 + 2 * 68 + 31) * rate);
        snap.main_utxo_hash = None;
        let without = fees(&snap);
        assert_eq!(without.0, (11 + 150 + 31) * rate);
        assert_eq!(without.1, (11 + 68 + 31) * rate);
    }

    fn request(script: u8, requested_at: u64) -> PendingRedemption {
        PendingRedemption {
            redeemer_output_script: vec![0x00, 0x14, script],
            requested_amount: 1_000_000,
            requested_at,
            watchtower_delay: 0,
            tx_max_fee: None,
        }
    }

    fn deposit(n: u8, revealed_at: u64, vault: Option<Address>) -> RevealedDeposit {
        RevealedDeposit {
            key: DepositKey {
                funding_tx_hash: Hash32([n; 32]),
                output_index: u32::from(n),
            },
            amount: 50_000,
            vault,
            revealed_at,
            reveal_block: u64::from(n),
            confirmations: 6,
            refund_locktime: revealed_at + 30 * 86_400,
            reveal: Default::default(),
        }
    }

    #[test]
    fn redemption_takes_old_enough_requests_oldest_first_and_not_near_timeout() {
        let mut snap = snapshot();
        let now = snap.timestamp;
        snap.pending_redemptions = vec![
            request(1, now - 300),               // too young
            request(2, now - 700),               // eligible
            request(3, now - 5 * 86_400 + 3600), // within 2 h of timeout
            request(4, now - 2000),              // eligible, older
        ];
        let p = propose(ActionType::Redemption, &snap, &ProposalParams::default()).unwrap();
        let Proposal::Redemption {
            redeemers_output_scripts,
            ..
        } = p
        else {
            panic!("not a redemption")
        };
        assert_eq!(
            redeemers_output_scripts,
            vec![HexBytes(vec![0, 0x14, 4]), HexBytes(vec![0, 0x14, 2])]
        );
    }

    #[test]
    fn redemption_caps_at_twenty() {
        let mut snap = snapshot();
        let now = snap.timestamp;
        snap.pending_redemptions = (0..30)
            .map(|i| request(i, now - 5000 + u64::from(i)))
            .collect();
        let p = propose(ActionType::Redemption, &snap, &ProposalParams::default()).unwrap();
        let Proposal::Redemption {
            redeemers_output_scripts,
            ..
        } = p
        else {
            panic!("not a redemption")
        };
        assert_eq!(redeemers_output_scripts.len(), 20);
        assert_eq!(redeemers_output_scripts[0], HexBytes(vec![0, 0x14, 0]));
    }

    #[test]
    fn deposit_sweep_keeps_one_vault_and_skips_immature() {
        let vault = Some(Address([5; 20]));
        let mut snap = snapshot();
        let now = snap.timestamp;
        let mut unconfirmed = deposit(4, now - 9000, None);
        unconfirmed.confirmations = 2;
        snap.deposits = vec![
            deposit(1, now - 8000, None),
            deposit(2, now - 9000, vault), // the larger group: its vault wins
            deposit(3, now - 100, vault),  // too young
            deposit(5, now - 7500, vault),
            unconfirmed,
        ];
        let p = propose(ActionType::DepositSweep, &snap, &ProposalParams::default()).unwrap();
        let Proposal::DepositSweep {
            deposits,
            reveal_blocks,
            ..
        } = p
        else {
            panic!("not a sweep")
        };
        assert_eq!(reveal_blocks, vec![2, 5]);
        assert_eq!(deposits.len(), 2);
    }

    #[test]
    fn deposit_sweep_takes_the_largest_vault_group_and_on_a_tie_the_oldest_deposit_s() {
        let (a, b) = (Some(Address([0xA; 20])), Some(Address([0xB; 20])));
        let mut snap = snapshot();
        let now = snap.timestamp;
        let swept = |snap: &WalletSnapshot| match propose(
            ActionType::DepositSweep,
            snap,
            &ProposalParams::default(),
        ) {
            Ok(Proposal::DepositSweep { reveal_blocks, .. }) => reveal_blocks,
            other => panic!("not a sweep: {other:?}"),
        };
        // The oldest deposit is vault A's, but vault B has more: B's, oldest first.
        snap.deposits = vec![
            deposit(1, now - 9000, a),
            deposit(2, now - 8000, b),
            deposit(3, now - 8500, b),
            deposit(4, now - 7500, None),
        ];
        assert_eq!(swept(&snap), vec![3, 2]);
        // Two deposits each: the group holding the oldest deposit, whatever the order given.
        snap.deposits.push(deposit(5, now - 7300, a));
        assert_eq!(swept(&snap), vec![1, 5]);
        snap.deposits.reverse();
        assert_eq!(swept(&snap), vec![1, 5]);
        // Deposits without a vault are a group too, and immature ones count for none.
        let mut young = deposit(9, now - 60, b);
        young.reveal_block = 9;
        snap.deposits = vec![
            deposit(1, now - 9000, a),
            deposit(4, now - 7500, None),
            deposit(6, now - 7400, None),
            deposit(2, now - 8000, b),
            young.clone(),
            young,
        ];
        assert_eq!(swept(&snap), vec![4, 6]);
    }

    #[test]
    fn minimum_ages_are_strict_as_the_validator_s() {
        let params = ProposalParams::default();
        let mut snap = snapshot();
        let now = snap.timestamp;
        // Exactly the minimum age: the validator refuses it, so it is not proposed.
        snap.pending_redemptions = vec![request(1, now - params.redemption_request_min_age)];
        assert!(propose(ActionType::Redemption, &snap, &params).is_err());
        snap.pending_redemptions = vec![request(1, now - params.redemption_request_min_age - 1)];
        assert!(propose(ActionType::Redemption, &snap, &params).is_ok());
        snap.deposits = vec![deposit(1, now - params.deposit_min_age, None)];
        assert!(propose(ActionType::DepositSweep, &snap, &params).is_err());
        snap.deposits = vec![deposit(1, now - params.deposit_min_age - 1, None)];
        assert!(propose(ActionType::DepositSweep, &snap, &params).is_ok());
    }

    #[test]
    fn a_watchtower_delay_longer_than_the_minimum_age_holds_a_request_back() {
        let params = ProposalParams::default();
        let mut snap = snapshot();
        let now = snap.timestamp;
        let delay = 2 * 3600;
        let mut held = request(1, now - delay);
        held.watchtower_delay = delay;
        let mut due = request(2, now - delay - 1);
        due.watchtower_delay = delay;
        // A delay shorter than the minimum age changes nothing.
        let mut short = request(3, now - params.redemption_request_min_age - 1);
        short.watchtower_delay = 60;
        snap.pending_redemptions = vec![held, due, short];
        let Ok(Proposal::Redemption {
            redeemers_output_scripts,
            ..
        }) = propose(ActionType::Redemption, &snap, &params)
        else {
            panic!("a redemption")
        };
        assert_eq!(
            redeemers_output_scripts,
            vec![HexBytes(vec![0, 0x14, 2]), HexBytes(vec![0, 0x14, 3])]
        );
    }

    fn redemption_fee(snap: &WalletSnapshot, rate: u64) -> Result<u64, String> {
        let params = ProposalParams {
            btc_fee_rate: rate,
            ..ProposalParams::default()
        };
        match propose(ActionType::Redemption, snap, &params)? {
            Proposal::Redemption {
                redemption_tx_fee, ..
            } => Ok(redemption_tx_fee),
            other => panic!("not a redemption: {other:?}"),
        }
    }

    #[test]
    fn the_fee_rate_is_raised_by_a_quarter_rounded_up_and_at_least_five() {
        let mut snap = snapshot();
        let now = snap.timestamp;
        snap.pending_redemptions = vec![request(1, now - 700)];
        // One P2WPKH input, change, and a 3-byte script's output.
        let vsize = 11 + 68 + 31 + (9 + 3);
        for (estimate, rate) in [(1, 5), (4, 5), (5, 7), (8, 10), (10, 13), (100, 125)] {
            assert_eq!(
                redemption_fee(&snap, estimate),
                Ok(vsize * rate),
                "{estimate} sat/vB"
            );
        }
    }

    #[test]
    fn the_fee_is_lowered_to_the_bridge_s_limits_or_the_action_skipped() {
        let mut snap = snapshot();
        let now = snap.timestamp;
        let mut a = request(1, now - 900);
        let mut b = request(2, now - 800);
        a.tx_max_fee = Some(2_000);
        b.tx_max_fee = Some(1_501);
        snap.pending_redemptions = vec![a, b];
        let vsize = 11 + 68 + 31 + 2 * (9 + 3);
        // Below every limit: the raised rate as is.
        assert_eq!(redemption_fee(&snap, 10), Ok(vsize * 13));
        // The total limit.
        snap.fee_limits.redemption_tx_max_total_fee = Some(2_500);
        assert_eq!(redemption_fee(&snap, 100), Ok(2_500));
        // Each request's share: two shares of at most 1,501 (the smaller limit), 3,002.
        snap.fee_limits.redemption_tx_max_total_fee = None;
        assert_eq!(redemption_fee(&snap, 100), Ok(3_002));
        // Even the lowest rate over the limit: nothing the Bridge would take.
        snap.fee_limits.redemption_tx_max_total_fee = Some(5 * vsize - 1);
        let reason = redemption_fee(&snap, 10).unwrap_err();
        assert!(reason.contains("exceeds the Bridge's maximum"), "{reason}");
        snap.fee_limits.redemption_tx_max_total_fee = Some(5 * vsize);
        assert_eq!(redemption_fee(&snap, 10), Ok(5 * vsize));
    }

    #[test]
    fn a_shared_fee_keeps_the_last_share_within_its_limit() {
        // Three shares of at most 10: 29 would give the last one 9 + 2 = 11.
        let limit = FeeLimit {
            total: Some(29),
            shares: Some((3, 10)),
        };
        assert_eq!(proposed_fee(1, 100, limit), Ok(27));
        let limit = FeeLimit {
            total: Some(30),
            shares: Some((3, 10)),
        };
        assert_eq!(proposed_fee(1, 100, limit), Ok(30));
        // Deposits share the sweep fee the same way.
        let mut snap = snapshot();
        let now = snap.timestamp;
        snap.deposits = vec![deposit(1, now - 9000, None), deposit(2, now - 8500, None)];
        snap.fee_limits.deposit_tx_max_fee = Some(2_000);
        let Ok(Proposal::DepositSweep { sweep_tx_fee, .. }) =
            propose(ActionType::DepositSweep, &snap, &ProposalParams::default())
        else {
            panic!("a sweep")
        };
        // 410 vB at 13 sat/vB is 5,330: two deposits' shares of 2,000 allow 4,000.
        assert_eq!(sweep_tx_fee, 4_000);
    }

    #[test]
    fn a_moving_funds_wallet_still_sweeps_its_deposits() {
        let mut snap = snapshot();
        let now = snap.timestamp;
        snap.deposits = vec![deposit(1, now - 9000, None)];
        for (state, sweeps) in [
            (WalletState::MovingFunds, true),
            (WalletState::Live, true),
            (WalletState::Closing, false),
            (WalletState::Terminated, false),
        ] {
            snap.state = state;
            let proposed = propose(ActionType::DepositSweep, &snap, &ProposalParams::default());
            assert_eq!(proposed.is_ok(), sweeps, "{state:?}: {proposed:?}");
        }
    }

    #[test]
    fn checklist_order_decides_and_noop_explains() {
        let mut snap = snapshot();
        let checklist = [
            ActionType::Redemption,
            ActionType::DepositSweep,
            ActionType::Heartbeat,
        ];
        let d = generate_proposal(&checklist, &snap, &ProposalParams::default());
        assert_eq!(d.proposal.action_type(), ActionType::Heartbeat);
        assert_eq!(d.passed_over.len(), 2);
        snap.pending_redemptions = vec![request(1, 0)];
        snap.timestamp = 1000;
        let d = generate_proposal(&checklist, &snap, &ProposalParams::default());
        assert_eq!(d.proposal.action_type(), ActionType::Redemption);
        assert!(d.passed_over.is_empty());
        let d = generate_proposal(
            &[ActionType::DepositSweep],
            &snapshot(),
            &ProposalParams::default(),
        );
        assert_eq!(d.proposal, Proposal::Noop);
        assert_eq!(d.passed_over[0].0, ActionType::DepositSweep);
    }

    #[test]
    fn moving_funds_needs_state_margin_and_a_clean_wallet() {
        let mut snap = snapshot();
        snap.moving_funds_targets = vec![WalletPkh([2; 20])];
        let params = ProposalParams::default();
        assert!(propose(ActionType::MovingFunds, &snap, &params).is_err());
        snap.state = WalletState::MovingFunds;
        snap.moving_funds_requested_at = Some(snap.timestamp - 100);
        assert!(propose(ActionType::MovingFunds, &snap, &params).is_err());
        snap.moving_funds_requested_at = Some(snap.timestamp - 2 * 86_400);
        assert!(propose(ActionType::MovingFunds, &snap, &params).is_ok());
        snap.pending_redemptions = vec![request(1, 0)];
        assert!(propose(ActionType::MovingFunds, &snap, &params).is_err());
    }

    #[test]
    fn moved_funds_sweep_takes_the_oldest_request() {
        let mut snap = snapshot();
        assert!(propose(
            ActionType::MovedFundsSweep,
            &snap,
            &ProposalParams::default()
        )
        .is_err());
        snap.moved_funds_sweep_requests = vec![
            MovedFundsSweepRequest {
                moving_funds_tx_hash: Hash32([1; 32]),
                output_index: 1,
                value: 10,
                created_at: 50,
            },
            MovedFundsSweepRequest {
                moving_funds_tx_hash: Hash32([2; 32]),
                output_index: 0,
                value: 10,
                created_at: 40,
            },
        ];
        let p = propose(
            ActionType::MovedFundsSweep,
            &snap,
            &ProposalParams::default(),
        )
        .unwrap();
        assert!(matches!(
            p,
            Proposal::MovedFundsSweep { moving_funds_tx_hash, .. } if moving_funds_tx_hash == Hash32([2; 32])
        ));
    }

    #[test]
    fn a_fee_rate_whose_fee_overflows_is_refused_naming_the_rate() {
        let huge = ProposalParams {
            btc_fee_rate: u64::MAX,
            ..ProposalParams::default()
        };
        let mut snap = snapshot();
        let now = snap.timestamp;
        snap.pending_redemptions = vec![request(1, now - 700)];
        snap.deposits = vec![deposit(1, now - 8000, None)];
        snap.moved_funds_sweep_requests = vec![MovedFundsSweepRequest {
            moving_funds_tx_hash: Hash32([1; 32]),
            output_index: 0,
            value: 10,
            created_at: 0,
        }];
        for action in [
            ActionType::Redemption,
            ActionType::DepositSweep,
            ActionType::MovedFundsSweep,
        ] {
            let reason = propose(action, &snap, &huge).unwrap_err();
            assert!(
                reason.contains(&u64::MAX.to_string()) && reason.contains("overflow"),
                "{action:?}: {reason}"
            );
            // At an ordinary rate the same action is proposed.
            assert!(propose(action, &snap, &ProposalParams::default()).is_ok());
        }
        let mut moving = snapshot();
        moving.state = WalletState::MovingFunds;
        moving.moving_funds_requested_at = Some(moving.timestamp - 2 * 86_400);
        moving.moving_funds_targets = vec![WalletPkh([2; 20])];
        let reason = propose(ActionType::MovingFunds, &moving, &huge).unwrap_err();
        assert!(reason.contains("fee rate"), "{reason}");

        // The generator passes over the action with that reason, and the heartbeat wins.
        let d = generate_proposal(
            &[ActionType::Redemption, ActionType::Heartbeat],
            &snap,
            &huge,
        );
        assert_eq!(d.proposal.action_type(), ActionType::Heartbeat);
        assert!(
            d.passed_over[0].1.contains("fee rate"),
            "{:?}",
            d.passed_over
        );
    }
}
