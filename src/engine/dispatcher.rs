//! The dispatcher: runs one action per wallet at a time (SPEC §7), from the window's end
//! until the action finishes or expires, and rejects (and reports) proposals for busy wallets.
//!
//! Open actions survive a restart: on start the dispatcher reads them back from the history,
//! finishes those whose expiry passed while the node was down, and keeps running (and keeps
//! the wallet busy with) the rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::context::NodeContext;
use super::events::Event;
use crate::chain::ActionRequest;
use crate::protocol::{ActionOutcome, CoordinationResult, WalletPkh};
use crate::store::{DispatchRecord, DispatchStatus};

/// One action per wallet at a time (SPEC §7).
#[derive(Default)]
pub(super) struct Dispatcher {
    /// The window whose action each wallet is running.
    active: Mutex<HashMap<WalletPkh, (u64, crate::protocol::ActionType)>>,
}

impl Dispatcher {
    pub(super) fn dispatch(self: &Arc<Self>, ctx: &Arc<NodeContext>, result: &CoordinationResult) {
        let wallet = result.wallet;
        let cb = result.window.coordination_block;
        let action = result.proposal.action_type();
        let start_block = result.window.end_block();
        let expiry_block = start_block.saturating_add(action.validity_blocks());
        let busy_with = match self.active.lock() {
            Ok(mut active) => match active.get(&wallet) {
                Some(running) => Some(*running),
                None => {
                    active.insert(wallet, (cb, action));
                    None
                }
            },
            Err(_) => Some((0, action)),
        };
        let mut record = DispatchRecord {
            wallet,
            coordination_block: cb,
            proposal: result.proposal.clone(),
            start_block,
            expiry_block,
            status: DispatchStatus::Dispatched,
            reason: None,
        };
        if let Some((running_cb, running_action)) = busy_with {
            let reason = format!("wallet busy with {running_action} from window {running_cb}");
            tracing::warn!(%wallet, cb, %action, %reason, "proposal rejected");
            record.status = DispatchStatus::Rejected;
            record.reason = Some(reason.clone());
            if let Err(e) = ctx.store.record_dispatch(&record) {
                tracing::error!(error = %e, "recording a rejected dispatch failed");
            }
            ctx.bus.publish(Event::DispatchRejected {
                wallet,
                coordination_block: cb,
                action,
                reason,
            });
            return;
        }
        if let Err(e) = ctx.store.record_dispatch(&record) {
            tracing::error!(error = %e, "recording a dispatch failed");
        }
        node_info!(ctx.config, %wallet, cb, %action, start_block, expiry_block, "proposal dispatched");
        ctx.bus.publish(Event::ProposalDispatched {
            wallet,
            coordination_block: cb,
            action,
            start_block,
            expiry_block,
        });
        let request = ActionRequest {
            wallet,
            window: result.window,
            proposal: result.proposal.clone(),
            start_block,
            expiry_block,
        };
        let this = self.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let outcome = run_action(&ctx, request).await;
            if let Ok(mut active) = this.active.lock() {
                if active.get(&wallet).is_some_and(|(c, _)| *c == cb) {
                    active.remove(&wallet);
                }
            }
            if let Some((outcome, block)) = outcome {
                ctx.bus.publish(Event::ActionFinished {
                    wallet,
                    coordination_block: cb,
                    action,
                    outcome,
                    block,
                });
            }
        });
    }
}

/// Waits for the start block, runs the action until it ends or expires, records the outcome.
/// `None` if the node stopped first.
async fn run_action(ctx: &NodeContext, request: ActionRequest) -> Option<(ActionOutcome, u64)> {
    let wallet = request.wallet;
    let cb = request.window.coordination_block;
    let action = request.proposal.action_type();
    let expiry = request.expiry_block;
    let started = ctx.wait_for_block(request.start_block).await?;
    if let Err(e) = ctx
        .store
        .set_dispatch_status(&wallet, cb, DispatchStatus::Running, started)
    {
        tracing::error!(error = %e, "recording a running action failed");
    }
    ctx.bus.publish(Event::ActionStarted {
        wallet,
        coordination_block: cb,
        action,
        block: started,
    });
    let outcome = tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => return None,
        _ = ctx.wait_for_block(expiry) => ActionOutcome::Expired,
        r = ctx.chain.execute_action(request) => match r {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(%wallet, cb, %action, error = %e, "action failed on chain");
                ActionOutcome::Failed
            }
        },
    };
    let block = ctx.head_number();
    if let Err(e) = ctx
        .store
        .set_dispatch_status(&wallet, cb, DispatchStatus::from(outcome), block)
    {
        tracing::error!(error = %e, "recording an action outcome failed");
    }
    node_info!(ctx.config, %wallet, cb, %action, outcome = outcome.name(), block, "action finished");
    Some((outcome, block))
}
