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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Read;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::chain::Chain;
use crate::engine::records::FaultEvidenceRow;
use crate::net::envelope::Envelope;
use crate::net::pubsub::PubsubMessage;
use crate::net::signing::{operator_address, peer_public_key};
use crate::protocol::fault::MAX_HEARD;
use crate::protocol::proposal::HexBytes;
use crate::protocol::window::is_coordination_block;
use crate::protocol::window::last_send_heard_by_all;
use crate::protocol::WalletInfo;
use crate::protocol::{
    checklist, coordination_seed, ActionType, Address, BlockHashRule, CoordinationMessage,
    CoordinationWindow, FaultEvidence, FaultType, Hash32, HeardMessage, IdlenessContext, Leader,
    Seed, SigningGroup, WalletPkh,
};

/// The largest evidence export `verify-evidence` reads (1 GiB): far above any real export
/// (10,000 faults take a few MB), and a bound on what a hostile file can make it read.
pub const MAX_EVIDENCE_BYTES: u64 = 1 << 30;

/// One exported fault. The window facts (`seed`, `leader`, `leader_member_index`,
/// `checklist`) are what the exporting node computed: claims, which the verifier recomputes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceEntry {
    /// The fault's row id in the exporting node's history.
    pub id: i64,
    pub fault: FaultType,
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub culprit: Address,
    /// Claimed: the window's leader and its lowest seat.
    pub leader: Address,
    pub leader_member_index: u8,
    /// `coordination_block - 32`, and the hash of it that seeded the window.
    pub safe_block: u64,
    pub safe_block_hash: Hash32,
    /// Claimed: `sha256(wallet ‖ safe_block_hash)`.
    pub seed: Seed,
    /// Claimed: the window's checklist as the node computed it.
    pub checklist: Vec<ActionType>,
    /// Unix seconds.
    pub recorded_at: i64,
    /// Impersonation and mistake: the signed pubsub message, hex of its bytes as received.
    pub message: Option<HexBytes>,
    /// Impersonation and mistake: what the message says, decoded at export for readers. The
    /// verifier decodes the message itself and requires these to agree with it.
    pub claimed: Option<ClaimedMessage>,
    /// Idleness: what the follower saw. Read back with at most `MAX_HEARD + 1` heard
    /// messages kept (the rest are read past, not held): a node lists at most
    /// [`MAX_HEARD`], and one more is enough for the verifier to refuse the entry, so a huge
    /// list costs no memory.
    #[serde(default, deserialize_with = "capped_context")]
    pub context: Option<IdlenessContext>,
}

/// [`IdlenessContext`] as the verifier reads it: the same fields, `heard` capped.
#[derive(Deserialize)]
struct CappedContext {
    listened_from: u64,
    listened_until: u64,
    members_connected: Option<u32>,
    heard: CappedHeard,
    #[serde(default)]
    heard_omitted: u32,
}

/// The first `MAX_HEARD + 1` heard messages of a list; the others are read and dropped.
struct CappedHeard(Vec<HeardMessage>);

impl<'de> Deserialize<'de> for CappedHeard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Capped;
        impl<'de> Visitor<'de> for Capped {
            type Value = CappedHeard;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of heard messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CappedHeard, A::Error> {
                let mut kept = Vec::new();
                while kept.len() <= MAX_HEARD {
                    match seq.next_element::<HeardMessage>()? {
                        Some(m) => kept.push(m),
                        None => return Ok(CappedHeard(kept)),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(CappedHeard(kept))
            }
        }
        d.deserialize_seq(Capped)
    }
}

fn capped_context<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IdlenessContext>, D::Error> {
    Ok(
        Option::<CappedContext>::deserialize(d)?.map(|c| IdlenessContext {
            listened_from: c.listened_from,
            listened_until: c.listened_until,
            members_connected: c.members_connected,
            heard: c.heard.0,
            heard_omitted: c.heard_omitted,
        }),
    )
}

