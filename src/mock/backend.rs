//! Mock `backend-api`: the seed's public API in miniature.
//!
//! - `GET /api/v1/recommendations?user_id=…&k=…` (tenant from the
//!   `X-Tenant-ID` header or `tenant_id` query parameter)
//! - `POST /api/v1/events` with `{"user_id": …, "item_id": …}`
//! - `POST /api/v1/train`
//! - `GET /health`, `GET /metrics`
//!
//! Every request is counted in `http_requests_total`, timed in
//! `http_request_duration_seconds` and logged as one JSON line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::log::{LogLine, emit, now_rfc3339_ms};
use super::metrics::{
    BackendMetrics, HttpLabels, InProgressLabels, TenantEndpointLabels, TenantLabels,
};
use crate::trace_context::TraceParent;

pub const SERVICE: &str = "backend-api";
const MAX_BODY: usize = 64 * 1024;

pub struct AppState {
    pub metrics: BackendMetrics,
    jobs: AtomicU64,
    /// Emit one JSON log line per request (off in benchmarks of the router).
    pub log_requests: bool,
}

pub fn router(log_requests: bool) -> Router {
    let state = Arc::new(AppState {
        metrics: BackendMetrics::new(),
        jobs: AtomicU64::new(0),
        log_requests,
    });
    Router::new()
        .route("/api/v1/recommendations", get(recommendations))
        .route("/api/v1/events", post(events))
        .route("/api/v1/train", post(train))
        .route("/health", get(health))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .route("/metrics", get(metrics))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Counts, times and logs every request except `/metrics`.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let tenant = tenant_of(req.headers(), req.uri().query()).unwrap_or_default();
    let parent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let in_progress = state
        .metrics
        .http_in_progress
        .get_or_create(&InProgressLabels {
            method: method.clone(),
            endpoint: endpoint.clone(),
        })
        .clone();
    in_progress.inc();
    let response = next.run(req).await;
    in_progress.dec();

    let elapsed = start.elapsed();
    let status = response.status();
    let labels = HttpLabels {
        method,
        endpoint: endpoint.clone(),
        status: status.as_u16().to_string(),
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state
        .metrics
        .http_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    if !tenant.is_empty() {
        state
            .metrics
            .api_requests
            .get_or_create(&TenantEndpointLabels {
                tenant_id: tenant.clone(),
                endpoint: endpoint.clone(),
            })
            .inc();
    }
    if state.log_requests {
        let mut rng = rand::rng();
        let trace = parent.unwrap_or_else(|| TraceParent::random(&mut rng));
        let span_id = format!("{:016x}", rand::Rng::random::<u64>(&mut rng).max(1));
        let (level, message) = if status.is_server_error() {
            ("ERROR", "Request failed")
        } else if status.is_client_error() {
            ("WARNING", "Request rejected")
        } else {
            ("INFO", "Request processed successfully")
        };
        emit(&LogLine {
            timestamp: now_rfc3339_ms(),
            level,
            service: SERVICE,
            trace_id: &trace.trace_id_hex(),
            span_id: &span_id,
            tenant_id: &tenant,
            endpoint: &endpoint,
            message,
            latency_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        });
    }
    response
}

fn tenant_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(t) = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()) {
        return Some(t.to_string());
    }
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "tenant_id")
        .map(|(_, v)| v.to_string())
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn valid_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Deserialize)]
struct RecQuery {
    user_id: Option<String>,
    k: Option<String>,
    tenant_id: Option<String>,
}

