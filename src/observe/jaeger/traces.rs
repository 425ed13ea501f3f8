//! Trace coverage: did every request the load engine sent (a bounded sample
//! per endpoint) leave a complete trace?
//!
//! Without Jaeger, the harness runs an OTLP/HTTP receiver itself and the
//! mocks export to it, so what is measured is the services'
//! instrumentation: a server span in backend-api for every request that
//! reached it, and for recommendations the chain backend-api server →
//! backend-api client → ml-engine server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load::record::{SecondPoint, TraceSample};

/// A request sent or answered this long before its service was killed may
/// have lost its span in the export buffer (batches go out every 500 ms;
/// a busy machine runs the flush late).
pub const KILL_WINDOW_S: f64 = 2.0;

/// When spans were lost to a fault, in seconds from load start: a request
/// sent or answered inside one is "lost to faults", not missing.
pub type LossWindow = (f64, f64);

/// What a run lost that the coverage check must not count as untraced:
/// the fault windows, and the requests older than the trace store keeps.
#[derive(Debug, Clone, Default)]
pub struct Losses {
    pub windows: Vec<LossWindow>,
    /// A store that keeps its last N traces (Jaeger's in-memory
    /// `max_traces`) has evicted those of requests sent before this
    /// second of the load, if any: a sampled request sent earlier and not
    /// found is beyond the store's retention, not untraced.
    pub kept_from_s: Option<f64>,
}

/// The second from which the last `kept` requests were sent, given the
/// load's per-second series, keeping a tenth of the store for traces the
/// load did not start (training jobs, health checks). None when the whole
/// run fits.
pub fn kept_from(timeline: &[SecondPoint], kept: u64) -> Option<f64> {
    let budget = kept - kept / 10;
    let mut newer = 0u64;
    for p in timeline.iter().rev() {
        newer = newer.saturating_add(p.requests);
        if newer > budget {
            return Some(p.t as f64 + 1.0);
        }
    }
    None
}

/// The window before a service's SIGKILL at `k` s.
pub fn kill_window(k: f64) -> LossWindow {
    (k - KILL_WINDOW_S, k)
}

/// Traces kept at most (a run's sample is far smaller).
const MAX_TRACES: usize = 1_000_000;

/// One span as the coverage check reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanRef {
    pub trace_id: String,
    pub service: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_id: String,
    /// OTLP numbering: 2 server, 3 client.
    pub kind: u64,
}

#[derive(Debug, Clone, Default)]
pub struct TraceInfo {
    pub spans: Vec<SpanRef>,
}

#[derive(Clone, Default)]
pub struct TraceSink {
    traces: Arc<Mutex<HashMap<String, TraceInfo>>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl TraceSink {
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(self.clone())
    }

    /// Serve on a free loopback port; returns the OTLP endpoint base URL.
    pub async fn serve(
        &self,
        cancel: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
        crate::http::serve_loopback(self.router(), cancel).await
    }

