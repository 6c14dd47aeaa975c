//! The router: authenticates coordination messages from the network (SPEC §11) and hands
//! each to its wallet's executor, once per distinct message. Every received pubsub message
//! passes the same checks, on the in-process hub as on libp2p: the StrictSign signature, the
//! envelope's sender against the pubsub author, the author against the wallet's operators,
//! the claimed seat against the author, the topic and window against the wallet. The
//! transport hears the verdict, so only messages that passed are forwarded to other peers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use super::context::NodeContext;
use super::events::Event;
use super::inbox::{Inbound, InboxSender};
use super::pacing::Work;
use super::router_tally::{Heard, WindowTally};
use crate::net::envelope::Envelope;
use crate::net::{Received, Verdict};
use crate::protocol::leader::SigningGroup;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::window::{
    is_coordination_block, next_window_after, window_at_or_before, COORDINATION_FREQUENCY_BLOCKS,
};
use crate::protocol::{types::keccak256, Address, WalletPkh};

/// How many recently routed (sender, sequence number) pairs the router remembers, so re-sent
/// copies are processed once.
const ROUTER_SEEN_CAPACITY: usize = 16_384;

/// Distinct messages one sender may have routed to one wallet in one window. An honest
/// member sends at most one (its re-sends are copies, recognised above); the cap keeps a
/// peer that signs message after message from filling a wallet's inbox (SPEC §6 bounds that
/// at 512) or the history.
pub const MAX_MESSAGES_PER_SENDER_PER_WINDOW: u32 = 8;

/// Why the router dropped a message that it would otherwise have delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The wallet's inbox (its follower's buffer) was full.
    InboxFull,
    /// The sender had already sent its quota of distinct messages for the window.
    SenderCap,
    /// The message names a window that is neither the current nor the next one.
    StaleWindow,
}

impl DropReason {
    pub fn name(self) -> &'static str {
        match self {
            DropReason::InboxFull => "inbox_full",
            DropReason::SenderCap => "sender_cap",
            DropReason::StaleWindow => "stale_window",
        }
    }
}

/// Why the router rejected a message as invalid: not forwarded, never shown to a follower.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Unsigned, or its StrictSign signature does not verify.
    Signature,
    /// The pubsub data is not a coordination message's envelope.
    MalformedEnvelope,
    /// The envelope names a sender other than the pubsub author.
    SenderNotAuthor,
    /// The envelope's payload is not a coordination message.
    MalformedMessage,
    /// The message names a wallet other than its topic's.
    WrongTopic,
    /// The author is not one of the wallet's operators.
    NotAMember,
    /// The author does not hold the seat the message claims.
    NotSeatHolder,
}

impl RejectReason {
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Signature => "signature",
            RejectReason::MalformedEnvelope => "malformed_envelope",
            RejectReason::SenderNotAuthor => "sender_not_author",
            RejectReason::MalformedMessage => "malformed_message",
            RejectReason::WrongTopic => "wrong_topic",
            RejectReason::NotAMember => "not_a_member",
            RejectReason::NotSeatHolder => "not_seat_holder",
        }
    }
}

/// Where the router sends one wallet's messages, and what it checks them against.
#[derive(Debug, Clone)]
pub struct Route {
    pub inbox: InboxSender,
    pub group: SigningGroup,
    pub topic: String,
}

/// Per-sender quotas and drop counters. Nothing a peer sends is dropped silently: every drop
/// is counted, and logged and announced at the 1st, 10th, 100th, … drop of its kind.
#[derive(Default)]
struct Admission {
    per_sender: HashMap<(WalletPkh, u64, Address), u32>,
    dropped: HashMap<(WalletPkh, DropReason), u64>,
    rejected: HashMap<RejectReason, u64>,
    /// Seats heard per wallet and window, for the console.
    heard: Heard,
    /// Rejections in the head's window, for the console.
    tally: WindowTally,
    /// Messages from the transport, and those accepted, since the node started.
    received: u64,
    accepted: u64,
    /// The totals last announced (received, rejected).
    announced: (u64, u64),
}

