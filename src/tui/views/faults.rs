//! The Faults tab: the whole history from the store, paged around the selection, with filters,
//! search, sort, a detail pane and a per-operator summary.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, TableState};
use ratatui::Frame;

use super::format::count;
use super::{fit, pane};
use crate::engine::records::FaultRow;
use crate::protocol::FaultType;
use crate::tui::app::{App, FaultInput};

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let f = &app.faults;
    let [status, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let max = usize::from(status.width);
    let sep = Span::styled(" · ", t.dim);
    let status_line = match &f.input {
        Some((FaultInput::Search, text)) => fit::line(
            max,
            vec![
                fit::Part::new(
                    0,
                    vec![
                        Span::styled("search: ", t.accent),
                        Span::styled(format!("{text}▏"), t.title),
                    ],
                ),
                fit::Part::one(1, Span::styled("Enter applies", t.dim)),
                fit::Part::one(1, Span::styled("Esc cancels", t.dim)),
            ],
            sep,
        ),
        Some((FaultInput::WindowRange, text)) => fit::line(
            max,
            vec![
                fit::Part::new(
                    0,
                    vec![
                        Span::styled("windows FROM-TO: ", t.accent),
                        Span::styled(format!("{text}▏"), t.title),
                    ],
                ),
                // The entry's error while the prompt is open, where it can be fixed.
                match &f.input_error {
                    Some(e) => fit::Part::one(0, Span::styled(e.clone(), t.critical)),
                    None => fit::Part::one(2, Span::styled("e.g. 900-5400", t.dim)),
                },
                fit::Part::one(1, Span::styled("Enter applies", t.dim)),
                fit::Part::one(1, Span::styled("Esc cancels", t.dim)),
            ],
            sep,
        ),
        None => {
            let mut parts = vec![
                fit::Part::one(0, Span::styled(count(f.total as usize, "fault"), t.title)),
                fit::Part::one(
                    1,
                    Span::styled(format!("filter: {}", f.describe_filter()), t.base),
                ),
                fit::Part::one(2, Span::styled(format!("sort: {}", f.order.name()), t.base)),
            ];
            if let Some(e) = &f.error {
                parts.push(fit::Part::one(0, Span::styled(e.clone(), t.critical)));
            }
            fit::line(max, parts, sep)
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
    let cells: Vec<Vec<Line>> = f
        .rows
        .iter()
        .skip(first)
        .take(visible.max(1))
        .map(|r| {
            vec![
                Line::from(r.coordination_block.to_string()),
                Line::from(r.wallet.short()),
                Line::from(if wide {
                    r.culprit.to_string()
                } else {
                    r.culprit.short()
                }),
                Line::from(Span::styled(r.fault.name(), fault_style(app, r.fault))),
                Line::from(if r.leader == r.culprit {
                    "leader".to_string()
                } else {
                    r.leader.short()
                }),
                Line::from(proposed_cell(r)),
            ]
        })
        .collect();
    // What the culprit proposed only where there is room left: the details always say it.
    const COLUMNS: [(&str, u8); 6] = [
        ("Window", 2),
        ("Wallet", 3),
        ("Culprit", 1),
        ("Fault", 0),
        ("Leader", 4),
        ("Proposed", 5),
    ];
    let fitted = fit::table(
        usize::from(table_area.width.saturating_sub(2 + 2)),
        &COLUMNS,
        cells,
    );
    let table = fitted.into_table(t.title, t.base);
    let title = match f.total {
        0 => "History".to_string(),
        n => format!("History {} of {n}", f.selected + 1),
    };
    let title = match f.new_marker() {
        Some(new) => format!("{title} · {new}"),
        None => title,
    };
    let table = table
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

/// The table's Proposed cell: the action, nothing for an idleness (nothing was proposed), `?`
/// for a mistake or impersonation recorded before the history kept it (its evidence says).
fn proposed_cell(row: &FaultRow) -> &'static str {
    match (row.fault, row.proposed_action) {
        (FaultType::LeaderIdleness, _) => "",
        (_, Some(action)) => action.name(),
        (_, None) => "?",
    }
}

/// The details' "proposed" line: what the culprit proposed and why that is the fault.
fn proposed_text(row: &FaultRow) -> String {
    match (row.fault, row.proposed_action) {
        (FaultType::LeaderIdleness, _) => "none: the leader sent nothing acceptable.".into(),
        (FaultType::LeaderMistake, Some(action)) => {
            format!("{action}, not on this window's checklist")
        }
        (FaultType::LeaderImpersonation, Some(action)) => {
            format!("{action}, from a seat that is not the leader's")
        }
        (_, None) => "not in the history for a fault recorded before it was kept; the \
                      message kept as evidence has it (the export shows `claimed.action`)."
            .into(),
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
    const COLUMNS: [(&str, u8); 6] = [
        ("Operator", 0),
        ("Idle", 3),
        ("Mist", 3),
        ("Imp", 3),
        ("Total", 1),
        ("Last", 2),
    ];
    let cells: Vec<Vec<Line>> = app
        .faults
        .summary
        .iter()
        .map(|s| {
            vec![
                Line::from(s.operator.short()),
                Line::from(s.count(FaultType::LeaderIdleness).to_string()),
                Line::from(s.count(FaultType::LeaderMistake).to_string()),
                Line::from(s.count(FaultType::LeaderImpersonation).to_string()),
                Line::from(Span::styled(s.total.to_string(), t.title)),
                Line::from(format!(
                    "{} {}",
                    s.last_coordination_block,
                    s.last_fault.name().trim_start_matches("Leader")
                )),
            ]
        })
        .collect();
    let fitted = fit::table(usize::from(area.width.saturating_sub(2)), &COLUMNS, cells);
    let table = fitted.into_table(t.title, t.base);
    let table = table.block(pane(app, "By operator"));
    frame.render_widget(table, area);
}

/// The commands that export this fault's evidence and check it, naming the history as the
/// console's node does.
fn verify_commands(app: &App, row: &FaultRow) -> (String, String) {
    let history = match app.view().chain.strip_prefix("devnet-") {
        Some(seed) if seed.parse::<u64>().is_ok() => format!(" --devnet-seed {seed}"),
        _ => app
            .chain_status
            .chain_id
            .map(|id| format!(" --chain-id {id}"))
            .unwrap_or_default(),
    };
    let file = format!("fault-{}.json", row.id);
    (
        format!(
            "tbtc-coord faults --evidence --json{history} --wallet {} --operator {} --type {} --from {cb} --to {cb} > {file}",
            row.wallet,
            row.culprit,
            row.fault.name(),
            cb = row.coordination_block,
        ),
        format!("tbtc-coord verify-evidence {file}{history} --data-dir DIR"),
    )
}

/// The lines of a fault's details, unwrapped (the popup wraps them at its width).
pub fn detail_lines(app: &App, row: &FaultRow) -> Vec<Line<'static>> {
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
    let field =
        |k: &str, v: Span<'static>| Line::from(vec![Span::styled(format!("{k:<10}"), t.dim), v]);
    let mut lines = vec![
        Line::from(Span::styled(row.fault.name(), fault_style(app, row.fault))),
        Line::from(Span::styled(what, t.base)),
        Line::from(""),
        field(
            "window",
            Span::styled(
                format!(
                    "{} (#{})",
                    row.coordination_block,
                    row.coordination_block / 900
                ),
                t.base,
            ),
        ),
        field("wallet", Span::styled(row.wallet.to_string(), t.base)),
        field("culprit", Span::styled(row.culprit.to_string(), t.base)),
        field("leader", Span::styled(row.leader.to_string(), t.base)),
        field("record", Span::styled(format!("#{}", row.id), t.base)),
    ];
    // The window's facts as this node recorded them: read from the history when the details
    // open (the live view has them meanwhile, for a fault of the latest window).
    let proposed_style = match row.proposed_action {
        Some(_) => t.accent,
        None => t.base,
    };
    lines.push(field(
        "proposed",
        Span::styled(proposed_text(row), proposed_style),
    ));
    let live = app
        .view()
        .wallets
        .iter()
        .find(|w| w.wallet == row.wallet)
        .and_then(|w| w.last_result.as_ref())
        .filter(|r| r.coordination_block == row.coordination_block)
        .map(|r| (r.checklist.clone(), r.action, r.leader_member_index));
    let stored = match app.fault_window.of(row) {
        Some(Ok(Some(r))) => Ok(Some((r.checklist.clone(), r.action, r.leader_member_index))),
        Some(Ok(None)) => Ok(None),
        Some(Err(e)) => Err(e.clone()),
        None => Ok(live.clone()),
    };
    match stored.map(|s| s.or(live)) {
        Ok(Some((checklist, action, seat))) => {
            let checklist = if checklist.is_empty() {
                "empty: only Noop was acceptable".to_string()
            } else {
                crate::protocol::action::join_names(&checklist)
            };
            lines.push(field("checklist", Span::styled(checklist, t.accent)));
            let outcome = if action == crate::protocol::ActionType::Noop {
                "Noop: nothing was accepted".to_string()
            } else {
                format!("{action} accepted from the leader's seat #{seat}")
            };
            lines.push(field("outcome", Span::styled(outcome, t.base)));
        }
        Ok(None) if app.fault_window.of(row).is_none() => lines.push(field(
            "checklist",
            Span::styled("reading the history…", t.dim),
        )),
        Ok(None) => lines.push(field(
            "checklist",
            Span::styled(
                "the history has no result of this window; the export below has the \
                 checklist the fault was judged by",
                t.dim,
            ),
        )),
        Err(e) => lines.push(field(
            "checklist",
            Span::styled(format!("cannot read the history: {e}"), t.warning),
        )),
    }
    let kept = match row.fault {
        FaultType::LeaderIdleness => {
            "what this node saw: the blocks it listened, the members connected and the \
             messages heard from other seats (at most 64)."
        }
        FaultType::LeaderMistake => {
            "the leader's signed proposal, its bytes as received; its signature shows who \
             sent it."
        }
        FaultType::LeaderImpersonation => {
            "the signed proposal from the seat that was not the leader's, its bytes as \
             received."
        }
    };
    lines.push(field("evidence", Span::styled(kept, t.base)));
    lines.push(Line::from(""));
    let (export, verify) = verify_commands(app, row);
    lines.push(Line::from(Span::styled(
        "To check it without trusting this node, export it, then verify it against a \
         history or the chain (--rpc-url URL instead of --data-dir):",
        t.base,
    )));
    lines.push(Line::from(Span::styled(export, t.accent)));
    lines.push(Line::from(Span::styled(verify, t.accent)));
    lines
}

pub fn render_detail(frame: &mut Frame, app: &App, row: &FaultRow, area: Rect) {
    let lines = detail_lines(app, row);
    super::scrolled_popup(frame, app, area, "Fault", lines, 78, &app.scroll.detail);
}
