//! Grafana's query API, for dashboard load time where Grafana runs: a
//! panel's targets go to `POST /api/ds/query` in one request, the way the
//! Grafana frontend sends them, so the time includes Grafana's own work
//! (auth, datasource proxying, data-frame encoding), not just Prometheus'.
//!
//! The answer is `{"results": {"<refId>": {"status", "frames": [...],
//! "error"?}}}` with frames' values stored column-wise
//! (`data.values[column][row]`). A refId with an `error` is that query's
//! failure even when the HTTP status is 200 (Grafana answers 207 or 400 in
//! some versions, 200 in others), and a frame with no rows is "no data".

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Client;
use serde_json::{Value, json};

use crate::http::endpoint::{self, Endpoint};

/// One target of a panel, as `/api/ds/query` takes it.
#[derive(Debug, Clone)]
pub struct DsQuery {
    pub ref_id: String,
    pub datasource_uid: String,
    pub datasource_type: String,
    pub expr: String,
    pub instant: bool,
    pub interval_ms: u64,
    pub max_data_points: u32,
}

impl DsQuery {
    fn to_json(&self) -> Value {
        json!({
            "refId": self.ref_id,
            "datasource": {"type": self.datasource_type, "uid": self.datasource_uid},
            "expr": self.expr,
            "instant": self.instant,
            "range": !self.instant,
            "format": "time_series",
            "intervalMs": self.interval_ms,
            "maxDataPoints": self.max_data_points,
        })
    }
}

/// Per refId: whether it returned rows, or its error.
pub type DsResults = BTreeMap<String, Result<bool, String>>;

/// Parse an `/api/ds/query` answer.
pub fn parse(body: &Value) -> Result<DsResults, String> {
    let results = body["results"]
        .as_object()
        .ok_or_else(|| match body["message"].as_str() {
            Some(m) => m.to_string(),
            None => format!("no \"results\" in {}", endpoint::snippet(&body.to_string())),
        })?;
    let mut out = DsResults::new();
    for (ref_id, r) in results {
        let status = r["status"].as_u64().unwrap_or(200);
        let outcome = if let Some(e) = r["error"].as_str().filter(|e| !e.is_empty()) {
            Err(format!("{ref_id}: {e}"))
        } else if status >= 400 {
            Err(format!("{ref_id}: status {status}"))
        } else {
            match &r["frames"] {
                Value::Null => Ok(false),
                Value::Array(frames) => frames
                    .iter()
                    .map(|f| match &f["data"]["values"] {
                        Value::Array(cols) => Ok(cols
                            .first()
                            .and_then(Value::as_array)
                            .is_some_and(|rows| !rows.is_empty())),
                        Value::Null if f.get("schema").is_some() => Ok(false),
                        other => Err(format!("{ref_id}: frame values {other}")),
                    })
                    .try_fold(false, |any, has| has.map(|h| any || h)),
                other => Err(format!("{ref_id}: frames is {other}")),
            }
        };
        out.insert(ref_id.clone(), outcome);
    }
    Ok(out)
}

pub struct Grafana {
    ep: Endpoint,
    http: Client,
}

impl Grafana {
    pub fn new(ep: Endpoint, timeout: Duration) -> Result<Grafana, String> {
        Ok(Grafana {
            ep,
            http: endpoint::client(timeout).map_err(|e| e.to_string())?,
        })
    }

    pub fn display(&self) -> String {
        self.ep.display()
    }

    /// `GET /api/health`: Grafana's version when its database is ok.
    pub async fn health(&self) -> Result<String, String> {
        let (status, body) =
            endpoint::json(self.ep.get(&self.http, "/api/health"), "/api/health").await?;
        if !status.is_success() || body["database"] != "ok" {
            return Err(format!(
                "/api/health: HTTP {status}: {}",
                endpoint::snippet(&body.to_string())
            ));
        }
        Ok(body["version"].as_str().unwrap_or("unknown").to_string())
    }

