//! Headless mode: a subscriber of the event bus that prints one line per event, as text for
//! people or as JSON for scripts. If it falls behind the bus it says so and carries on from
//! the node's snapshot instead of pretending nothing was lost.

use std::io::Write;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::engine::bus::EventBus;
use crate::engine::events::Event;
use crate::engine::network_view::MessageTransport;
use crate::protocol::action::join_names;

/// How the printer formats events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintOptions {
    pub json: bool,
    /// Include per-block and per-executor events.
    pub all_events: bool,
}

/// Events too frequent to print by default.
fn is_chatty(event: &Event) -> bool {
    matches!(
        event,
        Event::Block { .. }
            | Event::ExecutorStarted { .. }
            | Event::PeerPing { .. }
            | Event::MembersHeard { .. }
            | Event::MessageTotals { .. }
            | Event::WalletBitcoin(_)
    )
}

/// One human-readable line.
pub fn describe(event: &Event) -> String {
    match event {
        Event::NodeStarted {
            chain,
            operator,
            observer,
            block_hash_rule,
            wallets,
            transport,
            bootstrap_peers,
        } => format!(
            "node started on {chain} as {operator}{}; {} wallets; block hash rule {block_hash_rule}; {}",
            if *observer { " (observer)" } else { "" },
            wallets.len(),
            match transport {
                MessageTransport::Hub => "in-process hub".to_string(),
                MessageTransport::PeerNetwork => format!("peer network, {bootstrap_peers} bootstrap peers"),
                MessageTransport::None => "no peer transport".to_string(),
                MessageTransport::Unknown => "transport unknown".to_string(),
            }
        ),
        Event::Block { block } => format!("block {} {}", block.number, block.hash.short()),
        Event::WindowStarted {
            coordination_block,
            index,
            late,
            observed_block,
            other_rule_hash,
            ..
        } => format!(
            "window {coordination_block} (#{index}) started{}{}",
            if *late {
                format!(" late, at block {observed_block}")
            } else {
                String::new()
            },
            if other_rule_hash.is_some() {
                "; the two block hash rules differ for its safe block"
            } else {
                ""
            }
        ),
        Event::WindowMissed {
            coordination_block,
            observed_block,
            reason,
            ..
        } => format!("window {coordination_block} MISSED at block {observed_block}: {reason}"),
        Event::WindowInterrupted {
            coordination_block,
            results,
            interrupted,
            reason,
            ..
        } => format!(
            "window {coordination_block} INTERRUPTED: {reason}; {results} results kept, \
             {interrupted} procedures cut off (they recorded nothing)"
        ),
        Event::WindowUnrecorded {
            coordination_block,
            outcome,
        } => format!(
            "window {coordination_block} {} but NOT RECORDED: the history cannot be written",
            outcome.to_uppercase()
        ),
        Event::ActionRestored {
            wallet,
            coordination_block,
            action,
            expiry_block,
            ..
        } => format!(
            "wallet {} window {coordination_block}: {action} restored after a restart, expires at block {expiry_block}",
            wallet.short()
        ),
        Event::HistoryError { what, error } => {
            format!("HISTORY ERROR {what}: {error} (not announced as kept)")
        }
        Event::MessagesDropped {
            wallet,
            coordination_block,
            reason,
            total,
        } => format!(
            "wallet {} window {coordination_block}: {total} coordination messages dropped so far ({})",
            wallet.short(),
            reason.name()
        ),
        Event::MessagesRejected { reason, total } => format!(
            "{total} invalid coordination messages rejected so far ({})",
            reason.name()
        ),
        Event::PeerConnected {
            peer,
            operator,
            admitted,
            bootstrap,
        } => {
            let kind = if *bootstrap { "bootstrap peer" } else { "peer" };
            match operator {
                Some(op) => format!("{kind} {peer} (operator {op}) connected: {admitted}"),
                None => format!("{kind} {peer} connected: {admitted}"),
            }
        }
        Event::PeerPing { peer, rtt_us } => {
            format!("peer {peer} ping {:.1} ms", *rtt_us as f64 / 1000.0)
        }
        Event::MembersHeard {
            wallet,
            coordination_block,
            seats,
        } => format!(
            "wallet {} window {coordination_block}: heard seats {}",
            wallet.short(),
            seats.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
        ),
        Event::MessageTotals {
            received,
            accepted,
            rejected,
        } => format!(
            "messages: {received} received, {accepted} accepted, {} rejected",
            rejected.values().sum::<u64>()
        ),
        Event::WindowRejections {
            coordination_block,
            rejected,
        } => format!(
            "window {coordination_block}: rejected {}",
            rejected
                .iter()
                .map(|(r, n)| format!("{n} {}", r.name()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Event::PeerDisconnected { peer } => format!("peer {peer} disconnected"),
        Event::PeerRefused { peer, reason } => format!("peer {peer} REFUSED: {reason}"),
        Event::MessagesLost { count } => {
            format!("{count} coordination messages LOST: the message stream overflowed")
        }
        Event::ExecutorStarted {
            wallet,
            coordination_block,
            role,
            leader,
            start_delay_us,
        } => format!(
            "executor {} window {coordination_block}: {} (leader {leader}), started after {start_delay_us} µs",
            wallet.short(),
            role.name()
        ),
        Event::ExecutorsStarted {
            coordination_block,
            executors,
            max_start_delay_us,
        } => format!(
            "window {coordination_block}: {executors} executors started within {:.3} ms",
            *max_start_delay_us as f64 / 1000.0
        ),
        Event::ExecutorBusy {
            wallet,
            coordination_block,
        } => format!("executor {} BUSY: window {coordination_block} not coordinated", wallet.short()),
        Event::ExecutorFailed {
            wallet,
            coordination_block,
            error,
        } => format!("executor {} window {coordination_block} FAILED: {error}", wallet.short()),
        Event::LeaderForecast {
            coordination_block,
            leaders,
        } => {
            let mine = leaders.iter().filter(|l| l.is_self).count();
            format!(
                "window {coordination_block}: leaders known for {} wallets; this node leads {mine}",
                leaders.len()
            )
        }
        Event::CoordinationResult(r) => format!(
            "wallet {} window {}: leader {}{} -> {} [checklist {}]{}{}",
            r.wallet.short(),
            r.coordination_block,
            r.leader,
            if r.role == crate::protocol::Role::Leader {
                " (this node)"
            } else {
                ""
            },
            r.proposal.summary(),
            join_names(&r.checklist),
            match (r.unheard, r.faults.len(), r.members_connected) {
                (true, _, _) => ", UNHEARD: connected to no other member".to_string(),
                (false, 0, _) => String::new(),
                (false, n, Some(m)) => format!(", {n} faults ({m} other members connected)"),
                (false, n, None) => format!(", {n} faults"),
            },
            r.refusals
                .iter()
                .map(|f| format!("; {} not sent ({})", f.action, f.reason))
                .collect::<String>()
        ),
        Event::Fault {
            wallet,
            coordination_block,
            culprit,
            fault,
        } => format!(
            "FAULT {fault} by {culprit} in wallet {} window {coordination_block}",
            wallet.short()
        ),
        Event::WindowCompleted {
            coordination_block,
            results,
            faults,
        } => format!("window {coordination_block} completed: {results} results, {faults} faults"),
        Event::ProposalDispatched {
            wallet,
            coordination_block,
            action,
            start_block,
            expiry_block,
        } => format!(
            "dispatched {action} for wallet {} (window {coordination_block}): blocks {start_block}..{expiry_block}",
            wallet.short()
        ),
        Event::DispatchRejected {
            wallet,
            coordination_block,
            action,
            reason,
        } => format!(
            "REJECTED {action} for wallet {} (window {coordination_block}): {reason}",
            wallet.short()
        ),
        Event::ActionStarted {
            wallet,
            action,
            block,
            ..
        } => format!("{action} for wallet {} running from block {block}", wallet.short()),
        Event::ActionFinished {
            wallet,
            coordination_block,
            action,
            outcome,
            block,
        } => format!(
            "{action} for wallet {} (window {coordination_block}) {} at block {block}",
            wallet.short(),
            outcome.name()
        ),
        Event::DryRun(d) => format!(
            "dry run: wallet {} window {}: leader {}{}",
            d.wallet.short(),
            d.coordination_block,
            d.leader,
            if d.leader_is_self { " (you)" } else { "" }
        ),
        Event::WalletBitcoin(b) => match (&b.main_utxo, &b.error) {
            (_, Some(e)) => format!("wallet {}: Bitcoin not read: {e}", b.wallet.short()),
            (Some(u), None) => format!(
                "wallet {}: main UTXO {}:{} {} sat, {} confirmations{}",
                b.wallet.short(),
                u.tx_hash.short(),
                u.output_index,
                u.value,
                b.confirmations.unwrap_or(0),
                match &b.warning {
                    Some(w) => format!(" (not synced: {w})"),
                    None => String::new(),
                }
            ),
            (None, None) => match &b.warning {
                Some(w) => format!("wallet {}: not synced: {w}", b.wallet.short()),
                None => format!("wallet {}: no main UTXO", b.wallet.short()),
            },
        },
        Event::NodeStopped => "node stopped".to_string(),
    }
}

/// One output line for an event, or `None` if the options leave it out.
pub fn render(event: &Event, options: PrintOptions) -> Option<String> {
    if is_chatty(event) && !options.all_events {
        return None;
    }
    if options.json {
        serde_json::to_string(event).ok()
    } else {
        Some(describe(event))
    }
}

/// Why printing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintEnd {
    /// `node_stopped` was printed: everything the node announced before it was too.
    NodeStopped,
    /// The bus closed.
    BusClosed,
    /// The reader went away (e.g. `| head`): there is no one left to print for.
    OutputClosed,
}

/// Prints events until `node_stopped` (which it prints) or the bus closes. Stopping is not
/// the printer's call: when `stop_after_windows` windows have been decided (completed or
/// missed: a missed window has gone by too, and waiting for it would wait forever) it cancels `stop`
/// and goes on printing until the node has stopped, so what the node announced while
/// stopping is printed too. A write error other than a closed pipe is returned.
pub async fn print_events(
    mut events: broadcast::Receiver<Event>,
    bus: EventBus,
    options: PrintOptions,
    stop_after_windows: Option<u64>,
    stop: CancellationToken,
) -> std::io::Result<PrintEnd> {
    let mut completed = 0;
    let stdout = std::io::stdout();
    let print = |line: &str| -> std::io::Result<bool> {
        let mut out = stdout.lock();
        match writeln!(out, "{line}").and_then(|_| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e),
        }
    };
    let count_window = |completed: u64| {
        if stop_after_windows.is_some_and(|n| completed >= n) {
            stop.cancel();
        }
    };
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                let snapshot = bus.snapshot();
                let line = if options.json {
                    serde_json::json!({
                        "type": "lagged",
                        "skipped": skipped,
                        "head": snapshot.head.map(|h| h.number),
                        "windows_completed": snapshot.windows_completed,
                    })
                    .to_string()
                } else {
                    format!(
                        "(output fell behind: {skipped} events not printed; node at block {})",
                        snapshot.head.map_or(0, |h| h.number)
                    )
                };
                if !print(&line)? {
                    return Ok(PrintEnd::OutputClosed);
                }
                // Windows decided in the gap still count.
                completed = completed.max(
                    snapshot.windows_completed
                        + snapshot.windows_missed
                        + snapshot.windows_unrecorded,
                );
                count_window(completed);
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(PrintEnd::BusClosed),
        };
        if let Some(line) = render(&event, options) {
            if !print(&line)? {
                return Ok(PrintEnd::OutputClosed);
            }
        }
        match event {
            Event::WindowCompleted { .. } | Event::WindowMissed { .. } => {
                completed += 1;
                count_window(completed);
            }
            // Interrupted windows are the shutdown's doing, recorded or not.
            Event::WindowUnrecorded { ref outcome, .. } if outcome != "interrupted" => {
                completed += 1;
                count_window(completed);
            }
            Event::NodeStopped => return Ok(PrintEnd::NodeStopped),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missed_window_counts_towards_stop_after_windows() {
        let bus = EventBus::default();
        let events = bus.subscribe();
        let stop = CancellationToken::new();
        let printer = tokio::spawn(print_events(
            events,
            bus.clone(),
            PrintOptions {
                json: true,
                all_events: false,
            },
            Some(1),
            stop.clone(),
        ));
        bus.publish(Event::WindowMissed {
            coordination_block: 900,
            index: 1,
            observed_block: 985,
            reason: "its active phase was over when the node saw it".into(),
        });
        bus.publish(Event::NodeStopped);
        assert!(matches!(printer.await.unwrap(), Ok(PrintEnd::NodeStopped)));
        // The printer reads in order: the missed window asked the node to stop.
        assert!(stop.is_cancelled());
    }
}
