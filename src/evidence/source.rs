//! The independent sources of the safe block hashes that seeded the windows (the chain, or
//! the node's own history), and how pending entries are settled against them. An entry is
//! verified only once its hash agrees with one: an export cannot vouch for its own hash.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::outcome::{Pending, Verdict};
use crate::chain::Chain;
use crate::protocol::{BlockHashRule, Hash32, WalletPkh};

/// What an independent source says about the safe block hash of an entry's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceHash {
    /// The source's hash, and the source as the verdict names it.
    Known { hash: Hash32, source: String },
    /// The source cannot say; why, as the verdict gives it.
    Unknown(String),
}

/// Why an entry stays unchecked when no source of hashes was named.
pub const NO_HASH_SOURCE: &str =
    "no source of block hashes was given (pass --rpc-url or --data-dir)";

/// Reads the safe block hash a history recorded for a wallet's window.
pub type RecordedHash<'a> = dyn Fn(&WalletPkh, u64) -> Result<Option<Hash32>, String> + Sync + 'a;

/// An independent source of the safe block hashes that seeded the windows.
pub enum HashSource<'a> {
    /// The chain: the hash of block `safe_block` under `rule`. `name` names it in verdicts.
    Chain {
        chain: &'a dyn Chain,
        rule: BlockHashRule,
        name: String,
    },
    /// A node's own history: the hash its result for the (wallet, window) recorded, as
    /// `recorded` reads it (`None`: no result of that wallet for that window).
    History {
        recorded: &'a RecordedHash<'a>,
        name: String,
    },
    /// None: every entry that holds in itself stays unchecked.
    None,
}

impl HashSource<'_> {
    /// The verdicts, each pending entry's hash asked of the source: the chain once per
    /// distinct safe block, the history once per (wallet, window). Entries that failed in
    /// themselves need no answer.
    pub async fn settle(&self, pending: Vec<Pending>) -> Vec<Verdict> {
        match self {
            HashSource::None => {
                settle_each(pending, |_| SourceHash::Unknown(NO_HASH_SOURCE.into()))
            }
            HashSource::Chain { chain, rule, name } => {
                let blocks: BTreeSet<u64> = pending
                    .iter()
                    .filter(|p| p.needs_hash())
                    .map(|p| p.safe_block)
                    .collect();
                let mut answers = BTreeMap::new();
                for block in blocks {
                    let answer = match chain.block_hash(block, *rule).await {
                        Ok(hash) => SourceHash::Known {
                            hash,
                            source: format!("{name} (hash rule {rule})"),
                        },
                        Err(e) => SourceHash::Unknown(format!(
                            "{name} did not give the hash of block {block}: {e}"
                        )),
                    };
                    answers.insert(block, answer);
                }
                settle_each(pending, |p| {
                    answers.get(&p.safe_block).cloned().unwrap_or_else(|| {
                        SourceHash::Unknown(format!(
                            "{name} was not asked for block {}",
                            p.safe_block
                        ))
                    })
                })
            }
            HashSource::History { recorded, name } => {
                let mut answers: HashMap<(WalletPkh, u64), SourceHash> = HashMap::new();
                settle_each(pending, |p| {
                    answers
                        .entry((p.wallet, p.coordination_block))
                        .or_insert_with(|| match recorded(&p.wallet, p.coordination_block) {
                            Ok(Some(hash)) => SourceHash::Known {
                                hash,
                                source: name.clone(),
                            },
                            Ok(None) => SourceHash::Unknown(format!(
                                "{name} has no result of wallet {} for window {} \
                                     (pass --rpc-url to ask the chain)",
                                p.wallet, p.coordination_block
                            )),
                            Err(e) => SourceHash::Unknown(format!("{name}: {e}")),
                        })
                        .clone()
                })
            }
        }
    }
}

/// Settles each pending entry, asking `lookup` only for those a hash can still change.
fn settle_each(
    pending: Vec<Pending>,
    mut lookup: impl FnMut(&Pending) -> SourceHash,
) -> Vec<Verdict> {
    pending
        .into_iter()
        .map(|p| {
            let hash = if p.needs_hash() {
                lookup(&p)
            } else {
                // Failed in itself: the hash is not consulted.
                SourceHash::Unknown(String::new())
            };
            p.settle(&hash)
        })
        .collect()
}
