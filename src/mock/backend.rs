//! Mock `backend-api`: the seed's public API in miniature.
//!
//! - `GET /api/v1/recommendations?user_id=…&k=…`: checks the tenant (in
//!   PostgreSQL when configured), looks in the recommendation cache (Redis
//!   when configured), else asks ml-engine, propagating the trace;
//! - `POST /api/v1/events` `{"user_id": …, "item_id": …}`: stored;
//! - `POST /api/v1/train`: forwarded to ml-engine;
//! - `GET /health`, `GET /metrics`, `/admin/faults`.
//!
//! The tenant comes from `X-Tenant-ID` or the `tenant_id` query parameter.

// Handlers short-circuit with a ready `Response` as their error (axum's idiom).
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::config::MockConfig;
use super::kit::{Kit, RequestSpan, json_error, observe, tenant_of};
use super::metrics::{BackendMetrics, PoolLabels, QueryLabels, TenantEndpointLabels, TenantLabels};
use super::store::{Cache, Store};
use super::trace::{AttrValue, SPAN_KIND_CLIENT};

pub const SERVICE: &str = "backend-api";
const MAX_BODY: usize = 64 * 1024;
const CACHE_TTL: Duration = Duration::from_secs(120);

pub struct Backend {
    kit: Arc<Kit>,
    m: BackendMetrics,
    store: Store,
    cache: Cache,
    ml: Option<(reqwest::Client, String)>,
}

/// Build the service: connects to PostgreSQL, Redis and the trace endpoint
/// when configured.
pub async fn build(cfg: &MockConfig) -> anyhow::Result<Router> {
    let mut registry = prometheus_client::registry::Registry::default();
    let m = BackendMetrics::register(&mut registry);
    let kit = Kit::from_config(SERVICE, cfg, registry)?;
    let store = Store::connect(cfg.database_url.as_deref(), cfg.tenants).await?;
    let cache = Cache::connect(cfg.redis_url.as_deref()).await?;
    let ml = match &cfg.ml_engine {
        Some(url) => Some((
            crate::http::tls::client_builder()
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .pool_max_idle_per_host(256)
                .tcp_nodelay(true)
                .build()?,
            url.trim_end_matches('/').to_string(),
        )),
        None => None,
    };
    let app = Arc::new(Backend {
        kit: kit.clone(),
        m,
        store,
        cache,
        ml,
    });
    Ok(router(app, cfg.admin_token.clone()))
}

fn router(app: Arc<Backend>, admin_token: Option<String>) -> Router {
    let kit = app.kit.clone();
    Router::new()
        .route("/api/v1/recommendations", get(recommendations))
        .route("/api/v1/events", post(events))
        .route("/api/v1/train", post(train))
        .route("/health", get(health))
        .with_state(app)
        .merge(super::kit::common_routes(kit.clone(), admin_token))
        .layer(axum::middleware::from_fn_with_state(kit, observe))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

impl Backend {
    /// The request's tenant if it is one of ours (and registered in
    /// PostgreSQL when PostgreSQL is used), else the response to send.
    async fn tenant(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        endpoint: &str,
    ) -> Result<String, Response> {
        let tenant = tenant_of(headers, query).unwrap_or_default();
        if tenant.is_empty() {
            return Err(json_error(
                StatusCode::BAD_REQUEST,
                "missing tenant: set the X-Tenant-ID header or tenant_id",
            ));
        }
        if !self.kit.is_known_tenant(&tenant) {
            return Err(json_error(StatusCode::NOT_FOUND, "unknown tenant"));
        }
        let start = Instant::now();
        let found = self.store.tenant_exists(&tenant).await;
        self.db_observe("select_tenant", start);
        match found {
            Ok(true) => {}
            Ok(false) => return Err(json_error(StatusCode::NOT_FOUND, "unknown tenant")),
            Err(e) => return Err(db_unavailable(&e)),
        }
        self.m
            .api_requests
            .get_or_create(&TenantEndpointLabels {
                tenant_id: tenant.clone(),
                endpoint: endpoint.to_string(),
            })
            .inc();
        Ok(tenant)
    }

    fn db_observe(&self, query_type: &str, start: Instant) {
        self.m
            .db_query
            .get_or_create(&QueryLabels {
                query_type: query_type.to_string(),
            })
            .observe(start.elapsed().as_secs_f64());
        self.m
            .db_pool
            .get_or_create(&PoolLabels {
                pool_name: self.store.pool_name().to_string(),
            })
            .set(self.store.pool_size() as i64);
    }
}

fn db_unavailable(e: &anyhow::Error) -> Response {
    // tokio-postgres errors carry no credentials.
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("database unavailable: {e}"),
    )
}

#[derive(Deserialize)]
struct RecQuery {
    user_id: Option<String>,
    k: Option<String>,
}

