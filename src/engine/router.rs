//! The router: decodes and authenticates coordination messages from the network and hands
//! each to its wallet's executor, once per distinct message.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use super::context::NodeContext;
use super::executor::{Inbound, InboxSender};
use super::pace::Pace;
use crate::net::signing::recover_signer;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::{types::keccak256, WalletPkh};

/// How many recently routed message ids the router remembers, so re-sent copies skip the
/// signature check.
const ROUTER_SEEN_CAPACITY: usize = 16_384;

pub(super) async fn route_messages(
    ctx: Arc<NodeContext>,
    mut messages: crate::net::MessageStream,
    inboxes: HashMap<WalletPkh, InboxSender>,
) {
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    let mut seen_order: VecDeque<[u8; 32]> = VecDeque::new();
    loop {
        let signed = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            m = messages.recv() => match m {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "message stream lagged; messages dropped");
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
        let inbound = Inbound {
            id: keccak256(&signed.body),
            message,
            signer,
            work,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = inbox.try_send(inbound) {
            tracing::warn!("a wallet's message buffer is full; message dropped");
        }
    }
}
