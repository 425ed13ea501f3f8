//! Which traces the mocks record: the OpenTelemetry SDK's samplers, chosen
//! the way an instrumented service configured with
//! `OTEL_TRACES_SAMPLER=parentbased_jaeger_remote` (or `jaeger_remote`) and
//! `OTEL_TRACES_SAMPLER_ARG=endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`
//! chooses them. The SDK's Jaeger remote sampler polls the strategy Jaeger
//! serves (`GET {endpoint}/sampling?service=NAME`, from the stack's
//! `sampling-strategies*.json`) and samples by it; before its first answer,
//! and when the endpoint does not answer, it samples at the initial rate.
//!
//! - backend-api is the entry service. Its parent is the load generator,
//!   the outside world: like an ingress it makes the decision itself
//!   (a remote parent's flag is not followed), or every client could force
//!   100 %. Its own child spans follow its decision.
//! - ml-engine is parent-based: it follows backend-api's flag.
//!
//! Without `OTEL_TRACES_SAMPLER` every trace is recorded. Each poll has a
//! timeout, and the poll task ends with the process.
//!
//! **Jaeger's answer is translated.** Jaeger v2 (1.76) serves strategies
//! in the legacy Thrift JSON, with a numeric `strategyType`
//! (`{"strategyType":0,"probabilisticSampling":{"samplingRate":0.1}}`),
//! while `opentelemetry_sdk` 0.33 reads only the enum's name and fails
//! on the number; it would keep its initial rate for ever, silently
//! (opentelemetry-specification#3126 records the two formats). The
//! sampler's HTTP client ([`JaegerJson`]) rewrites the answer into what
//! the SDK reads, and the SDK then decides as usual.

use std::time::Duration;

use opentelemetry_sdk::trace::{ParentBasedSampler, Sampler, ShouldSample};

const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// `endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`.
fn arg(args: &str, key: &str) -> Option<String> {
    args.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// What `OTEL_TRACES_SAMPLER_ARG` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteArgs {
    /// The sampling endpoint, `…/sampling` (the SDK adds `?service=`).
    pub endpoint: String,
    pub every: Duration,
    pub initial: f64,
}

impl RemoteArgs {
    pub fn parse(args: &str) -> RemoteArgs {
        let initial = arg(args, "initialSamplingRate")
            .and_then(|r| r.parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(1.0);
        let every = arg(args, "pollingIntervalMs")
            .and_then(|r| r.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(100));
        let base = arg(args, "endpoint").unwrap_or_else(|| "http://localhost:5778".into());
        RemoteArgs {
            endpoint: sampling_url(&base),
            every,
            initial,
        }
    }
}

/// Jaeger's HTTP sampling path on a bare `host:port` endpoint.
fn sampling_url(base: &str) -> String {
    let trimmed = base.trim_end_matches('/');
    let has_path = trimmed
        .split_once("://")
        .map_or(trimmed, |(_, rest)| rest)
        .contains('/');
    if has_path {
        trimmed.to_string()
    } else {
        format!("{trimmed}/sampling")
    }
}

/// The sampler `service` runs with, from the environment. Must be called
/// on a Tokio runtime when a remote sampler is configured: its polls run
/// there.
pub fn from_env(service: &'static str, entry: bool) -> Box<dyn ShouldSample> {
    let kind = std::env::var("OTEL_TRACES_SAMPLER").unwrap_or_default();
    let args = std::env::var("OTEL_TRACES_SAMPLER_ARG").unwrap_or_default();
    let parent_based = match kind.as_str() {
        "parentbased_jaeger_remote" => true,
        "jaeger_remote" => false,
        _ => return decider(Sampler::AlwaysOn, entry),
    };
    let remote = match remote(service, &RemoteArgs::parse(&args)) {
        Ok(s) => s,
        Err(why) => {
            tracing::warn!("{service}: the Jaeger remote sampler is not used: {why}");
            Sampler::AlwaysOn
        }
    };
    if parent_based {
        decider(remote, entry)
    } else {
        Box::new(remote)
    }
}

/// Parent-based on `root`; the entry service decides with `root` for a
/// remote parent too.
fn decider(root: Sampler, entry: bool) -> Box<dyn ShouldSample> {
    let sampler = ParentBasedSampler::new(root.clone());
    if entry {
        Box::new(
            sampler
                .with_remote_parent_sampled(root.clone())
                .with_remote_parent_not_sampled(root),
        )
    } else {
        Box::new(sampler)
    }
}

/// The SDK's Jaeger remote sampler for `service`.
fn remote(service: &'static str, args: &RemoteArgs) -> Result<Sampler, String> {
    let client = JaegerJson(super::trace::OnRuntime::here(FETCH_TIMEOUT)?);
    Sampler::jaeger_remote(
        opentelemetry_sdk::runtime::Tokio,
        client,
        Sampler::TraceIdRatioBased(args.initial),
        service,
    )
    .with_endpoint(args.endpoint.clone())
    .with_update_interval(args.every)
    .build()
    .map_err(|e| e.to_string())
}

/// The remote sampler's client: Jaeger's strategy answers, rewritten by
/// [`sdk_strategy_json`].
#[derive(Debug, Clone)]
struct JaegerJson(super::trace::OnRuntime);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for JaegerJson {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = self.0.send_bytes(request).await?.into_parts();
        let body = sdk_strategy_json(&body).map_or(body, bytes::Bytes::from);
        Ok(http::Response::from_parts(parts, body))
    }
}

