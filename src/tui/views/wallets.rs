//! The Wallets tab: one row per wallet this node coordinates.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::format::{dispatcher, executor};
use super::pane;
use crate::engine::events::WalletView;
use crate::tui::app::App;
use crate::tui::theme::Theme;

fn seats(w: &WalletView) -> String {
    let list: Vec<String> = w.seats.iter().map(|s| s.to_string()).collect();
    let text = list.join(",");
    if text.len() > 14 {
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
    let rows = view.wallets.iter().map(|w| {
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
        Constraint::Length(14),
        Constraint::Length(16),
        Constraint::Length(8),
        Constraint::Length(19),
        Constraint::Length(15),
        Constraint::Length(6),
        Constraint::Length(22),
        Constraint::Min(10),
    ];
    let title = format!("Wallets ({})", view.wallets.len());
    let table = Table::new(rows, widths)
        .header(header)
        .block(pane(app, &title))
        .row_highlight_style(t.selected)
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(
        (!view.wallets.is_empty()).then(|| app.wallet_selected.min(view.wallets.len() - 1)),
    );
    frame.render_stateful_widget(table, area, &mut state);
}
