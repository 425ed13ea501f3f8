//! Jaeger's query API, for trace coverage where Jaeger runs: one trace by
//! id, through `/api/v3/traces/{id}` (OTLP JSON in a `result` wrapper,
//! Jaeger v2) or, on older servers without the v3 HTTP API, the v1 UI API
//! `/api/traces/{id}` (`data[]` of trace objects with `processes`).
//!
//! Current Jaeger removed the old search endpoints, so nothing here
//! searches: coverage looks each sampled trace id up. The v3 services list
//! (`/api/v3/services`) says which services reported at all.
//!
//! Both formats become [`TraceInfo`]: per span its service, id, parent id
//! and OTLP span kind, which is all the coverage check reads.

use std::time::Duration;

use reqwest::Client;
use serde_json::Value;

use crate::http::endpoint::{self, Endpoint};
use crate::observe::jaeger::traces::{SpanRef, TraceInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V3,
    V1,
}

pub struct Jaeger {
    ep: Endpoint,
    http: Client,
    pub api: Api,
}

impl Jaeger {
    /// Which API the server speaks: v3 when `/api/v3/services` answers,
    /// else v1 when `/api/services` does; an error when neither does.
    pub async fn detect(ep: Endpoint, timeout: Duration) -> Result<Jaeger, String> {
        let http = endpoint::client(timeout).map_err(|e| e.to_string())?;
        let mut j = Jaeger {
            ep,
            http,
            api: Api::V3,
        };
        match j.services().await {
            Ok(_) => return Ok(j),
            Err(v3) => {
                j.api = Api::V1;
                j.services()
                    .await
                    .map_err(|v1| format!("Jaeger at {}: {v3}; {v1}", j.ep.display()))?;
            }
        }
        Ok(j)
    }

    pub fn display(&self) -> String {
        self.ep.display()
    }

    /// The services Jaeger has spans from.
    pub async fn services(&self) -> Result<Vec<String>, String> {
        let path = match self.api {
            Api::V3 => "/api/v3/services",
            Api::V1 => "/api/services",
        };
        let (status, body) = endpoint::json(self.ep.get(&self.http, path), path).await?;
        if !status.is_success() {
            return Err(format!("{path}: HTTP {status}"));
        }
        let list = match self.api {
            Api::V3 => &body["services"],
            Api::V1 => &body["data"],
        };
        match list {
            Value::Array(a) => Ok(a
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()),
            // Jaeger omits an empty list.
            Value::Null if self.api == Api::V3 && body.is_object() => Ok(Vec::new()),
            _ => Err(format!(
                "{path}: no services list in {}",
                endpoint::snippet(&body.to_string())
            )),
        }
    }

    /// The operations (span names) Jaeger has for `service`.
    pub async fn operations(&self, service: &str) -> Result<Vec<String>, String> {
        let (req, what) = match self.api {
            Api::V3 => (
                self.ep
                    .get(&self.http, "/api/v3/operations")
                    .query(&[("service", service)]),
                "/api/v3/operations",
            ),
            Api::V1 => (
                self.ep.get(
                    &self.http,
                    &format!(
                        "/api/services/{}/operations",
                        crate::http::path_segment(service)
                    ),
                ),
                "/api/services/{service}/operations",
            ),
        };
        let (status, body) = endpoint::json(req, what).await?;
        if !status.is_success() {
            return Err(format!("{what}: HTTP {status}: {}", error_text(&body)));
        }
        let names = match self.api {
            Api::V3 => body["operations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["name"].as_str().map(String::from))
                .collect(),
            Api::V1 => body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(String::from))
                .collect(),
        };
        Ok(names)
    }

    /// One trace: `Ok(None)` when Jaeger says it has no such trace.
    pub async fn trace(&self, id: &str) -> Result<Option<TraceInfo>, String> {
        let path = match self.api {
            Api::V3 => format!("/api/v3/traces/{id}"),
            Api::V1 => format!("/api/traces/{id}"),
        };
        let what = match self.api {
            Api::V3 => "/api/v3/traces/{id}",
            Api::V1 => "/api/traces/{id}",
        };
        let (status, body) = endpoint::json(self.ep.get(&self.http, &path), what).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("{what}: HTTP {status}: {}", error_text(&body)));
        }
        match self.api {
            Api::V3 => parse_v3(&body).map(Some),
            Api::V1 => parse_v1(&body),
        }
        .map_err(|e| format!("{what}: {e}"))
    }
}

