//! The Wallets tab: one row per wallet this node coordinates.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::fit;
use super::format::{dispatcher, dispatcher_short, executor};
use super::pane;
use super::seats::grid;
use crate::engine::snapshot::WalletView;
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// The seats this node holds, as seat numbers (`#10 #13`) while short, else how many.
fn seats(w: &WalletView) -> String {
    let text = w
        .seats
        .iter()
        .map(|s| format!("#{s}"))
        .collect::<Vec<_>>()
        .join(" ");
    if text.chars().count() > 10 {
        format!("{} seats", w.seats.len())
    } else {
        text
    }
}

fn next_leader<'a>(w: &WalletView, t: &Theme) -> Line<'a> {
    match w.next_leader {
        Some((cb, leader, true)) => Line::from(vec![
            Span::styled(format!("{} ", leader.short()), t.own),
            Span::styled(format!("YOU @{cb}"), t.own),
        ]),
        Some((cb, leader, false)) => {
            Line::from(Span::styled(format!("{} @{cb}", leader.short()), t.base))
        }
        None => Line::from(Span::styled("not yet known", t.dim)),
    }
}

/// Below this width the dispatcher's state is told in fewer words.
pub const NARROW: u16 = 120;

/// The columns, in the order shown, with how long each stays as the width shrinks (0 is kept
/// longest): the wallet, its executor, the next leader and the dispatcher come first.
const COLUMNS: [(&str, u8); 11] = [
    ("Wallet", 0),
    ("Seats", 6),
    ("Online", 5),
    ("Heard", 9),
    ("Executor", 1),
    ("Last", 8),
    ("Leader", 10),
    ("Action", 7),
    ("Faults", 4),
    ("Next leader", 2),
    ("Dispatcher", 3),
];

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let head = app.head();
    let me = view.operator;
    let online = view.network.online_operators();
    // Only the rows that fit are worked out: seat states cost a walk over the wallet's seats.
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let selected = app
        .wallet_selected
        .min(view.wallets.len().saturating_sub(1));
    let first = selected.saturating_sub(visible - 1);
    let narrow = area.width < NARROW;
    let cells: Vec<Vec<Line>> = view
        .wallets
        .iter()
        .skip(first)
        .take(visible)
        .map(|w| {
            let g = grid(w, &view.network, me, &online);
            let online_cell = Span::styled(
                format!("{}/{}", g.online, g.seats.len()),
                if g.online < g.seats.len() {
                    t.warning
                } else {
                    t.base
                },
            );
            let heard_cell = match g.coordination_block {
                Some(_) => {
                    Span::styled(g.heard.to_string(), if g.heard > 0 { t.ok } else { t.dim })
                }
                None => Span::styled("-", t.dim),
            };
            let (last, leader, action, faults) = match &w.last_result {
                Some(r) => (
                    r.coordination_block.to_string(),
                    if Some(r.leader) == me {
                        Span::styled(format!("{} (you)", r.leader.short()), t.own)
                    } else {
                        Span::styled(r.leader.short(), t.base)
                    },
                    r.action.name().to_string(),
                    if r.faults.is_empty() {
                        Span::styled("0", t.dim)
                    } else {
                        Span::styled(r.faults.len().to_string(), t.critical)
                    },
                ),
                None => (
                    "-".into(),
                    Span::styled("-", t.dim),
                    "-".into(),
                    Span::styled("-", t.dim),
                ),
            };
            vec![
                Line::from(w.wallet.short()),
                Line::from(seats(w)),
                Line::from(online_cell),
                Line::from(heard_cell),
                Line::from(executor(&w.executor, head)),
                Line::from(last),
                Line::from(leader),
                Line::from(action),
                Line::from(faults),
                next_leader(w, t),
                Line::from(if narrow {
                    dispatcher_short(&w.dispatcher, head)
                } else {
                    dispatcher(&w.dispatcher, head)
                }),
            ]
        })
        .collect();
    // Inside the borders, less the selection mark.
    let fitted = fit::table(
        usize::from(area.width.saturating_sub(2 + 2)),
        &COLUMNS,
        cells,
    );
    let header = Row::new(
        fitted
            .header
            .iter()
            .map(|h| Cell::from(Span::styled(*h, t.title))),
    );
    let rows = fitted
        .rows
        .into_iter()
        .map(|row| Row::new(row.into_iter().map(Cell::from)).style(t.base));
    let constraints: Vec<Constraint> = fitted
        .widths
        .iter()
        .map(|w| Constraint::Length(*w))
        .collect();
    let title = wallets_title(view);
    let table = Table::new(rows, constraints)
        .header(header)
        .block(pane(app, &title))
        .row_highlight_style(t.selected)
        .highlight_symbol("▶ ");
    let mut state =
        TableState::default().with_selected((!view.wallets.is_empty()).then_some(selected - first));
    frame.render_stateful_widget(table, area, &mut state);
}

/// What the wallet count counts: the wallets this node coordinates, those in which its
/// operator holds a seat (the devnet has more).
pub fn wallets_title(view: &crate::engine::snapshot::NodeSnapshot) -> String {
    if view.observer || view.operator.is_none() {
        format!("Wallets ({})", view.wallets.len())
    } else {
        format!("Wallets with your seats ({})", view.wallets.len())
    }
}
