//! The metric contract: every metric that `stack/`'s alert rules and
//! dashboards query, with its type, labels, and who exposes it.
//!
//! One table, checked from both sides: a test fails when a rule or a
//! dashboard names a metric that is not here (tests/features/stack_files.rs), and
//! when a mock service exposes one of its metrics with another type or
//! other labels than listed here (the mock tests). A rename on either side
//! fails the build.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Who exposes a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Source {
    /// The mock `backend-api` (zeta-bench's own).
    BackendApi,
    /// The mock `ml-engine` (zeta-bench's own).
    MlEngine,
    /// Both mock services.
    Services,
    /// A third-party component; zeta-bench only checks the name is known.
    External(&'static str),
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct MetricSpec {
    /// Name as queried (`_total` for counters; histograms by base name).
    pub name: &'static str,
    pub kind: Kind,
    /// Label names, excluding `le` and target labels (job, instance, service).
    pub labels: &'static [&'static str],
    pub source: Source,
    pub help: &'static str,
}

const fn m(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    source: Source,
    help: &'static str,
) -> MetricSpec {
    MetricSpec {
        name,
        kind,
        labels,
        source,
        help,
    }
}

use Kind::*;
use Source::*;

pub const CONTRACT: &[MetricSpec] = &[
    // HTTP (seed "Application Metrics")
    m(
        "http_requests_total",
        Counter,
        &["method", "endpoint", "status"],
        Services,
        "Total HTTP requests",
    ),
    m(
        "http_request_duration_seconds",
        Histogram,
        &["method", "endpoint", "status"],
        Services,
        "HTTP request latency in seconds",
    ),
    m(
        "http_requests_in_progress",
        Gauge,
        &["method", "endpoint"],
        Services,
        "HTTP requests being served",
    ),
    // Cache
    m(
        "cache_hits_total",
        Counter,
        &["cache_type"],
        Services,
        "Cache lookups that hit",
    ),
    m(
        "cache_misses_total",
        Counter,
        &["cache_type"],
        Services,
        "Cache lookups that missed",
    ),
    m(
        "cache_operations_duration_seconds",
        Histogram,
        &["cache_type", "operation"],
        Services,
        "Cache operation latency",
    ),
    // Database
    m(
        "db_query_duration_seconds",
        Histogram,
        &["query_type"],
        BackendApi,
        "Database query latency",
    ),
    m(
        "db_connection_pool_size",
        Gauge,
        &["pool_name"],
        BackendApi,
        "Connections in the database pool",
    ),
    // Business
    m(
        "recommendations_served_total",
        Counter,
        &["tenant_id"],
        BackendApi,
        "Recommendations returned, per tenant",
    ),
    m(
        "api_requests_total",
        Counter,
        &["tenant_id", "endpoint"],
        BackendApi,
        "API requests per tenant and endpoint",
    ),
    m(
        "recommendation_quality",
        Gauge,
        &["tenant_id", "metric"],
        MlEngine,
        "Offline quality of the deployed model",
    ),
    m(
        "ml_model_inference_duration_seconds",
        Histogram,
        &["tenant_id", "operation"],
        MlEngine,
        "Model inference latency by operation",
    ),
    // ML engine ("ML Engine Performance" dashboard)
    m(
        "model_quality_ndcg_at_10",
        Gauge,
        &["tenant_id", "model_version"],
        MlEngine,
        "NDCG@10 of the deployed model",
    ),
    m(
        "model_quality_map_at_10",
        Gauge,
        &["tenant_id", "model_version"],
        MlEngine,
        "MAP@10 of the deployed model",
    ),
    m(
        "model_quality_precision_at_10",
        Gauge,
        &["tenant_id", "model_version"],
        MlEngine,
        "Precision@10 of the deployed model",
    ),
    m(
        "model_quality_recall_at_10",
        Gauge,
        &["tenant_id", "model_version"],
        MlEngine,
        "Recall@10 of the deployed model",
    ),
    m(
        "model_version_deployed",
        Gauge,
        &["tenant_id", "model_version"],
        MlEngine,
        "1 for the model version each tenant is served",
    ),
    m(
        "embedding_cache_hits_total",
        Counter,
        &[],
        MlEngine,
        "Embedding cache hits",
    ),
    m(
        "embedding_cache_misses_total",
        Counter,
        &[],
        MlEngine,
        "Embedding cache misses",
    ),
    m(
        "faiss_search_duration_seconds",
        Histogram,
        &["tenant_id"],
        MlEngine,
        "Vector search latency",
    ),
    m(
        "training_job_status",
        Gauge,
        &["tenant_id", "job_id"],
        MlEngine,
        "0 queued, 1 running, 2 succeeded, 3 failed",
    ),
    m(
        "training_job_duration_seconds",
        Histogram,
        &["tenant_id"],
        MlEngine,
        "Training job run time",
    ),
    // Prometheus itself
    m(
        "up",
        Gauge,
        &[],
        External("prometheus"),
        "1 when the last scrape succeeded",
    ),
    // Prometheus and Alertmanager watching themselves (the shipped
    // self-monitoring rules read these)
    m(
        "prometheus_notifications_alertmanagers_discovered",
        Gauge,
        &[],
        External("prometheus"),
        "Alertmanagers Prometheus has discovered and is sending to",
    ),
    m(
        "prometheus_notifications_sent_total",
        Counter,
        &["alertmanager"],
        External("prometheus"),
        "Alerts sent, per Alertmanager",
    ),
    m(
        "prometheus_notifications_errors_total",
        Counter,
        &["alertmanager"],
        External("prometheus"),
        "Alerts that failed to reach an Alertmanager",
    ),
    m(
        "prometheus_rule_evaluation_failures_total",
        Counter,
        &["rule_group"],
        External("prometheus"),
        "Rule evaluations that failed",
    ),
    m(
        "alertmanager_notifications_total",
        Counter,
        &["integration"],
        External("alertmanager"),
        "Notifications attempted, per integration",
    ),
    m(
        "alertmanager_notifications_failed_total",
        Counter,
        &["integration", "reason"],
        External("alertmanager"),
        "Notifications that failed after every retry (`reason` since Alertmanager 0.26)",
    ),
    // node-exporter
    m(
        "node_cpu_seconds_total",
        Counter,
        &["cpu", "mode"],
        External("node-exporter"),
        "",
    ),
    m(
        "node_memory_MemAvailable_bytes",
        Gauge,
        &[],
        External("node-exporter"),
        "",
    ),
    m(
        "node_memory_MemTotal_bytes",
        Gauge,
        &[],
        External("node-exporter"),
        "",
    ),
    m(
        "node_filesystem_avail_bytes",
        Gauge,
        &["device", "fstype", "mountpoint"],
        External("node-exporter"),
        "",
    ),
    m(
        "node_filesystem_size_bytes",
        Gauge,
        &["device", "fstype", "mountpoint"],
        External("node-exporter"),
        "",
    ),
    m(
        "node_filesystem_readonly",
        Gauge,
        &["device", "fstype", "mountpoint"],
        External("node-exporter"),
        "",
    ),
    // cAdvisor
    m(
        "container_cpu_usage_seconds_total",
        Counter,
        &["name", "cpu"],
        External("cadvisor"),
        "",
    ),
    m(
        "container_memory_usage_bytes",
        Gauge,
        &["name"],
        External("cadvisor"),
        "",
    ),
    m(
        "container_spec_memory_limit_bytes",
        Gauge,
        &["name"],
        External("cadvisor"),
        "",
    ),
    m(
        "container_fs_reads_bytes_total",
        Counter,
        &["name", "device"],
        External("cadvisor"),
        "",
    ),
    m(
        "container_fs_writes_bytes_total",
        Counter,
        &["name", "device"],
        External("cadvisor"),
        "",
    ),
    m(
        "container_network_receive_bytes_total",
        Counter,
        &["name", "interface"],
        External("cadvisor"),
        "",
    ),
    m(
        "container_network_transmit_bytes_total",
        Counter,
        &["name", "interface"],
        External("cadvisor"),
        "",
    ),
    m(
        "container_start_time_seconds",
        Gauge,
        &["name"],
        External("cadvisor"),
        "",
    ),
    // postgres-exporter and redis-exporter
    m(
        "pg_up",
        Gauge,
        &[],
        External("postgres-exporter"),
        "1 when PostgreSQL answers",
    ),
    m(
        "redis_up",
        Gauge,
        &[],
        External("redis-exporter"),
        "1 when Redis answers",
    ),
];

