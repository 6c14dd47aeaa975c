//! The Wallets tab: one row per wallet this node coordinates.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::format::{dispatcher, executor};
use super::pane;
use super::seats::grid;
use crate::engine::snapshot::WalletView;
use crate::tui::app::App;
use crate::tui::theme::Theme;

fn seats(w: &WalletView) -> String {
    let list: Vec<String> = w.seats.iter().map(|s| s.to_string()).collect();
    let text = list.join(",");
    if text.len() > 10 {
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

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let head = app.head();
    let me = view.operator;
    let header = Row::new(
        [
            "Wallet",
            "Seats",
            "Online",
            "Heard",
            "Executor",
            "Last",
            "Leader",
            "Action",
            "Faults",
            "Next leader",
            "Dispatcher",
        ]
        .map(|h| Cell::from(Span::styled(h, t.title))),
    );
    let online = view.network.online_operators();
    // Only the rows that fit are worked out: seat states cost a walk over the wallet's seats.
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let selected = app
        .wallet_selected
        .min(view.wallets.len().saturating_sub(1));
    let first = selected.saturating_sub(visible - 1);
    let rows = view.wallets.iter().skip(first).take(visible).map(|w| {
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
            Some(_) => Span::styled(g.heard.to_string(), if g.heard > 0 { t.ok } else { t.dim }),
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
        Row::new(vec![
            Cell::from(w.wallet.short()),
            Cell::from(seats(w)),
            Cell::from(online_cell),
            Cell::from(heard_cell),
            Cell::from(executor(&w.executor, head)),
            Cell::from(last),
            Cell::from(leader),
            Cell::from(action),
            Cell::from(faults),
            Cell::from(next_leader(w, t)),
            Cell::from(dispatcher(&w.dispatcher, head)),
        ])
        .style(t.base)
    });
    let widths = [
        Constraint::Length(13),
        Constraint::Length(10),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(17),
        Constraint::Length(15),
        Constraint::Length(6),
        Constraint::Length(20),
        Constraint::Min(10),
    ];
    let title = format!("Wallets ({})", view.wallets.len());
    let table = Table::new(rows, widths)
        .header(header)
        .block(pane(app, &title))
        .row_highlight_style(t.selected)
        .highlight_symbol("▶ ");
    let mut state =
        TableState::default().with_selected((!view.wallets.is_empty()).then_some(selected - first));
    frame.render_stateful_widget(table, area, &mut state);
}
