//! What the truth-checked panels (`grafana/truth.yml`) show once the load
//! is over: each listed target, substituted as Grafana would substitute
//! it (variables at their defaults), run once as an instant query against
//! the Prometheus under test. The values are recorded as they came; the
//! comparison with the load engine's record is the pure judge
//! `slo::check::truth`.
//!
//! For latency panels the histogram's bucket bounds (`le`) are read too,
//! so that the load's own latencies can be bucketed as Prometheus buckets
//! them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::endpoint::Endpoint;
use crate::stackfiles::grafana::model::Dashboard;
use crate::stackfiles::grafana::truth::{Shows, TruthPanel, find};
use crate::stackfiles::grafana::vars::{context, prometheus_query};

/// One series of a panel's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TruthSeries {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One truth-checked target as the Prometheus under test answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PanelTruth {
    pub dashboard: String,
    pub panel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legend: Option<String>,
    /// `request_rate`, `request_count`, `active_tenants` or
    /// `latency_quantile`.
    pub shows: String,
    pub by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    /// The query as sent.
    pub expr: String,
    /// When it was evaluated (Unix seconds).
    pub at: f64,
    /// Its longest range (`[5m]`), in seconds; none for an instant
    /// selector (Prometheus then looks back 5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    pub series: Vec<TruthSeries>,
    /// Per group (the `by` labels), what the counter a count panel reads
    /// had already counted at the first sample of each of its series born
    /// inside the window: `rate` and `increase` cannot see those requests.
    /// Mostly one per series; more where a service answers a backlog
    /// before its first scrape (after a freeze). Empty when not asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_first_scrape: Vec<TruthSeries>,
    /// The finite `le` bounds of the histogram a latency panel reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<f64>,
    /// Why it could not be asked, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn shows_name(s: Shows) -> &'static str {
    match s {
        Shows::RequestRate => "request_rate",
        Shows::RequestCount => "request_count",
        Shows::ActiveTenants => "active_tenants",
        Shows::LatencyQuantile => "latency_quantile",
    }
}

/// Ask Prometheus what every entry of `truth` shows at `at`.
pub async fn observe(
    truth: &[TruthPanel],
    dashboards: &[Dashboard],
    scrape: std::time::Duration,
    prometheus: &Endpoint,
    http: &reqwest::Client,
    at: f64,
) -> Vec<PanelTruth> {
    let mut out = Vec::new();
    for t in truth {
        let Ok((d, p, target)) = find(t, dashboards) else {
            // `validate` warned; nothing to compare.
            continue;
        };
        let expr = prometheus_query(&target.expr, &context(d, p, Some(scrape)), &d.variables);
        let window_s = crate::stackfiles::prometheus::promql::range_windows(&expr)
            .ok()
            .and_then(|w| w.into_iter().max())
            .map(|w| w.as_secs_f64());
        let mut r = PanelTruth {
            dashboard: d.title.clone(),
            panel: p.title.clone(),
            legend: t.legend.clone(),
            shows: shows_name(t.shows).into(),
            by: t.by.clone(),
            quantile: t.quantile,
            expr: expr.clone(),
            at,
            window_s,
            series: Vec::new(),
            before_first_scrape: Vec::new(),
            buckets: Vec::new(),
            error: None,
        };
        match instant(prometheus, http, &expr, at).await {
            Ok(series) => r.series = series,
            Err(e) => r.error = Some(e),
        }
        let counts = matches!(t.shows, Shows::RequestRate | Shows::RequestCount);
        if counts
            && r.error.is_none()
            && let Some(q) = window_s.and_then(|w| first_scrape_query(&expr, &t.by, w))
        {
            // Not known is the judge's fallback (one per series), not an error.
            r.before_first_scrape = instant(prometheus, http, &q, at).await.unwrap_or_default();
        }
        if t.shows == Shows::LatencyQuantile && r.error.is_none() {
            match buckets(prometheus, http, &expr, at).await {
                Ok(b) => r.buckets = b,
                Err(e) => r.error = Some(format!("its histogram's buckets: {e}")),
            }
        }
        out.push(r);
    }
    out
}

/// For a count panel over a `w`-second window: per group of `by`, the
/// first sample in the window of each series of its counter that has no
/// sample in the hour (or window, if longer) before (it was born inside;
/// an hour, so that a service frozen for the window before does not pass
/// for new). A counter never decreases but at a reset, so its least value
/// in the window is its first, or less.
pub fn first_scrape_query(expr: &str, by: &[String], w: f64) -> Option<String> {
    use crate::input::units::{format_duration, saturating_secs};
    let vs = crate::stackfiles::prometheus::promql::counted_selector(expr)?;
    let d = |s: f64| format_duration(saturating_secs(s));
    let (before, w) = (d(w.max(3600.0)), d(w));
    Some(format!(
        "sum by ({}) (min_over_time({vs}[{w}]) unless last_over_time({vs}[{before}] offset {w}))",
        by.join(", ")
    ))
}

