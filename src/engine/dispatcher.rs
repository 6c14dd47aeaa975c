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
use super::records::{DispatchRecord, DispatchRow, DispatchStatus};
use crate::chain::ActionRequest;
use crate::protocol::{
    ActionOutcome, ActionType, CoordinationResult, CoordinationWindow, WalletPkh,
};

/// The chain decides an action's outcome, expiry included (it makes a last check for the
/// action's proof at the expiry block). The dispatcher gives up on its own only this many
/// blocks after expiry, if the chain never answers.
pub const EXPIRY_GRACE_BLOCKS: u64 = 20;

/// Why an action restored at start is expired.
pub const NODE_WAS_DOWN: &str = "node was down";

/// One action per wallet at a time (SPEC §7).
#[derive(Default)]
pub(crate) struct Dispatcher {
    /// The window whose action each wallet is running.
    active: Mutex<HashMap<WalletPkh, (u64, ActionType)>>,
}

impl Dispatcher {
    /// Claims `wallet` for the action of window `cb`; the running action if it is busy.
    fn claim(&self, wallet: WalletPkh, cb: u64, action: ActionType) -> Option<(u64, ActionType)> {
        match self.active.lock() {
            Ok(mut active) => match active.get(&wallet) {
                Some(running) => Some(*running),
                None => {
                    active.insert(wallet, (cb, action));
                    None
                }
            },
            // A poisoned map cannot say who is busy: refuse rather than run two at once.
            Err(_) => Some((0, action)),
        }
    }

    fn release(&self, wallet: WalletPkh, cb: u64) {
        if let Ok(mut active) = self.active.lock() {
            if active.get(&wallet).is_some_and(|(c, _)| *c == cb) {
                active.remove(&wallet);
            }
        }
    }

