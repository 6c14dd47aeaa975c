//! The Faults tab: the whole history from the store, paged around the selection, with filters,
//! search, sort, a detail pane and a per-operator summary.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{centered, pane, popup_frame};
use crate::engine::records::FaultRow;
use crate::protocol::FaultType;
use crate::tui::app::{App, FaultInput};

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let f = &app.faults;
    let [status, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);

    let status_line = match &f.input {
        Some((FaultInput::Search, text)) => Line::from(vec![
            Span::styled("search: ", t.accent),
            Span::styled(format!("{text}▏"), t.title),
            Span::styled("  Enter applies · Esc cancels", t.dim),
        ]),
        Some((FaultInput::WindowRange, text)) => Line::from(vec![
            Span::styled("windows FROM-TO: ", t.accent),
            Span::styled(format!("{text}▏"), t.title),
            match &f.input_error {
                Some(e) => Span::styled(format!("  {e}"), t.critical),
                None => Span::styled("  e.g. 900-5400 · Enter applies · Esc cancels", t.dim),
            },
        ]),
        None => {
            let mut spans = vec![
                Span::styled(format!("{} faults", f.total), t.title),
                Span::styled(
                    format!(
                        " · filter: {} · sort: {}",
                        f.describe_filter(),
                        f.order.name()
                    ),
                    t.base,
                ),
            ];
            if let Some(e) = &f.error {
                spans.push(Span::styled(format!(" · {e}"), t.critical));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(status_line), status);

    let (table_area, summary_area) = if f.show_summary {
        let [a, b] = Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(body);
        (a, Some(b))
    } else {
        (body, None)
    };

    // Show the loaded rows around the selection that fit.
    let visible = table_area.height.saturating_sub(3) as usize;
    let selected_in_page = f.selected.saturating_sub(f.page_offset) as usize;
    let first = selected_in_page
        .saturating_sub(visible / 2)
        .min(f.rows.len().saturating_sub(visible));
    // Full culprit addresses when there is room for them.
    let wide = table_area.width >= 110;
    let rows = f.rows.iter().skip(first).take(visible.max(1)).map(|r| {
        Row::new(vec![
            Cell::from(r.coordination_block.to_string()),
            Cell::from(r.wallet.short()),
            Cell::from(if wide {
                r.culprit.to_string()
            } else {
                r.culprit.short()
            }),
            Cell::from(Span::styled(r.fault.name(), fault_style(app, r.fault))),
            Cell::from(if r.leader == r.culprit {
                "leader".to_string()
            } else {
                r.leader.short()
            }),
        ])
        .style(t.base)
    });
    let header = Row::new(
        ["Window", "Wallet", "Culprit", "Fault", "Leader"]
            .map(|h| Cell::from(Span::styled(h, t.title))),
    );
    let title = match f.total {
        0 => "History".to_string(),
        n => format!("History {} of {n}", f.selected + 1),
    };
    let title = match f.new_marker() {
        Some(new) => format!("{title} · {new}"),
        None => title,
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(13),
            Constraint::Length(if wide { 43 } else { 13 }),
            Constraint::Length(20),
            Constraint::Min(8),
        ],
    )
    .header(header)
    .block(pane(app, &title))
    .row_highlight_style(t.selected)
    .highlight_symbol("▶ ");
    let mut state = TableState::default()
        .with_selected((!f.rows.is_empty()).then(|| selected_in_page.saturating_sub(first)));
    frame.render_stateful_widget(table, table_area, &mut state);

    if let Some(area) = summary_area {
        render_summary(frame, app, area);
    }
}

fn fault_style(app: &App, fault: FaultType) -> ratatui::style::Style {
    match fault {
        FaultType::LeaderIdleness => app.theme.warning,
        FaultType::LeaderMistake | FaultType::LeaderImpersonation => app.theme.critical,
    }
}

fn render_summary(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let header = Row::new(
        ["Operator", "Idle", "Mist", "Imp", "Total", "Last"]
            .map(|h| Cell::from(Span::styled(h, t.title))),
    );
    let rows = app.faults.summary.iter().map(|s| {
        Row::new(vec![
            Cell::from(s.operator.short()),
            Cell::from(s.count(FaultType::LeaderIdleness).to_string()),
            Cell::from(s.count(FaultType::LeaderMistake).to_string()),
            Cell::from(s.count(FaultType::LeaderImpersonation).to_string()),
            Cell::from(Span::styled(s.total.to_string(), t.title)),
            Cell::from(format!(
                "{} {}",
                s.last_coordination_block,
                s.last_fault.name().trim_start_matches("Leader")
            )),
        ])
        .style(t.base)
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(13),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(pane(app, "By operator"));
    frame.render_widget(table, area);
}

pub fn render_detail(frame: &mut Frame, app: &App, row: &FaultRow, area: Rect) {
    let t = &app.theme;
    let what = match row.fault {
        FaultType::LeaderIdleness => {
            "The leader sent no acceptable proposal during the active phase."
        }
        FaultType::LeaderMistake => {
            "The leader proposed an action that was neither on the checklist nor Noop."
        }
        FaultType::LeaderImpersonation => {
            "A member other than the leader's lowest seat sent a proposal."
        }
    };
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<14}"), t.dim),
            Span::styled(v, t.base),
        ])
    };
    let lines = vec![
        Line::from(Span::styled(row.fault.name(), fault_style(app, row.fault))),
        Line::from(Span::styled(what, t.base)),
        Line::from(""),
        field(
            "window",
            format!(
                "{} (#{})",
                row.coordination_block,
                row.coordination_block / 900
            ),
        ),
        field("wallet", row.wallet.to_string()),
        field("culprit", row.culprit.to_string()),
        field("leader", row.leader.to_string()),
        field("record", format!("#{}", row.id)),
        Line::from(""),
        Line::from(Span::styled("Esc closes", t.dim)),
    ];
    let inner = popup_frame(
        frame,
        app,
        centered(area, 72, lines.len() as u16 + 2),
        "Fault",
    );
    frame.render_widget(Paragraph::new(lines), inner);
}
