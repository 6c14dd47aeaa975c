//! `inspect`: the protocol's pure rules on the operator's inputs (a seed, a leader, a
//! checklist, a window's phases), to check them against another implementation. No chain,
//! no history.

use std::io::Write;

use anyhow::bail;
use serde_json::json;

use crate::cli::InspectCommand;
use crate::protocol::action::join_names;
use crate::protocol::leader::SigningGroup;
use crate::protocol::window::{next_window_after, window_at_or_before, Phase};
use crate::protocol::{checklist, coordination_seed, CoordinationWindow};

fn window_json(w: CoordinationWindow, block: u64) -> serde_json::Value {
    json!({
        "coordination_block": w.coordination_block,
        "index": w.index(),
        "safe_block": w.safe_block(),
        "active_phase": [w.coordination_block, w.active_phase_end() - 1],
        "passive_phase": [w.active_phase_end(), w.end_block() - 1],
        "end_block": w.end_block(),
        "phase_at_block": w.phase_at(block),
    })
}

fn window_text(label: &str, w: CoordinationWindow, block: u64) -> String {
    let phase = match w.phase_at(block) {
        Phase::Before => "before",
        Phase::Active => "active",
        Phase::Passive => "passive",
        Phase::Ended => "ended",
    };
    format!(
        "{label} window {} (#{}): safe block {}, active {}..{}, passive {}..{}, ends {}; at block {block}: {phase}",
        w.coordination_block,
        w.index(),
        w.safe_block(),
        w.coordination_block,
        w.active_phase_end() - 1,
        w.active_phase_end(),
        w.end_block() - 1,
        w.end_block()
    )
}

pub fn inspect_command(command: &InspectCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        InspectCommand::Seed {
            wallet,
            safe_block_hash,
            json,
        } => {
            let seed = coordination_seed(wallet, safe_block_hash);
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({"wallet": wallet, "safe_block_hash": safe_block_hash, "seed": seed})
                )?;
            } else {
                writeln!(out, "{seed}")?;
            }
        }
        InspectCommand::Leader {
            seed,
            operators,
            json,
        } => {
            let group = SigningGroup::new(operators.clone())
                .map_err(|e| crate::cli::UsageError(format!("--operators: {e}")))?;
            let Some(leader) = group.leader(seed) else {
                bail!("--operators: expected at least one address");
            };
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "seed": seed,
                        "rng_seed": seed.rng_seed(),
                        "leader": leader.operator,
                        "member_index": leader.member_index,
                        "candidates": group.candidates(),
                    })
                )?;
            } else {
                writeln!(out, "{}", leader.operator)?;
            }
        }
        InspectCommand::Checklist { block, seed, json } => {
            let window = CoordinationWindow::new(*block);
            let actions = checklist(window, seed);
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({"coordination_block": block, "index": window.index(), "seed": seed, "checklist": actions})
                )?;
            } else {
                writeln!(out, "{}", join_names(&actions))?;
            }
        }
        InspectCommand::Window { block, json } => {
            let current = window_at_or_before(*block);
            let next = next_window_after(*block);
            if *json {
                writeln!(
                    out,
                    "{}",
                    json!({
                        "block": block,
                        "current": current.map(|w| window_json(w, *block)),
                        "next": window_json(next, *block),
                        "blocks_to_next": next.coordination_block - block,
                    })
                )?;
            } else {
                match current {
                    Some(w) => writeln!(out, "{}", window_text("current", w, *block))?,
                    None => writeln!(
                        out,
                        "current: none (block {block} is before the first window)"
                    )?,
                }
                writeln!(out, "{}", window_text("next", next, *block))?;
                writeln!(
                    out,
                    "blocks to next window: {}",
                    next.coordination_block - block
                )?;
            }
        }
    }
    Ok(())
}
