//! The Logs tab: `tracing` output through tui-logger's smart widget, with per-target levels.

use ratatui::layout::Rect;
use ratatui::Frame;
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerSmartWidget};

use crate::tui::app::App;

pub fn render(frame: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let widget = TuiLoggerSmartWidget::default()
        .style(t.base)
        .border_style(t.border)
        .style_error(t.critical)
        .style_warn(t.warning)
        .style_info(t.ok)
        .style_debug(t.accent)
        .style_trace(t.dim)
        .highlight_style(t.selected)
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".to_string()))
        .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
        .output_target(true)
        .output_file(false)
        .output_line(false)
        .title_target("Targets")
        .title_log("Log")
        .state(&app.logs);
    frame.render_widget(widget, area);
}
