//! Rendering: one file per pane. Everything here reads the [`App`] and draws; nothing changes
//! state, and nothing indexes outside the frame, whatever its size.

mod confirm_quit;
mod dry_run;
mod faults;
mod fit;
mod format;
mod header;
mod help;
mod logs;
mod network;
mod overview;
mod proposals;
pub mod seats;
mod wallets;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;
use tokio::time::Instant;

use super::app::{App, NodeLink, Popup, Tab};

/// Below this the console shows one line saying so instead of a squashed screen.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

pub fn render(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small: {}x{} (need {MIN_WIDTH}x{MIN_HEIGHT})",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(text)
                .style(app.theme.warning)
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [header_area, gauge_area, tabs_area, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    header::render(frame, app, now, header_area, gauge_area);
    render_tabs(frame, app, tabs_area);
    match app.tab {
        Tab::Overview => overview::render(frame, app, now, body),
        Tab::Wallets => wallets::render(frame, app, body),
        Tab::Network => network::render(frame, app, body),
        Tab::Faults => faults::render(frame, app, body),
        Tab::Proposals => proposals::render(frame, app, body),
        Tab::Logs => logs::render(frame, app, body),
    }
    render_footer(frame, app, footer);
    if let NodeLink::Disconnected { reason, .. } = &app.link {
        render_disconnected(frame, app, reason, body);
    }
    match &app.popup {
        Some(Popup::Help) => help::render(frame, app, area),
        Some(Popup::DryRunDialog(d)) => dry_run::render_dialog(frame, app, d, area),
        Some(Popup::DryRun(outcome)) => dry_run::render_outcome(frame, app, outcome, area),
        Some(Popup::FaultDetail(row)) => faults::render_detail(frame, app, row, area),
        Some(Popup::ConfirmQuit(w)) => confirm_quit::render(frame, app, w, area),
        None => {}
    }
}

fn render_tabs(frame: &mut Frame, app: &App, area: Rect) {
    // Every tab and its key stay in view: the names are shortened when the full ones do not
    // fit (six names, each padded by a space both sides, five dividers).
    let full: usize = Tab::ALL
        .iter()
        .map(|t| t.title().len() + 2 + 2)
        .sum::<usize>()
        + 5;
    let short = usize::from(area.width) < full;
    let titles = Tab::ALL.iter().enumerate().map(|(i, t)| {
        Line::from(format!(
            "{} {}",
            i + 1,
            if short { short_title(*t) } else { t.title() }
        ))
    });
    let selected = Tab::ALL.iter().position(|t| *t == app.tab).unwrap_or(0);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .style(app.theme.dim)
            .highlight_style(app.theme.tab_active)
            .divider("│"),
        area,
    );
}

/// A tab's name where the full ones do not fit.
fn short_title(tab: Tab) -> &'static str {
    match tab {
        Tab::Overview => "Over",
        Tab::Wallets => "Wallets",
        Tab::Network => "Net",
        Tab::Faults => "Faults",
        Tab::Proposals => "Props",
        Tab::Logs => "Logs",
    }
}

/// Over the body while the attached node is away: what is shown is from before.
fn render_disconnected(frame: &mut Frame, app: &App, reason: &str, body: Rect) {
    let area = centered(body, 64, 7);
    let inner = popup_frame(frame, app, area, "disconnected");
    let text = vec![
        Line::from(Span::styled(
            "Not reachable. What is shown is from before it went away.",
            app.theme.critical,
        )),
        Line::from(Span::styled(reason.to_string(), app.theme.dim)),
        Line::from("Retrying; resyncs when the node is back. q detaches."),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
}

fn render_footer(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let quit = if app.link.is_remote() {
        "q detach"
    } else {
        "q quit"
    };
    // This tab's keys, most useful first; the help lists them all.
    let keys: &[&str] = match app.tab {
        Tab::Overview | Tab::Wallets => &["↑↓ select", "d dry run", "p pause"],
        Tab::Network => &["↑↓ peers", "←→ wallet", "PgUp/PgDn seats", "p pause"],
        Tab::Faults => &[
            "Enter detail",
            "↑↓ PgUp/PgDn",
            "/ search",
            "t type",
            "o operator",
            "w wallet",
            "r windows",
            "s sort",
            "u summary",
            "c clear",
        ],
        Tab::Proposals => &["↑↓ select", "Enter dry run", "p pause"],
        Tab::Logs => &[
            "PgUp/PgDn scroll",
            "h targets",
            "f focus",
            "←→ shown level",
            "+/- captured level",
        ],
    };
    let mut parts = Vec::new();
    if app.paused() {
        parts.push(fit::Part::one(
            0,
            Span::styled("PAUSED (p resumes)", t.critical),
        ));
    }
    // Ranked by place: the first keys stay longest, after quit, help and the tab keys.
    for (i, k) in keys.iter().enumerate() {
        parts.push(fit::Part::one(
            (2 + i).min(usize::from(u8::MAX)) as u8,
            Span::styled(*k, t.dim),
        ));
    }
    parts.push(fit::Part::one(1, Span::styled("1-6 tabs", t.dim)));
    parts.push(fit::Part::one(0, Span::styled("? help", t.dim)));
    parts.push(fit::Part::one(0, Span::styled(quit, t.dim)));
    let line = fit::line(usize::from(area.width), parts, Span::styled(" · ", t.dim));
    frame.render_widget(Paragraph::new(line), area);
}

/// A popup of wrapped text, as tall as it needs up to the screen, scrolled by `scroll`;
/// the bottom line says how to scroll and close it.
pub(crate) fn scrolled_popup(
    frame: &mut Frame,
    app: &App,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    width: u16,
    scroll: &crate::tui::scroll::Scroll,
) {
    let t = &app.theme;
    let w = width.min(area.width);
    let inner_width = w.saturating_sub(2);
    // Continuation lines are indented, so a wrapped value reads as one.
    let lines = fit::wrap_all(&lines, usize::from(inner_width), 2);
    let content = lines.len();
    let text = Paragraph::new(lines);
    // Two borders and the hint line.
    let height = (content as u16).saturating_add(3).min(area.height);
    let inner = popup_frame(frame, app, centered(area, w, height), title);
    let [body, hint] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    let view = usize::from(body.height);
    let first = scroll.first_line(content, view);
    frame.render_widget(text.scroll((first as u16, 0)), body);
    let more = content > view;
    let hint_text = if more {
        format!(
            "lines {}-{} of {content} · ↑↓ PgUp PgDn scroll · Esc closes",
            first + 1,
            (first + view).min(content)
        )
    } else {
        "Esc closes".to_string()
    };
    frame.render_widget(
        Paragraph::new(fit::first_fitting(
            usize::from(hint.width),
            vec![
                vec![Span::styled(hint_text, t.dim)],
                vec![Span::styled("↑↓ scroll · Esc closes", t.dim)],
            ],
        )),
        hint,
    );
}

/// A centred rectangle of at most `width` x `height` inside `area`.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Clears `area` and draws a titled, bordered box; returns the inside.
pub(crate) fn popup_frame(frame: &mut Frame, app: &App, area: Rect, title: &str) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.accent)
        .title(Span::styled(format!(" {title} "), app.theme.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// A bordered pane with a title.
pub(crate) fn pane<'a>(app: &App, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border)
        .title(Span::styled(format!(" {title} "), app.theme.title))
}
