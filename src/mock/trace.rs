//! Spans of the mock services, exported as OTLP/HTTP JSON (`POST
//! {endpoint}/v1/traces`), which Jaeger v2 and any OpenTelemetry Collector
//! accept directly.
//!
//! Exporting never slows or fails a request: finished spans go into a
//! bounded queue that a background task drains in batches; a full queue or a
//! failed export drops spans and counts them in
//! `zeta_mock_spans_dropped_total`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::trace_context::TraceParent;

pub const SPAN_KIND_SERVER: u8 = 2;
pub const SPAN_KIND_CLIENT: u8 = 3;

const QUEUE: usize = 20_000;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(500);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: u128,
    pub span_id: u64,
    pub parent_span_id: Option<u64>,
    pub name: String,
    pub kind: u8,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, AttrValue)>,
    pub error: bool,
    /// Not sampled: propagated with the flag off, never exported.
    pub sampled: bool,
}

#[derive(Debug, Clone)]
pub enum AttrValue {
    Str(String),
    Int(i64),
}

impl Span {
    /// The `traceparent` that makes a callee's span a child of this one.
    pub fn traceparent(&self) -> String {
        TraceParent {
            trace_id: self.trace_id,
            span_id: self.span_id,
            sampled: self.sampled,
        }
        .header()
    }

    fn to_otlp(&self) -> Value {
        let nanos = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_string()
        };
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|(k, v)| match v {
                AttrValue::Str(s) => json!({"key": k, "value": {"stringValue": s}}),
                AttrValue::Int(i) => json!({"key": k, "value": {"intValue": i.to_string()}}),
            })
            .collect();
        let mut span = json!({
            "traceId": format!("{:032x}", self.trace_id),
            "spanId": format!("{:016x}", self.span_id),
            "name": self.name,
            "kind": self.kind,
            "startTimeUnixNano": nanos(self.start),
            "endTimeUnixNano": nanos(self.end),
            "attributes": attributes,
            "status": {"code": if self.error { 2 } else { 0 }},
        });
        if let Some(p) = self.parent_span_id {
            span["parentSpanId"] = json!(format!("{p:016x}"));
        }
        span
    }
}

/// OTLP JSON body for one batch of one service's spans.
pub fn otlp_body(service: &str, spans: &[Span]) -> Value {
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": service}},
                {"key": "service.namespace", "value": {"stringValue": "zeta"}},
            ]},
            "scopeSpans": [{
                "scope": {"name": "zeta-bench-mock", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans.iter().map(Span::to_otlp).collect::<Vec<_>>(),
            }],
        }]
    })
}

/// Hands finished spans to the exporter. Cheap to clone.
#[derive(Clone)]
pub struct Tracer {
    tx: Option<mpsc::Sender<Span>>,
    pub dropped: Arc<AtomicU64>,
    pub exported: Arc<AtomicU64>,
}

impl Tracer {
    /// A tracer that exports to `endpoint` (e.g. `http://jaeger:4318`), or
    /// records nothing when `endpoint` is None.
    pub fn new(service: &'static str, endpoint: Option<String>) -> Tracer {
        let dropped = Arc::new(AtomicU64::new(0));
        let exported = Arc::new(AtomicU64::new(0));
        let Some(endpoint) = endpoint else {
            return Tracer {
                tx: None,
                dropped,
                exported,
            };
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(export_loop(
            service,
            format!("{}/v1/traces", endpoint.trim_end_matches('/')),
            rx,
            dropped.clone(),
            exported.clone(),
        ));
        Tracer {
            tx: Some(tx),
            dropped,
            exported,
        }
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    pub fn finish(&self, span: Span) {
        if !span.sampled {
            return;
        }
        if let Some(tx) = &self.tx {
            if tx.try_send(span).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn export_loop(
    service: &'static str,
    url: String,
    mut rx: mpsc::Receiver<Span>,
    dropped: Arc<AtomicU64>,
    exported: Arc<AtomicU64>,
) {
    let client = match crate::http::tls::client_builder()
        .no_proxy()
        .timeout(EXPORT_TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let deadline = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(deadline);
        // Fill a batch until it is full or the flush interval passes.
        loop {
            tokio::select! {
                s = rx.recv() => match s {
                    Some(s) => {
                        batch.push(s);
                        if batch.len() >= BATCH { break; }
                    }
                    None => {
                        send(&client, &url, service, &mut batch, &dropped, &exported).await;
                        return;
                    }
                },
                _ = &mut deadline => break,
            }
        }
        send(&client, &url, service, &mut batch, &dropped, &exported).await;
    }
}

async fn send(
    client: &reqwest::Client,
    url: &str,
    service: &str,
    batch: &mut Vec<Span>,
    dropped: &AtomicU64,
    exported: &AtomicU64,
) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    let ok = client
        .post(url)
        .json(&otlp_body(service, batch))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if ok {
        exported.fetch_add(n, Ordering::Relaxed);
    } else {
        dropped.fetch_add(n, Ordering::Relaxed);
    }
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_json_uses_hex_ids_and_string_nanos() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let s = Span {
            trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
            span_id: 0x00f067aa0ba902b7,
            parent_span_id: Some(1),
            name: "GET /api/v1/recommendations".into(),
            kind: SPAN_KIND_SERVER,
            start: t,
            end: t + Duration::from_millis(2),
            attributes: vec![
                ("http.response.status_code", AttrValue::Int(200)),
                ("tenant_id", AttrValue::Str("tenant_001".into())),
            ],
            error: false,
            sampled: true,
        };
        let body = otlp_body("backend-api", &[s]);
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span["spanId"], "00f067aa0ba902b7");
        assert_eq!(span["parentSpanId"], "0000000000000001");
        assert_eq!(span["startTimeUnixNano"], "1700000000123000000");
        assert_eq!(span["attributes"][0]["value"]["intValue"], "200");
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "backend-api"
        );
    }

    #[tokio::test]
    async fn an_unreachable_collector_drops_and_counts_without_blocking() {
        let tracer = Tracer::new("backend-api", Some("http://127.0.0.1:9".into()));
        let now = SystemTime::now();
        let started = std::time::Instant::now();
        for i in 0..100u64 {
            tracer.finish(Span {
                trace_id: 1,
                span_id: i + 1,
                parent_span_id: None,
                name: "x".into(),
                kind: SPAN_KIND_SERVER,
                start: now,
                end: now,
                attributes: vec![],
                error: false,
                sampled: true,
            });
        }
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "finish() never waits"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while tracer.dropped.load(Ordering::Relaxed) < 100 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(tracer.dropped.load(Ordering::Relaxed), 100);
        assert_eq!(tracer.exported.load(Ordering::Relaxed), 0);
    }
}
