//! The Network tab: the connected peers (who, why the firewall let them in, since which block,
//! their ping, the wallets shared), the selected wallet's seats in its latest window as a
//! grid (tmtop's live view of who has spoken), and rejected messages by reason per window.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::format::{count, eta, seat_list};
use super::seats::{grid, SeatState};
use super::{fit, pane};
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

/// At least this wide, the seat grid and the rejections sit side by side.
const SIDE_BY_SIDE: u16 = 120;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let view = app.view();
    let wide = area.width >= SIDE_BY_SIDE;
    // The seat grid takes what it needs (side by side: at least what the rejections need);
    // the peers every other row.
    let seats_width = if wide {
        area.width * 55 / 100
    } else {
        area.width
    };
    let rejections_height = if wide { rejection_rows(view) + 3 } else { 0 };
    // Narrow, the rejections table gives way to a line of totals.
    let rejections_line = u16::from(!wide && !rejection_totals(view).is_empty());
    let room = area.height.saturating_sub(1 + rejections_line + 4);
    let seats_height = seats_needed(app, view, seats_width)
        .max(rejections_height)
        .min(room);
    let [summary, totals, peers, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(rejections_line),
        Constraint::Min(4),
        Constraint::Length(seats_height),
    ])
    .areas(area);
    render_summary(frame, app, view, summary);
    if rejections_line > 0 {
        render_rejection_totals(frame, app, view, totals);
    }
    render_peers(frame, app, view, peers);
    if wide {
        let [seats, rejections] =
            Layout::horizontal([Constraint::Length(seats_width), Constraint::Min(1)]).areas(bottom);
        render_seats(frame, app, view, seats);
        render_rejections(frame, app, view, rejections);
    } else {
        render_seats(frame, app, view, bottom);
    }
}

/// Rejections by reason, counting at least the announced totals.
fn rejection_totals(view: &NodeSnapshot) -> Vec<(crate::engine::router::RejectReason, u64)> {
    let net = &view.network;
    let mut reasons: Vec<_> = net.rejected_totals.keys().copied().collect();
    for w in &net.rejections {
        reasons.extend(w.counts.keys().copied());
    }
    reasons.sort();
    reasons.dedup();
    reasons
        .into_iter()
        .map(|reason| {
            let announced = net.rejected_totals.get(&reason).copied().unwrap_or(0);
            let kept: u64 = net
                .rejections
                .iter()
                .filter_map(|w| w.counts.get(&reason))
                .sum();
            (reason, announced.max(kept))
        })
        .collect()
}

fn rejection_rows(view: &NodeSnapshot) -> u16 {
    u16::try_from(rejection_totals(view).len()).unwrap_or(u16::MAX)
}

fn render_summary(frame: &mut Frame, app: &App, view: &NodeSnapshot, area: Rect) {
    let t = &app.theme;
    let net = &view.network;
    let max = usize::from(area.width);
    let sep = Span::styled(" · ", t.dim);
    let mut parts = Vec::new();
    match net.transport {
        MessageTransport::PeerNetwork => {
            parts.push(fit::Part::one(
                0,
                Span::styled(
                    format!("{} connected", count(net.peers.len(), "peer")),
                    t.title,
                ),
            ));
            // Without bootstrap peers configured (the devnet's swarms) there are none to reach.
            if net.bootstrap_peers > 0 {
                parts.push(fit::Part::one(
                    1,
                    Span::styled(
                        format!(
                            "bootstrap {}/{} reached",
                            net.bootstrap_connected(),
                            net.bootstrap_peers
                        ),
                        if net.bootstrap_connected() == 0 {
                            t.critical
                        } else {
                            t.base
                        },
                    ),
                ));
            }
            parts.push(fit::Part::one(
                2,
                Span::styled(
                    format!("{} refused", view.peers_refused),
                    if view.peers_refused > 0 {
                        t.warning
                    } else {
                        t.dim
                    },
                ),
            ));
        }
        MessageTransport::Hub => {
            parts.push(fit::Part::one(
                0,
                Span::styled("in-process hub: no peer network", t.accent),
            ));
            parts.push(fit::Part::one(
                3,
                Span::styled(
                    "every simulated operator is reached directly; --devnet-transport libp2p \
                     runs real swarms",
                    t.dim,
                ),
            ));
        }
        MessageTransport::None => parts.push(fit::Part::one(
            0,
            Span::styled(
                "no peer transport: this node neither hears nor reaches other operators",
                t.warning,
            ),
        )),
        MessageTransport::Unknown => parts.push(fit::Part::one(
            0,
            Span::styled("waiting for the node to start", t.dim),
        )),
    }
    frame.render_widget(Paragraph::new(fit::line(max, parts, sep)), area);
}

