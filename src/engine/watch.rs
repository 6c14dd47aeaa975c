//! The window watch: follows new heads, decides windows (see [`super::window_tracker`]),
//! forecasts the next leaders and begins one executor procedure per wallet and window.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{broadcast, mpsc};

use super::context::NodeContext;
use super::events::{Event, ForecastLeader};
use super::executor::{Executor, ExecutorOutcome, Procedure};
use super::records::WindowStatus;
use super::results::ProcessorInput;
use super::window_tracker::{WindowDecision, WindowTracker};
use crate::chain::ChainError;
use crate::protocol::window::{next_window_after, COORDINATION_FREQUENCY_BLOCKS};
use crate::protocol::BlockRef;
use crate::protocol::{BlockHashRule, CoordinationWindow, Hash32, WalletPkh};

pub(super) async fn watch_windows(
    ctx: Arc<NodeContext>,
    mut blocks: crate::chain::BlockStream,
    executors: Arc<Vec<Arc<Executor>>>,
    results: mpsc::UnboundedSender<ProcessorInput>,
) {
    let Some((mut tracker, resumed)) = resume_tracker(&ctx).await else {
        tracing::error!("cannot read the window history; the window watch does not start");
        return;
    };
    let mut forecast_for = 0u64;
    loop {
        let block = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            b = blocks.recv() => match b {
                Ok(b) => b,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "block stream lagged; the next head fills the gap");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    tracing::error!("the chain's block stream closed; window watch stopped");
                    return;
                }
            },
        };
        let trigger = Instant::now();
        ctx.head.send_if_modified(|h| {
            let higher = block.number > *h;
            if higher {
                *h = block.number;
            }
            higher
        });
        ctx.bus.publish(Event::Block { block });
        for decision in tracker.observe(block.number) {
            match decision {
                WindowDecision::Start {
                    window,
                    late,
                    observed_block,
                } => {
                    start_window(
                        &ctx,
                        window,
                        late,
                        observed_block,
                        trigger,
                        &executors,
                        &results,
                    )
                    .await
                }
                WindowDecision::Missed {
                    window,
                    observed_block,
                } => {
                    let reason = match &resumed {
                        Some(r) if r.coordination_block == window.coordination_block => {
                            r.missed_reason()
                        }
                        _ => "its active phase was over when the node saw it".to_string(),
                    };
                    record_missed(&ctx, window, observed_block, reason).await;
                }
            }
        }
        forecast(&ctx, &block, &executors, &mut forecast_for).await;
        // This node is done with the block (its executors started).
        ctx.config.pacing.handled(block.number);
    }
}

/// Announces the next window's leaders as soon as its safe block exists.
async fn forecast(
    ctx: &NodeContext,
    block: &BlockRef,
    executors: &[Arc<Executor>],
    forecast_for: &mut u64,
) {
    let next = next_window_after(block.number);
    if block.number < next.safe_block() || *forecast_for >= next.coordination_block {
        return;
    }
    let hash = match ctx
        .chain
        .block_hash(next.safe_block(), ctx.config.block_hash_rule)
        .await
    {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(error = %e, "leader forecast postponed");
            return;
        }
    };
    *forecast_for = next.coordination_block;
    let leaders = executors
        .iter()
        .filter_map(|ex| {
            let seed = crate::protocol::coordination_seed(&ex.entry.wallet, &hash);
            ex.entry.group.leader(&seed).map(|l| ForecastLeader {
                wallet: ex.entry.wallet,
                leader: l.operator,
                is_self: l.operator == ctx.identity.operator,
            })
        })
        .collect();
    ctx.bus.publish(Event::LeaderForecast {
        coordination_block: next.coordination_block,
        leaders,
    });
}

/// The safe block's hash under the configured rule, and under the other rule if it differs.
async fn safe_block_hashes(
    ctx: &NodeContext,
    window: CoordinationWindow,
) -> Result<(Hash32, Option<Hash32>), ChainError> {
    let rule = ctx.config.block_hash_rule;
    let other = match rule {
        BlockHashRule::KeepV2 => BlockHashRule::Canonical,
        BlockHashRule::Canonical => BlockHashRule::KeepV2,
    };
    let hash = ctx.chain.block_hash(window.safe_block(), rule).await?;
    let other_hash = ctx
        .chain
        .block_hash(window.safe_block(), other)
        .await
        .ok()
        .filter(|h| *h != hash);
    Ok((hash, other_hash))
}

