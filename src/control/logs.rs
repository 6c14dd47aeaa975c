//! The node's own log over the control socket, for an attached console's Logs tab.
//!
//! A `tracing` layer ([`layer`]) turns each event the node's log filter lets through into a
//! [`LogLine`] on one process-wide broadcast, only while some client reads it. Each client
//! asking for the log (`{"type":"logs","filter":"info,tbtc_coord::net=debug"}`) gets the lines
//! its filter takes, per target as the in-process Logs tab does, through a [`LogQueue`] of its
//! own. Everything is bounded: a line's message ([`MAX_LOG_MESSAGE`] bytes), the broadcast
//! ([`LOG_BROADCAST`] lines), and each client's queue ([`LOG_QUEUE`] lines). A client reading
//! too slowly loses its oldest lines, never the node's pace or its own event stream, and is
//! told how many it lost (`{"type":"logs_dropped","count":N}`).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;

/// The longest message a line carries; a longer one is cut at a character boundary and ends
/// with `…`.
pub const MAX_LOG_MESSAGE: usize = 1024;
/// Lines queued for one client; past that its oldest are dropped and counted.
pub const LOG_QUEUE: usize = 512;
/// Lines the process-wide broadcast holds for its slowest reader.
const LOG_BROADCAST: usize = 1024;

/// One line of the node's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// The module (or explicit target) that logged it.
    pub target: String,
    /// The message, then the event's fields as `name=value`.
    pub message: String,
}

impl LogLine {
    pub fn level(&self) -> Option<tracing::Level> {
        self.level.parse().ok()
    }
}

fn broadcast() -> &'static broadcast::Sender<LogLine> {
    static LINES: OnceLock<broadcast::Sender<LogLine>> = OnceLock::new();
    LINES.get_or_init(|| broadcast::channel(LOG_BROADCAST).0)
}

/// The lines the node logs from now on.
pub fn subscribe() -> broadcast::Receiver<LogLine> {
    broadcast().subscribe()
}

/// The layer that feeds the log stream; under the node's log filter, it sees what the
/// node's own log (or in-process Logs tab) shows.
pub fn layer() -> LogStreamLayer {
    LogStreamLayer
}

pub struct LogStreamLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogStreamLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let lines = broadcast();
        // Nobody reads: nothing is formatted.
        if lines.receiver_count() == 0 {
            return;
        }
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let _ = lines.send(LogLine {
            level: meta.level().to_string(),
            target: meta.target().to_string(),
            message: capped(fields.text()),
        });
    }
}

/// An event's message first, then its other fields.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Fields {
    fn text(self) -> String {
        match (self.message.is_empty(), self.rest.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.rest,
            (false, false) => format!("{} {}", self.message, self.rest),
        }
    }
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        // Past the cap nothing more is kept: a huge field costs no more than a short one.
        if self.message.len() + self.rest.len() > MAX_LOG_MESSAGE {
            return;
        }
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.rest.is_empty() {
                self.rest.push(' ');
            }
            let _ = write!(self.rest, "{}={value:?}", field.name());
        }
    }
}

/// `text` cut to [`MAX_LOG_MESSAGE`] bytes at a character boundary.
fn capped(mut text: String) -> String {
    if text.len() <= MAX_LOG_MESSAGE {
        return text;
    }
    let mut end = MAX_LOG_MESSAGE - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// A client's filter: `info`, `tbtc_coord::engine=debug,warn`, as `--log-level` takes it
/// (levels per target; span and field directives are not supported here).
pub fn parse_filter(text: &str) -> Result<Targets, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Targets::new().with_default(tracing::Level::INFO));
    }
    text.parse::<Targets>()
        .map_err(|e| format!("log filter {text:?}: {e}"))
}

/// One client's log lines waiting to be written: the oldest go first when it is full.
#[derive(Default)]
pub struct LogQueue {
    state: Mutex<Queued>,
    ready: Notify,
}

#[derive(Default)]
struct Queued {
    lines: VecDeque<String>,
    dropped: u64,
}

impl LogQueue {
    /// Queues an encoded line, dropping the oldest if the queue is full.
    pub fn push(&self, line: String) {
        if let Ok(mut q) = self.state.lock() {
            if q.lines.len() >= LOG_QUEUE {
                q.lines.pop_front();
                q.dropped += 1;
            }
            q.lines.push_back(line);
        }
        self.ready.notify_one();
    }

    /// Counts lines lost before they were queued (the broadcast outran this client).
    pub fn lost(&self, count: u64) {
        if let Ok(mut q) = self.state.lock() {
            q.dropped += count;
        }
        self.ready.notify_one();
    }

    /// The next line to write: first how many were dropped, if any were, then the oldest
    /// line kept.
    pub fn pop(&self) -> Option<String> {
        let mut q = self.state.lock().ok()?;
        if q.dropped > 0 {
            let count = std::mem::take(&mut q.dropped);
            let notice = super::protocol::Notice::LogsDropped { count };
            return serde_json::to_string(&notice).ok();
        }
        q.lines.pop_front()
    }

    /// Waits for the next line (cancel-safe: a line is taken only when it is returned).
    pub async fn next(&self) -> String {
        loop {
            if let Some(line) = self.pop() {
                return line;
            }
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_whole_characters_and_marked() {
        let text = "é".repeat(MAX_LOG_MESSAGE);
        let cut = capped(text);
        assert!(cut.len() <= MAX_LOG_MESSAGE, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert!(cut.trim_end_matches('…').chars().all(|c| c == 'é'));
        assert_eq!(capped("short".into()), "short");
    }

    #[test]
    fn a_full_queue_drops_its_oldest_and_says_how_many() {
        let q = LogQueue::default();
        for i in 0..LOG_QUEUE + 3 {
            q.push(format!("line {i}"));
        }
        let notice: serde_json::Value = serde_json::from_str(&q.pop().unwrap()).unwrap();
        assert_eq!(notice["type"], "logs_dropped");
        assert_eq!(notice["count"], 3);
        // The three oldest went; the rest come in order.
        assert_eq!(q.pop().unwrap(), "line 3");
        let mut last = String::new();
        while let Some(l) = q.pop() {
            last = l;
        }
        assert_eq!(last, format!("line {}", LOG_QUEUE + 2));
    }

    #[test]
    fn filters_take_levels_per_target() {
        let f = parse_filter("warn,tbtc_coord::engine=debug").unwrap();
        assert!(f.would_enable("tbtc_coord::engine::watch", &tracing::Level::DEBUG));
        assert!(!f.would_enable("tbtc_coord::net", &tracing::Level::INFO));
        assert!(f.would_enable("libp2p_swarm", &tracing::Level::WARN));
        assert!(parse_filter("")
            .unwrap()
            .would_enable("x", &tracing::Level::INFO));
        assert!(parse_filter("info,[span{a=1}]=debug").is_err());
    }
}
