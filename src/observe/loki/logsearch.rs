//! Log search under load, where Loki runs: the SLO file's LogQL queries
//! timed through `query_range` over the dashboards' default hour, repeated
//! during the run, and afterwards loki-canary-style completeness (every
//! line the mocks wrote, found in Loki).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::observe::loki::api::{Completeness, Loki, completeness};

/// The range a search covers: Grafana Explore's default, the last hour.
pub const SEARCH_RANGE: Duration = Duration::from_secs(3600);
/// Lines a search asks for: Grafana Explore's default.
const SEARCH_LIMIT: u32 = 1000;
/// Lines compared for completeness at most, per service.
const COMPLETENESS_CAP: usize = 500_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueryTiming {
    pub query: String,
    pub samples_ms: Vec<f64>,
    /// Rounds in which the query returned no line.
    pub empty_rounds: u32,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LogSearchReport {
    pub via: String,
    pub rounds: u32,
    pub queries: Vec<QueryTiming>,
    pub completeness: Vec<Completeness>,
}

pub struct LogSearch {
    loki: Loki,
    report: Arc<Mutex<LogSearchReport>>,
}

fn now_ns() -> i128 {
    chrono::Utc::now()
        .timestamp_nanos_opt()
        .map(i128::from)
        .unwrap_or_default()
}

impl LogSearch {
    pub fn new(loki: Loki, queries: &[String]) -> LogSearch {
        let report = LogSearchReport {
            via: format!("Loki {} query_range", loki.display()),
            rounds: 0,
            queries: queries
                .iter()
                .map(|q| QueryTiming {
                    query: q.clone(),
                    ..Default::default()
                })
                .collect(),
            completeness: Vec::new(),
        };
        LogSearch {
            loki,
            report: Arc::new(Mutex::new(report)),
        }
    }

    pub fn report(&self) -> LogSearchReport {
        self.report.lock().expect("log search poisoned").clone()
    }

    /// One round: every query in turn, as a person searching would.
    pub async fn round(&self) {
        let queries: Vec<String> = self
            .report()
            .queries
            .iter()
            .map(|q| q.query.clone())
            .collect();
        for (i, q) in queries.iter().enumerate() {
            let end = now_ns();
            let start = end - SEARCH_RANGE.as_nanos() as i128;
            let t = Instant::now();
            let r = self
                .loki
                .query_range(q, start, end, SEARCH_LIMIT, false)
                .await;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let mut rep = self.report.lock().expect("log search poisoned");
            let timing = &mut rep.queries[i];
            match r {
                Ok(d) => {
                    timing.samples_ms.push(ms);
                    if d.is_empty() {
                        timing.empty_rounds += 1;
                    }
                }
                Err(e) => {
                    if timing.errors.len() < 5 {
                        timing.errors.push(e);
                    }
                }
            }
        }
        self.report.lock().expect("log search poisoned").rounds += 1;
    }

    /// Rounds every `every` until cancelled.
    pub async fn run(
        self: Arc<Self>,
        first_after: Duration,
        every: Duration,
        cancel: CancellationToken,
    ) {
        crate::observe::repeat(first_after, every, cancel, || self.round()).await
    }

    /// Compare every `*.log` file in `logs` (one per service) with what
    /// Loki holds for `{service="<file stem>"}` since `since`; lines still
    /// missing are asked for again until `flush_wait` has passed.
    pub async fn completeness(
        &self,
        logs: &Path,
        since: chrono::DateTime<chrono::Utc>,
        flush_wait: Duration,
    ) {
        let deadline = tokio::time::Instant::now() + flush_wait;
        let files = super::logs::log_files(logs);
        let start = since
            .timestamp_nanos_opt()
            .map(i128::from)
            .unwrap_or_default()
            - 1_000_000_000;
        let mut results = Vec::new();
        for f in files {
            let service = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let written: Vec<String> = std::fs::read_to_string(&f)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect();
            let selector = format!("{{service=\"{service}\"}}");
            let c = loop {
                let c = completeness(
                    &self.loki,
                    &selector,
                    &written,
                    start,
                    now_ns() + 1,
                    COMPLETENESS_CAP,
                )
                .await;
                if c.found == c.written
                    || c.incomplete.is_some()
                    || tokio::time::Instant::now() >= deadline
                {
                    break c;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            };
            results.push(c);
        }
        self.report
            .lock()
            .expect("log search poisoned")
            .completeness = results;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::endpoint::Endpoint;
    use crate::observe::fake::{Canned, serve};

    #[tokio::test]
    async fn rounds_time_every_query_and_keep_errors() {
        let fake = serve(vec![Canned::new(
            "/loki/api/v1/query_range",
            200,
            include_str!("../../../tests/fixtures/loki/marshal_query_range_streams_response.json"),
        )])
        .await;
        let loki = Loki::new(Endpoint::new(&fake.url), Duration::from_secs(2)).unwrap();
        let s = LogSearch::new(
            loki,
            &[
                "{service=\"backend-api\"}".into(),
                "{tenant_id=\"tenant_001\"} | json".into(),
            ],
        );
        s.round().await;
        s.round().await;
        let r = s.report();
        assert_eq!(r.rounds, 2);
        assert!(
            r.queries
                .iter()
                .all(|q| q.samples_ms.len() == 2 && q.errors.is_empty() && q.empty_rounds == 0)
        );
        let uris: Vec<String> = fake
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.uri.clone())
            .collect();
        assert_eq!(uris.len(), 4);
        assert!(
            uris.iter()
                .all(|u| u.contains("direction=backward") && u.contains("limit=1000"))
        );

        let down = serve(vec![Canned::new(
            "/loki",
            503,
            "too many outstanding requests",
        )])
        .await;
        let loki = Loki::new(Endpoint::new(&down.url), Duration::from_secs(2)).unwrap();
        let s = LogSearch::new(loki, &["{service=\"backend-api\"}".into()]);
        s.round().await;
        let r = s.report();
        assert!(r.queries[0].samples_ms.is_empty());
        assert!(r.queries[0].errors[0].contains("503"));
    }
}
