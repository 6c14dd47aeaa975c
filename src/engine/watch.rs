//! The window watch: follows new heads, decides windows (see [`super::window_tracker`]),
//! forecasts the next leaders and begins one executor procedure per wallet and window.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{broadcast, mpsc};

use super::context::NodeContext;
use super::events::{Event, ForecastLeader};
use super::executor::{Executor, ExecutorOutcome};
use super::results::ProcessorInput;
use super::window_tracker::{WindowDecision, WindowTracker};
use crate::chain::{BlockRef, ChainError};
use crate::protocol::window::next_window_after;
use crate::protocol::{BlockHashRule, CoordinationWindow, Hash32};
use crate::store::WindowStatus;

pub(super) async fn watch_windows(
    ctx: Arc<NodeContext>,
    mut blocks: crate::chain::BlockStream,
    executors: Arc<Vec<Arc<Executor>>>,
    results: mpsc::UnboundedSender<ProcessorInput>,
) {
    let mut tracker = match ctx.store.last_window() {
        Ok(Some(cb)) => WindowTracker::resume_after(cb),
        Ok(None) => WindowTracker::new(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the last window from the store; starting fresh");
            WindowTracker::new()
        }
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
                    tracing::warn!(
                        cb = window.coordination_block,
                        observed_block,
                        "window missed: its active phase was over when the node saw it"
                    );
                    if let Err(e) = ctx.store.record_window(
                        window.coordination_block,
                        WindowStatus::Missed,
                        false,
                        observed_block,
                    ) {
                        tracing::error!(error = %e, "recording a missed window failed");
                    }
                    ctx.bus.publish(Event::WindowMissed {
                        coordination_block: window.coordination_block,
                        index: window.index(),
                        observed_block,
                    });
                }
            }
        }
        forecast(&ctx, &block, &executors, &mut forecast_for).await;
        // Devnet back-pressure: this node is done with the block (its executors started).
        if let Some(pace) = &ctx.config.pace {
            pace.handled(block.number);
        }
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
    if let Err(e) = ctx
        .store
        .record_window(cb, WindowStatus::Started, late, observed_block)
    {
        tracing::error!(error = %e, "recording a started window failed");
    }
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
    ctx.bus.publish(Event::WindowStarted {
        coordination_block: cb,
        index: window.index(),
        late,
        observed_block,
        safe_block: window.safe_block(),
        safe_block_hash: hash,
        other_rule_hash,
    });
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
            Ok(procedure) => {
                let ctx = ctx.clone();
                let results = results.clone();
                tokio::spawn(async move {
                    let outcome = procedure.run(&ctx).await;
                    let _ = results.send(ProcessorInput::Outcome(outcome));
                });
            }
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
}
