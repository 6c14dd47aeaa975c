//! The checks of one entry in itself: the window recomputed from the wallet and the safe
//! block hash, then the rules of each fault type (a signed message for an impersonation or a
//! mistake; for an idleness, a context that does not contradict it).

use super::format::EvidenceEntry;
use super::verify::Seats;
use crate::net::envelope::Envelope;
use crate::net::pubsub::PubsubMessage;
use crate::protocol::checklist::checklist_for;
use crate::protocol::fault::MAX_HEARD;
use crate::protocol::window::{is_coordination_block, last_send_heard_by_all};
use crate::protocol::{
    coordination_seed, ActionType, Address, CoordinationMessage, CoordinationWindow, FaultType,
    Leader, SigningGroup, WalletInfo,
};

pub(super) fn check(entry: &EvidenceEntry, seats: &Seats) -> Result<String, String> {
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
    let recomputed = checklist_for(window, &seed, seats.checklist);
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