impl Admission {
    /// The running totals, if they changed since they were last announced.
    fn totals(&mut self) -> Option<Event> {
        let rejected: u64 = self.rejected.values().sum();
        if (self.received, rejected) == self.announced {
            return None;
        }
        self.announced = (self.received, rejected);
        Some(Event::MessageTotals {
            received: self.received,
            accepted: self.accepted,
            rejected: self.rejected.iter().map(|(r, n)| (*r, *n)).collect(),
        })
    }
}

impl Admission {
    /// Whether a window is current enough to be routed at all: the window at or before the
    /// head, or the next one (a peer's head may be a block ahead of ours).
    fn window_is_live(cb: u64, head: u64) -> bool {
        let next = next_window_after(head).coordination_block;
        is_coordination_block(cb)
            && cb <= next
            && cb.saturating_add(COORDINATION_FREQUENCY_BLOCKS) >= next
    }

    /// Counts one more distinct message from `sender`; `false` once it is over the quota.
    fn admit(&mut self, wallet: WalletPkh, cb: u64, sender: Address, head: u64) -> bool {
        if self.per_sender.len() > 4 * ROUTER_SEEN_CAPACITY {
            // Quotas of windows that are over are no longer needed.
            self.per_sender
                .retain(|(_, window, _), _| Self::window_is_live(*window, head));
        }
        let count = self.per_sender.entry((wallet, cb, sender)).or_insert(0);
        *count += 1;
        *count <= MAX_MESSAGES_PER_SENDER_PER_WINDOW
    }

    fn dropped(&mut self, ctx: &NodeContext, wallet: WalletPkh, cb: u64, reason: DropReason) {
        if let Some(total) = count(&mut self.dropped, (wallet, reason)) {
            node_warn!(ctx.config, %wallet, cb, reason = reason.name(), total,
                "coordination message dropped");
            ctx.bus.publish(Event::MessagesDropped {
                wallet,
                coordination_block: cb,
                reason,
                total,
            });
        }
    }

    fn rejected(
        &mut self,
        ctx: &NodeContext,
        reason: RejectReason,
        detail: &dyn std::fmt::Display,
    ) {
        tracing::debug!(reason = reason.name(), %detail, "coordination message rejected");
        self.tally.count(reason);
        if let Some(total) = count(&mut self.rejected, reason) {
            node_warn!(ctx.config, reason = reason.name(), total, %detail,
                "coordination message rejected");
            ctx.bus.publish(Event::MessagesRejected { reason, total });
        }
    }
}

/// Counts one more under `key`: the new total if it is one to announce, the 1st, 10th, 100th,
/// … (a flood is visible without flooding the log).
fn count<K: Eq + std::hash::Hash>(totals: &mut HashMap<K, u64>, key: K) -> Option<u64> {
    let total = totals.entry(key).or_insert(0);
    *total += 1;
    is_power_of_ten(*total).then_some(*total)
}