/// What an offending message says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedMessage {
    /// The seat (member index) the message is sent from.
    pub seat: u8,
    /// The pubsub author, base58.
    pub author_peer_id: String,
    /// The operator of the author's key.
    pub author_operator: Address,
    pub topic: String,
    pub action: ActionType,
}

impl EvidenceEntry {
    /// The export entry of a stored fault.
    pub fn from_row(row: &FaultEvidenceRow) -> EvidenceEntry {
        let f = &row.fault;
        let (message, context) = match &row.evidence {
            Some(FaultEvidence::Message(bytes)) => (Some(HexBytes(bytes.clone())), None),
            Some(FaultEvidence::Idleness(c)) => (None, Some(c.clone())),
            None => (None, None),
        };
        let claimed = message.as_ref().and_then(|m| claimed_of(&m.0));
        EvidenceEntry {
            id: f.id,
            fault: f.fault,
            wallet: f.wallet,
            coordination_block: f.coordination_block,
            culprit: f.culprit,
            leader: f.leader,
            leader_member_index: row.leader_member_index,
            safe_block: CoordinationWindow::new(f.coordination_block).safe_block(),
            safe_block_hash: row.safe_block_hash,
            seed: row.seed,
            checklist: row.checklist.clone(),
            recorded_at: f.recorded_at,
            message,
            claimed,
            context,
        }
    }
}

/// What a message says, if it decodes (a node only keeps messages that did). The signature is
/// not checked here: that is the verifier's job, and the export stays cheap.
fn claimed_of(bytes: &[u8]) -> Option<ClaimedMessage> {
    let pubsub = PubsubMessage::decode_strict(bytes).ok()?;
    let peer = libp2p::PeerId::from_bytes(pubsub.from.as_deref()?).ok()?;
    let address = operator_address(&peer_public_key(&peer)?)?;
    let envelope = Envelope::decode(pubsub.data.as_deref()?).ok()?;
    let message = CoordinationMessage::decode(&envelope.payload).ok()?;
    Some(ClaimedMessage {
        seat: message.sender_member_index,
        author_peer_id: peer.to_base58(),
        author_operator: address,
        topic: pubsub.topic.clone().unwrap_or_default(),
        action: message.proposal.action_type(),
    })
}

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

/// The wallets' seats, by wallet, from a source the export does not control.
pub type Seats = HashMap<WalletPkh, WalletInfo>;

pub fn seats_of(wallets: Vec<WalletInfo>) -> Seats {
    wallets.into_iter().map(|w| (w.wallet, w)).collect()
}

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
    result: Result<String, String>,
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

/// Checks one entry in itself against the wallets' seats: everything but the safe block
/// hash, which needs a source (see [`HashSource`]).
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

