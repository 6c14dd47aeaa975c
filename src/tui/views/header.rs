//! The header: chain and connection, the Bitcoin server, this operator, the head and its age, the measured block
//! time, the next window with a countdown, and the current phase as a gauge that turns
//! warning, then critical, as the active phase nears its end.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};
use ratatui::Frame;
use tokio::time::Instant;

use super::fit;
use super::format::{count, duration, eta};
use crate::engine::network_view::MessageTransport;
use crate::protocol::window::{next_window_after, window_at_or_before, Phase};
use crate::protocol::ChainConnection;
use crate::tui::app::{App, NodeLink};

/// Blocks left in the active phase at which the gauge turns warning, then critical.
const WARN_BLOCKS_LEFT: u64 = 25;
const CRITICAL_BLOCKS_LEFT: u64 = 10;

pub fn render(frame: &mut Frame, app: &App, now: Instant, header: Rect, gauge: Rect) {
    let max = usize::from(header.width);
    let line1 = first_line(app, now, max);
    let line2 = second_line(app, now, max);
    frame.render_widget(Paragraph::new(vec![line1, line2]), header);
    render_gauge(frame, app, gauge);
}

/// How much of each part the first line spells out, most first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Full,
    /// The operator's address shortened.
    Short,
    /// Latencies and the Bitcoin tip left out too.
    Shorter,
    /// Each part in a word or two.
    Terse,
}

/// Who and where: the node's link, the chain, the Bitcoin server, the operator and the
/// transport. Parts are shortened first, then the least important dropped, so that the link,
/// the chain and the transport always show whole.
fn first_line(app: &App, now: Instant, max: usize) -> Line<'static> {
    let sep = || Span::styled(" │ ", app.theme.dim);
    for detail in [Detail::Full, Detail::Short, Detail::Shorter] {
        let parts = first_line_parts(app, now, detail);
        if full_width(&parts) <= max {
            return fit::line(max, parts, sep());
        }
    }
    fit::line(max, first_line_parts(app, now, Detail::Terse), sep())
}

fn first_line_parts(app: &App, now: Instant, detail: Detail) -> Vec<fit::Part<'static>> {
    let t = &app.theme;
    let view = app.view();
    let id = |id: Option<u64>| id.map_or("?".into(), |i| i.to_string());
    let chain = match (&app.chain_status.connection, app.chain_status.chain_id) {
        (ChainConnection::Embedded, _) => match detail {
            Detail::Terse => Span::styled(view.chain.clone(), t.accent),
            _ => Span::styled(format!("{} (embedded)", view.chain), t.accent),
        },
        (ChainConnection::Connected, cid) => Span::styled(
            format!(
                "chain {} connected{}",
                id(cid),
                app.chain_status
                    .rpc_latency_us
                    .filter(|_| detail <= Detail::Short)
                    .map(|us| format!(", rpc {:.1} ms", us as f64 / 1000.0))
                    .unwrap_or_default()
            ),
            t.ok,
        ),
        (ChainConnection::Connecting, cid) => {
            Span::styled(format!("chain {} connecting…", id(cid)), t.warning)
        }
        (ChainConnection::Disconnected { error }, cid) => Span::styled(
            match detail {
                Detail::Full | Detail::Short => {
                    format!("chain {} DISCONNECTED: {error}", id(cid))
                }
                _ => format!("chain {} DISCONNECTED", id(cid)),
            },
            t.critical,
        ),
    };
    let operator = match view.operator {
        Some(op) => Span::styled(
            format!(
                "{}{}",
                if detail == Detail::Full {
                    op.to_string()
                } else {
                    op.short()
                },
                if view.observer { " (observer)" } else { "" }
            ),
            t.own,
        ),
        None => Span::styled("operator ?", t.dim),
    };

    let mut parts = vec![fit::Part::one(5, Span::styled("tbtc-coord", t.title))];
    match &app.link {
        NodeLink::InProcess => {}
        NodeLink::Connecting => parts.push(fit::Part::one(
            0,
            Span::styled("connecting to the node…", t.warning),
        )),
        NodeLink::Attached { pid } => parts.push(fit::Part::one(
            0,
            Span::styled(format!("attached to pid {pid}"), t.accent),
        )),
        NodeLink::Disconnected { pid, since, .. } => parts.push(fit::Part::one(
            0,
            Span::styled(
                format!(
                    "disconnected{} {} ago, retrying",
                    pid.map(|p| format!(" from pid {p}")).unwrap_or_default(),
                    duration(now.saturating_duration_since(*since))
                ),
                t.critical,
            ),
        )),
    }
    parts.push(fit::Part::one(0, chain));
    // The Bitcoin view: its server, tip and latency, or why it is down.
    if let Some(btc) = &app.chain_status.bitcoin {
        let span = match (btc.connected, detail) {
            (true, Detail::Full | Detail::Short) => Span::styled(
                format!(
                    "btc {}{}{}",
                    btc.server,
                    btc.tip.map(|t| format!(" tip {t}")).unwrap_or_default(),
                    btc.latency_us
                        .map(|us| format!(", {:.1} ms", us as f64 / 1000.0))
                        .unwrap_or_default()
                ),
                t.ok,
            ),
            (true, Detail::Shorter) => Span::styled(format!("btc {}", btc.server), t.ok),
            (true, Detail::Terse) => Span::styled("btc up", t.ok),
            (false, Detail::Full | Detail::Short) => Span::styled(
                format!(
                    "btc {} DOWN: {}",
                    btc.server,
                    btc.error.as_deref().unwrap_or("not connected")
                ),
                t.critical,
            ),
            (false, _) => Span::styled("btc DOWN", t.critical),
        };
        parts.push(fit::Part::one(if btc.connected { 3 } else { 1 }, span));
    }
    parts.push(fit::Part::one(4, operator));
    let net = &view.network;
    match net.transport {
        MessageTransport::PeerNetwork => {
            let reached = net.bootstrap_connected();
            let mut spans = vec![Span::styled(
                count(net.peers.len(), "peer"),
                if net.peers.is_empty() {
                    t.critical
                } else {
                    t.ok
                },
            )];
            // Without bootstrap peers configured (the devnet's swarms) there is nothing to
            // reach.
            if net.bootstrap_peers > 0 {
                spans.push(Span::styled(
                    match detail {
                        Detail::Terse => format!(", boot {reached}/{}", net.bootstrap_peers),
                        _ => format!(", bootstrap {reached}/{} reached", net.bootstrap_peers),
                    },
                    if reached == 0 { t.warning } else { t.base },
                ));
            }
            parts.push(fit::Part::new(0, spans));
        }
        MessageTransport::Hub => parts.push(fit::Part::one(
            0,
            Span::styled(
                if detail == Detail::Terse {
                    "hub"
                } else {
                    "in-process hub"
                },
                t.dim,
            ),
        )),
        MessageTransport::None => parts.push(fit::Part::one(
            0,
            Span::styled("no peer transport", t.warning),
        )),
        MessageTransport::Unknown => {}
    }
    if app.paused() {
        // The footer says so too, so this goes first when room is short.
        parts.push(fit::Part::one(6, Span::styled("PAUSED", t.critical)));
    }
    parts
}

