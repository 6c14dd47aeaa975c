//! The header: chain and connection, the Bitcoin server, this operator, the head and its age, the measured block
//! time, the next window with a countdown, and the current phase as a gauge that turns
//! warning, then critical, as the active phase nears its end.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};
use ratatui::Frame;
use tokio::time::Instant;

use super::format::{duration, eta};
use crate::engine::network_view::MessageTransport;
use crate::protocol::window::{next_window_after, window_at_or_before, Phase};
use crate::protocol::ChainConnection;
use crate::tui::app::{App, NodeLink};

/// Blocks left in the active phase at which the gauge turns warning, then critical.
const WARN_BLOCKS_LEFT: u64 = 25;
const CRITICAL_BLOCKS_LEFT: u64 = 10;

pub fn render(frame: &mut Frame, app: &App, now: Instant, header: Rect, gauge: Rect) {
    let t = &app.theme;
    let view = app.view();
    let sep = || Span::styled(" │ ", t.dim);

    let chain = match (&app.chain_status.connection, app.chain_status.chain_id) {
        (ChainConnection::Embedded, _) => {
            Span::styled(format!("{} (embedded)", view.chain), t.accent)
        }
        (ChainConnection::Connected, id) => Span::styled(
            format!(
                "chain {} connected{}",
                id.map_or("?".into(), |i| i.to_string()),
                app.chain_status
                    .rpc_latency_us
                    .map(|us| format!(", rpc {:.1} ms", us as f64 / 1000.0))
                    .unwrap_or_default()
            ),
            t.ok,
        ),
        (ChainConnection::Connecting, id) => Span::styled(
            format!(
                "chain {} connecting…",
                id.map_or("?".into(), |i| i.to_string())
            ),
            t.warning,
        ),
        (ChainConnection::Disconnected { error }, id) => Span::styled(
            format!(
                "chain {} DISCONNECTED: {error}",
                id.map_or("?".into(), |i| i.to_string())
            ),
            t.critical,
        ),
    };
    let operator = match view.operator {
        Some(op) => Span::styled(
            format!("{}{}", op, if view.observer { " (observer)" } else { "" }),
            t.own,
        ),
        None => Span::styled("operator ?", t.dim),
    };

    let mut line1 = vec![Span::styled("tbtc-coord", t.title), sep()];
    match &app.link {
        NodeLink::InProcess => {}
        NodeLink::Connecting => {
            line1.push(Span::styled("connecting to the node…", t.warning));
            line1.push(sep());
        }
        NodeLink::Attached { pid } => {
            line1.push(Span::styled(format!("attached to pid {pid}"), t.accent));
            line1.push(sep());
        }
        NodeLink::Disconnected { pid, since, .. } => {
            line1.push(Span::styled(
                format!(
                    "disconnected{} {} ago, retrying",
                    pid.map(|p| format!(" from pid {p}")).unwrap_or_default(),
                    duration(now.saturating_duration_since(*since))
                ),
                t.critical,
            ));
            line1.push(sep());
        }
    }
    line1.push(chain);
    // The Bitcoin view: its server, tip and latency, or why it is down.
    if let Some(btc) = &app.chain_status.bitcoin {
        line1.push(sep());
        line1.push(if btc.connected {
            Span::styled(
                format!(
                    "btc {}{}{}",
                    btc.server,
                    btc.tip.map(|t| format!(" tip {t}")).unwrap_or_default(),
                    btc.latency_us
                        .map(|us| format!(", {:.1} ms", us as f64 / 1000.0))
                        .unwrap_or_default()
                ),
                t.ok,
            )
        } else {
            Span::styled(
                format!(
                    "btc {} DOWN: {}",
                    btc.server,
                    btc.error.as_deref().unwrap_or("not connected")
                ),
                t.critical,
            )
        });
    }
    line1.extend([sep(), operator]);
    let net = &view.network;
    match net.transport {
        MessageTransport::PeerNetwork => {
            let reached = net.bootstrap_connected();
            line1.push(sep());
            line1.push(Span::styled(
                format!("{} peers", net.peers.len()),
                if net.peers.is_empty() {
                    t.critical
                } else {
                    t.ok
                },
            ));
            line1.push(Span::styled(
                format!(", bootstrap {reached}/{} reached", net.bootstrap_peers),
                if net.bootstrap_peers > 0 && reached == 0 {
                    t.warning
                } else {
                    t.base
                },
            ));
        }
        MessageTransport::Hub => {
            line1.push(sep());
            line1.push(Span::styled("in-process hub", t.dim));
        }
        MessageTransport::None => {
            line1.push(sep());
            line1.push(Span::styled("no peer transport", t.warning));
        }
        MessageTransport::Unknown => {}
    }
    if app.paused() {
        line1.push(sep());
        line1.push(Span::styled("PAUSED", t.critical));
    }

    let avg = app.clock.average();
    let mut line2 = Vec::new();
    match view.head {
        Some(head) => {
            line2.push(Span::styled(format!("Block {}", head.number), t.title));
            let age = app
                .clock
                .age(now)
                .map(duration)
                .unwrap_or_else(|| "?".into());
            if app.clock.is_stale(now) {
                line2.push(Span::styled(format!(" ({age} ago, STALE)"), t.critical));
            } else {
                line2.push(Span::styled(format!(" ({age} ago)"), t.dim));
            }
            line2.push(sep());
            line2.push(Span::styled(
                format!(
                    "avg {}/block",
                    avg.map(duration).unwrap_or_else(|| "?".into())
                ),
                t.base,
            ));
            let next = next_window_after(head.number);
            let left = next.coordination_block - head.number;
            line2.push(sep());
            line2.push(Span::styled(
                format!(
                    "Next window {} in {left} blocks ({})",
                    next.coordination_block,
                    eta(left, avg)
                ),
                t.accent,
            ));
        }
        None => line2.push(Span::styled(
            "Block ? (waiting for the first block)",
            t.warning,
        )),
    }
    line2.push(sep());
    line2.push(Span::styled(
        format!("rule {}", view.block_hash_rule),
        t.dim,
    ));
    frame.render_widget(
        Paragraph::new(vec![Line::from(line1), Line::from(line2)]),
        header,
    );

    render_gauge(frame, app, gauge);
}

