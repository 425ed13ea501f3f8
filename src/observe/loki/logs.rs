//! What can be said about logs without Loki: every line the mocks wrote has
//! exactly the seed's fields in the seed's formats, and requests the load
//! engine sent can be found in them by trace id (the correlation Grafana's
//! Loki → Jaeger link relies on). Search latency needs Loki and is reported
//! as not measured.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load::record::TraceSample;

pub const SEED_FIELDS: &[&str] = &[
    "timestamp",
    "level",
    "service",
    "trace_id",
    "span_id",
    "tenant_id",
    "endpoint",
    "message",
    "latency_ms",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogReport {
    pub files: Vec<String>,
    pub lines: u64,
    pub nonconforming: u64,
    pub examples: Vec<String>,
    /// Sampled requests answered by backend-api whose trace id appears in
    /// its log.
    pub correlated: u64,
    pub correlatable: u64,
    /// Sampled requests sent before the oldest line still kept (the log
    /// was rotated: `FILE.1` is the only previous part kept). Not looked
    /// up, so neither found nor missed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_retained: u64,
    /// Search latency and completeness, where Loki runs.
    #[serde(default)]
    pub search: Option<crate::observe::loki::logsearch::LogSearchReport>,
}

/// Why a line does not conform, if it does not.
pub fn check_line(line: &str) -> Option<String> {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Some(format!("not JSON: {e}")),
    };
    let Some(o) = v.as_object() else {
        return Some("not a JSON object".into());
    };
    let keys: HashSet<&str> = o.keys().map(String::as_str).collect();
    let missing: Vec<&&str> = SEED_FIELDS.iter().filter(|f| !keys.contains(**f)).collect();
    let extra: Vec<&&str> = keys.iter().filter(|k| !SEED_FIELDS.contains(k)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Some(format!("fields: missing {missing:?}, unexpected {extra:?}"));
    }
    let ts = o["timestamp"].as_str().unwrap_or("");
    if chrono::DateTime::parse_from_rfc3339(ts).is_err() || !ts.ends_with('Z') || ts.len() != 24 {
        return Some(format!(
            "timestamp {ts:?} is not RFC 3339 UTC with milliseconds"
        ));
    }
    if !["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
        .contains(&o["level"].as_str().unwrap_or(""))
    {
        return Some(format!(
            "level {} is not a Python logging level",
            o["level"]
        ));
    }
    if !o["latency_ms"].is_number() {
        return Some("latency_ms is not a number".into());
    }
    None
}

/// The services' log files in `dir` (`*.log`, one per service), sorted.
pub fn log_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

pub fn check_files(
    dir: &Path,
    samples: &[TraceSample],
    load_started: Option<DateTime<Utc>>,
) -> LogReport {
    let mut r = LogReport::default();
    // Only the sampled requests' ids are kept, never every line's: a long
    // run's log holds millions.
    let wanted: HashSet<&str> = samples
        .iter()
        .filter(|s| s.outcome.ends_with("xx"))
        .map(|s| s.trace_id.as_str())
        .collect();
    let mut found: HashSet<String> = HashSet::new();
    // backend-api's oldest kept line, when its log was rotated.
    let mut oldest_backend: Option<DateTime<Utc>> = None;
    for current in log_files(dir) {
        let backend = current.file_stem().is_some_and(|s| s == "backend-api");
        let previous = crate::mock::log::rotated(&current);
        let was_rotated = previous.exists();
        let parts = [previous, current].into_iter().filter(|p| p.exists());
        for (i, f) in parts.enumerate() {
            r.files.push(f.display().to_string());
            let Ok(file) = std::fs::File::open(&f) else {
                continue;
            };
            for line in BufReader::new(file).lines().map_while(Result::ok) {
                r.lines += 1;
                if let Some(why) = check_line(&line) {
                    r.nonconforming += 1;
                    if r.examples.len() < 5 {
                        r.examples.push(format!("{}: {why}", f.display()));
                    }
                } else if backend {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if was_rotated && i == 0 && oldest_backend.is_none() {
                        oldest_backend = v["timestamp"].as_str().and_then(|t| t.parse().ok());
                    }
                    if let Some(t) = v["trace_id"].as_str().filter(|t| wanted.contains(t)) {
                        found.insert(t.to_string());
                    }
                }
            }
        }
    }
    let retained_from = retained_from(oldest_backend, load_started);
    for s in samples.iter().filter(|s| s.outcome.ends_with("xx")) {
        if retained_from.is_some_and(|from| s.sent_s < from) {
            r.not_retained += 1;
            continue;
        }
        r.correlatable += 1;
        if found.contains(&s.trace_id) {
            r.correlated += 1;
        }
    }
    r
}

/// When backend-api's log was rotated (`oldest` is its oldest kept line),
/// the second of the load from which its lines are all still kept, plus a
/// second for a request sent just before and logged just after it.
fn retained_from(
    oldest: Option<DateTime<Utc>>,
    load_started: Option<DateTime<Utc>>,
) -> Option<f64> {
    let (oldest, started) = (oldest?, load_started?);
    Some((oldest - started).num_milliseconds() as f64 / 1000.0 + 1.0)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_example_conforms_and_drift_is_named() {
        let seed = r#"{"timestamp":"2025-01-07T10:30:45.123Z","level":"INFO","service":"backend-api","trace_id":"abc123def456","span_id":"xyz789","tenant_id":"tenant_001","endpoint":"/api/v1/recommendations","message":"Request processed successfully","latency_ms":45}"#;
        assert_eq!(check_line(seed), None);
        let renamed = seed.replace("\"tenant_id\"", "\"tenant\"");
        assert!(
            check_line(&renamed)
                .unwrap()
                .contains("missing [\"tenant_id\"]")
        );
        let no_ms = seed.replace("10:30:45.123Z", "10:30:45Z");
        assert!(check_line(&no_ms).unwrap().contains("milliseconds"));
        assert!(check_line("plain text").unwrap().starts_with("not JSON"));
    }
}
