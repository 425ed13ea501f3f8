//! The seed's structured JSON log line, one per request:
//! `timestamp` (RFC 3339 UTC, milliseconds), `level`, `service`, `trace_id`,
//! `span_id`, `tenant_id`, `endpoint`, `message`, `latency_ms`.
//! Written to stdout and, when configured, appended to a file (what
//! Promtail/Alloy tail in native runs). The file is rotated at a size
//! bound (`FILE` → `FILE.1`), so a long run's logs stay bounded.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
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
    file: Option<Mutex<Rotating>>,
}

/// An appended file that is renamed to `PATH.1` when it would pass `cap`
/// bytes, and begun again: at most about twice `cap` on disk.
struct Rotating {
    path: PathBuf,
    file: File,
    written: u64,
    cap: u64,
}

impl Rotating {
    fn open(path: &Path, cap: u64) -> std::io::Result<Rotating> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Rotating {
            path: path.to_path_buf(),
            file,
            written,
            cap,
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.written > 0 && self.written + bytes.len() as u64 > self.cap {
            let _ = self.rotate();
        }
        if self.file.write_all(bytes).is_ok() {
            self.written += bytes.len() as u64;
        }
    }

    /// `PATH` → `PATH.1`, and a new, empty `PATH`. On failure the old
    /// file goes on growing: a log line is never worth a failed request.
    fn rotate(&mut self) -> std::io::Result<()> {
        std::fs::rename(&self.path, rotated(&self.path))?;
        *self = Rotating::open(&self.path, self.cap)?;
        Ok(())
    }
}

/// Where a rotated log file's previous part is kept: `PATH.1`.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

impl LogSink {
    /// `cap`: the size in bytes at which the file is rotated.
    pub fn new(stdout: bool, file: Option<&Path>, cap: u64) -> std::io::Result<LogSink> {
        let file = match file {
            Some(p) => Some(Mutex::new(Rotating::open(p, cap.max(1))?)),
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
                f.write(s.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_rotated_at_its_cap_and_keeps_one_previous_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend-api.log");
        let sink = LogSink::new(false, Some(&path), 1000).unwrap();
        for i in 0..40 {
            sink.event("backend-api", "INFO", &format!("line {i}"));
        }
        let now = std::fs::read_to_string(&path).unwrap();
        let before = std::fs::read_to_string(rotated(&path)).unwrap();
        assert!(
            now.len() <= 1000 && before.len() <= 1000,
            "{} {}",
            now.len(),
            before.len()
        );
        assert!(now.ends_with("line 39\",\"latency_ms\":0.0}\n"), "{now}");
        // Nothing older than the previous part is kept, and no line is cut.
        let total = now.lines().count() + before.lines().count();
        assert!(total < 40, "{total}");
        assert!(
            now.lines()
                .chain(before.lines())
                .all(|l| l.starts_with('{') && l.ends_with('}'))
        );
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 2);
    }
}
