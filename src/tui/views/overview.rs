//! The Overview tab: a timeline of recent and upcoming windows, the wallets at a glance, and
//! the latest results, faults and proposals.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;
use tokio::time::Instant;

use super::format::{count, dispatcher, dispatcher_short, eta, executor};
use super::{fit, pane};
use crate::protocol::{ActionOutcome, ActionType};
use crate::tui::app::{App, ProposalState};

/// Below this width the latest proposals give way (the Proposals tab lists them) and the
/// panes above share the width evenly.
const THREE_PANES: u16 = 120;

pub fn render(frame: &mut Frame, app: &App, _now: Instant, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let wide = area.width >= THREE_PANES;
    let split = if wide { 45 } else { 50 };
    let [timeline, wallets] = Layout::horizontal([
        Constraint::Percentage(split),
        Constraint::Percentage(100 - split),
    ])
    .areas(top);
    render_timeline(frame, app, timeline);
    render_wallets(frame, app, wallets);
    if wide {
        let [results, faults, proposals] = Layout::horizontal([
            Constraint::Percentage(34),
            Constraint::Percentage(33),
            Constraint::Percentage(33),
        ])
        .areas(bottom);
        render_results(frame, app, results);
        render_faults(frame, app, faults);
        render_proposals(frame, app, proposals);
    } else {
        let [results, faults] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(bottom);
        render_results(frame, app, results);
        render_faults(frame, app, faults);
    }
}

/// The width inside a pane's borders.
fn inner_width(area: Rect) -> usize {
    usize::from(area.width.saturating_sub(2))
}

fn render_timeline(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let mut lines: Vec<Line> = Vec::new();
    let avg = app.clock.average();
    let upcoming = app.upcoming_windows(3);
    let max = inner_width(area);
    // As wide as the largest coordination block shown.
    let cb_width = upcoming
        .iter()
        .map(|w| w.coordination_block)
        .chain(view.windows.iter().map(|w| w.coordination_block))
        .max()
        .map_or(1, |cb| cb.to_string().len());
    // The window's number and the time to it only where the status still fits beside them.
    let with_index = max >= 34;
    // Upcoming first (latest at the top), then recent, newest first.
    for w in upcoming.iter().rev() {
        let left = app
            .head()
            .map_or(0, |h| w.coordination_block.saturating_sub(h));
        let leads = view
            .wallets
            .iter()
            .filter(|v| {
                v.next_leader
                    .is_some_and(|(cb, _, me)| cb == w.coordination_block && me)
            })
            .count();
        let known = view.wallets.iter().any(|v| {
            v.next_leader
                .is_some_and(|(cb, _, _)| cb == w.coordination_block)
        });
        let mut parts = vec![
            fit::Part::one(
                0,
                Span::styled(
                    window_label(w.coordination_block, w.index(), cb_width, with_index),
                    t.accent,
                ),
            ),
            fit::Part::one(
                0,
                Span::styled(format!("in {}", count(left as usize, "block")), t.base),
            ),
        ];
        // Narrow, no row tells its time: the header has the next window's.
        if with_index {
            parts.push(fit::Part::one(
                2,
                Span::styled(format!("({})", eta(left, avg)), t.base),
            ));
        }
        if known {
            parts.push(fit::Part::one(
                1,
                Span::styled(
                    format!(" leaders known, you lead {leads}"),
                    if leads > 0 { t.own } else { t.dim },
                ),
            ));
        }
        lines.push(fit::line(max, parts, Span::raw(" ")));
    }
    let current = app.current_window().map(|w| w.coordination_block);
    for w in app.recent_windows().iter().rev() {
        let (status, style) = if w.missed {
            ("MISSED".to_string(), t.critical)
        } else if w.completed {
            (
                format!(
                    "{}, {}",
                    count(w.results, "result"),
                    count(w.faults, "fault")
                ),
                if w.faults > 0 { t.warning } else { t.ok },
            )
        } else if Some(w.coordination_block) == current {
            (
                format!("running: {} so far", count(w.results, "result")),
                t.accent,
            )
        } else {
            (count(w.results, "result"), t.base)
        };
        let mut parts = vec![
            fit::Part::one(
                0,
                Span::styled(
                    window_label(w.coordination_block, w.index, cb_width, with_index),
                    t.base,
                ),
            ),
            fit::Part::one(0, Span::styled(status, style)),
        ];
        if w.late {
            parts.push(fit::Part::one(1, Span::styled(" late", t.warning)));
        }
        if w.other_rule_hash.is_some() {
            parts.push(fit::Part::one(2, Span::styled(" rules differ", t.dim)));
        }
        lines.push(fit::line(max, parts, Span::raw(" ")));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "waiting for the first block…",
            t.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(pane(app, "Windows")), area);
}

