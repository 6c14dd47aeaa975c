//! Fault evidence: the export format of `faults --evidence --json` and the offline verifier of
//! `verify-evidence`. An impersonation or a mistake is shown by the offending signed pubsub
//! message itself; the verifier checks it from first principles (the StrictSign signature, the
//! author's peer ID and operator, the seat it claims, and for a mistake the window's checklist,
//! recomputed from the wallet and the safe block hash). The seats come from a source the
//! export does not control: a wallets file, the chain, or the node's own history. An idleness
//! cannot be shown by a message; its entry carries what the follower saw, and the verifier
//! checks only what can be checked (the culprit was that window's leader, and the context
//! does not contradict it).
//!
//! The safe block hash decides the seed, and so the leader and the checklist: an export with
//! a forged hash and a seed and leader recomputed from it would frame any operator. So an
//! entry is verified only once its hash agrees with an independent source (the chain, or the
//! node's own history); without one it stays unchecked, never verified.

// One concept per file: the export format, the checks of an entry in itself, the outcomes,
// the sources of block hashes, and the entry points that tie them together.
mod format;
mod outcome;
mod rules;
mod source;
mod verify;

pub use format::{ClaimedMessage, EvidenceEntry};
pub use outcome::{Outcome, Pending, Verdict};
pub use source::{HashSource, RecordedHash, SourceHash, NO_HASH_SOURCE};
pub use verify::{
    check_entry, check_stream, seats_of, verify, verify_against, Seats, MAX_EVIDENCE_BYTES,
};

#[cfg(test)]
mod tests;