fn check(entry: &EvidenceEntry, seats: &Seats) -> Result<String, String> {
    let cb = entry.coordination_block;
    if !is_coordination_block(cb) {
        return Err(format!("{cb} is not a coordination block"));
    }
    let window = CoordinationWindow::new(cb);
    // The hash checked against a source is that of `cb - 32`: a hash of any other block
    // seeded no window.
    if entry.safe_block != window.safe_block() {
        return Err(format!(
            "the safe block {} is not block {} (coordination block {cb} - 32)",
            entry.safe_block,
            window.safe_block()
        ));
    }
    let info = seats
        .get(&entry.wallet)
        .ok_or_else(|| format!("wallet {} is not in the seats source", entry.wallet))?;
    let group = SigningGroup::new(info.operators.clone())
        .map_err(|e| format!("wallet {}: its seats are unusable: {e}", entry.wallet))?;
    // The window, recomputed: seed from the wallet and safe block hash, then leader and
    // checklist from the seed and the seats.
    let seed = coordination_seed(&entry.wallet, &entry.safe_block_hash);
    if seed != entry.seed {
        return Err(format!(
            "seed {} does not follow from wallet {} and safe block hash {} (recomputed {})",
            entry.seed, entry.wallet, entry.safe_block_hash, seed
        ));
    }
    let leader = group
        .leader(&seed)
        .ok_or_else(|| format!("wallet {} has no seats", entry.wallet))?;
    if leader.operator != entry.leader || leader.member_index != entry.leader_member_index {
        return Err(format!(
            "the claimed leader {} (seat {}) is not the recomputed leader {} (seat {})",
            entry.leader, entry.leader_member_index, leader.operator, leader.member_index
        ));
    }
    let recomputed = checklist(window, &seed);
    match entry.fault {
        FaultType::LeaderIdleness => check_idleness(entry, window, leader, &recomputed),
        FaultType::LeaderImpersonation | FaultType::LeaderMistake => {
            if entry.context.is_some() {
                return Err(format!(
                    "a {} is shown by its message, yet the entry carries an idleness context",
                    entry.fault
                ));
            }
            let bytes = entry
                .message
                .as_ref()
                .ok_or("no message kept for this fault (recorded before evidence was kept?)")?;
            let m = check_message(entry, &bytes.0, info, &group)?;
            if entry.fault == FaultType::LeaderImpersonation {
                if m.seat == leader.member_index {
                    return Err(format!(
                        "seat {} is the leader's lowest seat: not an impersonation",
                        m.seat
                    ));
                }
                if entry.culprit != m.author {
                    return Err(format!(
                        "the culprit {} is not the message's author {}",
                        entry.culprit, m.author
                    ));
                }
                Ok(format!(
                    "{} signed a proposal from seat {}, which it holds, while the leader is {} (seat {})",
                    m.author, m.seat, leader.operator, leader.member_index
                ))
            } else {
                if m.seat != leader.member_index || m.author != leader.operator {
                    return Err(format!(
                        "the message is from seat {} ({}), not the leader's seat {}: not a mistake",
                        m.seat, m.author, leader.member_index
                    ));
                }
                if entry.culprit != leader.operator {
                    return Err(format!(
                        "the culprit {} is not the leader {}",
                        entry.culprit, leader.operator
                    ));
                }
                if m.action == ActionType::Noop || recomputed.contains(&m.action) {
                    return Err(format!(
                        "{} is allowed in this window: checklist recomputed [{}]",
                        m.action,
                        names(&recomputed)
                    ));
                }
                let claimed_note = if entry.checklist == recomputed {
                    String::new()
                } else {
                    format!(" (the export claimed [{}])", names(&entry.checklist))
                };
                Ok(format!(
                    "the leader {} proposed {}, not on the recomputed checklist [{}]{}",
                    leader.operator,
                    m.action,
                    names(&recomputed),
                    claimed_note
                ))
            }
        }
    }
}