fn render_gauge(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(head) = app.head() else {
        frame.render_widget(Paragraph::new(Span::styled("phase: unknown", t.dim)), area);
        return;
    };
    let current = window_at_or_before(head);
    let (label, ratio, style) = match current.map(|w| (w, w.phase_at(head))) {
        Some((w, Phase::Active)) => {
            let left = w.active_phase_end() - head;
            let style = if left <= CRITICAL_BLOCKS_LEFT {
                t.critical
            } else if left <= WARN_BLOCKS_LEFT {
                t.warning
            } else {
                t.ok
            };
            (
                format!(
                    "ACTIVE  window {}: {left} of 80 blocks left",
                    w.coordination_block
                ),
                (head - w.coordination_block) as f64 / 80.0,
                style,
            )
        }
        Some((w, Phase::Passive)) => (
            format!(
                "passive window {}: {} blocks to its end",
                w.coordination_block,
                w.end_block() - head
            ),
            (head - w.active_phase_end()) as f64 / 20.0,
            t.accent,
        ),
        _ => {
            let next = next_window_after(head);
            let since = current.map_or(0, |w| w.end_block());
            let span = next.coordination_block.saturating_sub(since).max(1);
            (
                format!(
                    "idle    next window {} in {} blocks",
                    next.coordination_block,
                    next.coordination_block - head
                ),
                head.saturating_sub(since) as f64 / span as f64,
                t.dim,
            )
        }
    };
    frame.render_widget(
        LineGauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(Span::styled(label, style))
            .filled_style(style)
            .unfilled_style(t.dim),
        area,
    );
}