fn error_text(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .or_else(|| body["errors"][0]["msg"].as_str())
        .map(String::from)
        .unwrap_or_else(|| endpoint::snippet(&body.to_string()))
}

/// A v3 `GetTrace` answer: `{"result": {"resourceSpans": [...]}}`. An
/// answer without spans is an error, not an empty trace: Jaeger answers 404
/// for a trace it does not have.
pub fn parse_v3(body: &Value) -> Result<TraceInfo, String> {
    let result = body
        .get("result")
        .ok_or_else(|| format!("no \"result\" in {}", endpoint::snippet(&body.to_string())))?;
    let info = parse_otlp(result)?;
    if info.spans.is_empty() {
        return Err("an answer with no spans".into());
    }
    Ok(info)
}

/// OTLP JSON `{"resourceSpans": [...]}`: the format of `/api/v3` and of
/// what the mocks export. IDs are hex (Jaeger's gateway) or base64 (plain
/// protobuf JSON); both become lower-case hex.
pub fn parse_otlp(v: &Value) -> Result<TraceInfo, String> {
    let rss = v["resourceSpans"]
        .as_array()
        .ok_or("no \"resourceSpans\" array")?;
    let mut info = TraceInfo::default();
    for rs in rss {
        let service = rs["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "service.name")
            .and_then(|a| a["value"]["stringValue"].as_str())
            .unwrap_or("")
            .to_string();
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for span in ss["spans"].as_array().into_iter().flatten() {
                let id = span["spanId"].as_str().ok_or("a span without spanId")?;
                info.spans.push(SpanRef {
                    trace_id: match span["traceId"].as_str() {
                        Some(t) if !t.is_empty() => hex_id(t)?,
                        _ => String::new(),
                    },
                    service: service.clone(),
                    span_id: hex_id(id)?,
                    parent_id: match span["parentSpanId"].as_str() {
                        Some(p) if !p.is_empty() => hex_id(p)?,
                        _ => String::new(),
                    },
                    kind: kind_number(&span["kind"])?,
                });
            }
        }
    }
    Ok(info)
}

/// OTLP span kinds are numbers, or enum names in protobuf JSON.
fn kind_number(v: &Value) -> Result<u64, String> {
    match v {
        Value::Null => Ok(0),
        Value::Number(n) => n.as_u64().ok_or(format!("span kind {n}")),
        Value::String(s) => Ok(
            match s.trim_start_matches("SPAN_KIND_").to_lowercase().as_str() {
                "internal" => 1,
                "server" => 2,
                "client" => 3,
                "producer" => 4,
                "consumer" => 5,
                _ => 0,
            },
        ),
        other => Err(format!("span kind {other}")),
    }
}