    /// Run one panel's queries over [from, to] (ms since the epoch).
    pub async fn query(
        &self,
        queries: &[DsQuery],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<DsResults, String> {
        let body = json!({
            "queries": queries.iter().map(DsQuery::to_json).collect::<Vec<_>>(),
            "from": from_ms.to_string(),
            "to": to_ms.to_string(),
        });
        let what = "/api/ds/query";
        let (status, v) = endpoint::json(self.ep.post(&self.http, what).json(&body), what).await?;
        match parse(&v) {
            Ok(r) => Ok(r),
            Err(e) => Err(format!("{what}: HTTP {status}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::fake::{Canned, serve};

    const ANSWER: &str =
        include_str!("../../../tests/fixtures/grafana/ds_query_prometheus_response.json");

    #[test]
    fn data_no_data_and_errors_per_ref_id() {
        let r = parse(&serde_json::from_str(ANSWER).unwrap()).unwrap();
        assert_eq!(r["A"], Ok(true));
        assert_eq!(r["B"], Ok(false));
        assert!(r["C"].as_ref().unwrap_err().contains("parse error"));
    }

    #[test]
    fn malformed_answers_are_errors() {
        let p = |s: &str| parse(&serde_json::from_str(s).unwrap());
        assert_eq!(
            p(r#"{"message":"Unauthorized"}"#).unwrap_err(),
            "Unauthorized"
        );
        assert!(p(r#"{"x":1}"#).is_err());
        assert!(p(r#"{"results":{"A":{"frames":{"a":1}}}}"#).unwrap()["A"].is_err());
        assert!(
            p(r#"{"results":{"A":{"frames":[{"data":{"values":7}}]}}}"#).unwrap()["A"].is_err()
        );
        assert!(p(r#"{"results":{"A":{"status":500}}}"#).unwrap()["A"].is_err());
    }

    #[tokio::test]
    async fn sends_what_the_frontend_sends_with_the_token() {
        let fake = serve(vec![
            Canned::new("/api/ds/query", 200, ANSWER),
            Canned::new(
                "/api/health",
                200,
                r#"{"commit":"x","database":"ok","version":"11.4.0"}"#,
            ),
        ])
        .await;
        let ep = Endpoint::with_env_auth(&fake.url, "grafana", |k| {
            (k == "ZETA_GRAFANA_TOKEN").then(|| "glsa_test".to_string())
        });
        let g = Grafana::new(ep, Duration::from_secs(2)).unwrap();
        assert_eq!(g.health().await.unwrap(), "11.4.0");
        let q = DsQuery {
            ref_id: "A".into(),
            datasource_uid: "prometheus".into(),
            datasource_type: "prometheus".into(),
            expr: "sum(rate(api_requests_total[1m]))".into(),
            instant: false,
            interval_ms: 15_000,
            max_data_points: 1000,
        };
        let r = g.query(&[q], 1_000, 3_601_000).await.unwrap();
        assert_eq!(r["A"], Ok(true));
        let seen = fake.seen.lock().unwrap().clone();
        let post = seen.iter().find(|s| s.method == "POST").unwrap();
        assert_eq!(post.authorization.as_deref(), Some("Bearer glsa_test"));
        let body: Value = serde_json::from_str(&post.body).unwrap();
        assert_eq!(body["from"], "1000");
        assert_eq!(body["queries"][0]["datasource"]["uid"], "prometheus");
        assert_eq!(body["queries"][0]["range"], true);
        assert_eq!(body["queries"][0]["intervalMs"], 15_000);
    }

    #[tokio::test]
    async fn gateway_errors_unhealthy_and_slow_grafana() {
        let fake = serve(vec![
            Canned::new("/api/ds/query", 502, "<html>Bad Gateway</html>"),
            Canned::new("/api/health", 503, r#"{"database":"failing"}"#),
        ])
        .await;
        let g = Grafana::new(Endpoint::new(&fake.url), Duration::from_secs(2)).unwrap();
        assert!(g.query(&[], 0, 1).await.unwrap_err().contains("502"));
        assert!(g.health().await.unwrap_err().contains("503"));
        let slow = serve(vec![
            Canned::new("/api/ds/query", 200, ANSWER).slow(Duration::from_secs(5)),
        ])
        .await;
        let g = Grafana::new(Endpoint::new(&slow.url), Duration::from_millis(300)).unwrap();
        assert!(g.query(&[], 0, 1).await.unwrap_err().contains("timed out"));
    }
}
