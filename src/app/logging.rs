//! Logging: which filter applies (flag, environment, config file or default) and the headless
//! subscriber writing to stderr and to attached consoles. The console sets up its own.

use crate::cli::UsageError;
use crate::tui::theme::no_color_requested;

/// The log filter: `--log-level`, else `RUST_LOG`, else the config file's `log_level`, else
/// `default`. A filter that does not parse is bad input, named with where it came from.
pub fn log_filter(
    flag: Option<&str>,
    file: Option<&str>,
    default: &str,
) -> Result<tracing_subscriber::EnvFilter, UsageError> {
    let env = match std::env::var("RUST_LOG") {
        Ok(v) if v.trim().is_empty() => None,
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(UsageError("RUST_LOG: not valid UTF-8".into()))
        }
    };
    let (source, text) = match (flag, env, file) {
        (Some(f), _, _) => ("--log-level", f.to_string()),
        (None, Some(e), _) => ("RUST_LOG", e),
        (None, None, Some(f)) => ("config file log_level", f.to_string()),
        (None, None, None) => ("the default log filter", default.to_string()),
    };
    tracing_subscriber::EnvFilter::builder()
        .parse(&text)
        .map_err(|e| UsageError(format!("{source}: invalid log filter {text:?}: {e}")))
}

/// Headless logging: to stderr under `filter`, coloured only for a terminal and never with
/// `NO_COLOR`; and under `streamed` (what the node's own console would show) to the consoles
/// attached over the control socket.
pub fn init_logging(
    filter: tracing_subscriber::EnvFilter,
    streamed: tracing_subscriber::EnvFilter,
) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color_requested())
        // Its report of a failed write is an `eprintln!`, which panics (in whichever task
        // was logging) once stderr is a closed pipe: a log line that cannot be written is
        // dropped instead.
        .log_internal_errors(false);
    let _ = tracing_subscriber::registry()
        .with(stderr.with_filter(filter))
        .with(crate::control::logs::layer().with_filter(streamed))
        .try_init();
}
