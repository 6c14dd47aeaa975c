//! The Logs tab: `tracing` output through tui-logger, with per-target levels. The targets
//! pane takes a share of the width rather than its longest target's; each log line reads
//! time, level, message and fields, then the target, and wraps at spaces under itself.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;
use tui_logger::{ExtLogRecord, LogFormatter, TuiLoggerTargetWidget, TuiLoggerWidget};

use super::fit;
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// The targets pane: this share of the width, within these bounds.
const TARGETS_PERCENT: u16 = 30;
const TARGETS_MIN: u16 = 18;
const TARGETS_MAX: u16 = 40;

/// Time, level and a space: where a wrapped line continues.
const INDENT: usize = 11;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let block = |title: &'static str| {
        Block::default()
            .borders(Borders::ALL)
            .border_style(t.border)
            .title(Span::styled(title, t.title))
    };
    let log = TuiLoggerWidget::default()
        .block(block(" Log "))
        .style(t.base)
        .formatter(Box::new(ConsoleFormatter::new(t)))
        .state(&app.logs);
    if app.scroll.log_targets_hidden {
        frame.render_widget(log, area);
        return;
    }
    let targets_width = (area.width * TARGETS_PERCENT / 100).clamp(TARGETS_MIN, TARGETS_MAX);
    let [targets, logs] =
        Layout::horizontal([Constraint::Length(targets_width), Constraint::Min(10)]).areas(area);
    frame.render_widget(
        TuiLoggerTargetWidget::default()
            .block(block(" Targets "))
            .style(t.base)
            .highlight_style(t.selected)
            .style_show(t.ok)
            .style_hide(t.dim)
            .style_off(t.dim)
            .state(&app.logs),
        targets,
    );
    frame.render_widget(log, logs);
}

/// Formats a record as `12:00:01 I message fields · target`, wrapped at spaces.
pub struct ConsoleFormatter {
    base: Style,
    dim: Style,
    error: Style,
    warn: Style,
    info: Style,
    debug: Style,
    trace: Style,
}

impl ConsoleFormatter {
    pub fn new(t: &Theme) -> ConsoleFormatter {
        ConsoleFormatter {
            base: t.base,
            dim: t.dim,
            error: t.critical,
            warn: t.warning,
            info: t.ok,
            debug: t.accent,
            trace: t.dim,
        }
    }

    /// The lines of one record at `width` columns.
    pub fn lines(
        &self,
        width: usize,
        time: String,
        level: log::Level,
        msg: &str,
        target: &str,
    ) -> Vec<Line<'static>> {
        let (style, letter) = match level {
            log::Level::Error => (self.error, "E"),
            log::Level::Warn => (self.warn, "W"),
            log::Level::Info => (self.info, "I"),
            log::Level::Debug => (self.debug, "D"),
            log::Level::Trace => (self.trace, "T"),
        };
        let target = target.strip_prefix("tbtc_coord::").unwrap_or(target);
        let mut out = Vec::new();
        // A multi-line message wraps line by line, each under the first.
        for (i, text) in msg.lines().enumerate() {
            let mut spans = if i == 0 {
                vec![
                    Span::styled(format!("{time} "), self.dim),
                    Span::styled(format!("{letter} "), style),
                ]
            } else {
                vec![Span::raw(" ".repeat(INDENT))]
            };
            spans.push(Span::styled(text.to_string(), self.base));
            out.extend(fit::wrap(&Line::from(spans), width, INDENT));
        }
        if out.is_empty() {
            out.push(Line::from(vec![
                Span::styled(format!("{time} "), self.dim),
                Span::styled(letter, style),
            ]));
        }
        // The target last and dim, on the last line if it fits, else on its own.
        let tail = format!(" · {target}");
        let last = out.last_mut().map(|l| (l.width(), l));
        match last {
            Some((w, line)) if w + fit::str_width(&tail) <= width => {
                line.spans.push(Span::styled(tail, self.dim));
            }
            _ => out.extend(fit::wrap(
                &Line::from(vec![
                    Span::raw(" ".repeat(INDENT)),
                    Span::styled(target.to_string(), self.dim),
                ]),
                width,
                INDENT,
            )),
        }
        out
    }
}

impl LogFormatter for ConsoleFormatter {
    fn min_width(&self) -> u16 {
        INDENT as u16 + 10
    }

    fn format(&self, width: usize, evt: &ExtLogRecord) -> Vec<Line<'_>> {
        self.lines(
            width,
            evt.timestamp.strftime("%H:%M:%S").to_string(),
            evt.level,
            evt.msg(),
            evt.target(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_log_line_wraps_at_spaces_under_its_message() {
        let f = ConsoleFormatter::new(&Theme::dark());
        let lines = f.lines(
            40,
            "12:00:01".into(),
            log::Level::Info,
            "peer connected peer=16Uiu2HAmXyz admitted=staked bootstrap=false",
            "tbtc_coord::net::p2p::swarm",
        );
        let texts: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(
            texts,
            vec![
                "12:00:01 I peer connected",
                "           peer=16Uiu2HAmXyz",
                "           admitted=staked",
                "           bootstrap=false",
                "           net::p2p::swarm",
            ]
        );
        assert!(texts.iter().all(|t| t.chars().count() <= 40));
        // With room, the target ends the last line.
        let lines = f.lines(80, "12:00:01".into(), log::Level::Warn, "late", "x");
        assert_eq!(text(&lines[0]), "12:00:01 W late · x");
    }
}