/// Rejected messages by reason, at least as many as announced.
fn render_rejection_totals(frame: &mut Frame, app: &App, view: &NodeSnapshot, area: Rect) {
    let t = &app.theme;
    let mut parts = vec![fit::Part::one(0, Span::styled("rejected ≥", t.warning))];
    let totals = rejection_totals(view);
    let last = totals.len().saturating_sub(1);
    for (i, (reason, n)) in totals.into_iter().enumerate() {
        let comma = if i < last { "," } else { "" };
        parts.push(fit::Part::one(
            1,
            Span::styled(format!("{} {n}{comma}", reason.name()), t.base),
        ));
    }
    frame.render_widget(
        Paragraph::new(fit::line(usize::from(area.width), parts, Span::raw(" "))),
        area,
    );
}

/// Why the firewall let a peer in, in a few words.
fn admitted_short(admitted: &str) -> String {
    if let Some(wallet) = admitted.strip_prefix("holds a seat in wallet ") {
        let chars: Vec<char> = wallet.chars().collect();
        let short: String = if chars.len() > 12 {
            chars[..6]
                .iter()
                .chain(['…'].iter())
                .chain(chars[chars.len() - 4..].iter())
                .collect()
        } else {
            wallet.to_string()
        };
        return format!("seat in {short}");
    }
    match admitted {
        "a staked operator on chain" => "staked".into(),
        "admit-all firewall" => "admit-all".into(),
        other => other.to_string(),
    }
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
    let wide = area.width >= 140;
    // Only the rows that fit are built: a hundred peers cost what a screenful does.
    let visible = usize::from(area.height.saturating_sub(3));
    let first = app
        .peer_scroll
        .min(net.peers.len().saturating_sub(visible.max(1)));
    let cells: Vec<Vec<Line>> = net
        .peers
        .iter()
        .skip(first)
        .take(visible)
        .map(|(peer, p)| {
            let operator = match p.operator {
                Some(op) if Some(op) == view.operator => Span::styled(op.short(), t.own),
                Some(op) => Span::styled(op.short(), t.base),
                None => Span::styled("?", t.warning),
            };
            let admitted = if wide {
                p.admitted.clone()
            } else {
                admitted_short(&p.admitted)
            };
            let admitted = if p.bootstrap {
                format!("{admitted} · bootstrap")
            } else {
                admitted
            };
            // Peers that connected before the node saw its first block have no block.
            let since = match (p.since_block, head) {
                (Some(b), Some(h)) if wide => Span::styled(
                    format!("{b} ({} ago)", eta(h.saturating_sub(b), avg)),
                    t.base,
                ),
                (Some(b), _) => Span::styled(b.to_string(), t.base),
                (None, _) => Span::styled("start", t.dim),
            };
            let ping = match p.rtt_us {
                Some(us) => Span::styled(format!("{:.1} ms", us as f64 / 1000.0), t.base),
                None => Span::styled("-", t.dim),
            };
            let shared = p
                .operator
                .and_then(|op| app.wallets_of_operator.get(&op).copied())
                .unwrap_or(0);
            vec![
                Line::from(Span::styled(short_peer(peer), t.accent)),
                Line::from(operator),
                Line::from(admitted),
                Line::from(since),
                Line::from(ping),
                Line::from(Span::styled(
                    shared.to_string(),
                    if shared == 0 { t.dim } else { t.base },
                )),
            ]
        })
        .collect();
    const COLUMNS: [(&str, u8); 6] = [
        ("Peer", 1),
        ("Operator", 0),
        ("Admitted", 4),
        ("Since", 3),
        ("Ping", 2),
        ("Wallets", 5),
    ];
    let fitted = fit::table(usize::from(area.width.saturating_sub(2)), &COLUMNS, cells);
    let table = fitted.into_table(t.title, t.base);
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
    frame.render_widget(table.block(pane(app, &title)), area);
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
                "accepted {} from seat #{}{at}",
                r.action.name(),
                r.leader_member_index
            ),
            t.ok,
        ),
    }
}

/// The grid's row label (`  #31 `) and a group of ten seats, each a mark and a space, with
/// a space between groups.
const ROW_LABEL: usize = 6;
const GROUP: usize = 10 * 2 + 1;

/// Seats on one grid row at `inner` columns: whole groups of ten while one fits.
fn seats_per_row(inner: usize) -> usize {
    let room = inner.saturating_sub(ROW_LABEL) + 1;
    match room / GROUP {
        0 => (room / 2).max(1),
        groups => groups * 10,
    }
}

/// The selected wallet, as the Wallets tab has it.
fn selected_wallet<'a>(app: &App, view: &'a NodeSnapshot) -> Option<&'a WalletView> {
    view.wallets.get(
        app.wallet_selected
            .min(view.wallets.len().saturating_sub(1)),
    )
}

