//! What checking an entry comes to: the entry checked in itself ([`Pending`]), then settled
//! by what a source says of its safe block hash into a [`Verdict`] with its [`Outcome`]. Kept
//! apart from the checks so the outcome rules (a hash mismatch fails, no hash leaves the entry
//! unchecked) read in one place.

use serde::Serialize;

use super::source::SourceHash;
use crate::protocol::{FaultType, Hash32, WalletPkh};

/// How the check of one entry came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Everything holds, the safe block hash included.
    Verified,
    /// Something does not hold: the entry shows no fault.
    Failed,
    /// Nothing failed, but the safe block hash could not be checked against a source, so
    /// the leader the entry blames is not established.
    Unchecked,
}

impl Outcome {
    /// The first word of the verdict's line in text.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Verified => "PASS",
            Outcome::Failed => "FAIL",
            Outcome::Unchecked => "UNCHECKED",
        }
    }
}

/// The verdict on one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub id: i64,
    pub fault: FaultType,
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    /// Whether the entry is verified (kept for readers of the earlier two-outcome format).
    pub passed: bool,
    pub outcome: Outcome,
    /// Why it failed or could not be checked; or, when verified, what was established.
    pub reason: String,
}

/// An entry checked in itself, waiting for the safe block hash of its window to be settled.
/// Small (no message, no context), so a long export is checked one entry at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub fault: FaultType,
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    /// `coordination_block - 32`: the block whose hash the source is asked for.
    pub safe_block: u64,
    /// The hash the entry claims for it.
    pub safe_block_hash: Hash32,
    /// What the entry established in itself, or why it failed.
    pub(super) result: Result<String, String>,
}

impl Pending {
    /// Whether a source's hash can still change the outcome: an entry that failed in
    /// itself fails whatever the hash.
    pub fn needs_hash(&self) -> bool {
        self.result.is_ok()
    }

    /// The verdict, given what the source says about the safe block hash.
    pub fn settle(self, hash: &SourceHash) -> Verdict {
        let (outcome, reason) = match (self.result, hash) {
            (Err(reason), _) => (Outcome::Failed, reason),
            (Ok(_), SourceHash::Known { hash, source }) if *hash != self.safe_block_hash => (
                Outcome::Failed,
                format!(
                    "the safe block hash {} is not the hash of block {} that {source} has ({hash}): \
                     the seed, leader and checklist it implies are not the window's",
                    self.safe_block_hash, self.safe_block
                ),
            ),
            (Ok(established), SourceHash::Known { source, .. }) => (
                Outcome::Verified,
                format!("{established}; the safe block hash is the one {source} has"),
            ),
            (Ok(established), SourceHash::Unknown(why)) => (
                Outcome::Unchecked,
                format!(
                    "the safe block hash could not be checked: {why}; the rest holds: {established}"
                ),
            ),
        };
        Verdict {
            id: self.id,
            fault: self.fault,
            wallet: self.wallet,
            coordination_block: self.coordination_block,
            passed: outcome == Outcome::Verified,
            outcome,
            reason,
        }
    }
}