/// `expr` at `at`: its series, or Prometheus' error.
async fn instant(
    prometheus: &Endpoint,
    http: &reqwest::Client,
    expr: &str,
    at: f64,
) -> Result<Vec<TruthSeries>, String> {
    let resp = prometheus
        .post(http, "/api/v1/query")
        .form(&[("query", expr), ("time", &format!("{at:.3}"))])
        .send()
        .await
        .map_err(|e| crate::http::http_error(&e))?;
    let status = resp.status();
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| format!("unreadable answer: {e}"))?;
    if !status.is_success() || body["status"] != "success" {
        return Err(format!(
            "HTTP {status}: {}",
            body["error"].as_str().unwrap_or("no error text")
        ));
    }
    parse_vector(&body["data"])
}

/// A `vector` or `scalar` result, as series. A NaN (`histogram_quantile`
/// over no requests) is no value: the series is left out, as Grafana
/// draws nothing for it.
pub fn parse_vector(data: &serde_json::Value) -> Result<Vec<TruthSeries>, String> {
    let number = |v: &serde_json::Value| -> Option<f64> { v.get(1)?.as_str()?.parse().ok() };
    match data["resultType"].as_str() {
        Some("scalar") => Ok(vec![TruthSeries {
            labels: BTreeMap::new(),
            value: number(&data["result"]).ok_or("a scalar without a number")?,
        }]),
        Some("vector") => data["result"]
            .as_array()
            .ok_or_else(|| "a vector without a result list".to_string())?
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = number(&s["value"]).ok_or("a sample without a number")?;
                Ok(TruthSeries { labels, value })
            })
            .filter(|s: &Result<TruthSeries, String>| {
                s.as_ref().map_or(true, |s| !s.value.is_nan())
            })
            .collect(),
        other => Err(format!("expected a vector, found {other:?}")),
    }
}

/// The finite `le` bounds of every `_bucket` series the query reads.
async fn buckets(
    prometheus: &Endpoint,
    http: &reqwest::Client,
    expr: &str,
    at: f64,
) -> Result<Vec<f64>, String> {
    let names = crate::stackfiles::prometheus::promql::metric_names(expr)?;
    let mut out: Vec<f64> = Vec::new();
    for name in names.iter().filter(|n| n.ends_with("_bucket")) {
        let series = instant(
            prometheus,
            http,
            &format!("count by (le) (last_over_time({name}[1h]))"),
            at,
        )
        .await?;
        out.extend(
            series
                .iter()
                .filter_map(|s| s.labels.get("le")?.parse::<f64>().ok())
                .filter(|b| b.is_finite()),
        );
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_panels_first_samples_are_asked_of_its_counter_alone() {
        let q = first_scrape_query(
            r#"sum by (tenant_id) (increase(api_requests_total{tenant_id=~".*"}[5m]))"#,
            &["tenant_id".into()],
            300.0,
        );
        assert_eq!(
            q.as_deref(),
            Some(
                r#"sum by (tenant_id) (min_over_time(api_requests_total{tenant_id=~".*"}[5m]) unless last_over_time(api_requests_total{tenant_id=~".*"}[1h] offset 5m))"#
            )
        );
        let ratio = "sum(rate(a_total[5m])) / sum(rate(b_total[5m]))";
        assert_eq!(first_scrape_query(ratio, &[], 300.0), None);
    }

    #[test]
    fn vectors_and_scalars_read_as_series() {
        let v = serde_json::json!({"resultType": "vector", "result": [
            {"metric": {"endpoint": "/a"}, "value": [1.0, "2.5"]},
            {"metric": {}, "value": [1.0, "NaN"]}
        ]});
        let s = parse_vector(&v).unwrap();
        assert_eq!(s[0].labels["endpoint"], "/a");
        assert_eq!(s[0].value, 2.5);
        assert_eq!(s.len(), 1, "NaN is no value");
        let sc = serde_json::json!({"resultType": "scalar", "result": [1.0, "3"]});
        assert_eq!(parse_vector(&sc).unwrap()[0].value, 3.0);
        let m = serde_json::json!({"resultType": "matrix", "result": []});
        assert!(parse_vector(&m).unwrap_err().contains("matrix"));
    }
}