/// Hex as is (lower-cased); otherwise standard base64 of the ID bytes.
pub fn hex_id(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.len() % 2 == 0 {
        return Ok(s.to_lowercase());
    }
    let bytes = base64_decode(s)
        .ok_or_else(|| format!("span or trace id {s:?} is neither hex nor base64"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()
        .filter(|b| !b.is_empty())
}

/// A v1 `/api/traces/{id}` answer: `{"data": [trace], "errors": ...}`.
/// `Ok(None)` for Jaeger's "trace not found" (sent with a 404, or with 200
/// by some versions).
pub fn parse_v1(body: &Value) -> Result<Option<TraceInfo>, String> {
    if let Some(errors) = body["errors"].as_array().filter(|e| !e.is_empty()) {
        if errors.iter().any(|e| e["code"] == 404) {
            return Ok(None);
        }
        return Err(format!(
            "Jaeger reported errors: {}",
            Value::Array(errors.clone())
        ));
    }
    let traces = match &body["data"] {
        Value::Null => return Ok(None),
        Value::Array(a) => a,
        _ => {
            return Err(format!(
                "no \"data\" array in {}",
                endpoint::snippet(&body.to_string())
            ));
        }
    };
    let Some(trace) = traces.first() else {
        return Ok(None);
    };
    parse_v1_trace(trace).map(Some)
}

/// One v1 trace object: spans with `processID` into `processes`, the
/// parent as the first `CHILD_OF` reference, the kind as a `span.kind` tag.
pub fn parse_v1_trace(trace: &Value) -> Result<TraceInfo, String> {
    let spans = trace["spans"]
        .as_array()
        .ok_or("a trace without \"spans\"")?;
    let mut info = TraceInfo::default();
    for s in spans {
        let process = s["processID"].as_str().unwrap_or("");
        let service = trace["processes"][process]["serviceName"]
            .as_str()
            .or_else(|| s["process"]["serviceName"].as_str())
            .unwrap_or("")
            .to_string();
        let parent = s["references"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["refType"] == "CHILD_OF")
            .and_then(|r| r["spanID"].as_str())
            .or_else(|| s["parentSpanID"].as_str())
            .unwrap_or("");
        let kind = s["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["key"] == "span.kind")
            .map(|t| kind_number(&t["value"]))
            .transpose()?
            .unwrap_or(0);
        info.spans.push(SpanRef {
            trace_id: s["traceID"].as_str().unwrap_or("").to_lowercase(),
            service,
            span_id: hex_id(s["spanID"].as_str().ok_or("a span without spanID")?)?,
            parent_id: if parent.is_empty() {
                String::new()
            } else {
                hex_id(parent)?
            },
            kind,
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::fake::{Canned, serve};

    const V3: &str = include_str!("../../../tests/fixtures/jaeger/api_v3_get_trace_response.json");
    const HOTROD: &str = include_str!(
        "../../../tests/fixtures/jaeger/api_v3_get_trace_response_hotrod_40_spans.json"
    );
    const V1: &str =
        include_str!("../../../tests/fixtures/jaeger/api_v1_transform_response_envelope.json");
    const V1_RICH: &str =
        include_str!("../../../tests/fixtures/jaeger/trace_object_v1_rich_tags.json");
    const NOT_FOUND_V1: &str =
        include_str!("../../../tests/fixtures/jaeger/api_traces_not_found_404.json");
    const SERVICES_V3: &str =
        include_str!("../../../tests/fixtures/jaeger/api_v3_services_response.json");
    /// Written by `apiv3/http_gateway.go` for a missing trace (read from
    /// the code; Jaeger ships no fixture for it).
    const NOT_FOUND_V3: &str = "{\"error\":{\"httpCode\":404,\"message\":\"No traces found\"}}\n";

    fn v(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn v3_fixtures_parse_with_services_parents_and_kinds() {
        let t = parse_v3(&v(V3)).unwrap();
        assert_eq!(t.spans.len(), 1);
        assert_eq!(t.spans[0].span_id, "0000000000000002");
        assert_eq!(t.spans[0].kind, 2);
        assert_eq!(t.spans[0].service, "");

        let h = parse_v3(&v(HOTROD)).unwrap();
        assert_eq!(h.spans.len(), 40);
        let services: std::collections::BTreeSet<&str> =
            h.spans.iter().map(|s| s.service.as_str()).collect();
        for s in [
            "frontend",
            "driver",
            "route",
            "mysql",
            "redis-manual",
            "customer",
        ] {
            assert!(services.contains(s), "{services:?}");
        }
        // One root; every other span's parent is in the trace.
        let ids: std::collections::HashSet<&str> =
            h.spans.iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(h.spans.iter().filter(|s| s.parent_id.is_empty()).count(), 1);
        assert!(
            h.spans
                .iter()
                .filter(|s| !s.parent_id.is_empty())
                .all(|s| ids.contains(s.parent_id.as_str()))
        );
        assert!(h.spans.iter().any(|s| s.kind == 3) && h.spans.iter().any(|s| s.kind == 2));
    }

    #[test]
    fn v1_fixtures_parse_processes_references_and_kind_tags() {
        let t = parse_v1(&v(V1)).unwrap().unwrap();
        assert_eq!(t.spans.len(), 2);
        assert_eq!(t.spans[0].span_id, "e127af99e3b3e074");
        assert_eq!(t.spans[0].parent_id, "909541b92cf05311");
        assert_eq!(t.spans[0].kind, 2);
        assert_eq!(t.spans[0].service, "telemetrygen");

        let rich = parse_v1_trace(&v(V1_RICH)).unwrap();
        assert!(rich.spans.len() >= 2);
        assert!(rich.spans.iter().all(|s| !s.service.is_empty()));

        assert!(parse_v1(&v(NOT_FOUND_V1)).unwrap().is_none());
    }

    #[test]
    fn malformed_and_partial_answers_are_errors() {
        assert!(parse_v3(&v("{}")).is_err());
        assert!(parse_v3(&v(r#"{"result":{"resourceSpans":[]}}"#)).is_err());
        assert!(
            parse_v3(&v(
                r#"{"result":{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":2}]}]}]}}"#
            ))
            .is_err()
        );
        assert!(parse_v1(&v(r#"{"data":{"x":1}}"#)).is_err());
        assert!(
            parse_v1(&v(r#"{"data":null,"errors":[{"code":500,"msg":"boom"}]}"#))
                .unwrap_err()
                .contains("boom")
        );
        assert!(hex_id("zz!").is_err());
    }

    #[test]
    fn base64_ids_from_protobuf_json_become_hex() {
        // 16 bytes 0x00..0x0f.
        assert_eq!(
            hex_id("AAECAwQFBgcICQoLDA0ODw==").unwrap(),
            "000102030405060708090a0b0c0d0e0f"
        );
        assert_eq!(hex_id("ABCDEF0123456789").unwrap(), "abcdef0123456789");
    }

    #[tokio::test]
    async fn v3_server_found_missing_5xx_malformed_and_slow() {
        let id_ok = "00000000000000000000000000000001";
        let fake = serve(vec![
            Canned::new("/api/v3/services", 200, SERVICES_V3),
            Canned::new(&format!("/api/v3/traces/{id_ok}"), 200, V3),
            Canned::new("/api/v3/traces/missing", 404, NOT_FOUND_V3),
            Canned::new("/api/v3/traces/broken", 503, "upstream connect error"),
            Canned::new("/api/v3/traces/html", 200, "<html>oops</html>"),
            Canned::new("/api/v3/traces/slow", 200, V3).slow(Duration::from_secs(5)),
        ])
        .await;
        let j = Jaeger::detect(Endpoint::new(&fake.url), Duration::from_millis(800))
            .await
            .unwrap();
        assert_eq!(j.api, Api::V3);
        assert_eq!(j.services().await.unwrap(), vec!["foo".to_string()]);
        assert_eq!(j.trace(id_ok).await.unwrap().unwrap().spans.len(), 1);
        assert!(j.trace("missing").await.unwrap().is_none());
        let e = j.trace("broken").await.unwrap_err();
        assert!(e.contains("503"), "{e}");
        let e = j.trace("html").await.unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = j.trace("slow").await.unwrap_err();
        assert!(e.contains("timed out"), "{e}");
    }

    #[tokio::test]
    async fn falls_back_to_v1_and_reads_its_404() {
        let fake = serve(vec![
            Canned::new(
                "/api/services",
                200,
                r#"{"data":["backend-api","ml-engine"],"total":2}"#,
            ),
            Canned::new("/api/traces/83a9efd15c1c98a977e0711cc93ee28b", 200, V1),
            Canned::new("/api/traces/", 404, NOT_FOUND_V1),
        ])
        .await;
        let j = Jaeger::detect(Endpoint::new(&fake.url), Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(j.api, Api::V1);
        assert_eq!(j.services().await.unwrap().len(), 2);
        assert!(
            j.trace("83a9efd15c1c98a977e0711cc93ee28b")
                .await
                .unwrap()
                .is_some()
        );
        assert!(j.trace("ffff").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn neither_api_answering_is_an_error() {
        let fake = serve(vec![]).await;
        let e = Jaeger::detect(Endpoint::new(&fake.url), Duration::from_secs(2))
            .await
            .err()
            .unwrap();
        assert!(
            e.contains("/api/v3/services") && e.contains("/api/services"),
            "{e}"
        );
    }
}