async fn recommendations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<RecQuery>,
) -> Response {
    let tenant = headers
        .get("x-tenant-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or(q.tenant_id)
        .unwrap_or_default();
    if !valid_tenant(&tenant) {
        return error(
            StatusCode::BAD_REQUEST,
            "missing or invalid tenant: set the X-Tenant-ID header or tenant_id",
        );
    }
    let Some(user) = q.user_id.filter(|u| !u.is_empty() && u.len() <= 128) else {
        return error(StatusCode::BAD_REQUEST, "user_id is required");
    };
    let k: usize = match q.k.as_deref().map(str::parse) {
        None => 10,
        Some(Ok(k)) if (1..=100).contains(&k) => k,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "k must be a whole number from 1 to 100",
            );
        }
    };
    // Deterministic scores per (tenant, user), so responses are stable.
    let seed = fnv(tenant.as_bytes()) ^ fnv(user.as_bytes()).rotate_left(17);
    let items: Vec<_> = (0..k as u64)
        .map(|i| {
            let h = splitmix(seed.wrapping_add(i));
            json!({"item_id": format!("item_{}", h % 10_000), "score": 1.0 - (i as f64) / (k as f64 + 1.0)})
        })
        .collect();
    state
        .metrics
        .recommendations_served
        .get_or_create(&TenantLabels {
            tenant_id: tenant.clone(),
        })
        .inc_by(k as u64);
    Json(json!({"tenant_id": tenant, "user_id": user, "items": items})).into_response()
}

#[derive(Deserialize)]
struct Event {
    user_id: String,
    item_id: String,
}

async fn events(body: Result<Json<Event>, axum::extract::rejection::JsonRejection>) -> Response {
    match body {
        Ok(Json(e)) if !e.user_id.is_empty() && !e.item_id.is_empty() => {
            (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
        }
        Ok(_) => error(
            StatusCode::BAD_REQUEST,
            "user_id and item_id must not be empty",
        ),
        Err(rejection) => error(rejection.status(), rejection.body_text()),
    }
}

async fn train(State(state): State<Arc<AppState>>) -> Response {
    let id = state.jobs.fetch_add(1, Ordering::Relaxed) + 1;
    (
        StatusCode::ACCEPTED,
        Json(json!({"job_id": format!("job_{id}"), "status": "queued"})),
    )
        .into_response()
}

async fn health() -> Response {
    Json(json!({"status": "ok", "service": SERVICE})).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn recommendations_are_counted_with_the_seed_labels() {
        let app = router(false);
        let req = Request::get("/api/v1/recommendations?user_id=u1&k=3")
            .header("x-tenant-id", "tenant_001")
            .body(Body::empty())
            .unwrap();
        let (status, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), 3);

        let (_, metrics) = call(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
        assert!(metrics.contains(r#"http_requests_total{method="GET",endpoint="/api/v1/recommendations",status="200"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"http_request_duration_seconds_bucket{le="0.005",method="GET",endpoint="/api/v1/recommendations",status="200"}"#) || metrics.contains("http_request_duration_seconds_bucket{"), "{metrics}");
        assert!(
            metrics.contains(r#"recommendations_served_total{tenant_id="tenant_001"} 3"#),
            "{metrics}"
        );
        assert!(
            metrics.contains("# TYPE http_request_duration_seconds histogram"),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn bad_requests_get_a_json_4xx_and_are_counted() {
        let app = router(false);
        let no_tenant = Request::get("/api/v1/recommendations?user_id=u1")
            .body(Body::empty())
            .unwrap();
        let (s, body) = call(&app, no_tenant).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(body.contains("\"error\""), "{body}");

        let bad_json = Request::post("/api/v1/events")
            .header("content-type", "application/json")
            .body(Body::from("{\"user_id\": 1"))
            .unwrap();
        let (s, body) = call(&app, bad_json).await;
        assert!(s.is_client_error(), "{s}");
        assert!(body.contains("\"error\""), "{body}");

        let huge = Request::post("/api/v1/events")
            .header("content-type", "application/json")
            .body(Body::from(vec![b' '; MAX_BODY + 10]))
            .unwrap();
        let (s, _) = call(&app, huge).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);

        let (_, metrics) = call(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
        assert!(metrics.contains(r#"http_requests_total{method="GET",endpoint="/api/v1/recommendations",status="400"} 1"#), "{metrics}");
        assert!(
            metrics.contains(r#"endpoint="/api/v1/events",status="413"} 1"#),
            "{metrics}"
        );
    }
}
