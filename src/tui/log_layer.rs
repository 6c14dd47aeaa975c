//! The console's `tracing` layer: each event as its message first, then its fields
//! (`key=value`, in the order written), then the fields of the spans it is in, handed to
//! tui-logger for the Logs tab. (tui-logger's own layer sorts the fields by name, which puts
//! the message wherever "message" sorts.)

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Collects an event's message and its other fields, in order.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Fields {
    fn push(&mut self, field: &Field, value: fmt::Arguments) {
        if field.name() == "message" {
            let _ = self.message.write_fmt(value);
        } else {
            if !self.rest.is_empty() {
                self.rest.push(' ');
            }
            let _ = write!(self.rest, "{}=", field.name());
            let _ = self.rest.write_fmt(value);
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format_args!("{value:?}"));
    }
}

/// A span's fields, formatted once when it opens.
struct SpanFields(String);

/// The message first, then the fields: `peer connected peer=16Uiu2… admitted=staked`.
pub fn line(message: &str, fields: &str, span_fields: &str) -> String {
    let mut out = message.to_string();
    for part in [fields, span_fields] {
        if !part.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(part);
        }
    }
    out
}

/// tui-logger's level (a `log` level) for a `tracing` one.
pub fn log_level(level: tracing::Level) -> log::Level {
    match level {
        tracing::Level::ERROR => log::Level::Error,
        tracing::Level::WARN => log::Level::Warn,
        tracing::Level::INFO => log::Level::Info,
        tracing::Level::DEBUG => log::Level::Debug,
        tracing::Level::TRACE => log::Level::Trace,
    }
}

pub struct ConsoleLogLayer;

impl<S> Layer<S> for ConsoleLogLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut()
                .insert(SpanFields(line(&fields.message, &fields.rest, "")));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span_fields = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<SpanFields>().map(|f| f.0.clone()))
            .unwrap_or_default();
        let text = line(&fields.message, &fields.rest, &span_fields);
        let meta = event.metadata();
        tui_logger::Drain::new().log(
            &log::Record::builder()
                .args(format_args!("{text}"))
                .level(log_level(*meta.level()))
                .target(meta.target())
                .file(meta.file())
                .line(meta.line())
                .module_path(meta.module_path())
                .build(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_comes_first_then_the_fields() {
        assert_eq!(
            line(
                "peer connected",
                "peer=16Uiu2 admitted=staked",
                "wallet=ab12"
            ),
            "peer connected peer=16Uiu2 admitted=staked wallet=ab12"
        );
        assert_eq!(line("", "ms=5", ""), "ms=5");
        assert_eq!(line("first frame drawn", "", ""), "first frame drawn");
    }
}