/// `  900 #1  `: the coordination block, right-aligned, and the window's number.
fn window_label(cb: u64, index: u64, width: usize, with_index: bool) -> String {
    if with_index {
        format!("{cb:>width$} #{index:<3}")
    } else {
        format!("{cb:>width$}")
    }
}

fn render_wallets(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let head = app.head();
    let cells: Vec<Vec<Line>> = view
        .wallets
        .iter()
        .map(|w| {
            let next = match w.next_leader {
                Some((_, _, true)) => Span::styled("next: YOU", t.own),
                Some((_, l, false)) => Span::styled(format!("next: {}", l.short()), t.dim),
                None => Span::raw(""),
            };
            vec![
                Line::from(Span::styled(w.wallet.short(), t.base)),
                Line::from(Span::styled(executor(&w.executor, head), t.accent)),
                Line::from(Span::styled(
                    if area.width < super::wallets::NARROW {
                        dispatcher_short(&w.dispatcher, head)
                    } else {
                        dispatcher(&w.dispatcher, head)
                    },
                    t.base,
                )),
                Line::from(next),
            ]
        })
        .collect();
    // A column is shown for every wallet or for none; the dispatcher before the executor.
    const COLUMNS: [(&str, u8); 4] = [("", 0), ("", 2), ("", 1), ("", 3)];
    // Inside the borders, less the selection mark.
    let fitted = fit::table(inner_width(area).saturating_sub(2), &COLUMNS, cells);
    let rows = fitted
        .rows
        .into_iter()
        .map(|row| Row::new(row.into_iter().map(Cell::from)));
    let widths: Vec<Constraint> = fitted
        .widths
        .iter()
        .map(|w| Constraint::Length(*w))
        .collect();
    let title = super::wallets::wallets_title(view);
    let table = Table::new(rows, widths)
        .block(pane(app, &title))
        .row_highlight_style(t.selected)
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(
        (!view.wallets.is_empty()).then(|| app.wallet_selected.min(view.wallets.len() - 1)),
    );
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_results(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let max = inner_width(area);
    let lines: Vec<Line> = app
        .latest_results()
        .iter()
        .map(|r| {
            let mut parts = vec![
                fit::Part::one(2, Span::styled(r.coordination_block.to_string(), t.dim)),
                fit::Part::one(0, Span::styled(r.wallet.short(), t.base)),
                fit::Part::one(
                    0,
                    Span::styled(r.action.name(), if r.faulty { t.warning } else { t.ok }),
                ),
            ];
            // A leader's candidates the on-chain validator refused, crossed out (the reasons
            // are in the log and the history).
            for action in &r.refused {
                parts.push(fit::Part::one(
                    1,
                    Span::styled(format!("✗{}", action.name()), t.warning),
                ));
            }
            fit::line(max, parts, Span::raw(" "))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(pane(app, "Latest results")),
        area,
    );
}

fn render_faults(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let max = inner_width(area);
    let lines: Vec<Line> = app
        .latest_faults()
        .iter()
        .map(|f| {
            fit::line(
                max,
                vec![
                    fit::Part::one(0, Span::styled(f.coordination_block.to_string(), t.dim)),
                    fit::Part::one(
                        0,
                        Span::styled(f.fault.name().trim_start_matches("Leader"), t.critical),
                    ),
                    fit::Part::one(1, Span::styled(f.culprit.short(), t.base)),
                    fit::Part::one(2, Span::styled(f.wallet.short(), t.dim)),
                ],
                Span::raw(" "),
            )
        })
        .collect();
    let title = format!("Latest faults ({} seen)", app.view().faults_seen);
    frame.render_widget(Paragraph::new(lines).block(pane(app, &title)), area);
}

fn render_proposals(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let line = |cb: u64, action: ActionType, text: String, style| {
        Line::from(vec![
            Span::styled(format!("{cb} "), t.dim),
            Span::styled(format!("{action} "), t.accent),
            Span::styled(text, style),
        ])
    };
    // One line per action, with where it stands now.
    let lines: Vec<Line> = app
        .latest_proposals()
        .iter()
        .map(|p| {
            let (text, style) = match p.state {
                ProposalState::Dispatched => ("dispatched".to_string(), t.base),
                ProposalState::Rejected => ("REJECTED (busy)".to_string(), t.critical),
                ProposalState::Finished(outcome) => (
                    outcome.name().to_string(),
                    if outcome == ActionOutcome::Completed {
                        t.ok
                    } else {
                        t.warning
                    },
                ),
            };
            line(
                p.coordination_block,
                p.action,
                format!("{} {text}", p.wallet.short()),
                style,
            )
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(pane(app, "Latest proposals")),
        area,
    );
}
