//! Diagnostics on standard error for `amtd serve` and `amtd lab`: a `tracing` subscriber with
//! an env-filter. `RUST_LOG` (e.g. `amtd=debug,amtd_infra=info`) overrides the command's
//! default, which names only amtd's own crates so dependencies stay quiet; `--log-format`
//! chooses human-readable `text` (the default) or one JSON object per line.
//!
//! What is logged is structured fields of typed values (user names, device UUIDs, peers,
//! outcomes), never secrets: passwords, tokens and keys live in `SecretString`, whose `Debug`
//! and `Display` print no secret, and no log statement formats a request body.

use std::fmt;
use std::io::IsTerminal as _;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The crates whose events the default filter lets through.
const OUR_CRATES: &[&str] = &[
    "amtd",
    "amtd_core",
    "amtd_infra",
    "amt_emulator",
    "amt_wsman",
    "amt_wire",
    "amt_pki",
];

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (for log collectors).
    Json,
}

/// The filter when `RUST_LOG` is not set: `level` for amtd's crates, nothing else.
fn default_filter(level: &str) -> String {
    OUR_CRATES
        .iter()
        .map(|c| format!("{c}={level}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Installs the subscriber (writing to standard error) unless one is installed already.
/// `level` is the default for amtd's crates (`info` for `amtd serve`, `warn` for `amtd lab`,
/// whose standard output is a fleet summary).
pub fn init(level: &str, format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).unwrap_or_else(|e| {
            eprintln!("amtd: RUST_LOG={v:?} is not a valid filter ({e}); using the default");
            EnvFilter::new(default_filter(level))
        }),
        _ => EnvFilter::new(default_filter(level)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or collector gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.event_format(JsonLines).try_init(),
    };
}

/// One JSON object per event: `time_ms` (since the Unix epoch), `level`, `target`, the event's
/// fields by name (`message` among them) and `spans`, the enclosing spans outermost first, each
/// `{"name", "fields"}` (their fields as text).
struct JsonLines;

/// Collects an event's fields into a JSON object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut map = Map::new();
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        map.insert(
            "time_ms".into(),
            Value::from(u64::try_from(ms).unwrap_or(0)),
        );
        map.insert("level".into(), Value::from(meta.level().as_str()));
        map.insert("target".into(), Value::from(meta.target()));
        event.record(&mut Fields(&mut map));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| {
                    let ext = span.extensions();
                    let fields = ext
                        .get::<FormattedFields<N>>()
                        .map(|f| f.fields.clone())
                        .unwrap_or_default();
                    serde_json::json!({ "name": span.name(), "fields": fields })
                })
                .collect();
            map.insert("spans".into(), Value::Array(spans));
        }
        writeln!(writer, "{}", Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log sink the test can read back.
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_are_one_object_per_event_with_fields_and_spans() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info"))
            .with_writer(move || writer.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("session", device.uuid = "8086e000");
            let _in = span.enter();
            tracing::warn!(user = "alice", attempts = 3_u64, ok = false, "login failed");
            tracing::debug!("filtered out");
        });
        let out = String::from_utf8(sink.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let v: Value = serde_json::from_str(lines[0]).unwrap_or(Value::Null);
        assert_eq!(v["level"], "WARN", "{v}");
        assert_eq!(v["message"], "login failed", "{v}");
        assert_eq!(v["user"], "alice", "{v}");
        assert_eq!(v["attempts"], 3, "{v}");
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["spans"][0]["name"], "session", "{v}");
        assert!(v["time_ms"].as_u64().is_some_and(|t| t > 0), "{v}");
    }

    #[test]
    fn default_filter_names_only_amtd_crates_and_parses() {
        let f = default_filter("info");
        assert!(f.starts_with("amtd=info,amtd_core=info"), "{f}");
        assert!(!f.contains("sqlx") && !f.contains("hyper"));
        assert!(EnvFilter::try_new(&f).is_ok());
    }
}
