//! The metrics the mocks expose, with the seed's names, types and labels.
//! [`crate::contract`] lists them; the mock tests check these against it.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

macro_rules! labels {
    ($name:ident { $($field:ident),* }) => {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub struct $name { $(pub $field: String),* }
    };
}

labels!(HttpLabels {
    method,
    endpoint,
    status
});
labels!(InProgressLabels { method, endpoint });
labels!(CacheLabels { cache_type });
labels!(CacheOpLabels {
    cache_type,
    operation
});
labels!(QueryLabels { query_type });
labels!(PoolLabels { pool_name });
labels!(TenantLabels { tenant_id });
labels!(TenantEndpointLabels {
    tenant_id,
    endpoint
});
labels!(TenantMetricLabels { tenant_id, metric });
labels!(TenantOpLabels {
    tenant_id,
    operation
});
labels!(TenantVersionLabels {
    tenant_id,
    model_version
});
labels!(TenantJobLabels { tenant_id, job_id });

pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Latency buckets (seconds): prometheus_client's Python defaults, which
/// the seed's FastAPI instrumentation would use, plus 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Fast operations (cache, vector search): 50 µs to 1 s.
const FAST_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Training jobs: 1 s to 2 h.
const JOB_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0,
];

pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

fn fast_histogram() -> Histogram {
    Histogram::new(FAST_BUCKETS.iter().copied())
}

fn job_histogram() -> Histogram {
    Histogram::new(JOB_BUCKETS.iter().copied())
}

fn histograms<L: Clone + std::hash::Hash + Eq>(f: fn() -> Histogram) -> HistogramFamily<L> {
    Family::new_with_constructor(f)
}

/// `cache_hits_total`, `cache_misses_total`, `cache_operations_duration_seconds`.
#[derive(Clone)]
pub struct CacheMetrics {
    pub hits: Family<CacheLabels, Counter>,
    pub misses: Family<CacheLabels, Counter>,
    pub ops: HistogramFamily<CacheOpLabels>,
}

impl CacheMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let c = CacheMetrics {
            hits: Family::default(),
            misses: Family::default(),
            ops: histograms(fast_histogram),
        };
        r.register("cache_hits", "Cache lookups that hit", c.hits.clone());
        r.register(
            "cache_misses",
            "Cache lookups that missed",
            c.misses.clone(),
        );
        r.register(
            "cache_operations_duration_seconds",
            "Cache operation latency",
            c.ops.clone(),
        );
        c
    }

    pub fn lookup(&self, cache_type: &str, hit: bool) {
        let l = CacheLabels {
            cache_type: cache_type.to_string(),
        };
        if hit {
            self.hits.get_or_create(&l).inc();
        } else {
            self.misses.get_or_create(&l).inc();
        }
    }

    pub fn time(&self, cache_type: &str, operation: &str, secs: f64) {
        self.ops
            .get_or_create(&CacheOpLabels {
                cache_type: cache_type.to_string(),
                operation: operation.to_string(),
            })
            .observe(secs);
    }
}

pub struct BackendMetrics {
    pub cache: CacheMetrics,
    pub db_query: HistogramFamily<QueryLabels>,
    pub db_pool: Family<PoolLabels, Gauge>,
    pub recommendations_served: Family<TenantLabels, Counter>,
    pub api_requests: Family<TenantEndpointLabels, Counter>,
}

impl BackendMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = BackendMetrics {
            cache: CacheMetrics::register(r),
            db_query: histograms(fast_histogram),
            db_pool: Family::default(),
            recommendations_served: Family::default(),
            api_requests: Family::default(),
        };
        r.register(
            "db_query_duration_seconds",
            "Database query latency",
            m.db_query.clone(),
        );
        r.register(
            "db_connection_pool_size",
            "Connections in the database pool",
            m.db_pool.clone(),
        );
        r.register(
            "recommendations_served",
            "Recommendations returned, per tenant",
            m.recommendations_served.clone(),
        );
        r.register(
            "api_requests",
            "API requests per tenant and endpoint",
            m.api_requests.clone(),
        );
        m
    }
}

pub struct MlMetrics {
    pub cache: CacheMetrics,
    pub recommendation_quality: Family<TenantMetricLabels, FloatGauge>,
    pub inference: HistogramFamily<TenantOpLabels>,
    pub ndcg: Family<TenantVersionLabels, FloatGauge>,
    pub map: Family<TenantVersionLabels, FloatGauge>,
    pub precision: Family<TenantVersionLabels, FloatGauge>,
    pub recall: Family<TenantVersionLabels, FloatGauge>,
    pub version_deployed: Family<TenantVersionLabels, Gauge>,
    pub embedding_hits: Counter,
    pub embedding_misses: Counter,
    pub faiss: HistogramFamily<TenantLabels>,
    pub job_status: Family<TenantJobLabels, Gauge>,
    pub job_duration: HistogramFamily<TenantLabels>,
}

impl MlMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = MlMetrics {
            cache: CacheMetrics::register(r),
            recommendation_quality: Family::default(),
            inference: histograms(fast_histogram),
            ndcg: Family::default(),
            map: Family::default(),
            precision: Family::default(),
            recall: Family::default(),
            version_deployed: Family::default(),
            embedding_hits: Counter::default(),
            embedding_misses: Counter::default(),
            faiss: histograms(fast_histogram),
            job_status: Family::default(),
            job_duration: histograms(job_histogram),
        };
        r.register(
            "recommendation_quality",
            "Offline quality of the deployed model",
            m.recommendation_quality.clone(),
        );
        r.register(
            "ml_model_inference_duration_seconds",
            "Model inference latency by operation",
            m.inference.clone(),
        );
        r.register(
            "model_quality_ndcg_at_10",
            "NDCG@10 of the deployed model",
            m.ndcg.clone(),
        );
        r.register(
            "model_quality_map_at_10",
            "MAP@10 of the deployed model",
            m.map.clone(),
        );
        r.register(
            "model_quality_precision_at_10",
            "Precision@10 of the deployed model",
            m.precision.clone(),
        );
        r.register(
            "model_quality_recall_at_10",
            "Recall@10 of the deployed model",
            m.recall.clone(),
        );
        r.register(
            "model_version_deployed",
            "1 for the model version each tenant is served",
            m.version_deployed.clone(),
        );
        r.register(
            "embedding_cache_hits",
            "Embedding cache hits",
            m.embedding_hits.clone(),
        );
        r.register(
            "embedding_cache_misses",
            "Embedding cache misses",
            m.embedding_misses.clone(),
        );
        r.register(
            "faiss_search_duration_seconds",
            "Vector search latency",
            m.faiss.clone(),
        );
        r.register(
            "training_job_status",
            "0 queued, 1 running, 2 succeeded, 3 failed",
            m.job_status.clone(),
        );
        r.register(
            "training_job_duration_seconds",
            "Training job run time",
            m.job_duration.clone(),
        );
        m
    }
}