/// A strategy as Jaeger serves it, in the JSON `opentelemetry_sdk` 0.33
/// reads: `strategyType` 0 / 1 (or `"RATE_LIMITING"`) as `"PROBABILISTIC"`
/// / `"RATELIMITING"`, and the per-operation bounds Jaeger leaves out when
/// they are 0. None when the body is not a JSON object (passed on as is).
pub fn sdk_strategy_json(body: &[u8]) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object_mut()?;
    let name = match o.get("strategyType") {
        Some(t) if t == 0 || t == "PROBABILISTIC" => "PROBABILISTIC",
        Some(t) if t == 1 || t == "RATE_LIMITING" || t == "RATELIMITING" => "RATELIMITING",
        _ => return None,
    };
    o.insert("strategyType".into(), name.into());
    if let Some(ops) = o
        .get_mut("operationSampling")
        .and_then(|x| x.as_object_mut())
    {
        for key in [
            "defaultSamplingProbability",
            "defaultLowerBoundTracesPerSecond",
            "defaultUpperBoundTracesPerSecond",
        ] {
            ops.entry(key).or_insert(0.0.into());
        }
        ops.entry("perOperationStrategies")
            .or_insert(serde_json::Value::Array(Vec::new()));
    }
    serde_json::to_vec(&v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::trace::SamplingDecision;

    #[test]
    fn the_arguments_as_the_harness_writes_them() {
        let a = RemoteArgs::parse(
            "endpoint=http://127.0.0.1:5778,pollingIntervalMs=500,initialSamplingRate=0.25",
        );
        assert_eq!(a.endpoint, "http://127.0.0.1:5778/sampling");
        assert_eq!(a.every, Duration::from_millis(500));
        assert_eq!(a.initial, 0.25);
        let d = RemoteArgs::parse("endpoint=http://j:5778/api/sampling/,initialSamplingRate=7");
        assert_eq!(d.endpoint, "http://j:5778/api/sampling");
        assert_eq!(d.initial, 1.0, "out of range: the default");
        assert_eq!(d.every, Duration::from_secs(60));
    }

    fn decide(s: &dyn ShouldSample, parent: Option<(bool, bool)>, trace: u128) -> bool {
        let cx = match parent {
            Some((sampled, remote)) => {
                let flags = if sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                };
                opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
                    TraceId::from(trace),
                    SpanId::from(1u64),
                    flags,
                    remote,
                    TraceState::default(),
                ))
            }
            None => opentelemetry::Context::new(),
        };
        let r = s.should_sample(
            Some(&cx),
            TraceId::from(trace),
            "GET /api/v1/recommendations",
            &SpanKind::Server,
            &[],
            &[],
        );
        r.decision == SamplingDecision::RecordAndSample
    }

    #[test]
    fn the_entry_service_decides_and_the_callee_follows() {
        let never = Sampler::TraceIdRatioBased(0.0);
        let entry = decider(never.clone(), true);
        let callee = decider(never, false);
        assert!(
            !decide(entry.as_ref(), Some((true, true)), 5),
            "a client cannot force sampling"
        );
        assert!(
            decide(entry.as_ref(), Some((true, false)), 5),
            "the entry service's own children follow it"
        );
        assert!(decide(callee.as_ref(), Some((true, true)), 5));
        assert!(!decide(callee.as_ref(), Some((false, true)), 5));
        assert!(!decide(callee.as_ref(), None, 5));
    }

    #[test]
    fn jaegers_legacy_json_becomes_what_the_sdk_reads() {
        let jaeger = br#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.1}}"#;
        let v: serde_json::Value =
            serde_json::from_slice(&sdk_strategy_json(jaeger).unwrap()).unwrap();
        assert_eq!(v["strategyType"], "PROBABILISTIC");
        assert_eq!(v["probabilisticSampling"]["samplingRate"], 0.1);
        let per_op = br#"{"strategyType":0,"operationSampling":{"defaultSamplingProbability":0.2,"perOperationStrategies":[{"operation":"GET /x","probabilisticSampling":{"samplingRate":0.5}}]}}"#;
        let v: serde_json::Value =
            serde_json::from_slice(&sdk_strategy_json(per_op).unwrap()).unwrap();
        assert_eq!(
            v["operationSampling"]["defaultLowerBoundTracesPerSecond"],
            0.0
        );
        assert_eq!(v["operationSampling"]["defaultSamplingProbability"], 0.2);
        let limit = sdk_strategy_json(
            br#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#,
        )
        .unwrap();
        assert!(
            String::from_utf8(limit)
                .unwrap()
                .contains(r#""strategyType":"RATELIMITING""#)
        );
        assert_eq!(sdk_strategy_json(b"not json"), None);
        assert_eq!(sdk_strategy_json(br#"{"strategyType":7}"#), None);
    }

    /// The whole chain: the SDK's remote sampler polls an endpoint that
    /// answers exactly as Jaeger 1.76 does, and then samples at its rate.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sdks_remote_sampler_follows_what_jaeger_serves() {
        let polled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = polled.clone();
        let app = axum::Router::new().route(
            "/sampling",
            axum::routing::get(move |q: axum::extract::RawQuery| {
                seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                assert_eq!(q.0.as_deref(), Some("service=backend-api"));
                async { r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.1}}"# }
            }),
        );
        let cancel = tokio_util::sync::CancellationToken::new();
        let (url, _server) = crate::http::serve_loopback(app, cancel.clone())
            .await
            .unwrap();
        let args = RemoteArgs::parse(&format!(
            "endpoint={url},pollingIntervalMs=100,initialSamplingRate=1"
        ));
        let entry = decider(remote("backend-api", &args).unwrap(), true);
        let kept = || {
            (1..=4_000u128)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
                .filter(|id| decide(entry.as_ref(), Some((true, true)), *id))
                .count()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut last = kept();
        while !(250..=550).contains(&last) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            last = kept();
        }
        cancel.cancel();
        assert!(polled.load(std::sync::atomic::Ordering::Relaxed) >= 1);
        assert!(
            (250..=550).contains(&last),
            "{last} of 4000 sampled after the strategy said 10 %"
        );
    }

    #[test]
    fn the_ratio_samples_about_the_rate() {
        let s = decider(Sampler::TraceIdRatioBased(0.1), true);
        let kept = (1..=20_000u128)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
            .filter(|id| decide(s.as_ref(), None, *id))
            .count();
        assert!((1_600..=2_400).contains(&kept), "{kept}");
    }
}
