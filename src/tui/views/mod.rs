//! Rendering: one file per pane. Everything here reads the [`App`] and draws; nothing changes
//! state, and nothing indexes outside the frame, whatever its size.

mod confirm_quit;
mod dry_run;
mod faults;
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
    let titles = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title())));
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
    let quit = if app.link.is_remote() {
        "q detach"
    } else {
        "q quit"
    };
    let hint = match app.tab {
        Tab::Overview | Tab::Wallets => format!("↑↓ select · d dry run · Tab/1-6 tabs · p pause · ? help · {quit}"),
        Tab::Network => format!("↑↓ scroll peers · ←→ wallet of the seat grid · Tab/1-6 tabs · ? help · {quit}"),
        Tab::Faults => "↑↓ PgUp/PgDn · Enter detail · / search · t type · o operator · w wallet · r windows · s sort · u summary · c clear".to_string(),
        Tab::Proposals => format!("↑↓ select · Tab/1-6 tabs · p pause · ? help · {quit}"),
        Tab::Logs => "h targets · f focus · ←→ shown level · +/- captured level · PgUp/PgDn scroll".to_string(),
    };
    let mut spans = vec![Span::styled(hint, app.theme.dim)];
    if app.paused() {
        spans.insert(0, Span::styled(" PAUSED (p resumes) ", app.theme.critical));
        spans.insert(1, Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
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
