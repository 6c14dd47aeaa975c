//! The node's log in an attached console's Logs tab: each line read over the control socket
//! goes into the same tui-logger buffer as the console's own lines, under its target and
//! level, so the tab's targets and per-target levels work as they do in-process.

use crate::control::logs::LogLine;

/// Shows a line of the node's log in the Logs tab.
pub fn show(line: &LogLine) {
    // A level this build does not know reads as info.
    let level = super::log_layer::log_level(line.level().unwrap_or(tracing::Level::INFO));
    tui_logger::Drain::new().log(
        &log::Record::builder()
            .args(format_args!("{}", line.message))
            .level(level)
            .target(&line.target)
            .build(),
    );
}
