//! Mock `ml-engine`: embeddings, a real top-k vector search per tenant
//! (standing for FAISS), an embedding cache, background training jobs that
//! deploy a new model version, and model quality gauges.
//!
//! - `GET /v1/recommend?tenant_id=…&user_id=…&k=…`
//! - `POST /v1/embed` `{"tenant_id": …, "user_id": …}`
//! - `POST /v1/train` `{"tenant_id": …}` → `{"job_id": …}`
//! - `GET /v1/jobs/{job_id}`, `GET /v1/models/{tenant_id}`
//! - `GET /health`, `GET /metrics`, `/admin/faults`

// Handlers short-circuit with a ready `Response` as their error (axum's idiom).
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use super::config::MockConfig;
use super::kit::{Kit, json_error, observe, tenant_of};
use super::metrics::{
    MlMetrics, TenantJobLabels, TenantLabels, TenantMetricLabels, TenantOpLabels,
    TenantVersionLabels,
};
use super::store::Cache;
use super::vector::{DIM, Matrix, embed};

pub const SERVICE: &str = "ml-engine";
/// Items per tenant in the vector index.
pub const ITEMS: usize = 1_000;
/// Finished jobs kept per tenant (and as metric series).
const JOBS_KEPT: usize = 5;
const EMBEDDING_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Quality {
    pub ndcg_at_10: f64,
    pub map_at_10: f64,
    pub precision_at_10: f64,
    pub recall_at_10: f64,
}

pub struct Model {
    pub version: u32,
    pub items: Matrix,
    pub quality: Quality,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Job {
    pub job_id: String,
    pub tenant_id: String,
    pub status: &'static str,
}

pub struct Ml {
    kit: Arc<Kit>,
    m: MlMetrics,
    cache: Cache,
    models: Mutex<HashMap<String, Arc<Model>>>,
    jobs: Mutex<HashMap<String, VecDeque<Job>>>,
    next_job: AtomicU64,
    train_duration: Duration,
    train_failure_ratio: f64,
    /// Users whose embeddings each deployed model version precomputes.
    warm_users: u32,
    /// (tenant, version) whose known users' embeddings are in the cache.
    warmed: Mutex<std::collections::HashSet<(String, u32)>>,
}

pub async fn build(cfg: &MockConfig) -> anyhow::Result<Router> {
    let mut registry = prometheus_client::registry::Registry::default();
    let m = MlMetrics::register(&mut registry);
    let kit = Kit::from_config(SERVICE, cfg, registry)?;
    let cache = Cache::connect(cfg.redis_url.as_deref()).await?;
    let ml = Arc::new(Ml {
        kit: kit.clone(),
        m,
        cache,
        models: Mutex::new(HashMap::new()),
        jobs: Mutex::new(HashMap::new()),
        next_job: AtomicU64::new(1),
        train_duration: cfg.train_duration,
        train_failure_ratio: cfg.train_failure_ratio.clamp(0.0, 1.0),
        warm_users: cfg.warm_users.min(10_000),
        warmed: Mutex::new(std::collections::HashSet::new()),
    });
    Ok(Router::new()
        .route("/v1/recommend", get(recommend))
        .route("/v1/embed", post(embed_handler))
        .route("/v1/train", post(train))
        .route("/v1/jobs/{job_id}", get(job))
        .route("/v1/models/{tenant_id}", get(model))
        .route("/health", get(health))
        .with_state(ml)
        .merge(super::kit::common_routes(
            kit.clone(),
            cfg.admin_token.clone(),
        ))
        .layer(axum::middleware::from_fn_with_state(kit, observe))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024)))
}

fn quality_of(tenant: &str, version: u32) -> Quality {
    let e = embed(tenant, "quality", version);
    let u = |i: usize| (e[i] as f64 + 1.0) / 2.0; // 0..1
    let ndcg = 0.35 + 0.2 * u(0);
    Quality {
        ndcg_at_10: ndcg,
        map_at_10: ndcg * (0.75 + 0.1 * u(1)),
        precision_at_10: 0.2 + 0.2 * u(2),
        recall_at_10: 0.3 + 0.2 * u(3),
    }
}

impl Ml {
    fn version_labels(tenant: &str, version: u32) -> TenantVersionLabels {
        TenantVersionLabels {
            tenant_id: tenant.to_string(),
            model_version: format!("v{version}"),
        }
    }

