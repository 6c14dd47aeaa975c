//! The question `q` asks before stopping a node this console owns while stopping it would cut
//! something off: what stops, and how to answer.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{centered, popup_frame};
use crate::tui::app::{App, QuitWarning};

pub fn render(frame: &mut Frame, app: &App, warning: &QuitWarning, area: Rect) {
    let t = &app.theme;
    let mut lines = vec![Line::from(Span::styled(
        "Quitting stops the node, which runs in this console.",
        t.title,
    ))];
    lines.extend(
        warning
            .lines()
            .into_iter()
            .map(|l| Line::from(Span::styled(l, t.warning))),
    );
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "y stops the node and quits · n or Esc keeps it running",
        t.base,
    )));
    let width = 64.min(area.width.saturating_sub(2));
    // Wrapped lines take more rows than there are lines.
    let rows: u16 = lines
        .iter()
        .map(|l| {
            (l.width() as u16)
                .div_ceil(width.saturating_sub(2).max(1))
                .max(1)
        })
        .sum();
    let inner = popup_frame(
        frame,
        app,
        centered(area, width, rows + 2),
        "Stop the node?",
    );
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}
