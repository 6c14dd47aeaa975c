//! The result processor: records each executor outcome (results and their faults) and hands
//! accepted proposals to the dispatcher; once every executor of a window has reported, the
//! window is recorded completed, or interrupted if any procedure was cut off.
//!
//! It does not stop on cancellation: it drains its channel until every sender (the window
//! watch and the procedures, which all honour the token) is gone, so a result that was
//! reached before a shutdown is still kept, and a procedure that was cut off is recorded as
//! what it is — an interruption — never as a fault.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::context::NodeContext;
use super::dispatcher::Dispatcher;
use super::events::{CoordinationResultEvent, Event};
use super::executor::ExecutorOutcome;
use crate::protocol::CoordinationWindow;

pub(super) enum ProcessorInput {
    WindowOpened {
        window: CoordinationWindow,
        executors: usize,
    },
    Outcome(ExecutorOutcome),
}

#[derive(Default)]
struct PendingWindow {
    opened: bool,
    expected: usize,
    received: usize,
    results: usize,
    faults: usize,
}

pub(super) async fn process_results(
    ctx: Arc<NodeContext>,
    mut inputs: mpsc::UnboundedReceiver<ProcessorInput>,
) {
    let dispatcher = Arc::new(Dispatcher::default());
    let mut pending: HashMap<u64, PendingWindow> = HashMap::new();
    loop {
        let input = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            i = inputs.recv() => match i { Some(i) => i, None => return },
        };
        let cb = match input {
            ProcessorInput::WindowOpened { window, executors } => {
                let cb = window.coordination_block;
                let p = pending.entry(cb).or_default();
                p.opened = true;
                p.expected = executors;
                cb
            }
            ProcessorInput::Outcome(outcome) => {
                let (cb, faults, is_result) = match &outcome {
                    ExecutorOutcome::Result(r) => {
                        (r.window.coordination_block, r.faults.len(), true)
                    }
                    ExecutorOutcome::Busy { window, .. }
                    | ExecutorOutcome::Failed { window, .. }
                    | ExecutorOutcome::Interrupted { window, .. } => {
                        (window.coordination_block, 0, false)
                    }
                };
                process_outcome(&ctx, &dispatcher, outcome).await;
                let p = pending.entry(cb).or_default();
                p.received += 1;
                p.faults += faults;
                p.results += usize::from(is_result);
                cb
            }
        };
        if pending
            .get(&cb)
            .is_some_and(|p| p.opened && p.received >= p.expected)
        {
            if let Some(p) = pending.remove(&cb) {
                node_info!(
                    ctx.config,
                    cb,
                    results = p.results,
                    faults = p.faults,
                    "window completed"
                );
                ctx.bus.publish(Event::WindowCompleted {
                    coordination_block: cb,
                    results: p.results,
                    faults: p.faults,
                });
            }
        }
    }
}

async fn process_outcome(
    ctx: &Arc<NodeContext>,
    dispatcher: &Arc<Dispatcher>,
    outcome: ExecutorOutcome,
) {
    match outcome {
        ExecutorOutcome::Result(result) => {
            if let Err(e) = ctx.store.record_result(&result) {
                tracing::error!(error = %e, wallet = %result.wallet, "recording a result failed");
            }
            for fault in &result.faults {
                ctx.bus.publish(Event::Fault {
                    wallet: result.wallet,
                    coordination_block: result.window.coordination_block,
                    culprit: fault.culprit,
                    fault: fault.fault,
                });
            }
            ctx.bus
                .publish(Event::CoordinationResult(CoordinationResultEvent::from(
                    &*result,
                )));
            if result.proposal != crate::protocol::Proposal::Noop {
                dispatcher.dispatch(ctx, &result);
            }
        }
        ExecutorOutcome::Interrupted { wallet, window } => {
            tracing::debug!(%wallet, cb = window.coordination_block, "procedure interrupted by shutdown: nothing recorded");
        }
        ExecutorOutcome::Busy { wallet, window } => {
            tracing::warn!(%wallet, cb = window.coordination_block, "executor busy: window not coordinated");
            ctx.bus.publish(Event::ExecutorBusy {
                wallet,
                coordination_block: window.coordination_block,
            });
        }
        ExecutorOutcome::Failed {
            wallet,
            window,
            error,
        } => {
            tracing::error!(%wallet, cb = window.coordination_block, %error, "executor failed");
            ctx.bus.publish(Event::ExecutorFailed {
                wallet,
                coordination_block: window.coordination_block,
                error,
            });
        }
    }
}
