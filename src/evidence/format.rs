//! The export format of `faults --evidence --json`: one record per stored fault, with the
//! window facts the exporting node computed (claims, which the verifier recomputes) and the
//! evidence itself (the signed message, or what a follower saw of an idleness).

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::engine::records::FaultEvidenceRow;
use crate::net::envelope::Envelope;
use crate::net::pubsub::PubsubMessage;
use crate::net::signing::{operator_address, peer_public_key};
use crate::protocol::fault::MAX_HEARD;
use crate::protocol::proposal::HexBytes;
use crate::protocol::{
    ActionType, Address, CoordinationMessage, CoordinationWindow, FaultEvidence, FaultType, Hash32,
    HeardMessage, IdlenessContext, Seed, WalletPkh,
};

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