async fn start_window(
    ctx: &Arc<NodeContext>,
    window: CoordinationWindow,
    late: bool,
    observed_block: u64,
    trigger: Instant,
    executors: &Arc<Vec<Arc<Executor>>>,
    results: &mpsc::UnboundedSender<ProcessorInput>,
) {
    let cb = window.coordination_block;
    let hashes = safe_block_hashes(ctx, window).await;
    let recorded = ctx
        .with_history("recording a started window", move |h| {
            h.record_window(cb, WindowStatus::Started, late, observed_block)?;
            // A window resumed after a restart already has a row: it is running again.
            h.set_window_status(cb, WindowStatus::Started, None)
        })
        .await
        .is_some();
    let (hash, other_rule_hash) = match hashes {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(cb, error = %e, "cannot read the safe block hash; window not coordinated");
            let _ = results.send(ProcessorInput::WindowOpened {
                window,
                executors: executors.len(),
            });
            for ex in executors.iter() {
                let _ = results.send(ProcessorInput::Outcome(ExecutorOutcome::Failed {
                    wallet: ex.entry.wallet,
                    window,
                    error: e.to_string(),
                }));
            }
            return;
        }
    };
    node_info!(
        ctx.config,
        cb,
        index = window.index(),
        late,
        observed_block,
        "window started"
    );
    if recorded {
        ctx.bus.publish(Event::WindowStarted {
            coordination_block: cb,
            index: window.index(),
            late,
            observed_block,
            safe_block: window.safe_block(),
            safe_block_hash: hash,
            other_rule_hash,
        });
    }
    let _ = results.send(ProcessorInput::WindowOpened {
        window,
        executors: executors.len(),
    });
    // Begin every executor here, in one tight loop, so all of them start within
    // milliseconds of the block; only their routines run as separate tasks.
    let mut max_delay_us = 0;
    for ex in executors.iter() {
        let delay_us = trigger.elapsed().as_micros() as u64;
        max_delay_us = max_delay_us.max(delay_us);
        match ex.begin(ctx, window, hash, delay_us) {
            Ok(procedure) => spawn_procedure(ctx, procedure, ex.entry.wallet, window, results),
            Err(outcome) => {
                let _ = results.send(ProcessorInput::Outcome(outcome));
            }
        }
    }
    tracing::debug!(
        cb,
        executors = executors.len(),
        max_start_delay_us = max_delay_us,
        "executors started"
    );
    ctx.bus.publish(Event::ExecutorsStarted {
        coordination_block: cb,
        executors: executors.len(),
        max_start_delay_us: max_delay_us,
    });
    super::wallet_bitcoin::spawn_readings(
        ctx,
        executors.iter().map(|ex| ex.entry.wallet).collect(),
        observed_block,
    );
}

/// Runs a procedure as a tracked task, so that its window always gets an outcome for it: the
/// procedure's own, `Interrupted` if the node is stopping (a cut-off procedure records
/// nothing), or `Failed` if it panicked.
fn spawn_procedure(
    ctx: &Arc<NodeContext>,
    procedure: Procedure,
    wallet: WalletPkh,
    window: CoordinationWindow,
    results: &mpsc::UnboundedSender<ProcessorInput>,
) {
    let run = {
        let ctx = ctx.clone();
        ctx.tasks.clone().spawn(async move {
            tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => ExecutorOutcome::Interrupted { wallet, window },
                outcome = procedure.run(&ctx) => outcome,
            }
        })
    };
    let results = results.clone();
    ctx.tasks.spawn(async move {
        let outcome = match run.await {
            Ok(outcome) => outcome,
            Err(e) => ExecutorOutcome::Failed {
                wallet,
                window,
                error: if e.is_panic() {
                    format!("the procedure panicked: {}", panic_message(e.into_panic()))
                } else {
                    "the procedure was cancelled".to_string()
                },
            },
        };
        let _ = results.send(ProcessorInput::Outcome(outcome));
    });
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Records and announces a missed window, with the reason.
async fn record_missed(
    ctx: &NodeContext,
    window: CoordinationWindow,
    observed_block: u64,
    reason: String,
) {
    let cb = window.coordination_block;
    node_warn!(ctx.config, cb, observed_block, %reason, "window missed");
    let stored = {
        let reason = reason.clone();
        ctx.with_history("recording a missed window", move |h| {
            h.record_window(cb, WindowStatus::Missed, false, observed_block)?;
            h.set_window_status(cb, WindowStatus::Missed, Some(&reason))
        })
        .await
    };
    if stored.is_some() {
        ctx.bus.publish(Event::WindowMissed {
            coordination_block: cb,
            index: window.index(),
            observed_block,
            reason,
        });
    } else {
        super::results::unrecorded(ctx, cb, "missed");
    }
}

/// The last window in the history that a crash or a shutdown cut off, to be decided again.
struct ResumedWindow {
    coordination_block: u64,
    status: WindowStatus,
}

impl ResumedWindow {
    fn missed_reason(&self) -> String {
        let how = match self.status {
            WindowStatus::Interrupted => "the node was stopped during the window",
            _ => "the node crashed or was killed during the window",
        };
        format!("{how}, and came back after its active phase")
    }
}

/// Where the window watch picks up after a restart: after the last window in the history, or
/// at that window itself if it was cut off (a shutdown or a crash), so that it is resumed
/// late while its active phase lasts and reported missed, with the reason, after it.
/// `None` if the history cannot be read.
async fn resume_tracker(ctx: &NodeContext) -> Option<(WindowTracker, Option<ResumedWindow>)> {
    let (last, unfinished) = ctx
        .with_history("reading the window history", |h| {
            Ok((h.last_window()?, h.unfinished_windows()?))
        })
        .await?;
    let Some(last) = last else {
        return Some((WindowTracker::new(), None));
    };
    // Older unfinished windows are long over; a crash left them `started`.
    for row in unfinished.iter().filter(|w| w.coordination_block < last) {
        if row.status == WindowStatus::Started {
            let cb = row.coordination_block;
            ctx.with_history("closing an unfinished window", move |h| {
                h.set_window_status(
                    cb,
                    WindowStatus::Interrupted,
                    Some("the node crashed or was killed during the window"),
                )
            })
            .await;
        }
    }
    let resumed = unfinished
        .iter()
        .find(|w| w.coordination_block == last)
        .map(|w| ResumedWindow {
            coordination_block: w.coordination_block,
            status: w.status,
        });
    let tracker = match &resumed {
        Some(r) => match r
            .coordination_block
            .checked_sub(COORDINATION_FREQUENCY_BLOCKS)
        {
            Some(before) if before > 0 => WindowTracker::resume_after(before),
            _ => WindowTracker::new(),
        },
        None => WindowTracker::resume_after(last),
    };
    Some((tracker, resumed))
}
