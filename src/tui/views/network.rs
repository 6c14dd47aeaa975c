//! The Network tab: the connected peers (who, why the firewall let them in, since which block,
//! their ping, the wallets shared), the selected wallet's seats in its latest window as a
//! grid (tmtop's live view of who has spoken), and rejected messages by reason per window.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::format::eta;
use super::pane;
use super::seats::{grid, SeatState};
use crate::engine::network_view::MessageTransport;
use crate::engine::snapshot::{NodeSnapshot, WalletView};
use crate::protocol::Role;
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// `16Uiu2H…x7Qa`: enough to tell peers apart.
fn short_peer(peer: &str) -> String {
    let chars: Vec<char> = peer.chars().collect();
    if chars.len() <= 12 {
        return peer.to_string();
    }
    let head: String = chars[..7].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let view = app.view();
    let [summary, peers, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(45),
        Constraint::Min(4),
    ])
    .areas(area);
    render_summary(frame, app, view, summary);
    render_peers(frame, app, view, peers);
    let [seats, rejections] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(bottom);
    render_seats(frame, app, view, seats);
    render_rejections(frame, app, view, rejections);
}

fn render_summary(frame: &mut Frame, app: &App, view: &NodeSnapshot, area: Rect) {
    let t = &app.theme;
    let net = &view.network;
    let line = match net.transport {
        MessageTransport::PeerNetwork => Line::from(vec![
            Span::styled(format!("{} peers connected", net.peers.len()), t.title),
            Span::styled(" · ", t.dim),
            Span::styled(
                format!(
                    "bootstrap {}/{} reached",
                    net.bootstrap_connected(),
                    net.bootstrap_peers
                ),
                if net.bootstrap_peers > 0 && net.bootstrap_connected() == 0 {
                    t.critical
                } else {
                    t.base
                },
            ),
            Span::styled(" · ", t.dim),
            Span::styled(
                format!("{} refused", view.peers_refused),
                if view.peers_refused > 0 {
                    t.warning
                } else {
                    t.dim
                },
            ),
        ]),
        MessageTransport::Hub => Line::from(Span::styled(
            "in-process hub: no peer network (every simulated operator is reached directly; \
             --devnet-transport libp2p runs real swarms)",
            t.accent,
        )),
        MessageTransport::None => Line::from(Span::styled(
            "no peer transport: this node neither hears nor reaches other operators",
            t.warning,
        )),
        MessageTransport::Unknown => {
            Line::from(Span::styled("waiting for the node to start", t.dim))
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn render_peers(frame: &mut Frame, app: &App, view: &NodeSnapshot, area: Rect) {
    let t = &app.theme;
    let net = &view.network;
    let title = format!("Peers ({})", net.peers.len());
    if net.transport != MessageTransport::PeerNetwork || net.peers.is_empty() {
        let text = match net.transport {
            MessageTransport::PeerNetwork => "no peer connected yet",
            _ => "no peers on this transport",
        };
        let mut lines = vec![Line::from(Span::styled(text, t.dim))];
        if let Some((peer, reason)) = net.refused.back() {
            lines.push(Line::from(Span::styled(
                format!("last refused: {} — {reason}", short_peer(peer)),
                t.warning,
            )));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(pane(app, &title)),
            area,
        );
        return;
    }
    let head = app.head();
    let avg = app.clock.average();
    let header = Row::new(
        ["Peer", "Operator", "Admitted", "Since", "Ping", "Wallets"]
            .map(|h| Cell::from(Span::styled(h, t.title))),
    );
    // Only the rows that fit are built: a hundred peers cost what a screenful does.
    let visible = usize::from(area.height.saturating_sub(3));
    let first = app
        .peer_scroll
        .min(net.peers.len().saturating_sub(visible.max(1)));
    let rows = net.peers.iter().skip(first).take(visible).map(|(peer, p)| {
        let operator = match p.operator {
            Some(op) if Some(op) == view.operator => Span::styled(op.short(), t.own),
            Some(op) => Span::styled(op.short(), t.base),
            None => Span::styled("?", t.warning),
        };
        let admitted = if p.bootstrap {
            format!("{} · bootstrap", p.admitted)
        } else {
            p.admitted.clone()
        };
        let since = match (p.since_block, head) {
            (Some(b), Some(h)) => format!("{b} ({} ago)", eta(h.saturating_sub(b), avg)),
            (Some(b), None) => b.to_string(),
            (None, _) => "?".into(),
        };
        let ping = match p.rtt_us {
            Some(us) => Span::styled(format!("{:.1} ms", us as f64 / 1000.0), t.base),
            None => Span::styled("-", t.dim),
        };
        let shared = p
            .operator
            .and_then(|op| app.wallets_of_operator.get(&op).copied())
            .unwrap_or(0);
        Row::new(vec![
            Cell::from(Span::styled(short_peer(peer), t.accent)),
            Cell::from(operator),
            Cell::from(admitted),
            Cell::from(since),
            Cell::from(ping),
            Cell::from(Span::styled(
                shared.to_string(),
                if shared == 0 { t.dim } else { t.base },
            )),
        ])
        .style(t.base)
    });
    let widths = [
        Constraint::Length(13),
        Constraint::Length(14),
        Constraint::Min(20),
        Constraint::Length(18),
        Constraint::Length(9),
        Constraint::Length(7),
    ];
    let title = if first > 0 || first + visible < net.peers.len() {
        format!(
            "Peers ({}; {}-{} shown)",
            net.peers.len(),
            first + 1,
            (first + visible).min(net.peers.len())
        )
    } else {
        title
    };
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(pane(app, &title)),
        area,
    );
}

fn seat_style(state: SeatState, t: &Theme) -> (char, Style) {
    match state {
        SeatState::You => ('*', t.own),
        SeatState::Leader { heard: true } => ('L', t.ok),
        SeatState::Leader { heard: false } => ('L', t.warning),
        SeatState::Heard => ('●', t.ok),
        SeatState::Online => ('·', t.dim),
        SeatState::NotConnected => ('×', t.critical),
    }
}

/// What became of the window's proposal, and when.
fn outcome<'a>(w: &WalletView, cb: Option<u64>, t: &Theme) -> Span<'a> {
    let Some(r) = w
        .last_result
        .as_ref()
        .filter(|r| Some(r.coordination_block) == cb)
    else {
        return Span::styled("no result yet", t.dim);
    };
    let at = w
        .last_result_block
        .map(|b| format!(" at block {b}"))
        .unwrap_or_default();
    match r.role {
        Role::Leader => Span::styled(format!("you led: {}{at}", r.action.name()), t.own),
        Role::Follower if r.unheard => Span::styled(format!("unheard{at}"), t.warning),
        Role::Follower
            if r.action == crate::protocol::ActionType::Noop
                && r.faults
                    .iter()
                    .any(|f| f.fault == crate::protocol::FaultType::LeaderIdleness) =>
        {
            Span::styled(format!("nothing accepted: leader idle{at}"), t.critical)
        }
        Role::Follower => Span::styled(
            format!(
                "accepted {} from seat {}{at}",
                r.action.name(),
                r.leader_member_index
            ),
            t.ok,
        ),
    }
}

fn render_seats(frame: &mut Frame, app: &App, view: &NodeSnapshot, area: Rect) {
    let t = &app.theme;
    let Some(w) = view.wallets.get(
        app.wallet_selected
            .min(view.wallets.len().saturating_sub(1)),
    ) else {
        frame.render_widget(
            Paragraph::new(Span::styled("no wallets", t.dim)).block(pane(app, "Seats")),
            area,
        );
        return;
    };
    let online = view.network.online_operators();
    let g = grid(w, &view.network, view.operator, &online);
    let title = format!(
        "Seats of {} ({}/{})",
        w.wallet.short(),
        app.wallet_selected.min(view.wallets.len() - 1) + 1,
        view.wallets.len()
    );
    let block = pane(app, &title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let window = match g.coordination_block {
        Some(cb) => format!("window {cb}"),
        None => "no window yet".into(),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(window, t.title),
            Span::styled(" · ", t.dim),
            Span::styled(
                format!("{}/{} members online", g.online, g.seats.len()),
                if g.online < g.seats.len() {
                    t.warning
                } else {
                    t.ok
                },
            ),
            Span::styled(" · ", t.dim),
            Span::styled(format!("{} heard", g.heard), t.base),
        ]),
        Line::from(outcome(w, g.coordination_block, t)),
    ];
    // Five columns per seat ("L 12 "); as many seats to a line as fit.
    let per_line = usize::from(inner.width / 5).max(1);
    let room = usize::from(inner.height).saturating_sub(lines.len() + 1);
    let shown_lines = g.seats.len().div_ceil(per_line).min(room);
    for (row, chunk) in g.seats.chunks(per_line).take(shown_lines).enumerate() {
        let spans: Vec<Span> = chunk
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (mark, style) = seat_style(*s, t);
                Span::styled(format!("{mark}{:>3} ", row * per_line + i + 1), style)
            })
            .collect();
        lines.push(Line::from(spans));
    }
    if shown_lines * per_line < g.seats.len() {
        lines.push(Line::from(Span::styled(
            format!("… {} more seats", g.seats.len() - shown_lines * per_line),
            t.dim,
        )));
    } else {
        lines.push(Line::from(vec![
            Span::styled("● heard ", t.ok),
            Span::styled("L leader ", t.warning),
            Span::styled("* you ", t.own),
            Span::styled("· silent ", t.dim),
            Span::styled("× not connected", t.critical),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_rejections(frame: &mut Frame, app: &App, view: &NodeSnapshot, area: Rect) {
    let t = &app.theme;
    let net = &view.network;
    let block = pane(app, "Rejected messages");
    if net.rejections.is_empty() && net.rejected_totals.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("none rejected", t.dim)).block(block),
            area,
        );
        return;
    }
    // Newest windows first, as many as fit beside the reason and the total.
    let fit = usize::from(area.width.saturating_sub(2 + 19 + 8) / 7);
    let windows: Vec<_> = net.rejections.iter().rev().take(fit).collect();
    let mut reasons: Vec<_> = net.rejected_totals.keys().copied().collect();
    for w in &windows {
        reasons.extend(w.counts.keys().copied());
    }
    reasons.sort();
    reasons.dedup();
    let mut header = vec![Cell::from(Span::styled("Reason", t.title))];
    header.extend(
        windows
            .iter()
            .map(|w| Cell::from(Span::styled(w.coordination_block.to_string(), t.title))),
    );
    header.push(Cell::from(Span::styled("total≥", t.title)));
    let rows = reasons.iter().map(|reason| {
        let mut cells = vec![Cell::from(reason.name())];
        for w in &windows {
            cells.push(match w.counts.get(reason) {
                Some(n) => Cell::from(Span::styled(n.to_string(), t.warning)),
                None => Cell::from(Span::styled("0", t.dim)),
            });
        }
        // Both are lower bounds: totals are announced at the 1st, 10th, 100th…, and the
        // windows kept are the last few.
        let announced = net.rejected_totals.get(reason).copied().unwrap_or(0);
        let kept: u64 = net
            .rejections
            .iter()
            .filter_map(|w| w.counts.get(reason))
            .sum();
        let total = announced.max(kept);
        cells.push(Cell::from(total.to_string()));
        Row::new(cells).style(t.base)
    });
    let mut widths = vec![Constraint::Length(19)];
    widths.extend(windows.iter().map(|_| Constraint::Length(6)));
    widths.push(Constraint::Length(7));
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header))
            .block(block),
        area,
    );
}
