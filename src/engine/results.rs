//! The result processor: records each executor outcome (results and their faults) and hands
//! accepted proposals to the dispatcher; once every executor of a window has reported, the
//! window is recorded completed, or interrupted if any procedure was cut off.
//!
//! It does not stop on cancellation: it drains its channel until every sender (the window
//! watch and the procedures, which all honour the token) is gone, so a result that was
//! reached before a shutdown is still kept, and a procedure that was cut off is recorded as
//! what it is — an interruption — never as a fault.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::context::NodeContext;
use super::dispatcher::Dispatcher;
use super::events::{CoordinationResultEvent, Event};
use super::executor::ExecutorOutcome;
use super::records::WindowStatus;
use crate::protocol::{CoordinationWindow, Proposal};

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
    interrupted: usize,
}

/// Why a window that a shutdown cut off is marked interrupted.
const SHUTDOWN_REASON: &str = "the node stopped during the window";

pub(super) async fn process_results(
    ctx: Arc<NodeContext>,
    dispatcher: Arc<Dispatcher>,
    mut inputs: mpsc::UnboundedReceiver<ProcessorInput>,
) {
    let mut pending: BTreeMap<u64, PendingWindow> = BTreeMap::new();
    while let Some(input) = inputs.recv().await {
        let cb = match input {
            ProcessorInput::WindowOpened { window, executors } => {
                let cb = window.coordination_block;
                let p = pending.entry(cb).or_default();
                p.opened = true;
                p.expected = executors;
                cb
            }
            ProcessorInput::Outcome(outcome) => {
                let cb = outcome.window().coordination_block;
                let recorded = process_outcome(&ctx, &dispatcher, outcome).await;
                let p = pending.entry(cb).or_default();
                p.received += 1;
                match recorded {
                    Recorded::Result { faults } => {
                        p.results += 1;
                        p.faults += faults;
                    }
                    Recorded::Interrupted => p.interrupted += 1,
                    Recorded::Other => {}
                }
                cb
            }
        };
        if pending
            .get(&cb)
            .is_some_and(|p| p.opened && p.received >= p.expected)
        {
            if let Some(p) = pending.remove(&cb) {
                finish_window(&ctx, cb, &p).await;
            }
        }
    }
    // Every sender is gone: whatever window is still open was cut off by the shutdown.
    for (cb, mut p) in pending {
        if p.opened {
            p.interrupted = p.interrupted.max(1);
            finish_window(&ctx, cb, &p).await;
        }
    }
}

/// Records a window as completed, or as interrupted if a procedure of it was cut off, and
/// announces it.
async fn finish_window(ctx: &NodeContext, cb: u64, p: &PendingWindow) {
    let window = CoordinationWindow::new(cb);
    if p.interrupted > 0 {
        let reason = SHUTDOWN_REASON;
        let stored = ctx
            .with_history("recording an interrupted window", move |h| {
                h.set_window_status(cb, WindowStatus::Interrupted, Some(reason))
            })
            .await;
        if stored.is_some() {
            tracing::warn!(
                cb,
                results = p.results,
                interrupted = p.interrupted,
                "window interrupted: {reason}"
            );
            ctx.bus.publish(Event::WindowInterrupted {
                coordination_block: cb,
                index: window.index(),
                results: p.results,
                interrupted: p.interrupted,
                reason: reason.to_string(),
            });
        } else {
            unrecorded(ctx, cb, "interrupted");
        }
        return;
    }
    let stored = ctx
        .with_history("recording a completed window", move |h| {
            h.set_window_status(cb, WindowStatus::Completed, None)
        })
        .await;
    if stored.is_some() {
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
    } else {
        unrecorded(ctx, cb, "completed");
    }
}

/// A window that ended while the history could not record it: said as such, never as kept.
pub(crate) fn unrecorded(ctx: &NodeContext, cb: u64, outcome: &str) {
    ctx.bus.publish(Event::WindowUnrecorded {
        coordination_block: cb,
        outcome: outcome.to_string(),
    });
}

/// What processing one outcome amounted to, for the window's tally.
enum Recorded {
    /// A result (and its faults) stored now.
    Result { faults: usize },
    /// A procedure cut off by the shutdown.
    Interrupted,
    /// Busy, failed, not stored, or stored before (a resumed window).
    Other,
}

async fn process_outcome(
    ctx: &Arc<NodeContext>,
    dispatcher: &Arc<Dispatcher>,
    outcome: ExecutorOutcome,
) -> Recorded {
    match outcome {
        ExecutorOutcome::Result(result) => {
            let stored = {
                let result = result.clone();
                ctx.with_history("recording a result", move |h| h.record_result(&result))
                    .await
            };
            match stored {
                // The write failed: reported by `with_history`; nothing is announced or dispatched.
                None => return Recorded::Other,
                // Already stored: a window resumed after a restart re-ran this wallet.
                Some(false) => {
                    tracing::debug!(wallet = %result.wallet, cb = result.window.coordination_block,
                        "result already in the history; not announced again");
                    return Recorded::Other;
                }
                Some(true) => {}
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
            if result.proposal != Proposal::Noop {
                dispatcher.dispatch(ctx, &result).await;
            }
            Recorded::Result {
                faults: result.faults.len(),
            }
        }
        ExecutorOutcome::Interrupted { wallet, window } => {
            tracing::debug!(%wallet, cb = window.coordination_block, "procedure interrupted by the shutdown");
            Recorded::Interrupted
        }
        ExecutorOutcome::Busy { wallet, window } => {
            tracing::warn!(%wallet, cb = window.coordination_block, "executor busy: window not coordinated");
            ctx.bus.publish(Event::ExecutorBusy {
                wallet,
                coordination_block: window.coordination_block,
            });
            Recorded::Other
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
            Recorded::Other
        }
    }
}
