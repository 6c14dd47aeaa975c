//! The Overview tab: a timeline of recent and upcoming windows, the wallets at a glance, and
//! the latest results, faults and proposals.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph};
use ratatui::Frame;
use tokio::time::Instant;

use super::format::{count, dispatcher, eta, executor};
use super::pane;
use crate::protocol::{ActionOutcome, ActionType};
use crate::tui::app::{App, ProposalState};

pub fn render(frame: &mut Frame, app: &App, _now: Instant, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let [timeline, wallets] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(top);
    let [results, faults, proposals] = Layout::horizontal([
        Constraint::Percentage(34),
        Constraint::Percentage(33),
        Constraint::Percentage(33),
    ])
    .areas(bottom);
    render_timeline(frame, app, timeline);
    render_wallets(frame, app, wallets);
    render_results(frame, app, results);
    render_faults(frame, app, faults);
    render_proposals(frame, app, proposals);
}

fn render_timeline(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let mut lines: Vec<Line> = Vec::new();
    let avg = app.clock.average();
    let upcoming = app.upcoming_windows(3);
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
        let mut spans = vec![
            Span::styled(
                format!("{:>9} #{:<6}", w.coordination_block, w.index()),
                t.accent,
            ),
            Span::styled(format!("in {left} blocks ({})", eta(left, avg)), t.base),
        ];
        if known {
            spans.push(Span::styled(
                format!("  leaders known, you lead {leads}"),
                if leads > 0 { t.own } else { t.dim },
            ));
        }
        lines.push(Line::from(spans));
    }
    let current = app.current_window().map(|w| w.coordination_block);
    for w in app.recent_windows().iter().rev() {
        let (status, style) = if w.missed {
            ("MISSED".to_string(), t.critical)
        } else if w.completed {
            (
                format!(
                    "done: {}, {}",
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
        let mut spans = vec![
            Span::styled(
                format!("{:>9} #{:<6}", w.coordination_block, w.index),
                t.base,
            ),
            Span::styled(status, style),
        ];
        if w.late {
            spans.push(Span::styled("  late", t.warning));
        }
        if w.other_rule_hash.is_some() {
            spans.push(Span::styled("  rules differ", t.dim));
        }
        lines.push(Line::from(spans));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "waiting for the first block…",
            t.dim,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(pane(app, "Windows")), area);
}

fn render_wallets(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let view = app.view();
    let head = app.head();
    let items: Vec<ListItem> = view
        .wallets
        .iter()
        .map(|w| {
            let next = match w.next_leader {
                Some((_, _, true)) => Span::styled(" next: YOU", t.own),
                Some((_, l, false)) => Span::styled(format!(" next: {}", l.short()), t.dim),
                None => Span::raw(""),
            };
            ListItem::new(Line::from(vec![
                Span::styled(w.wallet.short(), t.base),
                Span::styled(format!("  {:<16}", executor(&w.executor, head)), t.accent),
                Span::styled(format!(" {}", dispatcher(&w.dispatcher, head)), t.base),
                next,
            ]))
        })
        .collect();
    let title = format!("Wallets ({}) · d dry run", view.wallets.len());
    let list = List::new(items)
        .block(pane(app, &title))
        .highlight_style(t.selected)
        .highlight_symbol("▶ ");
    let mut state = ListState::default().with_selected(
        (!view.wallets.is_empty()).then(|| app.wallet_selected.min(view.wallets.len() - 1)),
    );
    frame.render_stateful_widget(list, area, &mut state);
}

fn render_results(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let lines: Vec<Line> = app
        .latest_results()
        .iter()
        .map(|r| {
            let mut spans = vec![
                Span::styled(format!("{} ", r.coordination_block), t.dim),
                Span::styled(format!("{} ", r.wallet.short()), t.base),
                Span::styled(r.action.name(), if r.faulty { t.warning } else { t.ok }),
            ];
            // A leader's candidates the on-chain validator refused, crossed out (the reasons
            // are in the log and the history).
            for action in &r.refused {
                spans.push(Span::styled(format!(" ✗{}", action.name()), t.warning));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(pane(app, "Latest results")),
        area,
    );
}

fn render_faults(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let lines: Vec<Line> = app
        .latest_faults()
        .iter()
        .map(|f| {
            Line::from(vec![
                Span::styled(format!("{} ", f.coordination_block), t.dim),
                Span::styled(
                    format!("{} ", f.fault.name().trim_start_matches("Leader")),
                    t.critical,
                ),
                Span::styled(format!("{} ", f.culprit.short()), t.base),
                Span::styled(f.wallet.short(), t.dim),
            ])
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
