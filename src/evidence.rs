//! Fault evidence: the export format of `faults --evidence --json` and the offline verifier of
//! `verify-evidence`. An impersonation or a mistake is shown by the offending signed pubsub
//! message itself; the verifier checks it from first principles (the StrictSign signature, the
//! author's peer ID and operator, the seat it claims, and for a mistake the window's checklist,
//! recomputed from the wallet and the safe block hash). The seats come from a source the
//! export does not control: a wallets file, the chain, or the node's own history. An idleness
//! cannot be shown by a message; its entry carries what the follower saw, and the verifier
//! checks only what can be checked (the culprit was that window's leader).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::chain::WalletInfo;
use crate::engine::executor::last_send_heard_by_all;
use crate::engine::records::FaultEvidenceRow;
use crate::net::envelope::Envelope;
use crate::net::pubsub::PubsubMessage;
use crate::net::signing::{operator_address, peer_public_key};
use crate::protocol::proposal::HexBytes;
use crate::protocol::window::is_coordination_block;
use crate::protocol::{
    checklist, coordination_seed, ActionType, Address, CoordinationMessage, CoordinationWindow,
    FaultEvidence, FaultType, Hash32, IdlenessContext, Seed, SigningGroup, WalletPkh,
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
    /// Idleness: what the follower saw.
    pub context: Option<IdlenessContext>,
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

/// The verdict on one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub id: i64,
    pub fault: FaultType,
    pub wallet: WalletPkh,
    pub coordination_block: u64,
    pub passed: bool,
    /// Why it failed; or, when it passed, what was established.
    pub reason: String,
}

/// The wallets' seats, by wallet, from a source the export does not control.
pub type Seats = HashMap<WalletPkh, WalletInfo>;

pub fn seats_of(wallets: Vec<WalletInfo>) -> Seats {
    wallets.into_iter().map(|w| (w.wallet, w)).collect()
}

/// Checks one entry against the wallets' seats.
pub fn verify(entry: &EvidenceEntry, seats: &Seats) -> Verdict {
    let (passed, reason) = match check(entry, seats) {
        Ok(established) => (true, established),
        Err(reason) => (false, reason),
    };
    Verdict {
        id: entry.id,
        fault: entry.fault,
        wallet: entry.wallet,
        coordination_block: entry.coordination_block,
        passed,
        reason,
    }
}

fn check(entry: &EvidenceEntry, seats: &Seats) -> Result<String, String> {
    let cb = entry.coordination_block;
    if !is_coordination_block(cb) {
        return Err(format!("{cb} is not a coordination block"));
    }
    let window = CoordinationWindow::new(cb);
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
        FaultType::LeaderIdleness => check_idleness(entry, window, leader.operator),
        FaultType::LeaderImpersonation | FaultType::LeaderMistake => {
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
struct Checked {
    author: Address,
    seat: u8,
    action: ActionType,
}

fn check_message(
    entry: &EvidenceEntry,
    bytes: &[u8],
    info: &WalletInfo,
    group: &SigningGroup,
) -> Result<Checked, String> {
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
    Ok(Checked {
        author: author.address,
        seat,
        action: message.proposal.action_type(),
    })
}

fn check_idleness(
    entry: &EvidenceEntry,
    window: CoordinationWindow,
    leader: Address,
) -> Result<String, String> {
    if entry.culprit != leader {
        return Err(format!(
            "the culprit {} is not the window's recomputed leader {leader}",
            entry.culprit
        ));
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
    let last = last_send_heard_by_all(window.coordination_block);
    if context.listened_from > last {
        return Err(format!(
            "listened only from block {}, after the leader's last re-send at {last}",
            context.listened_from
        ));
    }
    if context.members_connected == Some(0) {
        return Err("connected to none of the wallet's other members: unheard, not idle".into());
    }
    let connected = match context.members_connected {
        Some(n) => format!("{n} members connected"),
        None => "every member reachable (in-process hub)".into(),
    };
    Ok(format!(
        "the leader {leader} is the recomputed leader; listened blocks {}..{}, {connected}, {} other messages heard (context only: silence is not signed)",
        context.listened_from,
        context.listened_until,
        context.heard.len() + context.heard_omitted as usize
    ))
}

#[cfg(test)]
mod tests;