    /// Publish a model's gauges, replacing the previous version's series.
    fn deploy(&self, tenant: &str, model: Model, previous: Option<u32>) -> Arc<Model> {
        if let Some(old) = previous {
            let l = Self::version_labels(tenant, old);
            for f in [&self.m.ndcg, &self.m.map, &self.m.precision, &self.m.recall] {
                f.remove(&l);
            }
            self.m.version_deployed.remove(&l);
        }
        let l = Self::version_labels(tenant, model.version);
        let q = model.quality;
        self.m.ndcg.get_or_create(&l).set(q.ndcg_at_10);
        self.m.map.get_or_create(&l).set(q.map_at_10);
        self.m.precision.get_or_create(&l).set(q.precision_at_10);
        self.m.recall.get_or_create(&l).set(q.recall_at_10);
        self.m.version_deployed.get_or_create(&l).set(1);
        for (metric, v) in [
            ("ndcg_at_10", q.ndcg_at_10),
            ("map_at_10", q.map_at_10),
            ("precision_at_10", q.precision_at_10),
            ("recall_at_10", q.recall_at_10),
        ] {
            self.m
                .recommendation_quality
                .get_or_create(&TenantMetricLabels {
                    tenant_id: tenant.to_string(),
                    metric: metric.to_string(),
                })
                .set(v);
        }
        let model = Arc::new(model);
        self.models
            .lock()
            .expect("models poisoned")
            .insert(tenant.to_string(), model.clone());
        model
    }

    fn model(&self, tenant: &str) -> Arc<Model> {
        if let Some(m) = self.models.lock().expect("models poisoned").get(tenant) {
            return m.clone();
        }
        self.deploy(
            tenant,
            Model {
                version: 1,
                items: Matrix::random(ITEMS, tenant, 1),
                quality: quality_of(tenant, 1),
            },
            None,
        )
    }

    fn known(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        explicit: Option<&str>,
    ) -> Result<String, Response> {
        let t = explicit
            .map(String::from)
            .or_else(|| tenant_of(headers, query))
            .unwrap_or_default();
        if t.is_empty() {
            Err(json_error(StatusCode::BAD_REQUEST, "tenant_id is required"))
        } else if !self.kit.is_known_tenant(&t) {
            Err(json_error(StatusCode::NOT_FOUND, "unknown tenant"))
        } else {
            Ok(t)
        }
    }

    /// A JSON body that names a tenant, and that tenant if it is known; or
    /// the 4xx to answer.
    #[allow(clippy::result_large_err)]
    fn body_and_tenant<B: HasTenant>(
        &self,
        headers: &HeaderMap,
        body: Result<Json<B>, axum::extract::rejection::JsonRejection>,
    ) -> Result<(B, String), Response> {
        let b = match body {
            Ok(Json(b)) => b,
            Err(r) => return Err(json_error(r.status(), r.body_text())),
        };
        let tenant = self.known(headers, None, Some(b.tenant_id()))?;
        Ok((b, tenant))
    }

    /// The batch embedding job of a newly seen model version: the known
    /// users' embeddings go into the cache (not counted as lookups).
    async fn warm(&self, tenant: &str, version: u32) {
        if self.warm_users == 0 {
            return;
        }
        let first = self
            .warmed
            .lock()
            .expect("warmed poisoned")
            .insert((tenant.to_string(), version));
        if !first {
            return;
        }
        for n in 1..=self.warm_users {
            let user = format!("user_{n}");
            let text = embed(tenant, &user, version)
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let key = format!("emb:{tenant}:v{version}:{user}");
            let _ = self.cache.set(&key, &text, EMBEDDING_TTL).await;
        }
    }

    /// The user's embedding, from the cache when possible.
    async fn embedding(&self, tenant: &str, user: &str, version: u32) -> [f32; DIM] {
        self.warm(tenant, version).await;
        let key = format!("emb:{tenant}:v{version}:{user}");
        let start = Instant::now();
        let cached = if self.kit.faults.force_cache_miss() {
            None
        } else {
            self.cache.get(&key).await.ok().flatten()
        };
        self.m
            .cache
            .time("embedding", "get", start.elapsed().as_secs_f64());
        let parsed = cached.and_then(|s| {
            let v: Vec<f32> = s.split(',').filter_map(|x| x.parse().ok()).collect();
            <[f32; DIM]>::try_from(v).ok()
        });
        self.m.cache.lookup("embedding", parsed.is_some());
        if let Some(v) = parsed {
            self.m.embedding_hits.inc();
            return v;
        }
        self.m.embedding_misses.inc();
        let start = Instant::now();
        let v = embed(tenant, user, version);
        self.m
            .inference
            .get_or_create(&TenantOpLabels {
                tenant_id: tenant.to_string(),
                operation: "embed".into(),
            })
            .observe(start.elapsed().as_secs_f64());
        let text = v
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let start = Instant::now();
        let _ = self.cache.set(&key, &text, EMBEDDING_TTL).await;
        self.m
            .cache
            .time("embedding", "set", start.elapsed().as_secs_f64());
        v
    }

    fn set_job(&self, job: &Job) {
        let code = match job.status {
            "queued" => 0,
            "running" => 1,
            "succeeded" => 2,
            _ => 3,
        };
        self.m
            .job_status
            .get_or_create(&TenantJobLabels {
                tenant_id: job.tenant_id.clone(),
                job_id: job.job_id.clone(),
            })
            .set(code);
        let mut jobs = self.jobs.lock().expect("jobs poisoned");
        let list = jobs.entry(job.tenant_id.clone()).or_default();
        match list.iter_mut().find(|j| j.job_id == job.job_id) {
            Some(j) => *j = job.clone(),
            None => list.push_back(job.clone()),
        }
        while list.len() > JOBS_KEPT {
            if let Some(old) = list.pop_front() {
                self.m.job_status.remove(&TenantJobLabels {
                    tenant_id: old.tenant_id,
                    job_id: old.job_id,
                });
            }
        }
    }
}