/// 1, 10, 100, …
fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// Remembers what was routed, oldest forgotten first.
struct Seen {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl Seen {
    /// `false` if `id` was seen already.
    fn insert(&mut self, id: [u8; 32]) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > ROUTER_SEEN_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// A message's identity for duplicate detection: its sender and sequence number, scoped to
/// the wallet and window it names (a restarted sender counts from 1 again).
fn message_id(envelope: &Envelope, message: &CoordinationMessage) -> [u8; 32] {
    let mut data = envelope.sender.encode_protobuf();
    data.extend_from_slice(&message.wallet.0);
    data.extend_from_slice(&message.coordination_block.to_be_bytes());
    data.extend_from_slice(&envelope.sequence_number.to_be_bytes());
    keccak256(&data)
}

pub(crate) async fn route_messages(
    ctx: Arc<NodeContext>,
    mut messages: crate::net::MessageStream,
    routes: HashMap<WalletPkh, Route>,
) {
    let mut seen = Seen {
        set: HashSet::new(),
        order: VecDeque::new(),
    };
    let mut admission = Admission::default();
    let mut head = ctx.head.subscribe();
    loop {
        let received = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            // Totals go out once per block at most: a counter, not a stream of messages.
            changed = head.changed() => {
                if changed.is_err() {
                    return;
                }
                if let Some(totals) = admission.totals() {
                    ctx.bus.publish(totals);
                }
                continue;
            }
            m = messages.recv() => match m {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::error!(skipped = n, "message stream lagged: {n} coordination messages were lost before routing");
                    ctx.bus.publish(Event::MessagesLost { count: n });
                    ctx.config.pacing.forget(n);
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        // Where work is counted, the message counts until it is dropped here or, routed,
        // until its follower has classified it.
        let work = ctx.config.pacing.adopt();
        let window = window_at_or_before(ctx.head_number()).map(|w| w.coordination_block);
        if let Some(tally) = admission.tally.advance(window) {
            ctx.bus.publish(tally);
        }
        let verdict = route_one(&ctx, &received, &routes, &mut seen, &mut admission, work);
        admission.received += 1;
        if verdict == Verdict::Accept {
            admission.accepted += 1;
        }
        ctx.net.report(&received, verdict);
        // A burst of messages (a window's start, with many wallets) is announced once it has
        // been routed: one event per wallet, not one per message.
        if messages.is_empty() || admission.heard.is_full() {
            for heard in admission.heard.take() {
                ctx.bus.publish(heard);
            }
        }
    }
}

/// Checks one message and, if it passes, queues it for its wallet's follower.
fn route_one(
    ctx: &NodeContext,
    received: &Arc<Received>,
    routes: &HashMap<WalletPkh, Route>,
    seen: &mut Seen,
    admission: &mut Admission,
    work: Work,
) -> Verdict {
    let pubsub = &received.message;
    let author = match pubsub.verify() {
        Ok(author) => author,
        Err(e) => {
            admission.rejected(ctx, RejectReason::Signature, &e);
            return Verdict::Reject;
        }
    };
    let envelope = match Envelope::decode(pubsub.data()) {
        Ok(e) => e,
        Err(e) => {
            admission.rejected(ctx, RejectReason::MalformedEnvelope, &e);
            return Verdict::Reject;
        }
    };
    if envelope.sender != author.key {
        admission.rejected(ctx, RejectReason::SenderNotAuthor, &author.peer);
        return Verdict::Reject;
    }
    let message = match CoordinationMessage::decode(&envelope.payload) {
        Ok(m) => m,
        Err(e) => {
            admission.rejected(ctx, RejectReason::MalformedMessage, &e);
            return Verdict::Reject;
        }
    };
    let Some(route) = routes.get(&message.wallet) else {
        // Another wallet's message (on a topic we share a mesh on): not ours to judge.
        return Verdict::Ignore;
    };
    let (wallet, cb) = (message.wallet, message.coordination_block);
    if pubsub.topic() != route.topic {
        admission.rejected(ctx, RejectReason::WrongTopic, &wallet);
        return Verdict::Reject;
    }
    if !Admission::window_is_live(cb, ctx.head_number()) {
        admission.dropped(ctx, wallet, cb, DropReason::StaleWindow);
        return Verdict::Ignore;
    }
    if !route.group.seats().contains(&author.address) {
        admission.rejected(ctx, RejectReason::NotAMember, &author.address);
        return Verdict::Reject;
    }
    if route.group.holder(message.sender_member_index) != Some(author.address) {
        admission.rejected(ctx, RejectReason::NotSeatHolder, &author.address);
        return Verdict::Reject;
    }
    let id = message_id(&envelope, &message);
    if !seen.insert(id) {
        return Verdict::Ignore;
    }
    let head = ctx.head_number();
    if !admission.admit(wallet, cb, author.address, head) {
        admission.dropped(ctx, wallet, cb, DropReason::SenderCap);
        return Verdict::Ignore;
    }
    admission
        .heard
        .note(wallet, cb, message.sender_member_index, |window| {
            Admission::window_is_live(window, head)
        });
    let inbound = Inbound {
        id,
        message,
        signer: author.address,
        received: received.clone(),
        work,
    };
    if let Err(mpsc::error::TrySendError::Full(_)) = route.inbox.try_send(inbound) {
        admission.dropped(ctx, wallet, cb, DropReason::InboxFull);
    }
    // Valid, so other members should have it, whether or not this node had room for it.
    Verdict::Accept
}
