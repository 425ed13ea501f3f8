//! Loki's query API, for log search where Loki runs: `GET
//! /loki/api/v1/query_range` timed the way a person searching experiences
//! it, and completeness in the manner of loki-canary: every line the mocks
//! wrote must come back from Loki, none missing.
//!
//! The answer is `{"status":"success","data":{"resultType":…,"result":…}}`
//! with `streams` (log lines: `[["<ns>", "<line>", {metadata}?], …]`),
//! `matrix` or `vector` results (metric queries). Loki answers errors as
//! plain text (`parse error at line 1, col 2: …`) with 4xx/5xx; both become
//! errors that name the status and Loki's words.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use reqwest::Client;
use serde_json::Value;

use crate::http::endpoint::{self, Endpoint};

/// One log line: nanoseconds since the epoch, and the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub ts_ns: i128,
    pub line: String,
}

pub type Labels = BTreeMap<String, String>;

/// A metric sample: seconds since the epoch, value.
pub type Sample = (f64, f64);

#[derive(Debug, Clone, PartialEq)]
pub enum QueryData {
    Streams(Vec<(Labels, Vec<Entry>)>),
    /// Metric results: series × samples.
    Matrix(Vec<(Labels, Vec<Sample>)>),
    Vector(Vec<(Labels, Sample)>),
}

