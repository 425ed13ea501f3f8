//! Jaeger remote sampling for the mocks: the strategy Jaeger serves
//! (`GET {endpoint}/sampling?service=NAME`, from the stack's
//! `sampling-strategies*.json`) decides which traces are recorded, the way
//! an instrumented service configured with OpenTelemetry's
//! `OTEL_TRACES_SAMPLER=parentbased_jaeger_remote` and
//! `OTEL_TRACES_SAMPLER_ARG=endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`
//! behaves.
//!
//! - A request with no sampled parent is sampled by trace-id ratio at the
//!   served probability (deterministic: the same trace id always gets the
//!   same decision).
//! - backend-api is the entry service. Its parent is the load generator,
//!   the outside world: like an ingress it makes the decision itself, or
//!   every client could force 100 %. ml-engine follows its parent's flag.
//!
//! Polling is bounded: each fetch has a timeout, failures keep the last
//! rate, and the loop ends with the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::trace_context::TraceParent;

const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Sampler {
    service: &'static str,
    /// The probability, as f64 bits.
    rate: AtomicU64,
    /// Decide for every request, whatever the parent says.
    entry: bool,
    endpoint: String,
    every: Duration,
    /// Successful strategy fetches (for tests and logs).
    pub fetched: AtomicU64,
}

/// `endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`.
fn arg(args: &str, key: &str) -> Option<String> {
    args.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The default probability of a served strategy: per-operation defaults
/// first, as Jaeger's SDKs read them, else the probabilistic one.
pub fn parse_strategy(body: &Value) -> Option<f64> {
    let rate = body["operationSampling"]["defaultSamplingProbability"]
        .as_f64()
        .or_else(|| body["probabilisticSampling"]["samplingRate"].as_f64())?;
    (0.0..=1.0).contains(&rate).then_some(rate)
}

/// Trace-id ratio: the low 64 bits, as OpenTelemetry's TraceIdRatioBased.
pub fn by_ratio(trace_id: u128, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let low = trace_id as u64 >> 1;
    (low as f64) < rate * (u64::MAX >> 1) as f64
}

impl Sampler {
    /// From `OTEL_TRACES_SAMPLER` (`parentbased_jaeger_remote` or
    /// `jaeger_remote`) and `OTEL_TRACES_SAMPLER_ARG`; none otherwise
    /// (every request is recorded, as before).
    pub fn from_env(service: &'static str, entry: bool) -> Option<Arc<Sampler>> {
        let kind = std::env::var("OTEL_TRACES_SAMPLER").ok()?;
        if !matches!(kind.as_str(), "parentbased_jaeger_remote" | "jaeger_remote") {
            return None;
        }
        let args = std::env::var("OTEL_TRACES_SAMPLER_ARG").unwrap_or_default();
        Some(Arc::new(Sampler::new(service, entry, &args)))
    }

    pub fn new(service: &'static str, entry: bool, args: &str) -> Sampler {
        let initial = arg(args, "initialSamplingRate")
            .and_then(|r| r.parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(1.0);
        let every = arg(args, "pollingIntervalMs")
            .and_then(|r| r.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(100));
        Sampler {
            service,
            rate: AtomicU64::new(initial.to_bits()),
            entry,
            endpoint: arg(args, "endpoint").unwrap_or_else(|| "http://localhost:5778".into()),
            every,
            fetched: AtomicU64::new(0),
        }
    }

    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    /// Whether a request of `trace_id` with this `parent` is recorded.
    pub fn decide(&self, trace_id: u128, parent: Option<&TraceParent>) -> bool {
        match parent {
            Some(p) if !self.entry => p.sampled,
            _ => by_ratio(trace_id, self.rate()),
        }
    }

    /// Fetch the strategy now and then every polling interval.
    pub async fn poll(self: Arc<Self>) {
        let Ok(http) = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .no_proxy()
            .build()
        else {
            return;
        };
        let url = format!(
            "{}/sampling?service={}",
            self.endpoint.trim_end_matches('/'),
            self.service
        );
        loop {
            if let Some(rate) = fetch(&http, &url).await {
                self.rate.store(rate.to_bits(), Ordering::Relaxed);
                self.fetched.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(self.every).await;
        }
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Option<f64> {
    let resp = http.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    parse_strategy(&resp.json::<Value>().await.ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_as_jaeger_serves_them() {
        let probabilistic = serde_json::json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.1}});
        assert_eq!(parse_strategy(&probabilistic), Some(0.1));
        let per_op = serde_json::json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 1.0}, "operationSampling": {"defaultSamplingProbability": 0.25, "perOperationStrategies": []}});
        assert_eq!(parse_strategy(&per_op), Some(0.25));
        assert_eq!(
            parse_strategy(&serde_json::json!({"probabilisticSampling": {"samplingRate": 7}})),
            None
        );
    }

    #[test]
    fn the_ratio_samples_about_the_rate_and_deterministically() {
        let ids =
            (1..=20_000u128).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835));
        let kept = ids.clone().filter(|id| by_ratio(*id, 0.1)).count();
        assert!((1_600..=2_400).contains(&kept), "{kept}");
        assert!(ids.clone().all(|id| by_ratio(id, 1.0)));
        assert!(!ids.clone().any(|id| by_ratio(id, 0.0)));
    }

    #[test]
    fn the_entry_service_decides_and_the_callee_follows() {
        let args = "endpoint=http://127.0.0.1:9,pollingIntervalMs=500,initialSamplingRate=0";
        let entry = Sampler::new("backend-api", true, args);
        let callee = Sampler::new("ml-engine", false, args);
        assert_eq!(entry.rate(), 0.0);
        let sampled = TraceParent {
            trace_id: 5,
            span_id: 1,
            sampled: true,
        };
        assert!(
            !entry.decide(5, Some(&sampled)),
            "a client cannot force sampling"
        );
        assert!(callee.decide(5, Some(&sampled)));
        let unsampled = TraceParent {
            sampled: false,
            ..sampled
        };
        assert!(!callee.decide(5, Some(&unsampled)));
        assert_eq!(entry.every, Duration::from_millis(500));
    }
}
