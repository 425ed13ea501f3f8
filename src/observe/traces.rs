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

use crate::load::record::TraceSample;

/// A request answered this long before its service was killed may have
/// lost its span in the export buffer.
const KILL_WINDOW_S: f64 = 1.0;

/// Traces kept at most (a run's sample is far smaller).
const MAX_TRACES: usize = 1_000_000;

#[derive(Debug, Clone, Default)]
struct TraceInfo {
    /// (service, span id, parent span id, kind)
    spans: Vec<(String, String, String, u64)>,
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
        super::serve_loopback(self.router(), cancel).await
    }

    fn add(&self, body: &Value) {
        let mut traces = self.traces.lock().expect("trace sink poisoned");
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
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
                    let trace = span["traceId"].as_str().unwrap_or("").to_lowercase();
                    if trace.is_empty() {
                        continue;
                    }
                    if traces.len() >= MAX_TRACES && !traces.contains_key(&trace) {
                        self.dropped
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    traces.entry(trace).or_default().spans.push((
                        service.clone(),
                        span["spanId"].as_str().unwrap_or("").to_string(),
                        span["parentSpanId"].as_str().unwrap_or("").to_string(),
                        span["kind"].as_u64().unwrap_or(0),
                    ));
                }
            }
        }
    }

    /// Coverage of the load engine's sampled requests. `kills`: when a
    /// service was SIGKILLed (fault took effect), as seconds from load
    /// start; spans still in its export buffer (flushed every 500 ms) died
    /// with it, so requests answered in the second before are counted as
    /// lost to the fault, not as missing instrumentation.
    pub fn coverage(&self, samples: &[TraceSample], kills: &[f64]) -> TraceReport {
        let traces = self.traces.lock().expect("trace sink poisoned");
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
            let in_kill_window = kills
                .iter()
                .any(|k| s.sent_s <= *k && s.sent_s >= k - KILL_WINDOW_S);
            let Some(t) = traces.get(&s.trace_id) else {
                if in_kill_window {
                    e.lost_to_faults += 1;
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
            let server = t.spans.iter().find(|x| x.0 == "backend-api" && x.3 == 2);
            for client in t.spans.iter().filter(|x| x.0 == "backend-api" && x.3 == 3) {
                e.chain_checked += 1;
                let linked = server.is_some_and(|srv| client.2 == srv.1)
                    && t.spans
                        .iter()
                        .any(|ml| ml.0 == "ml-engine" && ml.3 == 2 && ml.2 == client.1);
                if linked {
                    e.linked += 1;
                } else if e.broken_examples.len() < 5 {
                    e.broken_examples.push(s.trace_id.clone());
                }
            }
        }
        TraceReport {
            store: "the harness's OTLP/HTTP receiver (Jaeger is not running)".into(),
            endpoints: by_endpoint,
            traces_received: traces.len() as u64,
        }
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
