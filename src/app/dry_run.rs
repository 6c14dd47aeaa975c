//! `dry-run`: what this node would do for a wallet in a window, computed without sending or
//! dispatching anything; asked of the running node when there is one, else simulated on the
//! devnet a node with this history would be on.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::json;

use super::{ethereum, node_socket, EthereumSettings, Settings};
use crate::chain::Chain;
use crate::cli::DryRunArgs;
use crate::devnet::{resume_block, Devnet};
use crate::engine::history::HistoryWriter;
use crate::engine::records::DryRunRecord;
use crate::engine::{dry_run, ChosenWindow, DryRunWindow, WindowChoice};
use crate::protocol::action::join_names;
use crate::protocol::window::next_window_after;
use crate::protocol::CoordinationWindow;
use crate::store::Store;

/// The devnet a one-off command reads: where a node with this history would be now.
fn devnet_for_command(settings: &Settings, store: &Store) -> anyhow::Result<Devnet> {
    let mut config = settings.devnet.clone();
    if config.start_block.is_none() {
        config.start_block = resume_block(store as &dyn crate::engine::history::HistoryWriter)?;
    }
    Ok(Devnet::new(config)?)
}

/// How far ahead of the devnet's position a one-off dry run will simulate.
const MAX_FAST_FORWARD_BLOCKS: u64 = 200_000;

pub async fn dry_run_command(settings: Settings, args: &DryRunArgs) -> anyhow::Result<()> {
    if let Some(eth) = EthereumSettings::from_args(
        &args.ethereum,
        &settings.ethereum_file,
        &settings.bitcoin_file,
    )? {
        return ethereum::dry_run_command(settings, eth, args).await;
    }
    if settings.chain_id.is_some() {
        bail!("--chain-id is for Ethereum mode: pass --rpc-url too");
    }
    if let Some(mut node) =
        node_socket::running_node(&settings.socket_path(), "tbtc-coord dry-run").await?
    {
        return node_socket::dry_run_on_node(&mut node, args).await;
    }
    let store = settings.open_store().await?;
    let devnet = devnet_for_command(&settings, &store)?;
    let head = devnet.head().number;
    // No node runs: the devnet is simulated up to the window's safe block, so the next
    // window's leader can always be known.
    let (window, choice) = match args.window {
        Some(cb) => (cb, None),
        None => {
            let next = next_window_after(head);
            let choice = WindowChoice {
                chosen: ChosenWindow::Next,
                coordination_block: next.coordination_block,
                reason: format!(
                    "the next window: no node is running, so the devnet is simulated up to its safe block {} (head {head}), which makes its leader known",
                    next.safe_block()
                ),
            };
            (next.coordination_block, Some(choice))
        }
    };
    // Simulate the chain up to the window's safe block (its start, if that is past).
    let target = CoordinationWindow::new(window).safe_block().max(head);
    if target - head > MAX_FAST_FORWARD_BLOCKS {
        bail!(
            "--window {window}: more than {MAX_FAST_FORWARD_BLOCKS} blocks past the devnet's head {head}"
        );
    }
    devnet.mine(target - head);
    let operator = devnet.local_operator().address;
    let chain: &dyn Chain = &devnet;
    let config = crate::engine::NodeConfig {
        bitcoin: Some(Arc::new(devnet.clone())),
        ..settings.node_config()
    };
    let record = dry_run(
        chain,
        operator,
        &config,
        target,
        args.wallet,
        DryRunWindow::At(window),
    )
    .await
    .with_context(|| format!("dry run of wallet {} for window {window}", args.wallet))?;
    store.record_dry_run(&record)?;
    print_dry_run(&record, choice.as_ref(), args.json)
}

/// A dry run's Bitcoin side as text lines: each deposit's confirmations and whether it is
/// swept, the main UTXO and whether the chains agree on it.
pub(crate) fn bitcoin_lines(btc: &crate::engine::records::BitcoinSide) -> Vec<String> {
    let btc_amount = |sat: u64| format!("{}.{:08} BTC", sat / 100_000_000, sat % 100_000_000);
    let mut lines = vec![format!(
        "deposits         {} revealed, confirmations from Bitcoin",
        btc.deposits.len()
    )];
    for d in &btc.deposits {
        lines.push(format!(
            "  {}:{}  {}  {} conf  {}",
            d.funding_tx_hash,
            d.output_index,
            btc_amount(d.amount),
            d.confirmations,
            if d.included { "swept" } else { "not swept" }
        ));
    }
    match (&btc.main_utxo, btc.synced) {
        (Some(u), Some(true)) => lines.push(format!(
            "main UTXO        {}:{} {}, unspent on Bitcoin: the chains agree",
            u.tx_hash,
            u.output_index,
            btc_amount(u.value)
        )),
        (Some(u), _) => lines.push(format!(
            "main UTXO        {}:{} {}",
            u.tx_hash,
            u.output_index,
            btc_amount(u.value)
        )),
        (None, _) => lines.push("main UTXO        none found".to_string()),
    }
    if let Some(w) = &btc.warning {
        lines.push(format!("WARNING          {w}"));
    }
    lines
}

/// Prints a dry run as one JSON object or as text, with why its window was chosen if none
/// was named (`window_choice`).
pub(crate) fn print_dry_run(
    record: &DryRunRecord,
    choice: Option<&WindowChoice>,
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(record)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("sent".into(), json!(false));
            obj.insert("dispatched".into(), json!(false));
            if let Some(choice) = choice {
                obj.insert(
                    "window_choice".into(),
                    json!({"chosen": choice.chosen, "reason": choice.reason}),
                );
            }
        }
        writeln!(out, "{value}")?;
    } else {
        let w = CoordinationWindow::new(record.coordination_block);
        writeln!(
            out,
            "dry run of wallet {} for window {} (#{})",
            record.wallet,
            record.coordination_block,
            w.index()
        )?;
        if let Some(choice) = choice {
            writeln!(out, "  window           {}", choice.reason)?;
        }
        writeln!(
            out,
            "  safe block       {} (hash rule {})",
            record.safe_block, record.hash_rule
        )?;
        writeln!(out, "  safe block hash  {}", record.safe_block_hash)?;
        writeln!(out, "  seed             {}", record.seed)?;
        writeln!(
            out,
            "  leader           {}{}",
            record.leader,
            if record.leader_is_self { " (you)" } else { "" }
        )?;
        writeln!(out, "  checklist        {}", join_names(&record.checklist))?;
        for a in &record.actions {
            let line = match (&a.candidate, &a.validation) {
                (Some(p), Some(v)) => format!("{}: {}", p.summary(), v.summary()),
                (Some(p), None) => format!("{}: not weighed", p.summary()),
                (None, _) => format!(
                    "no candidate: {}",
                    a.reason.as_deref().unwrap_or("no reason given")
                ),
            };
            let mark = if a.chosen() { "*" } else { " " };
            writeln!(out, "  {mark} {:<15}{line}", a.action.name())?;
        }
        if let Some(btc) = &record.bitcoin {
            for line in bitcoin_lines(btc) {
                writeln!(out, "  {line}")?;
            }
        }
        if let Some(p) = &record.proposal {
            writeln!(out, "  your proposal    {}", p.summary())?;
        }
        if let Some(reason) = &record.reason {
            writeln!(out, "  why              {reason}")?;
        }
        writeln!(out, "  nothing was sent or dispatched")?;
    }
    Ok(())
}
