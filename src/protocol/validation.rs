//! The on-chain validator's verdict on a candidate proposal (SPEC §12), and what a leader
//! made of each checklist action: the candidate, or why there is none, and the verdict.
//! Every node checks a proposal with `WalletProposalValidator.validate…Proposal` before it
//! signs; a leader that asks first never sends what the others would refuse.

use serde::{Deserialize, Serialize};

use super::action::ActionType;
use super::proposal::Proposal;

/// The validator's verdict on one candidate, as the dry run and the history show it:
/// `checked` says whether the validator was asked, `valid` what it answered (unknown when the
/// call failed or was not made), and `reason` its revert reason or why it was not asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub checked: bool,
    pub valid: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Validation {
    /// The validator took it.
    pub fn accepted() -> Validation {
        Validation {
            checked: true,
            valid: Some(true),
            reason: None,
        }
    }

    /// The validator refused it, with its revert reason.
    pub fn refused(reason: impl Into<String>) -> Validation {
        Validation {
            checked: true,
            valid: Some(false),
            reason: Some(reason.into()),
        }
    }

    /// Asking failed (no answer, a revert without a reason, an answer that is not a bool):
    /// the candidate is not sent, and nobody is at fault.
    pub fn failed(error: impl Into<String>) -> Validation {
        Validation {
            checked: true,
            valid: None,
            reason: Some(error.into()),
        }
    }

    /// Not asked: no validator is configured, or the call needs inputs this node lacks.
    pub fn not_checked(why: impl Into<String>) -> Validation {
        Validation {
            checked: false,
            valid: None,
            reason: Some(why.into()),
        }
    }

    /// Whether a leader may send the candidate: the validator took it, or it was not asked.
    pub fn sendable(&self) -> bool {
        self.valid == Some(true) || !self.checked
    }

    /// One line for logs and the console: `valid`, `refused: …`, `not checked: …`.
    pub fn summary(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or("no reason given");
        match (self.checked, self.valid) {
            (true, Some(true)) => "valid".to_string(),
            (true, Some(false)) => format!("refused: {reason}"),
            (true, None) => format!("validator error: {reason}"),
            (false, _) => format!("not checked on chain: {reason}"),
        }
    }
}

/// One checklist action as a leader weighed it: its candidate and the validator's verdict, or
/// why the generator had no candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEvaluation {
    pub action: ActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Proposal>,
    /// Why there is no candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The validator's verdict; `None` when there was no candidate or it was not weighed
    /// (a leader stops at the first candidate it may send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
}

impl ActionEvaluation {
    /// Whether this action's candidate is the one to send.
    pub fn chosen(&self) -> bool {
        self.candidate.is_some() && self.validation.as_ref().is_some_and(Validation::sendable)
    }

    /// One line: `Redemption: <candidate> (valid)` or `DepositSweep: <why none>`.
    pub fn summary(&self) -> String {
        match (&self.candidate, &self.validation) {
            (Some(p), Some(v)) => format!("{}: {} ({})", self.action, p.summary(), v.summary()),
            (Some(p), None) => format!("{}: {} (not weighed)", self.action, p.summary()),
            (None, _) => format!(
                "{}: {}",
                self.action,
                self.reason.as_deref().unwrap_or("no candidate")
            ),
        }
    }
}

/// A candidate the leader did not send because the validator refused it or could not be
/// asked: kept with the window's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub action: ActionType,
    pub reason: String,
}

impl Refusal {
    /// The refusal an evaluation records, if its candidate was checked and not sendable.
    pub fn of(evaluation: &ActionEvaluation) -> Option<Refusal> {
        let v = evaluation.validation.as_ref()?;
        (evaluation.candidate.is_some() && !v.sendable()).then(|| Refusal {
            action: evaluation.action,
            reason: v.summary(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_accepted_or_unasked_candidate_is_sent() {
        assert!(Validation::accepted().sendable());
        assert!(Validation::not_checked("needs the Bitcoin view").sendable());
        assert!(!Validation::refused("Redemption request min age not achieved yet").sendable());
        assert!(!Validation::failed("no answer within 30s").sendable());
    }

    #[test]
    fn the_json_form_has_checked_valid_and_reason() {
        let v = serde_json::to_value(Validation::refused("too young")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"checked": true, "valid": false, "reason": "too young"})
        );
        let v = serde_json::to_value(Validation::accepted()).unwrap();
        assert_eq!(v, serde_json::json!({"checked": true, "valid": true}));
        let v = serde_json::to_value(Validation::not_checked("no validator")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"checked": false, "valid": null, "reason": "no validator"})
        );
    }

    #[test]
    fn a_refusal_is_kept_only_for_a_checked_candidate_that_is_not_sent() {
        let evaluation = |validation| ActionEvaluation {
            action: ActionType::Heartbeat,
            candidate: Some(Proposal::Noop),
            reason: None,
            validation: Some(validation),
        };
        assert_eq!(Refusal::of(&evaluation(Validation::accepted())), None);
        assert_eq!(Refusal::of(&evaluation(Validation::not_checked("x"))), None);
        let refusal = Refusal::of(&evaluation(Validation::refused("bad message"))).unwrap();
        assert_eq!(refusal.action, ActionType::Heartbeat);
        assert_eq!(refusal.reason, "refused: bad message");
        let none = ActionEvaluation {
            candidate: None,
            reason: Some("nothing pending".into()),
            validation: None,
            ..evaluation(Validation::accepted())
        };
        assert_eq!(Refusal::of(&none), None);
        assert!(!none.chosen());
    }
}
