//! The Proposals tab: dispatched proposals and dry runs with their lifecycle, start and expiry
//! blocks and a countdown.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table, TableState};
use ratatui::Frame;

use super::pane;
use crate::engine::records::DispatchStatus;
use crate::tui::app::{App, ProposalItem};

fn action_of(json: Option<&str>) -> String {
    json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_string))
        .unwrap_or_else(|| "-".into())
}

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let head = app.head().unwrap_or(0);
    let rows = app.proposals.items.iter().map(|item| match item {
        ProposalItem::Dispatch(d) => {
            let (status, style) = match d.status {
                DispatchStatus::Completed => ("completed", t.ok),
                DispatchStatus::Failed | DispatchStatus::Expired => (d.status.name(), t.warning),
                DispatchStatus::Rejected => ("rejected: busy", t.critical),
                DispatchStatus::Running => ("running", t.accent),
                DispatchStatus::Dispatched => ("dispatched", t.accent),
            };
            let countdown = match d.status {
                DispatchStatus::Dispatched if head < d.start_block => {
                    format!("starts in {}", d.start_block - head)
                }
                DispatchStatus::Dispatched | DispatchStatus::Running if head < d.expiry_block => {
                    format!("expires in {}", d.expiry_block - head)
                }
                _ => d
                    .finished_block
                    .map(|b| format!("ended at {b}"))
                    .unwrap_or_default(),
            };
            Row::new(vec![
                Cell::from("dispatch"),
                Cell::from(d.coordination_block.to_string()),
                Cell::from(d.wallet.short()),
                Cell::from(d.action.name()),
                Cell::from(Span::styled(status, style)),
                Cell::from(d.start_block.to_string()),
                Cell::from(d.expiry_block.to_string()),
                Cell::from(countdown),
            ])
            .style(t.base)
        }
        ProposalItem::DryRun(r) => Row::new(vec![
            Cell::from(Span::styled("dry run", t.dim)),
            Cell::from(r.coordination_block.to_string()),
            Cell::from(r.wallet.short()),
            Cell::from(action_of(r.proposal_json.as_deref())),
            Cell::from(Span::styled(
                if r.leader_is_self {
                    "you lead; nothing sent"
                } else {
                    "nothing sent"
                },
                t.dim,
            )),
            Cell::from("-"),
            Cell::from("-"),
            Cell::from(format!("at block {}", r.current_block)),
        ])
        .style(t.base),
    });
    let header = Row::new(
        [
            "Kind",
            "Window",
            "Wallet",
            "Action",
            "Status",
            "Start",
            "Expiry",
            "Countdown",
        ]
        .map(|h| Cell::from(Span::styled(h, t.title))),
    );
    let title = match &app.proposals.error {
        Some(e) => format!("Proposals: {e}"),
        None => format!("Proposals and dry runs ({})", app.proposals.items.len()),
    };
    let title = match app.proposals.new_marker() {
        Some(new) => format!("{title} · {new}"),
        None => title,
    };
    let table = Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(13),
            Constraint::Length(16),
            Constraint::Length(23),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(10),
        ],
    )
    .header(header)
    .block(pane(app, &title))
    .row_highlight_style(t.selected)
    .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(
        (!app.proposals.items.is_empty())
            .then(|| app.proposals.selected.min(app.proposals.items.len() - 1)),
    );
    frame.render_stateful_widget(table, area, &mut state);
}