/// The seat pane's height with every seat, the outcome and the legend in view.
fn seats_needed(app: &App, view: &NodeSnapshot, width: u16) -> u16 {
    let Some(w) = selected_wallet(app, view) else {
        return 3;
    };
    let rows = w
        .operators
        .len()
        .div_ceil(seats_per_row(usize::from(width.saturating_sub(2))));
    u16::try_from(2 + 2 + rows + 2).unwrap_or(u16::MAX)
}

/// `prefix` and as many of `items` as fit `max` columns, then how many more there are.
fn listed(prefix: &str, items: &[String], max: usize) -> String {
    let mut text = prefix.to_string();
    for (i, item) in items.iter().enumerate() {
        let after = items.len() - i - 1;
        let tail = if after > 0 {
            format!(" +{after} more").len()
        } else {
            0
        };
        if i > 0 && fit::str_width(&text) + 1 + fit::str_width(item) + tail > max {
            text.push_str(&format!(" +{} more", items.len() - i));
            return text;
        }
        text.push(' ');
        text.push_str(item);
    }
    text
}

fn render_seats(frame: &mut Frame, app: &App, view: &NodeSnapshot, area: Rect) {
    let t = &app.theme;
    let Some(w) = selected_wallet(app, view) else {
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
    let max = usize::from(inner.width);
    let sep = || Span::styled(" · ", t.dim);
    let window = match g.coordination_block {
        Some(cb) => format!("window {cb}"),
        None => "no window yet".into(),
    };
    let facts = fit::line(
        max,
        vec![
            fit::Part::one(0, Span::styled(window, t.title)),
            fit::Part::one(
                1,
                Span::styled(
                    format!("{}/{} members online", g.online, g.seats.len()),
                    if g.online < g.seats.len() {
                        t.warning
                    } else {
                        t.ok
                    },
                ),
            ),
            fit::Part::one(2, Span::styled(format!("{} heard", g.heard), t.base)),
        ],
        sep(),
    );
    // The leader's seats and this node's, named whatever part of the grid is in view.
    let leader_seats: Vec<usize> = g
        .seats
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, SeatState::Leader { .. }))
        .map(|(i, _)| i + 1)
        .collect();
    let my_seats: Vec<usize> = w.seats.iter().map(|s| usize::from(*s)).collect();
    let leader_text = if leader_seats.is_empty() {
        "leader not yet known".to_string()
    } else {
        listed("leader", &seat_list(leader_seats.iter().copied()), max / 2)
    };
    let mut who = vec![Span::styled(leader_text.clone(), t.ok)];
    if !my_seats.is_empty() {
        let room = max.saturating_sub(fit::str_width(&leader_text) + 3);
        who.push(sep());
        who.push(Span::styled(
            listed("you", &seat_list(my_seats.iter().copied()), room),
            t.own,
        ));
    }
    let per_row = seats_per_row(max);
    let rows = g.seats.len().div_ceil(per_row);
    let height = usize::from(inner.height);
    // Facts and who come first; the grid gets at least a row; the outcome and the legend
    // what is left.
    let extras = height.saturating_sub(2 + rows).min(2);
    let grid_room = height.saturating_sub(2 + extras).max(1);
    let mut focus: Vec<usize> = leader_seats.iter().map(|s| (s - 1) / per_row).collect();
    focus.extend(my_seats.first().map(|s| (s.saturating_sub(1)) / per_row));
    let first_row = app.scroll.seats.first_row(rows, grid_room, &focus);
    app.scroll.seats_drawn.set(first_row);

    let mut lines = vec![facts, Line::from(who)];
    if extras >= 1 {
        lines.push(Line::from(outcome(w, g.coordination_block, t)));
    }
    for row in first_row..(first_row + grid_room).min(rows) {
        let start = row * per_row;
        let mut spans = vec![Span::styled(
            format!("{:>w$} ", format!("#{}", start + 1), w = ROW_LABEL - 1),
            t.dim,
        )];
        for (i, s) in g.seats.iter().enumerate().skip(start).take(per_row) {
            let (mark, style) = seat_style(*s, t);
            let gap = if (i + 1) % 10 == 0 { "  " } else { " " };
            spans.push(Span::styled(format!("{mark}{gap}"), style));
        }
        lines.push(Line::from(spans));
    }
    if extras >= 2 {
        let scrolled = rows > grid_room;
        let mut parts = vec![
            fit::Part::one(1, Span::styled("● heard", t.ok)),
            fit::Part::one(1, Span::styled("L leader", t.warning)),
            fit::Part::one(1, Span::styled("* you", t.own)),
            fit::Part::one(2, Span::styled("· silent", t.dim)),
            fit::Part::one(1, Span::styled("× not connected", t.critical)),
        ];
        if scrolled {
            parts.push(fit::Part::one(0, Span::styled("PgUp/PgDn more", t.dim)));
        }
        lines.push(fit::line(max, parts, Span::raw(" ")));
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