impl QueryData {
    /// Log lines, or samples for metric queries.
    pub fn len(&self) -> usize {
        match self {
            QueryData::Streams(s) => s.iter().map(|(_, e)| e.len()).sum(),
            QueryData::Matrix(m) => m.iter().map(|(_, v)| v.len()).sum(),
            QueryData::Vector(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parse a `query_range` (or `query`) answer.
pub fn parse(body: &Value) -> Result<QueryData, String> {
    if body["status"] != "success" {
        return Err(format!(
            "status {} in {}",
            body["status"],
            endpoint::snippet(&body.to_string())
        ));
    }
    let data = &body["data"];
    let result = data["result"]
        .as_array()
        .ok_or("no data.result array in Loki's answer")?;
    let labels = |v: &Value| -> Result<BTreeMap<String, String>, String> {
        v.as_object()
            .ok_or("a result without a label set")?
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|s| (k.clone(), s.to_string()))
                    .ok_or(format!("label {k} is not a string"))
            })
            .collect()
    };
    match data["resultType"].as_str() {
        Some("streams") => result
            .iter()
            .map(|s| {
                let entries = s["values"]
                    .as_array()
                    .ok_or("a stream without values")?
                    .iter()
                    .map(|e| {
                        let ts = e[0]
                            .as_str()
                            .and_then(|t| t.parse::<i128>().ok())
                            .ok_or(format!("entry timestamp {} is not nanoseconds", e[0]))?;
                        let line = e[1].as_str().ok_or(format!("entry line {}", e[1]))?;
                        Ok(Entry {
                            ts_ns: ts,
                            line: line.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok((labels(&s["stream"])?, entries))
            })
            .collect::<Result<_, String>>()
            .map(QueryData::Streams),
        Some("matrix") => result
            .iter()
            .map(|s| {
                let values = s["values"]
                    .as_array()
                    .ok_or("a series without values")?
                    .iter()
                    .map(sample)
                    .collect::<Result<Vec<_>, String>>()?;
                Ok((labels(&s["metric"])?, values))
            })
            .collect::<Result<_, String>>()
            .map(QueryData::Matrix),
        Some("vector") => result
            .iter()
            .map(|s| Ok((labels(&s["metric"])?, sample(&s["value"])?)))
            .collect::<Result<_, String>>()
            .map(QueryData::Vector),
        other => Err(format!("unknown resultType {other:?}")),
    }
}

/// `[<seconds>, "<value>"]`.
fn sample(v: &Value) -> Result<(f64, f64), String> {
    let t = v[0].as_f64().ok_or(format!("sample time {}", v[0]))?;
    let x = v[1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(format!("sample value {}", v[1]))?;
    Ok((t, x))
}

pub struct Loki {
    ep: Endpoint,
    http: Client,
}

impl Loki {
    pub fn new(ep: Endpoint, timeout: Duration) -> Result<Loki, String> {
        Ok(Loki {
            ep,
            http: endpoint::client(timeout).map_err(|e| e.to_string())?,
        })
    }

    pub fn display(&self) -> String {
        self.ep.display()
    }

    /// `query` over [start, end] (nanoseconds), at most `limit` lines,
    /// oldest first when `forward`.
    pub async fn query_range(
        &self,
        query: &str,
        start_ns: i128,
        end_ns: i128,
        limit: u32,
        forward: bool,
    ) -> Result<QueryData, String> {
        let req = self.ep.get(&self.http, "/loki/api/v1/query_range").query(&[
            ("query", query),
            ("start", &start_ns.to_string()),
            ("end", &end_ns.to_string()),
            ("limit", &limit.to_string()),
            ("direction", if forward { "forward" } else { "backward" }),
        ]);
        let what = "/loki/api/v1/query_range";
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{what}: {}", crate::http::http_error(&e)))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| format!("{what}: HTTP {status}, {}", crate::http::http_error(&e)))?;
        if !status.is_success() {
            return Err(format!(
                "{what}: HTTP {status}: {}",
                endpoint::snippet(&text)
            ));
        }
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            format!(
                "{what}: HTTP {status}, body is not JSON: {:?}",
                endpoint::snippet(&text)
            )
        })?;
        parse(&body).map_err(|e| format!("{what}: {e}"))
    }
}

/// Lines the mocks wrote against lines Loki returns, per stream selector.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Completeness {
    pub selector: String,
    pub written: u64,
    pub found: u64,
    pub missing_examples: Vec<String>,
    /// Set when the comparison stopped at the line cap or on an error.
    pub incomplete: Option<String>,
}

/// Lines fetched per request while paging.
const PAGE: u32 = 5000;

/// Page through `selector` over [start, end] (oldest first) and count how
/// many of `written` came back. At most `cap` lines are fetched; beyond
/// that the result says so rather than guess.
pub async fn completeness(
    loki: &Loki,
    selector: &str,
    written: &[String],
    start_ns: i128,
    end_ns: i128,
    cap: usize,
) -> Completeness {
    let mut seen: HashSet<String> = HashSet::new();
    let mut boundary: HashSet<(i128, String)> = HashSet::new();
    let mut from = start_ns;
    let mut incomplete = None;
    loop {
        let page = match loki.query_range(selector, from, end_ns, PAGE, true).await {
            Ok(QueryData::Streams(s)) => s,
            Ok(_) => {
                incomplete = Some(format!("{selector} is not a log query"));
                break;
            }
            Err(e) => {
                incomplete = Some(e);
                break;
            }
        };
        let mut entries: Vec<Entry> = page.into_iter().flat_map(|(_, e)| e).collect();
        entries.sort_by_key(|e| e.ts_ns);
        let full = entries.len() >= PAGE as usize;
        let Some(last) = entries.last().map(|e| e.ts_ns) else {
            break;
        };
        let mut new = 0;
        for e in entries {
            // The next page starts at this page's last timestamp (inclusive,
            // so lines sharing it are not skipped); drop repeats.
            if boundary.insert((e.ts_ns, e.line.clone())) {
                new += 1;
                seen.insert(e.line);
            }
        }
        boundary.retain(|(t, _)| *t == last);
        if seen.len() >= cap {
            incomplete = Some(format!("stopped after {cap} lines"));
            break;
        }
        if !full {
            break;
        }
        from = if new == 0 { last + 1 } else { last };
    }
    let mut found = 0u64;
    let mut missing_examples = Vec::new();
    for w in written {
        if seen.contains(w.trim_end()) {
            found += 1;
        } else if missing_examples.len() < 3 {
            missing_examples.push(endpoint::snippet(w));
        }
    }
    Completeness {
        selector: selector.into(),
        written: written.len() as u64,
        found,
        missing_examples,
        incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::fake::{Canned, serve};

    const STREAMS: &str =
        include_str!("../../../tests/fixtures/loki/marshal_query_range_streams_response.json");
    const CATEGORIZED: &str = include_str!(
        "../../../tests/fixtures/loki/marshal_query_range_streams_categorize_labels_response.json"
    );
    const MATRIX: &str =
        include_str!("../../../tests/fixtures/loki/marshal_query_range_matrix_response.json");
    const VECTOR: &str =
        include_str!("../../../tests/fixtures/loki/marshal_query_vector_response.json");

    fn v(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn fixtures_parse_in_every_result_type() {
        let QueryData::Streams(s) = parse(&v(STREAMS)).unwrap() else {
            panic!("streams")
        };
        assert!(!s.is_empty());
        assert!(s.iter().all(|(l, e)| !l.is_empty() && !e.is_empty()));
        let c = parse(&v(CATEGORIZED)).unwrap();
        assert_eq!(c.len(), 3);
        let QueryData::Streams(cs) = c else { panic!() };
        assert_eq!(cs[0].1[2].line, "super line with labels msg=text");
        assert_eq!(cs[0].1[0].ts_ns, 123456789012345);
        let QueryData::Matrix(m) = parse(&v(MATRIX)).unwrap() else {
            panic!("matrix")
        };
        assert_eq!(m[1].0["filename"], "/var/hostlog/syslog");
        assert_eq!(m[1].1, vec![(1568404331.324, 3.45), (1568404331.339, 4.45)]);
        assert!(matches!(parse(&v(VECTOR)).unwrap(), QueryData::Vector(x) if !x.is_empty()));
    }

    #[test]
    fn malformed_and_partial_answers_are_errors() {
        assert!(parse(&v(r#"{"status":"error","error":"x"}"#)).is_err());
        assert!(
            parse(&v(
                r#"{"status":"success","data":{"resultType":"streams"}}"#
            ))
            .is_err()
        );
        assert!(parse(&v(r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[[1,"x"]]}]}}"#)).is_err());
        assert!(parse(&v(r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"abc"]]}]}}"#)).is_err());
        assert!(
            parse(&v(
                r#"{"status":"success","data":{"resultType":"scalar","result":[]}}"#
            ))
            .is_err()
        );
    }

    #[tokio::test]
    async fn query_range_over_the_wire_with_errors_in_loki_words() {
        let fake = serve(vec![Canned::new(
            "/loki/api/v1/query_range",
            200,
            CATEGORIZED,
        )])
        .await;
        let loki = Loki::new(Endpoint::new(&fake.url), Duration::from_secs(2)).unwrap();
        let d = loki
            .query_range(r#"{service="backend-api"} |= "error""#, 1, 2, 100, true)
            .await
            .unwrap();
        assert_eq!(d.len(), 3);
        let uri = fake.seen.lock().unwrap()[0].uri.clone();
        assert!(
            uri.contains("direction=forward")
                && uri.contains("limit=100")
                && uri.contains("start=1"),
            "{uri}"
        );

        let bad = serve(vec![Canned::new(
            "/loki/api/v1/query_range",
            400,
            "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n",
        )])
        .await;
        let loki = Loki::new(Endpoint::new(&bad.url), Duration::from_secs(2)).unwrap();
        let e = loki.query_range("nope", 1, 2, 1, true).await.unwrap_err();
        assert!(e.contains("400") && e.contains("syntax error"), "{e}");

        let down = serve(vec![Canned::new("/loki", 502, "bad gateway")]).await;
        let loki = Loki::new(Endpoint::new(&down.url), Duration::from_secs(2)).unwrap();
        assert!(
            loki.query_range("{a=\"b\"}", 1, 2, 1, true)
                .await
                .unwrap_err()
                .contains("502")
        );

        let slow = serve(vec![
            Canned::new("/loki", 200, STREAMS).slow(Duration::from_secs(5)),
        ])
        .await;
        let loki = Loki::new(Endpoint::new(&slow.url), Duration::from_millis(300)).unwrap();
        assert!(
            loki.query_range("{a=\"b\"}", 1, 2, 1, true)
                .await
                .unwrap_err()
                .contains("timed out")
        );

        let html = serve(vec![Canned::new("/loki", 200, "<html/>")]).await;
        let loki = Loki::new(Endpoint::new(&html.url), Duration::from_secs(2)).unwrap();
        assert!(
            loki.query_range("{a=\"b\"}", 1, 2, 1, true)
                .await
                .unwrap_err()
                .contains("not JSON")
        );
    }

    /// A Loki holding `lines` (one per nanosecond from 1) that pages like
    /// the real one: forward from `start`, inclusive, at most `limit`.
    async fn paging_loki(lines: Vec<String>) -> crate::observe::fake::Fake {
        use axum::extract::Query;
        let lines = std::sync::Arc::new(lines);
        let app = axum::Router::new().route(
            "/loki/api/v1/query_range",
            axum::routing::get(move |Query(q): Query<BTreeMap<String, String>>| {
                let lines = lines.clone();
                async move {
                    let start: usize = q["start"].parse().unwrap();
                    let limit: usize = q["limit"].parse().unwrap();
                    let values: Vec<Value> = lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| (i + 1, l))
                        .filter(|(t, _)| *t >= start)
                        .take(limit)
                        .map(|(t, l)| serde_json::json!([t.to_string(), l]))
                        .collect();
                    axum::Json(serde_json::json!({"status":"success","data":{"resultType":"streams","result":[{"stream":{"service":"backend-api"},"values":values}]}}))
                }
            }),
        );
        crate::observe::fake::serve_app(app).await
    }

    #[tokio::test]
    async fn completeness_pages_through_and_names_missing_lines() {
        let stored: Vec<String> = (0..12_000).map(|i| format!("{{\"n\":{i}}}")).collect();
        let fake = paging_loki(stored.clone()).await;
        let loki = Loki::new(Endpoint::new(&fake.url), Duration::from_secs(5)).unwrap();
        let mut written = stored.clone();
        written.push("{\"n\":\"lost\"}".into());
        let c = completeness(
            &loki,
            r#"{service="backend-api"}"#,
            &written,
            1,
            20_000,
            1_000_000,
        )
        .await;
        assert_eq!((c.written, c.found), (12_001, 12_000));
        assert_eq!(c.missing_examples, vec!["{\"n\":\"lost\"}".to_string()]);
        assert_eq!(c.incomplete, None);
        // Three pages of 5000 (the third short), not one per line.
        assert_eq!(fake.seen.lock().unwrap().len(), 3);

        let capped = completeness(
            &loki,
            r#"{service="backend-api"}"#,
            &written,
            1,
            20_000,
            4_000,
        )
        .await;
        assert!(capped.incomplete.unwrap().contains("4000"));
    }
}