/// When: the head and its age, the block time, the next window, the hash rule.
fn second_line(app: &App, now: Instant, max: usize) -> Line<'static> {
    let t = &app.theme;
    let view = app.view();
    let avg = app.clock.average();
    let sep = Span::styled(" │ ", t.dim);
    let Some(head) = view.head else {
        return fit::line(
            max,
            vec![
                fit::Part::one(
                    0,
                    Span::styled("Block ? (waiting for the first block)", t.warning),
                ),
                fit::Part::one(
                    3,
                    Span::styled(format!("rule {}", view.block_hash_rule), t.dim),
                ),
            ],
            sep,
        );
    };
    let age = app
        .clock
        .age(now)
        .map(duration)
        .unwrap_or_else(|| "?".into());
    let block = vec![
        Span::styled(format!("Block {}", head.number), t.title),
        if app.clock.is_stale(now) {
            Span::styled(format!(" ({age} ago, STALE)"), t.critical)
        } else {
            Span::styled(format!(" ({age} ago)"), t.dim)
        },
    ];
    let next = next_window_after(head.number);
    let left = next.coordination_block - head.number;
    let parts = |long: bool| {
        vec![
            fit::Part::new(0, block.clone()),
            fit::Part::one(
                2,
                Span::styled(
                    format!(
                        "avg {}/block",
                        avg.map(duration).unwrap_or_else(|| "?".into())
                    ),
                    t.base,
                ),
            ),
            fit::Part::one(
                1,
                Span::styled(
                    if long {
                        format!(
                            "Next window {} in {} ({})",
                            next.coordination_block,
                            count(left as usize, "block"),
                            eta(left, avg)
                        )
                    } else {
                        format!(
                            "Next {} in {} ({})",
                            next.coordination_block,
                            count(left as usize, "block"),
                            eta(left, avg)
                        )
                    },
                    t.accent,
                ),
            ),
            fit::Part::one(
                3,
                Span::styled(format!("rule {}", view.block_hash_rule), t.dim),
            ),
        ]
    };
    if full_width(&parts(true)) <= max {
        return fit::line(max, parts(true), sep);
    }
    fit::line(max, parts(false), sep)
}

fn full_width(parts: &[fit::Part]) -> usize {
    parts.iter().map(|p| fit::width(&p.spans)).sum::<usize>() + 3 * parts.len().saturating_sub(1)
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
                "passive window {}: {} to its end",
                w.coordination_block,
                count((w.end_block() - head) as usize, "block")
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
                    "idle    next window {} in {}",
                    next.coordination_block,
                    count((next.coordination_block - head) as usize, "block")
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
