//! What a leader proposes (SPEC §12): the generator's candidate for each checklist action,
//! each checked by the chain's on-chain validator, and the first one the validator takes.
//! A refused candidate is passed over, so the leader falls through to the next action and
//! finally to Noop, which followers always accept: the reference client goes silent instead,
//! and is then blamed as idle for its own generator.

use super::bitcoin_read::{read_bitcoin, BitcoinReading};
use super::records::{BitcoinSide, DepositLine};
use crate::bitcoin::view::BitcoinView;
use crate::chain::Chain;
use crate::protocol::bitcoin_facts::BitcoinFacts;
use crate::protocol::commitment::MovingFundsCommitment;
use crate::protocol::generator::{evaluate_checklist, NO_COMMITMENT};
use crate::protocol::proposal::DepositKey;
use crate::protocol::{
    ActionEvaluation, ActionType, Address, Proposal, ProposalParams, WalletSnapshot,
};

/// How far down the checklist to ask the validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weigh {
    /// A leader: until the first candidate it may send.
    UntilChosen,
    /// A dry run: every candidate, so the operator sees every verdict.
    Every,
}

/// The proposal to send and how each checklist action was weighed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub proposal: Proposal,
    pub evaluations: Vec<ActionEvaluation>,
    /// Why the Bitcoin view could not be read, if it could not: every deposit then counts as
    /// unconfirmed.
    pub bitcoin_error: Option<String>,
    /// What the Bitcoin view told, for the dry run (absent without a view).
    pub bitcoin: Option<BitcoinSide>,
    /// The moving-funds commitment the leader submits before MovingFunds can be proposed.
    pub commitment: Option<MovingFundsCommitment>,
}

impl Choice {
    /// The candidates the validator refused or could not judge, in checklist order.
    pub fn refusals(&self) -> Vec<crate::protocol::Refusal> {
        self.evaluations
            .iter()
            .filter_map(crate::protocol::Refusal::of)
            .collect()
    }

    /// Why the proposal is Noop: each action's reason, `; `-joined. `None` for another
    /// proposal.
    pub fn noop_reason(&self) -> Option<String> {
        if self.proposal != Proposal::Noop {
            return None;
        }
        if self.evaluations.is_empty() {
            return Some("the checklist is empty".to_string());
        }
        let mut reasons: Vec<String> = self
            .evaluations
            .iter()
            .map(ActionEvaluation::summary)
            .collect();
        if let Some(e) = &self.bitcoin_error {
            reasons.push(format!("Bitcoin view: {e}"));
        }
        Some(reasons.join("; "))
    }
}

/// Weighs `checklist` against `snapshot` and chooses the first candidate the validator takes;
/// `facts` are what a Bitcoin view found for the wallet (see [`BitcoinFacts`]).
pub async fn choose(
    chain: &dyn Chain,
    checklist: &[ActionType],
    snapshot: &WalletSnapshot,
    facts: &BitcoinFacts,
    params: &ProposalParams,
    weigh: Weigh,
) -> Choice {
    let mut evaluations = evaluate_checklist(checklist, snapshot, params);
    let mut chosen: Option<Proposal> = None;
    for evaluation in &mut evaluations {
        let Some(candidate) = &evaluation.candidate else {
            continue;
        };
        if chosen.is_some() && weigh == Weigh::UntilChosen {
            break;
        }
        let verdict = chain.validate_proposal(snapshot, candidate, facts).await;
        if chosen.is_none() && verdict.sendable() {
            chosen = Some(candidate.clone());
        }
        evaluation.validation = Some(verdict);
    }
    Choice {
        proposal: chosen.unwrap_or(Proposal::Noop),
        evaluations,
        bitcoin_error: None,
        bitcoin: None,
        commitment: None,
    }
}

/// The leader's choice for `snapshot`, reading Bitcoin first when the node has a view: the
/// deposits' confirmations, the facts the validator takes, and the fee rate (the configured
/// one when the server has no estimate). A view that cannot be read leaves every deposit
/// unconfirmed, so nothing unconfirmed is swept, and says why. A moving wallet that lacks
/// only its commitment to target wallets gets the commitment `submitter` (the window's
/// leader) would make, in [`Choice::commitment`].
pub async fn choose_with_bitcoin(
    chain: &dyn Chain,
    bitcoin: Option<&dyn BitcoinView>,
    checklist: &[ActionType],
    mut snapshot: WalletSnapshot,
    params: &ProposalParams,
    weigh: Weigh,
    submitter: Address,
) -> Choice {
    let Some(view) = bitcoin else {
        let facts = BitcoinFacts::default();
        let mut choice = choose(chain, checklist, &snapshot, &facts, params, weigh).await;
        plan_commitment(chain, &snapshot, &facts, submitter, &mut choice).await;
        return choice;
    };
    let (reading, error) = match read_bitcoin(view, &mut snapshot).await {
        Ok(reading) => (reading, None),
        Err(e) => {
            for deposit in &mut snapshot.deposits {
                deposit.confirmations = 0;
            }
            (BitcoinReading::default(), Some(e.to_string()))
        }
    };
    let mut params = params.clone();
    if let Some(rate) = reading.fee_rate {
        params.btc_fee_rate = rate;
    }
    let mut choice = choose(chain, checklist, &snapshot, &reading.facts, &params, weigh).await;
    plan_commitment(chain, &snapshot, &reading.facts, submitter, &mut choice).await;
    let swept: &[DepositKey] = match &choice.proposal {
        Proposal::DepositSweep { deposits, .. } => deposits,
        _ => &[],
    };
    choice.bitcoin = Some(BitcoinSide {
        deposits: snapshot
            .deposits
            .iter()
            .map(|d| DepositLine {
                funding_tx_hash: d.key.funding_tx_hash,
                output_index: d.key.output_index,
                amount: d.amount,
                confirmations: d.confirmations,
                included: swept.contains(&d.key),
            })
            .collect(),
        main_utxo: reading.facts.main_utxo,
        synced: reading.synced,
        warning: error.clone().or(reading.disagreement),
    });
    choice.bitcoin_error = error;
    choice
}

/// When the leader would reach MovingFunds (no earlier action chosen) and the wallet lacks
/// only its commitment to target wallets, the commitment `submitter` would make, or why it
/// cannot: kept in the choice and told in MovingFunds' reason.
async fn plan_commitment(
    chain: &dyn Chain,
    snapshot: &WalletSnapshot,
    facts: &BitcoinFacts,
    submitter: Address,
    choice: &mut Choice,
) {
    let Some(position) = choice.evaluations.iter().position(|e| {
        e.action == ActionType::MovingFunds && e.reason.as_deref() == Some(NO_COMMITMENT)
    }) else {
        return;
    };
    if choice.evaluations[..position]
        .iter()
        .any(ActionEvaluation::chosen)
    {
        return;
    }
    let planned = match &facts.main_utxo {
        Some(utxo) => chain
            .plan_moving_funds_commitment(snapshot, utxo, submitter)
            .await
            .map_err(|e| e.to_string()),
        None => Err("the main UTXO is not known (it needs the Bitcoin view)".to_string()),
    };
    choice.evaluations[position].reason = Some(match &planned {
        Ok(c) => format!(
            "{NO_COMMITMENT}: the leader commits first, to {}",
            c.summary()
        ),
        Err(e) => format!("{NO_COMMITMENT}, and no commitment can be made: {e}"),
    });
    choice.commitment = planned.ok();
}
