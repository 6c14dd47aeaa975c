//! The verifier's entry points: the seats to check against, one entry checked in itself or
//! against a hash, and an export read as a stream so that only one entry is held at a time.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use serde::de::{Deserializer, SeqAccess, Visitor};

use super::format::EvidenceEntry;
use super::outcome::{Pending, Verdict};
use super::rules::check;
use super::source::{SourceHash, NO_HASH_SOURCE};
use crate::protocol::checklist::ChecklistRules;
use crate::protocol::{CoordinationWindow, WalletInfo, WalletPkh};

/// The largest evidence export `verify-evidence` reads (1 GiB): far above any real export
/// (10,000 faults take a few MB), and a bound on what a hostile file can make it read.
pub const MAX_EVIDENCE_BYTES: u64 = 1 << 30;

/// The wallets' seats, by wallet, from a source the export does not control, and the chain's
/// checklist rule the windows are recomputed under.
#[derive(Debug, Clone, Default)]
pub struct Seats {
    pub wallets: HashMap<WalletPkh, WalletInfo>,
    pub checklist: ChecklistRules,
}

impl Seats {
    pub fn get(&self, wallet: &WalletPkh) -> Option<&WalletInfo> {
        self.wallets.get(wallet)
    }

    pub fn is_empty(&self) -> bool {
        self.wallets.is_empty()
    }

    /// The same seats, with windows recomputed under `rules`.
    pub fn under(self, rules: ChecklistRules) -> Seats {
        Seats {
            checklist: rules,
            ..self
        }
    }
}

/// Seats of `wallets`, under mainnet's checklist rule (see [`Seats::under`]).
pub fn seats_of(wallets: Vec<WalletInfo>) -> Seats {
    Seats {
        wallets: wallets.into_iter().map(|w| (w.wallet, w)).collect(),
        checklist: ChecklistRules::MAINNET,
    }
}

/// Checks one entry in itself against the wallets' seats: everything but the safe block
/// hash, which needs a source (see [`HashSource`](super::HashSource)).
pub fn check_entry(entry: &EvidenceEntry, seats: &Seats) -> Pending {
    Pending {
        id: entry.id,
        fault: entry.fault,
        wallet: entry.wallet,
        coordination_block: entry.coordination_block,
        safe_block: CoordinationWindow::new(entry.coordination_block).safe_block(),
        safe_block_hash: entry.safe_block_hash,
        result: check(entry, seats),
    }
}

/// Checks one entry, its safe block hash against what `hash` says.
pub fn verify_against(entry: &EvidenceEntry, seats: &Seats, hash: &SourceHash) -> Verdict {
    check_entry(entry, seats).settle(hash)
}

/// Checks one entry with no source of block hashes: at best unchecked, never verified.
pub fn verify(entry: &EvidenceEntry, seats: &Seats) -> Verdict {
    verify_against(entry, seats, &SourceHash::Unknown(NO_HASH_SOURCE.into()))
}

/// Reads an export (one JSON array) from `reader` as a stream and checks each entry as it is
/// read, so only one entry is held at a time. Anything after the array is an error.
pub fn check_stream<R: Read>(reader: R, seats: &Seats) -> Result<Vec<Pending>, serde_json::Error> {
    struct CheckEach<'a>(&'a Seats);
    impl<'de> Visitor<'de> for CheckEach<'_> {
        type Value = Vec<Pending>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON array of evidence entries")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Pending>, A::Error> {
            let mut checked = Vec::new();
            while let Some(entry) = seq.next_element::<EvidenceEntry>()? {
                checked.push(check_entry(&entry, self.0));
            }
            Ok(checked)
        }
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    let checked = de.deserialize_seq(CheckEach(seats))?;
    de.end()?;
    Ok(checked)
}