    /// Dispatches an accepted proposal, or rejects it if its wallet is busy. Each is recorded
    /// before it is announced.
    pub(crate) async fn dispatch(
        self: &Arc<Self>,
        ctx: &Arc<NodeContext>,
        result: &CoordinationResult,
    ) {
        let wallet = result.wallet;
        let cb = result.window.coordination_block;
        let action = result.proposal.action_type();
        let start_block = result.window.end_block();
        let expiry_block = start_block.saturating_add(action.validity_blocks());
        let busy_with = self.claim(wallet, cb, action);
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
            if ctx
                .with_history("recording a rejected dispatch", move |h| {
                    h.record_dispatch(&record)
                })
                .await
                .is_some()
            {
                ctx.bus.publish(Event::DispatchRejected {
                    wallet,
                    coordination_block: cb,
                    action,
                    reason,
                });
            }
            return;
        }
        if ctx
            .with_history("recording a dispatch", move |h| h.record_dispatch(&record))
            .await
            .is_none()
        {
            // Not in the history, so not run: a restart could not know of it.
            self.release(wallet, cb);
            return;
        }
        node_info!(ctx.config, %wallet, cb, %action, start_block, expiry_block, "proposal dispatched");
        ctx.bus.publish(Event::ProposalDispatched {
            wallet,
            coordination_block: cb,
            action,
            start_block,
            expiry_block,
        });
        self.spawn_action(
            ctx,
            ActionRequest {
                wallet,
                window: result.window,
                proposal: result.proposal.clone(),
                start_block,
                expiry_block,
            },
        );
    }

    /// Restores the actions the history holds as dispatched or running: those whose expiry
    /// passed while the node was down are finished as expired ("node was down"); the others
    /// run again and keep their wallet busy.
    pub(crate) async fn restore(self: &Arc<Self>, ctx: &Arc<NodeContext>) {
        let Some(open) = ctx
            .with_history("reading open dispatches", |h| h.open_dispatches())
            .await
        else {
            return;
        };
        let head = ctx.head_number();
        for row in open {
            let wallet = row.wallet;
            let cb = row.coordination_block;
            let action = row.action;
            if head >= row.expiry_block {
                let stored = ctx
                    .with_history("expiring an action the node was down for", move |h| {
                        h.set_dispatch_status_with_reason(
                            &wallet,
                            cb,
                            DispatchStatus::Expired,
                            head,
                            NODE_WAS_DOWN,
                        )
                    })
                    .await;
                if stored.is_some() {
                    tracing::warn!(%wallet, cb, %action, expiry_block = row.expiry_block, head,
                        "action expired while the node was down");
                    ctx.bus.publish(Event::ActionFinished {
                        wallet,
                        coordination_block: cb,
                        action,
                        outcome: ActionOutcome::Expired,
                        block: head,
                    });
                }
                continue;
            }
            let request = match restored_request(&row) {
                Ok(r) => r,
                Err(e) => {
                    let reason = format!("cannot restore the stored proposal: {e}");
                    tracing::error!(%wallet, cb, %reason, "action not restored");
                    let stored = {
                        let reason = reason.clone();
                        ctx.with_history("failing an unreadable action", move |h| {
                            h.set_dispatch_status_with_reason(
                                &wallet,
                                cb,
                                DispatchStatus::Failed,
                                head,
                                &reason,
                            )
                        })
                        .await
                    };
                    if stored.is_some() {
                        ctx.bus.publish(Event::ActionFinished {
                            wallet,
                            coordination_block: cb,
                            action,
                            outcome: ActionOutcome::Failed,
                            block: head,
                        });
                    }
                    continue;
                }
            };
            if let Some((running_cb, _)) = self.claim(wallet, cb, action) {
                // Two open actions for one wallet: only an older history can hold that.
                tracing::warn!(%wallet, cb, running_cb, "a second open action for a busy wallet is left waiting");
                continue;
            }
            node_info!(ctx.config, %wallet, cb, %action, start_block = row.start_block,
                expiry_block = row.expiry_block, "open action restored");
            ctx.bus.publish(Event::ActionRestored {
                wallet,
                coordination_block: cb,
                action,
                start_block: row.start_block,
                expiry_block: row.expiry_block,
                running: row.status == DispatchStatus::Running,
            });
            self.spawn_action(ctx, request);
        }
    }

    /// Runs an action as a tracked task; the wallet is free again when it ends.
    fn spawn_action(self: &Arc<Self>, ctx: &Arc<NodeContext>, request: ActionRequest) {
        let this = self.clone();
        let ctx = ctx.clone();
        let tasks = ctx.tasks.clone();
        tasks.spawn(async move {
            let wallet = request.wallet;
            let cb = request.window.coordination_block;
            let action = request.proposal.action_type();
            let outcome = run_action(&ctx, request).await;
            this.release(wallet, cb);
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

/// The request a stored dispatch stands for.
fn restored_request(row: &DispatchRow) -> Result<ActionRequest, serde_json::Error> {
    Ok(ActionRequest {
        wallet: row.wallet,
        window: CoordinationWindow::new(row.coordination_block),
        proposal: serde_json::from_str(&row.proposal_json)?,
        start_block: row.start_block,
        expiry_block: row.expiry_block,
    })
}

/// Waits for the start block, runs the action until the chain says how it ended, records the
/// outcome. `None` if the node stopped first, or if the outcome could not be recorded (then
/// the action stays open in the history and a restart picks it up).
async fn run_action(ctx: &NodeContext, request: ActionRequest) -> Option<(ActionOutcome, u64)> {
    let wallet = request.wallet;
    let cb = request.window.coordination_block;
    let action = request.proposal.action_type();
    let give_up = request.expiry_block.saturating_add(EXPIRY_GRACE_BLOCKS);
    let started = ctx.wait_for_block(request.start_block).await?;
    let stored = ctx
        .with_history("recording a running action", move |h| {
            h.set_dispatch_status(&wallet, cb, DispatchStatus::Running, started)
        })
        .await;
    if stored.is_some() {
        ctx.bus.publish(Event::ActionStarted {
            wallet,
            coordination_block: cb,
            action,
            block: started,
        });
    }
    // The chain's answer wins over the dispatcher's own deadline: an action that lands in the
    // last blocks before expiry is completed, not expired.
    let (outcome, reason) = tokio::select! {
        biased;
        _ = ctx.cancel.cancelled() => return None,
        r = ctx.chain.execute_action(request) => match r {
            Ok(o) => (o, None),
            Err(e) => {
                tracing::warn!(%wallet, cb, %action, error = %e, "action failed on chain");
                (ActionOutcome::Failed, Some(e.to_string()))
            }
        },
        _ = ctx.wait_for_block(give_up) => {
            (ActionOutcome::Expired, Some(format!("the chain gave no outcome by block {give_up}")))
        }
    };
    // A chain error during a shutdown is the shutdown's doing, not the action's outcome.
    if ctx.cancel.is_cancelled() && outcome == ActionOutcome::Failed {
        return None;
    }
    let block = ctx.head_number();
    let status = DispatchStatus::from(outcome);
    ctx.with_history("recording an action outcome", move |h| match &reason {
        Some(reason) => h.set_dispatch_status_with_reason(&wallet, cb, status, block, reason),
        None => h.set_dispatch_status(&wallet, cb, status, block),
    })
    .await?;
    node_info!(ctx.config, %wallet, cb, %action, outcome = outcome.name(), block, "action finished");
    Some((outcome, block))
}
