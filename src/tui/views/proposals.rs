//! The Proposals tab: dispatched proposals and dry runs with their lifecycle, start and expiry
//! blocks and a countdown.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::TableState;
use ratatui::Frame;

use super::{fit, pane};
use crate::engine::records::DispatchStatus;
use crate::tui::app::{App, ProposalItem};

fn action_of(json: Option<&str>) -> String {
    json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_string))
        .unwrap_or_else(|| "-".into())
}

/// The columns, in the order shown, with how long each stays as the width shrinks (0 is kept
/// longest).
const COLUMNS: [(&str, u8); 8] = [
    ("Kind", 5),
    ("Window", 4),
    ("Wallet", 0),
    ("Action", 1),
    ("Status", 2),
    ("Start", 7),
    ("Expiry", 6),
    ("Countdown", 3),
];

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let head = app.head().unwrap_or(0);
    let cells: Vec<Vec<Line>> = app
        .proposals
        .items
        .iter()
        .map(|item| match item {
            ProposalItem::Dispatch(d) => {
                let (status, style) = match d.status {
                    DispatchStatus::Completed => ("completed", t.ok),
                    DispatchStatus::Failed | DispatchStatus::Expired => {
                        (d.status.name(), t.warning)
                    }
                    DispatchStatus::Rejected => ("rejected: busy", t.critical),
                    DispatchStatus::Running => ("running", t.accent),
                    DispatchStatus::Dispatched => ("dispatched", t.accent),
                };
                let countdown = match d.status {
                    DispatchStatus::Dispatched if head < d.start_block => {
                        format!("starts in {}", d.start_block - head)
                    }
                    DispatchStatus::Dispatched | DispatchStatus::Running
                        if head < d.expiry_block =>
                    {
                        format!("expires in {}", d.expiry_block - head)
                    }
                    _ => d
                        .finished_block
                        .map(|b| format!("ended at {b}"))
                        .unwrap_or_default(),
                };
                vec![
                    Line::from("dispatch"),
                    Line::from(d.coordination_block.to_string()),
                    Line::from(d.wallet.short()),
                    Line::from(d.action.name()),
                    Line::from(Span::styled(status, style)),
                    Line::from(d.start_block.to_string()),
                    Line::from(d.expiry_block.to_string()),
                    Line::from(countdown),
                ]
            }
            ProposalItem::DryRun(r) => vec![
                Line::from(Span::styled("dry run", t.dim)),
                Line::from(r.coordination_block.to_string()),
                Line::from(r.wallet.short()),
                Line::from(action_of(r.proposal_json.as_deref())),
                Line::from(Span::styled(
                    if r.leader_is_self {
                        "you lead; nothing sent"
                    } else {
                        "nothing sent"
                    },
                    t.dim,
                )),
                Line::from("-"),
                Line::from("-"),
                Line::from(format!("at block {}", r.current_block)),
            ],
        })
        .collect();
    // Inside the borders, less the selection mark.
    let fitted = fit::table(
        usize::from(area.width.saturating_sub(2 + 2)),
        &COLUMNS,
        cells,
    );
    let table = fitted.into_table(t.title, t.base);
    let title = match &app.proposals.error {
        Some(e) => format!("Proposals: {e}"),
        None => format!("Proposals and dry runs ({})", app.proposals.items.len()),
    };
    let title = match app.proposals.new_marker() {
        Some(new) => format!("{title} · {new}"),
        None => title,
    };
    let table = table
        .block(pane(app, &title))
        .row_highlight_style(t.selected)
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(
        (!app.proposals.items.is_empty())
            .then(|| app.proposals.selected.min(app.proposals.items.len() - 1)),
    );
    frame.render_stateful_widget(table, area, &mut state);
}
