//! The metrics a mock exposes on `/metrics`, with the seed's names, types
//! and labels ("Metrics Reference" and "Key Metrics").

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub endpoint: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InProgressLabels {
    pub method: String,
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantEndpointLabels {
    pub tenant_id: String,
    pub endpoint: String,
}

/// Latency buckets (seconds): prometheus_client's Python defaults, which
/// the seed's FastAPI instrumentation would use, plus 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

pub struct BackendMetrics {
    pub registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily<HttpLabels>,
    pub http_in_progress: Family<InProgressLabels, Gauge>,
    pub recommendations_served: Family<TenantLabels, Counter>,
    pub api_requests: Family<TenantEndpointLabels, Counter>,
}

impl BackendMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let http_in_progress = Family::<InProgressLabels, Gauge>::default();
        let recommendations_served = Family::<TenantLabels, Counter>::default();
        let api_requests = Family::<TenantEndpointLabels, Counter>::default();
        // prometheus-client appends `_total` to counters.
        registry.register(
            "http_requests",
            "Total HTTP requests",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency in seconds",
            http_duration.clone(),
        );
        registry.register(
            "http_requests_in_progress",
            "HTTP requests being served",
            http_in_progress.clone(),
        );
        registry.register(
            "recommendations_served",
            "Recommendations returned, per tenant",
            recommendations_served.clone(),
        );
        registry.register(
            "api_requests",
            "API requests per tenant and endpoint",
            api_requests.clone(),
        );
        BackendMetrics {
            registry,
            http_requests,
            http_duration,
            http_in_progress,
            recommendations_served,
            api_requests,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for BackendMetrics {
    fn default() -> Self {
        Self::new()
    }
}