    fn add(&self, body: &Value) {
        let Ok(info) = crate::observe::jaeger::api::parse_otlp(body) else {
            return;
        };
        let mut traces = self.traces.lock().expect("trace sink poisoned");
        for span in info.spans {
            if span.trace_id.is_empty() {
                continue;
            }
            if traces.len() >= MAX_TRACES && !traces.contains_key(&span.trace_id) {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            traces
                .entry(span.trace_id.clone())
                .or_default()
                .spans
                .push(span);
        }
    }

    /// Coverage of the load engine's sampled requests. `losses`: when
    /// spans were lost to a fault, as seconds from load start: before a
    /// service was SIGKILLed (spans still in its export buffer, flushed
    /// every 500 ms, died with it; see [`kill_window`]), or while the
    /// tracing backend was down. Requests in them are counted as lost to
    /// the fault, not as missing instrumentation.
    pub fn coverage(&self, samples: &[TraceSample], losses: &Losses) -> TraceReport {
        let traces = self.traces.lock().expect("trace sink poisoned");
        TraceReport {
            store: "the harness's OTLP/HTTP receiver (Jaeger is not running)".into(),
            endpoints: coverage_of(&traces, samples, losses),
            traces_received: traces.len() as u64,
            stand_in: true,
            ..Default::default()
        }
    }
}

/// Coverage per endpoint of `samples` in `traces` (trace id → spans).
/// `losses`: see [`TraceSink::coverage`].
pub fn coverage_of(
    traces: &HashMap<String, TraceInfo>,
    samples: &[TraceSample],
    losses: &Losses,
) -> Vec<EndpointCoverage> {
    {
        let mut by_endpoint: Vec<EndpointCoverage> = Vec::new();
        for s in samples {
            // A request that never reached a server (connection refused,
            // timeout) cannot have a trace: not counted.
            if !s.outcome.ends_with("xx") {
                continue;
            }
            let e = match by_endpoint
                .iter_mut()
                .position(|e| e.endpoint == s.endpoint)
            {
                Some(i) => &mut by_endpoint[i],
                None => {
                    by_endpoint.push(EndpointCoverage {
                        endpoint: s.endpoint.clone(),
                        ..Default::default()
                    });
                    by_endpoint.last_mut().expect("just pushed")
                }
            };
            // Sent, or answered, in the window before a kill: a service
            // exports its spans in batches after answering, so a request
            // it answered just before dying (late, on a busy machine) lost
            // its spans as surely as one it never answered.
            let near = |t: f64, (a, b): LossWindow| t >= a && t <= b;
            let in_kill_window = losses
                .windows
                .iter()
                .any(|w| near(s.sent_s, *w) || s.answered_s.is_some_and(|a| near(a, *w)));
            let Some(t) = traces.get(&s.trace_id) else {
                if in_kill_window {
                    e.lost_to_faults += 1;
                    continue;
                }
                if losses.kept_from_s.is_some_and(|from| s.sent_s < from) {
                    e.beyond_retention += 1;
                    continue;
                }
                e.sent += 1;
                if e.missing_examples.len() < 5 {
                    e.missing_examples.push(s.trace_id.clone());
                }
                continue;
            };
            e.sent += 1;
            e.found += 1;
            // Where backend-api called ml-engine (its client span; a cache
            // hit makes no call), ml-engine's server span must be the
            // client span's child, and the client span the server span's.
            let server = t
                .spans
                .iter()
                .find(|x| x.service == "backend-api" && x.kind == 2);
            for client in t
                .spans
                .iter()
                .filter(|x| x.service == "backend-api" && x.kind == 3)
            {
                let linked = server.is_some_and(|srv| client.parent_id == srv.span_id)
                    && t.spans.iter().any(|ml| {
                        ml.service == "ml-engine" && ml.kind == 2 && ml.parent_id == client.span_id
                    });
                // Half a trace just before a kill: the dead process's
                // unexported spans died with it (found by the lifecycle
                // test: 128/129 linked under CPU contention).
                if !linked && in_kill_window {
                    e.lost_to_faults += 1;
                    continue;
                }
                e.chain_checked += 1;
                if linked {
                    e.linked += 1;
                } else if e.broken_examples.len() < 5 {
                    e.broken_examples.push(s.trace_id.clone());
                }
            }
        }
        by_endpoint
    }
}

async fn receive(State(sink): State<TraceSink>, Json(body): Json<Value>) -> Json<Value> {
    sink.add(&body);
    Json(serde_json::json!({}))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndpointCoverage {
    pub endpoint: String,
    /// Sampled requests that reached a server.
    pub sent: u64,
    pub found: u64,
    /// Requests answered just before their service was killed, whose
    /// spans died with it.
    #[serde(default)]
    pub lost_to_faults: u64,
    /// Sampled requests sent before the last `max_traces` the store keeps,
    /// and not found: evicted by its retention, not untraced; not counted.
    #[serde(default)]
    pub beyond_retention: u64,
    /// backend-api → ml-engine calls checked for linkage.
    pub chain_checked: u64,
    pub linked: u64,
    pub missing_examples: Vec<String>,
    pub broken_examples: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TraceReport {
    pub store: String,
    pub endpoints: Vec<EndpointCoverage>,
    pub traces_received: u64,
    /// Services the store knows (Jaeger's services list), when it has one.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Lookups that failed (5xx, timeout, unreadable answer): those traces
    /// are neither found nor missing, and the check cannot pass.
    #[serde(default)]
    pub lookup_errors: u64,
    #[serde(default)]
    pub lookup_error_examples: Vec<String>,
    /// The spans were checked in the harness's own receiver, a stand-in for
    /// the trace store: it shows the services are instrumented, not that
    /// Jaeger stores and serves their traces.
    #[serde(default)]
    pub stand_in: bool,
}

impl TraceReport {
    pub fn coverage(&self) -> Option<f64> {
        let (sent, found) = self
            .endpoints
            .iter()
            .fold((0, 0), |(s, f), e| (s + e.sent, f + e.found));
        (sent > 0).then(|| found as f64 / sent as f64)
    }
}

/// The services every complete trace set must show.
pub const TRACED_SERVICES: &[&str] = &["backend-api", "ml-engine"];

/// Lookups in flight at once against Jaeger.
const JAEGER_CONCURRENCY: usize = 8;

/// Trace coverage from Jaeger: every sampled trace id that reached a
/// server is looked up by id; ids not found yet are asked again until
/// `flush_wait` has passed (collector batching and storage writes delay
/// them), so a trace is "missing" only after that wait.
pub async fn look_up_in_jaeger(
    jaeger: &crate::observe::jaeger::api::Jaeger,
    samples: &[TraceSample],
    losses: &Losses,
    flush_wait: std::time::Duration,
) -> TraceReport {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + flush_wait;
    let mut pending: Vec<String> = samples
        .iter()
        .filter(|s| s.outcome.ends_with("xx"))
        .map(|s| s.trace_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut found: HashMap<String, TraceInfo> = HashMap::new();
    let mut errors: HashMap<String, String> = HashMap::new();
    loop {
        let answers: Vec<(String, Result<Option<TraceInfo>, String>)> =
            futures::stream::iter(pending.iter().cloned())
                .map(|id| async move {
                    let r = jaeger.trace(&id).await;
                    (id, r)
                })
                .buffer_unordered(JAEGER_CONCURRENCY)
                .collect()
                .await;
        pending.clear();
        for (id, r) in answers {
            match r {
                Ok(Some(t)) => {
                    errors.remove(&id);
                    found.insert(id, t);
                }
                Ok(None) => {
                    errors.remove(&id);
                    pending.push(id);
                }
                Err(e) => {
                    errors.insert(id.clone(), e);
                    pending.push(id);
                }
            }
        }
        if pending.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    let services = jaeger.services().await;
    let mut lookup_error_examples: Vec<String> = errors
        .iter()
        .take(5)
        .map(|(id, e)| format!("trace {id}: {e}"))
        .collect();
    if let Err(e) = &services {
        lookup_error_examples.insert(0, format!("services list: {e}"));
    }
    // Failed lookups are not "missing": leave them out of the coverage.
    let counted: Vec<TraceSample> = samples
        .iter()
        .filter(|s| !errors.contains_key(&s.trace_id))
        .cloned()
        .collect();
    let services_failed = services.is_err();
    TraceReport {
        store: format!(
            "Jaeger {} ({:?} API), after up to {:.0?} for spans to arrive",
            jaeger.display(),
            jaeger.api,
            flush_wait
        ),
        endpoints: coverage_of(&found, &counted, losses),
        traces_received: found.len() as u64,
        services: services.ok(),
        lookup_errors: errors.len() as u64 + u64::from(services_failed),
        lookup_error_examples,
        stand_in: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::endpoint::Endpoint;
    use crate::observe::fake::{Canned, serve};
    use crate::observe::jaeger::api::Jaeger;
    use std::time::Duration;

    fn sample(id: &str, outcome: &str) -> TraceSample {
        TraceSample {
            trace_id: id.into(),
            endpoint: "/api/v1/recommendations".into(),
            tenant: "tenant_001".into(),
            outcome: outcome.into(),
            sent_s: 10.0,
            answered_s: Some(10.05),
        }
    }

    /// backend-api server → backend-api client → ml-engine server, in the
    /// v3 wire format; `ml_parent` is what ml-engine's span names as parent.
    fn chain(trace: &str, ml_parent: &str) -> String {
        let span = |id: &str, parent: &str, kind: u64| serde_json::json!({"traceId": trace, "spanId": id, "parentSpanId": parent, "kind": kind, "name": "x"});
        let res = |svc: &str, spans: Vec<Value>| {
            serde_json::json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                "scopeSpans": [{"scope": {}, "spans": spans}]
            })
        };
        serde_json::json!({"result": {"resourceSpans": [
            res("backend-api", vec![span("00000000000000a1", "", 2), span("00000000000000a2", "00000000000000a1", 3)]),
            res("ml-engine", vec![span("00000000000000b1", ml_parent, 2)]),
        ]}})
        .to_string()
    }

    #[test]
    fn half_a_trace_answered_just_before_a_kill_is_not_held_against_tracing() {
        let id = "4af7651916cd43dd8448eb211c80319c";
        let span = |service: &str, span_id: &str, parent_id: &str, kind| SpanRef {
            trace_id: id.into(),
            service: service.into(),
            span_id: span_id.into(),
            parent_id: parent_id.into(),
            kind,
        };
        // backend-api's client span was exported; its server span died
        // with the process before the next batch.
        let traces = HashMap::from([(
            id.to_string(),
            TraceInfo {
                spans: vec![
                    span("backend-api", "a2", "a1", 3),
                    span("ml-engine", "b1", "a2", 2),
                ],
            },
        )]);
        // Sent 3.5 s before the kill (outside the window), answered 0.5 s
        // before it on a busy machine.
        let late = TraceSample {
            sent_s: 6.5,
            answered_s: Some(9.5),
            trace_id: id.into(),
            ..sample(id, "2xx")
        };
        let at = |k: f64| Losses {
            windows: vec![kill_window(k)],
            kept_from_s: None,
        };
        let c = coverage_of(&traces, std::slice::from_ref(&late), &at(10.0));
        assert_eq!((c[0].lost_to_faults, c[0].chain_checked), (1, 0));
        // Far from any kill, the same half trace is broken linkage.
        let c = coverage_of(&traces, &[late], &at(60.0));
        assert_eq!((c[0].chain_checked, c[0].linked), (1, 0));
        assert_eq!(c[0].broken_examples, [id.to_string()]);
    }

    #[test]
    fn requests_older_than_the_store_keeps_are_not_counted_missing() {
        // 10 requests a second for 100 s into a store of 500 traces: it
        // keeps (less a tenth for other traces) those of the last 45 s.
        let per_second: Vec<SecondPoint> = (0..100)
            .map(|t| SecondPoint {
                t,
                requests: 10,
                errors: 0,
                p95_ms: 1.0,
            })
            .collect();
        assert_eq!(kept_from(&per_second, 500), Some(55.0));
        assert_eq!(kept_from(&per_second, 1_200), None);
        let found = "0af7651916cd43dd8448eb211c80319c";
        let traces = HashMap::from([(
            found.to_string(),
            TraceInfo {
                spans: vec![SpanRef {
                    trace_id: found.into(),
                    service: "backend-api".into(),
                    span_id: "a1".into(),
                    parent_id: String::new(),
                    kind: 2,
                }],
            },
        )]);
        let at = |id: &str, t: f64| TraceSample {
            sent_s: t,
            answered_s: Some(t),
            ..sample(id, "2xx")
        };
        let samples = [
            at(found, 10.0),
            at("1af7651916cd43dd8448eb211c80319c", 10.0),
            at("2af7651916cd43dd8448eb211c80319c", 60.0),
        ];
        let losses = Losses {
            windows: Vec::new(),
            kept_from_s: Some(55.0),
        };
        let c = coverage_of(&traces, &samples, &losses);
        // Found before the cut-off still counts; missing before it is the
        // store's eviction; missing after it is missing.
        assert_eq!((c[0].sent, c[0].found, c[0].beyond_retention), (2, 1, 1));
        assert_eq!(c[0].missing_examples, ["2af7651916cd43dd8448eb211c80319c"]);
    }

    #[tokio::test]
    async fn jaeger_lookup_counts_found_missing_broken_and_failed_lookups() {
        let ok = "0af7651916cd43dd8448eb211c80319c";
        let broken = "1af7651916cd43dd8448eb211c80319c";
        let missing = "2af7651916cd43dd8448eb211c80319c";
        let failing = "3af7651916cd43dd8448eb211c80319c";
        let fake = serve(vec![
            Canned::new(
                "/api/v3/services",
                200,
                r#"{"services":["backend-api","ml-engine"]}"#,
            ),
            Canned::new(
                &format!("/api/v3/traces/{ok}"),
                200,
                &chain(ok, "00000000000000a2"),
            ),
            Canned::new(
                &format!("/api/v3/traces/{broken}"),
                200,
                &chain(broken, "00000000000000ff"),
            ),
            Canned::new(
                &format!("/api/v3/traces/{missing}"),
                404,
                r#"{"error":{"httpCode":404,"message":"No traces found"}}"#,
            ),
            Canned::new(
                &format!("/api/v3/traces/{failing}"),
                500,
                r#"{"error":{"httpCode":500,"message":"storage down"}}"#,
            ),
        ])
        .await;
        let j = Jaeger::detect(Endpoint::new(&fake.url), Duration::from_secs(2))
            .await
            .unwrap();
        let samples = [
            sample(ok, "2xx"),
            sample(broken, "2xx"),
            sample(missing, "5xx"),
            sample(failing, "2xx"),
            // Never reached a server: not looked up.
            sample("4af7651916cd43dd8448eb211c80319c", "timeout"),
        ];
        let r = look_up_in_jaeger(
            &j,
            &samples,
            &Losses::default(),
            Duration::from_millis(1500),
        )
        .await;
        let e = &r.endpoints[0];
        assert_eq!((e.sent, e.found), (3, 2), "{r:?}");
        assert_eq!((e.chain_checked, e.linked), (2, 1));
        assert_eq!(e.missing_examples, vec![missing.to_string()]);
        assert_eq!(e.broken_examples, vec![broken.to_string()]);
        assert_eq!(r.lookup_errors, 1);
        assert!(r.lookup_error_examples[0].contains("storage down"), "{r:?}");
        assert_eq!(r.services.as_deref().unwrap().len(), 2);
        // The missing trace was asked for again during the flush wait.
        let asked = fake
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.uri.ends_with(missing))
            .count();
        assert!(asked >= 2, "asked {asked} times");
        assert!(
            !fake
                .seen
                .lock()
                .unwrap()
                .iter()
                .any(|s| s.uri.contains("4af76519"))
        );
    }

    #[test]
    fn the_sink_groups_exported_spans_by_trace() {
        let sink = TraceSink::default();
        let body: Value = serde_json::from_str(&chain(
            "0af7651916cd43dd8448eb211c80319c",
            "00000000000000a2",
        ))
        .unwrap();
        sink.add(&body["result"]);
        let r = sink.coverage(
            &[sample("0af7651916cd43dd8448eb211c80319c", "2xx")],
            &Losses::default(),
        );
        assert_eq!(r.traces_received, 1);
        assert_eq!((r.endpoints[0].found, r.endpoints[0].linked), (1, 1));
    }
}
