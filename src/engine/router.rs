//! The router: decodes and authenticates coordination messages from the network and hands
//! each to its wallet's executor, once per distinct message.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use super::context::NodeContext;
use super::events::Event;
use super::executor::{Inbound, InboxSender};
use super::pace::Pace;
use crate::net::signing::recover_signer;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::window::{
    is_coordination_block, next_window_after, COORDINATION_FREQUENCY_BLOCKS,
};
use crate::protocol::{types::keccak256, Address, WalletPkh};

/// How many recently routed message ids the router remembers, so re-sent copies skip the
/// signature check.
const ROUTER_SEEN_CAPACITY: usize = 16_384;

/// Distinct messages one sender may have routed to one wallet in one window. An honest
/// member sends at most one (its re-sends are copies, recognised above); the cap keeps a
/// peer that signs message after message from filling a wallet's inbox (SPEC §6 bounds that
/// at 512) or the history.
pub const MAX_MESSAGES_PER_SENDER_PER_WINDOW: u32 = 8;

/// Why the router dropped a message that it would otherwise have delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
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

/// Per-sender quotas and drop counters. Nothing a peer sends is dropped silently: every drop
/// is counted, and logged and announced at the 1st, 10th, 100th, … drop of its kind.
#[derive(Default)]
struct Admission {
    per_sender: HashMap<(WalletPkh, u64, Address), u32>,
    dropped: HashMap<(WalletPkh, DropReason), u64>,
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
        let total = self.dropped.entry((wallet, reason)).or_insert(0);
        *total += 1;
        let total = *total;
        // 1, 10, 100, …: a flood is visible without flooding the log.
        if is_power_of_ten(total) {
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
}

/// 1, 10, 100, …
fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

pub(super) async fn route_messages(
    ctx: Arc<NodeContext>,
    mut messages: crate::net::MessageStream,
    inboxes: HashMap<WalletPkh, InboxSender>,
) {
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    let mut seen_order: VecDeque<[u8; 32]> = VecDeque::new();
    let mut admission = Admission::default();
    loop {
        let signed = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            m = messages.recv() => match m {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::error!(skipped = n, "message stream lagged: {n} coordination messages were lost before routing");
                    ctx.bus.publish(Event::MessagesLost { count: n });
                    if let Some(pace) = &ctx.config.pace {
                        pace.forget(usize::try_from(n).unwrap_or(usize::MAX));
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        // Devnet back-pressure: the message counts until it is dropped here or, routed, until
        // its follower has classified it.
        let work = ctx.config.pace.as_ref().map(Pace::adopt);
        let message = match CoordinationMessage::decode(&signed.body) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, "malformed coordination message ignored");
                continue;
            }
        };
        let Some(inbox) = inboxes.get(&message.wallet) else {
            continue;
        };
        let (wallet, cb) = (message.wallet, message.coordination_block);
        if !Admission::window_is_live(cb, ctx.head_number()) {
            admission.dropped(&ctx, wallet, cb, DropReason::StaleWindow);
            continue;
        }
        let envelope_id = signed.id();
        if !seen.insert(envelope_id) {
            continue;
        }
        seen_order.push_back(envelope_id);
        if seen_order.len() > ROUTER_SEEN_CAPACITY {
            if let Some(old) = seen_order.pop_front() {
                seen.remove(&old);
            }
        }
        let signer = match recover_signer(&signed) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "coordination message with a bad signature ignored");
                continue;
            }
        };
        if !admission.admit(wallet, cb, signer, ctx.head_number()) {
            admission.dropped(&ctx, wallet, cb, DropReason::SenderCap);
            continue;
        }
        let inbound = Inbound {
            id: keccak256(&signed.body),
            message,
            signer,
            work,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = inbox.try_send(inbound) {
            admission.dropped(&ctx, wallet, cb, DropReason::InboxFull);
        }
    }
}
