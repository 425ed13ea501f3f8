//! The seed's structured JSON log line, one per request:
//! `timestamp` (RFC 3339 UTC, milliseconds), `level`, `service`, `trace_id`,
//! `span_id`, `tenant_id`, `endpoint`, `message`, `latency_ms`.
//! Written to stdout and, when configured, appended to a file (what
//! Promtail/Alloy tail in native runs).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use chrono::{SecondsFormat, Utc};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
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

/// Where log lines go. Writes never fail a request.
pub struct LogSink {
    stdout: bool,
    file: Option<Mutex<File>>,
}

impl LogSink {
    pub fn new(stdout: bool, file: Option<&Path>) -> std::io::Result<LogSink> {
        let file = match file {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            None => None,
        };
        Ok(LogSink { stdout, file })
    }

    pub fn disabled() -> LogSink {
        LogSink {
            stdout: false,
            file: None,
        }
    }

    pub fn enabled(&self) -> bool {
        self.stdout || self.file.is_some()
    }

    pub fn write(&self, line: &LogLine<'_>) {
        if !self.enabled() {
            return;
        }
        let Ok(mut s) = serde_json::to_string(line) else {
            return;
        };
        s.push('\n');
        if self.stdout {
            let _ = std::io::stdout().lock().write_all(s.as_bytes());
        }
        if let Some(f) = &self.file {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(s.as_bytes());
            }
        }
    }
}

impl LogSink {
    /// A line that belongs to no request (start-up, fault changes), in the
    /// same schema.
    pub fn event(&self, service: &str, level: &str, message: &str) {
        self.write(&LogLine {
            timestamp: now_rfc3339_ms(),
            level,
            service,
            trace_id: "",
            span_id: "",
            tenant_id: "",
            endpoint: "",
            message,
            latency_ms: 0.0,
        });
    }
}
