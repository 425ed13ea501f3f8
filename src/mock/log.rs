//! The seed's structured JSON log line, one per request:
//! `timestamp` (RFC 3339 UTC, milliseconds), `level`, `service`, `trace_id`,
//! `span_id`, `tenant_id`, `endpoint`, `message`, `latency_ms`.

use std::io::Write;

use chrono::{SecondsFormat, Utc};

#[derive(Debug, serde::Serialize)]
pub struct LogLine<'a> {
    pub timestamp: String,
    pub level: &'a str,
    pub service: &'a str,
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub tenant_id: &'a str,
    pub endpoint: &'a str,
    pub message: &'a str,
    pub latency_ms: f64,
}

pub fn now_rfc3339_ms() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Write one line to stdout. A failed write (closed pipe) is ignored: logs
/// never fail a request.
pub fn emit(line: &LogLine<'_>) {
    if let Ok(mut s) = serde_json::to_string(line) {
        s.push('\n');
        let _ = std::io::stdout().lock().write_all(s.as_bytes());
    }
}