async fn recommendations(
    State(b): State<Arc<Backend>>,
    Extension(span): Extension<RequestSpan>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<RecQuery>,
) -> Response {
    let tenant = match b
        .tenant(&headers, uri.query(), "/api/v1/recommendations")
        .await
    {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (user, k) = match super::kit::user_and_k(q.user_id, q.k.as_deref()) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let key = format!("rec:{tenant}:{user}:{k}");
    let start = Instant::now();
    let cached = if b.kit.faults.force_cache_miss() {
        None
    } else {
        b.cache.get(&key).await.ok().flatten()
    };
    b.m.cache
        .time("recommendation", "get", start.elapsed().as_secs_f64());
    b.m.cache.lookup("recommendation", cached.is_some());
    let body = match cached {
        Some(body) => body,
        None => {
            let body = match &b.ml {
                Some((client, url)) => {
                    match call_ml(&b, client, url, span, &tenant, &user, k).await {
                        Ok(body) => body,
                        Err(r) => return r,
                    }
                }
                None => local_recommendations(&tenant, &user, k),
            };
            let start = Instant::now();
            let _ = b.cache.set(&key, &body, CACHE_TTL).await;
            b.m.cache
                .time("recommendation", "set", start.elapsed().as_secs_f64());
            body
        }
    };
    b.m.recommendations_served
        .get_or_create(&TenantLabels { tenant_id: tenant })
        .inc_by(k as u64);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn call_ml(
    b: &Backend,
    client: &reqwest::Client,
    url: &str,
    span: RequestSpan,
    tenant: &str,
    user: &str,
    k: usize,
) -> Result<String, Response> {
    let mut child = span.child("GET /v1/recommend", SPAN_KIND_CLIENT);
    let result = client
        .get(format!("{url}/v1/recommend"))
        .query(&[
            ("tenant_id", tenant),
            ("user_id", user),
            ("k", &k.to_string()),
        ])
        .header("traceparent", child.traceparent())
        .header("x-tenant-id", tenant)
        .send()
        .await;
    let outcome = match result {
        Ok(r) if r.status().is_success() => {
            child.attributes.push((
                "http.response.status_code",
                AttrValue::Int(r.status().as_u16() as i64),
            ));
            r.text()
                .await
                .map_err(|e| format!("reading ml-engine's answer: {e}"))
        }
        Ok(r) => {
            child.attributes.push((
                "http.response.status_code",
                AttrValue::Int(r.status().as_u16() as i64),
            ));
            Err(format!("ml-engine answered {}", r.status()))
        }
        Err(e) => Err(format!(
            "ml-engine unreachable: {}",
            crate::http::http_error(&e)
        )),
    };
    child
        .attributes
        .push(("http.request.method", AttrValue::Str("GET".into())));
    child
        .attributes
        .push(("server.address", AttrValue::Str(url.to_string())));
    child
        .attributes
        .push(("tenant_id", AttrValue::Str(tenant.to_string())));
    child.error = outcome.is_err();
    child.end = SystemTime::now();
    b.kit.tracer.finish(child);
    outcome.map_err(|e| json_error(StatusCode::BAD_GATEWAY, e))
}

/// Without an ml-engine: stable pseudo-random scores per (tenant, user).
fn local_recommendations(tenant: &str, user: &str, k: usize) -> String {
    let q = super::vector::embed(tenant, user, 1);
    let items: Vec<_> = (0..k)
        .map(|i| {
            let h = (q[i % super::vector::DIM].to_bits() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
            json!({"item_id": format!("item_{}", h % 10_000), "score": 1.0 - (i as f64) / (k as f64 + 1.0)})
        })
        .collect();
    json!({"tenant_id": tenant, "user_id": user, "items": items}).to_string()
}

#[derive(Deserialize)]
struct Event {
    user_id: String,
    item_id: String,
}

async fn events(
    State(b): State<Arc<Backend>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Result<Json<Event>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let tenant = match b.tenant(&headers, uri.query(), "/api/v1/events").await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let e = match body {
        Ok(Json(e))
            if !e.user_id.is_empty()
                && !e.item_id.is_empty()
                && e.user_id.len() <= 128
                && e.item_id.len() <= 128 =>
        {
            e
        }
        Ok(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "user_id and item_id must be 1 to 128 characters",
            );
        }
        Err(rejection) => return json_error(rejection.status(), rejection.body_text()),
    };
    let start = Instant::now();
    let stored = b.store.insert_event(&tenant, &e.user_id, &e.item_id).await;
    b.db_observe("insert_event", start);
    match stored {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response(),
        Err(e) => db_unavailable(&e),
    }
}

async fn train(
    State(b): State<Arc<Backend>>,
    Extension(span): Extension<RequestSpan>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let tenant = match b.tenant(&headers, uri.query(), "/api/v1/train").await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some((client, url)) = &b.ml else {
        return (
            StatusCode::ACCEPTED,
            Json(json!({"tenant_id": tenant, "status": "queued", "job_id": null})),
        )
            .into_response();
    };
    let mut child = span.child("POST /v1/train", SPAN_KIND_CLIENT);
    let result = client
        .post(format!("{url}/v1/train"))
        .header("traceparent", child.traceparent())
        .json(&json!({"tenant_id": tenant}))
        .send()
        .await;
    child.end = SystemTime::now();
    let response = match result {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            child.error = !status.is_success();
            match r.text().await {
                Ok(text) => (
                    status,
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    text,
                )
                    .into_response(),
                Err(e) => json_error(
                    StatusCode::BAD_GATEWAY,
                    format!("reading ml-engine's answer: {e}"),
                ),
            }
        }
        Err(e) => {
            child.error = true;
            json_error(
                StatusCode::BAD_GATEWAY,
                format!("ml-engine unreachable: {}", crate::http::http_error(&e)),
            )
        }
    };
    b.kit.tracer.finish(child);
    response
}

async fn health() -> Response {
    Json(json!({"status": "ok", "service": SERVICE})).into_response()
}