/// Labels of the mocks' metrics whose values come from a fixed set: the
/// values the services produce, whether or not a run happens to produce
/// them (`operation="embed"` only on an embedding-cache miss). The live
/// panel check ([`crate::observe::grafana::panel_health`]) tells "not produced yet"
/// from "never produced" with it; the mock tests fail when a service
/// produces a value that is not listed.
pub const VALUES: &[(&str, &str, &[&str])] = &[
    (
        "ml_model_inference_duration_seconds",
        "operation",
        &["embed", "search"],
    ),
    (
        "cache_operations_duration_seconds",
        "operation",
        &["get", "set"],
    ),
    (
        "cache_operations_duration_seconds",
        "cache_type",
        &["embedding", "recommendation"],
    ),
    (
        "cache_hits_total",
        "cache_type",
        &["embedding", "recommendation"],
    ),
    (
        "cache_misses_total",
        "cache_type",
        &["embedding", "recommendation"],
    ),
    (
        "db_query_duration_seconds",
        "query_type",
        &["insert_event", "select_tenant"],
    ),
    (
        "db_connection_pool_size",
        "pool_name",
        &["memory", "primary"],
    ),
    (
        "recommendation_quality",
        "metric",
        &["map_at_10", "ndcg_at_10", "precision_at_10", "recall_at_10"],
    ),
];

/// The values a mock metric's label takes, where they are a fixed set.
/// `series` may carry a histogram suffix.
pub fn values_of(series: &str, label: &str) -> Option<&'static [&'static str]> {
    let base = lookup(series)?.name;
    VALUES
        .iter()
        .find(|(m, l, _)| *m == base && *l == label)
        .map(|(_, _, v)| *v)
}

/// The contract entry for a series name as it appears in PromQL
/// (`x_bucket`, `x_sum`, `x_count` resolve to histogram `x`).
pub fn lookup(series: &str) -> Option<&'static MetricSpec> {
    if let Some(spec) = CONTRACT.iter().find(|s| s.name == series) {
        return Some(spec);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = series.strip_suffix(suffix)?;
        CONTRACT
            .iter()
            .find(|s| s.name == base && s.kind == Kind::Histogram)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_histogram_series_resolve() {
        for (i, a) in CONTRACT.iter().enumerate() {
            assert!(
                !CONTRACT[i + 1..].iter().any(|b| b.name == a.name),
                "{} twice",
                a.name
            );
            if a.kind == Kind::Counter {
                assert!(
                    a.name.ends_with("_total"),
                    "counter {} must end in _total",
                    a.name
                );
            }
        }
        assert_eq!(
            lookup("http_request_duration_seconds_bucket").unwrap().kind,
            Kind::Histogram
        );
        assert!(lookup("http_requests_total_bucket").is_none());
        assert!(lookup("nope").is_none());
    }
}