#[derive(Deserialize)]
struct RecommendQuery {
    tenant_id: Option<String>,
    user_id: Option<String>,
    k: Option<String>,
}

async fn recommend(
    State(ml): State<Arc<Ml>>,
    headers: HeaderMap,
    Query(q): Query<RecommendQuery>,
) -> Response {
    let tenant = match ml.known(&headers, None, q.tenant_id.as_deref()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (user, k) = match super::kit::user_and_k(q.user_id, q.k.as_deref()) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let model = ml.model(&tenant);
    let query = ml.embedding(&tenant, &user, model.version).await;
    let start = Instant::now();
    let hits = model.items.top_k(&query, k);
    let took = start.elapsed().as_secs_f64();
    ml.m.faiss
        .get_or_create(&TenantLabels {
            tenant_id: tenant.clone(),
        })
        .observe(took);
    ml.m.inference
        .get_or_create(&TenantOpLabels {
            tenant_id: tenant.clone(),
            operation: "search".into(),
        })
        .observe(took);
    let items: Vec<_> = hits
        .iter()
        .map(|(i, s)| json!({"item_id": format!("item_{i}"), "score": s}))
        .collect();
    Json(json!({"tenant_id": tenant, "user_id": user, "model_version": format!("v{}", model.version), "items": items})).into_response()
}

trait HasTenant {
    fn tenant_id(&self) -> &str;
}

impl HasTenant for EmbedBody {
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
}

impl HasTenant for TrainBody {
    fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
}

#[derive(Deserialize)]
struct EmbedBody {
    tenant_id: String,
    user_id: String,
}

async fn embed_handler(
    State(ml): State<Arc<Ml>>,
    headers: HeaderMap,
    body: Result<Json<EmbedBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let (b, tenant) = match ml.body_and_tenant(&headers, body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if b.user_id.is_empty() || b.user_id.len() > 128 {
        return json_error(
            StatusCode::BAD_REQUEST,
            "user_id must be 1 to 128 characters",
        );
    }
    let model = ml.model(&tenant);
    let v = ml.embedding(&tenant, &b.user_id, model.version).await;
    Json(json!({"tenant_id": tenant, "model_version": format!("v{}", model.version), "embedding": v.to_vec()})).into_response()
}

#[derive(Deserialize)]
struct TrainBody {
    tenant_id: String,
}

async fn train(
    State(ml): State<Arc<Ml>>,
    headers: HeaderMap,
    body: Result<Json<TrainBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let (_body, tenant) = match ml.body_and_tenant(&headers, body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = format!("job_{}", ml.next_job.fetch_add(1, Ordering::Relaxed));
    let job = Job {
        job_id: id.clone(),
        tenant_id: tenant.clone(),
        status: "queued",
    };
    ml.set_job(&job);
    let worker = ml.clone();
    tokio::spawn(async move {
        let mut job = job;
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        job.status = "running";
        worker.set_job(&job);
        tokio::time::sleep(worker.train_duration).await;
        let failed =
            worker.train_failure_ratio > 0.0 && rand::rng().random_bool(worker.train_failure_ratio);
        job.status = if failed { "failed" } else { "succeeded" };
        if !failed {
            let previous = worker.model(&job.tenant_id).version;
            let version = previous + 1;
            worker.deploy(
                &job.tenant_id,
                Model {
                    version,
                    items: Matrix::random(ITEMS, &job.tenant_id, version),
                    quality: quality_of(&job.tenant_id, version),
                },
                Some(previous),
            );
        }
        worker.set_job(&job);
        worker
            .m
            .job_duration
            .get_or_create(&TenantLabels {
                tenant_id: job.tenant_id.clone(),
            })
            .observe(start.elapsed().as_secs_f64());
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"job_id": id, "tenant_id": tenant, "status": "queued"})),
    )
        .into_response()
}

async fn job(State(ml): State<Arc<Ml>>, Path(job_id): Path<String>) -> Response {
    let jobs = ml.jobs.lock().expect("jobs poisoned");
    match jobs.values().flatten().find(|j| j.job_id == job_id) {
        Some(j) => Json(j.clone()).into_response(),
        None => json_error(StatusCode::NOT_FOUND, "unknown job"),
    }
}

async fn model(
    State(ml): State<Arc<Ml>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Response {
    let tenant = match ml.known(&headers, None, Some(&tenant)) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let m = ml.model(&tenant);
    Json(json!({"tenant_id": tenant, "model_version": format!("v{}", m.version), "quality": m.quality, "items": m.items.rows()})).into_response()
}

async fn health() -> Response {
    Json(json!({"status": "ok", "service": SERVICE})).into_response()
}
