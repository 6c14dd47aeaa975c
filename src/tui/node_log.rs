//! The node's log in an attached console's Logs tab: each line read over the control socket
//! goes into the same tui-logger buffer as the console's own lines, under its target and
//! level, so the tab's targets and per-target levels work as they do in-process.

use crate::control::logs::LogLine;

/// Shows a line of the node's log in the Logs tab.
pub fn show(line: &LogLine) {
    let level = match line.level() {
        Some(tracing::Level::ERROR) => log::Level::Error,
        Some(tracing::Level::WARN) => log::Level::Warn,
        Some(tracing::Level::INFO) | None => log::Level::Info,
        Some(tracing::Level::DEBUG) => log::Level::Debug,
        Some(tracing::Level::TRACE) => log::Level::Trace,
    };
    tui_logger::Drain::new().log(
        &log::Record::builder()
            .args(format_args!("{}", line.message))
            .level(level)
            .target(&line.target)
            .build(),
    );
}