fn names(actions: &[ActionType]) -> String {
    actions
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a verified message established.
struct MessageFacts {
    author: Address,
    seat: u8,
    action: ActionType,
}

fn check_message(
    entry: &EvidenceEntry,
    bytes: &[u8],
    info: &WalletInfo,
    group: &SigningGroup,
) -> Result<MessageFacts, String> {
    let pubsub = PubsubMessage::decode_strict(bytes)
        .map_err(|e| format!("the message does not decode: {e}"))?;
    let author = pubsub
        .verify()
        .map_err(|e| format!("pubsub signature: {e}"))?;
    let envelope = Envelope::decode(pubsub.data.as_deref().unwrap_or_default())
        .map_err(|e| format!("the pubsub data is not a coordination envelope: {e}"))?;
    if envelope.sender != author.key {
        return Err("the envelope's sender is not the pubsub author".into());
    }
    let message = CoordinationMessage::decode(&envelope.payload)
        .map_err(|e| format!("the envelope's payload is not a coordination message: {e}"))?;
    if let Some(claimed) = &entry.claimed {
        if claimed.author_peer_id != author.peer.to_base58() {
            return Err(format!(
                "the claimed author peer ID {} is not the signer's {}",
                claimed.author_peer_id, author.peer
            ));
        }
        if claimed.author_operator != author.address {
            return Err(format!(
                "the claimed author operator {} is not {}, the operator of the signing key",
                claimed.author_operator, author.address
            ));
        }
        if claimed.seat != message.sender_member_index {
            return Err(format!(
                "the entry claims seat {} but the signed message is from seat {}",
                claimed.seat, message.sender_member_index
            ));
        }
    }
    if message.wallet != entry.wallet {
        return Err(format!(
            "the signed message names wallet {}, not {}",
            message.wallet, entry.wallet
        ));
    }
    if message.coordination_block != entry.coordination_block {
        return Err(format!(
            "the signed message names window {}, not {}",
            message.coordination_block, entry.coordination_block
        ));
    }
    if info.public_key.is_some() && pubsub.topic.as_deref() != Some(&info.coordination_topic()) {
        return Err(format!(
            "the message was sent on topic {:?}, not the wallet's coordination topic",
            pubsub.topic.as_deref().unwrap_or_default()
        ));
    }
    let seat = message.sender_member_index;
    match group.holder(seat) {
        Some(holder) if holder == author.address => {}
        Some(holder) => {
            return Err(format!(
                "seat {seat} is held by {holder}, not by the signer {}",
                author.address
            ))
        }
        None => return Err(format!("wallet {} has no seat {seat}", entry.wallet)),
    }
    Ok(MessageFacts {
        author: author.address,
        seat,
        action: message.proposal.action_type(),
    })
}

fn check_idleness(
    entry: &EvidenceEntry,
    window: CoordinationWindow,
    leader: Leader,
    recomputed: &[ActionType],
) -> Result<String, String> {
    let cb = window.coordination_block;
    if entry.culprit != leader.operator {
        return Err(format!(
            "the culprit {} is not the window's recomputed leader {}",
            entry.culprit, leader.operator
        ));
    }
    // Silence is not signed: a message in an idleness entry contradicts it.
    if entry.message.is_some() || entry.claimed.is_some() {
        return Err(
            "an idleness carries no message (silence is not signed), yet the entry has one".into(),
        );
    }
    let context = entry
        .context
        .as_ref()
        .ok_or("no context kept for this idleness (recorded before evidence was kept?)")?;
    if context.listened_until != window.active_phase_end() {
        return Err(format!(
            "listened until block {}, not the end of the active phase {}",
            context.listened_until,
            window.active_phase_end()
        ));
    }
    let last = last_send_heard_by_all(cb);
    if context.listened_from > last {
        return Err(format!(
            "listened only from block {}, after the leader's last re-send at {last}",
            context.listened_from
        ));
    }
    if context.members_connected == Some(0) {
        return Err("connected to none of the wallet's other members: unheard, not idle".into());
    }
    // A node lists at most MAX_HEARD messages and counts the rest only once the list is full.
    if context.heard.len() > MAX_HEARD {
        return Err(format!(
            "the context lists more than {MAX_HEARD} heard messages, the most a node keeps"
        ));
    }
    if context.heard_omitted > 0 && context.heard.len() < MAX_HEARD {
        return Err(format!(
            "{} heard messages are said to be omitted, yet only {} are listed (a node omits \
             only once {MAX_HEARD} are)",
            context.heard_omitted,
            context.heard.len()
        ));
    }
    // An acceptable proposal from the leader's seat ends the listening: heard, the leader was
    // not idle. (Off the checklist it is a mistake, which may be heard beside an idleness;
    // one naming another wallet says nothing of this one.)
    if let Some(m) = context.heard.iter().find(|m| {
        m.member_index == leader.member_index
            && m.operator == leader.operator
            && m.coordination_block == cb
            && m.verdict != "other_wallet"
            && (m.action == ActionType::Noop || recomputed.contains(&m.action))
    }) {
        return Err(format!(
            "the leader {} was heard proposing {} from its seat {} at block {}, which this \
             window allows: not idle",
            leader.operator, m.action, m.member_index, m.block
        ));
    }
    let connected = match context.members_connected {
        Some(n) => format!("{n} members connected"),
        None => "every member reachable (in-process hub)".into(),
    };
    Ok(format!(
        "the leader {} is the recomputed leader; listened blocks {}..{}, {connected}, {} other messages heard (context only: silence is not signed)",
        leader.operator,
        context.listened_from,
        context.listened_until,
        context.heard.len() + context.heard_omitted as usize
    ))
}

#[cfg(test)]
mod tests;
