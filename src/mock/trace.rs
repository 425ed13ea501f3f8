//! Spans of the mock services, made and exported by the OpenTelemetry SDK
//! the way an instrumented service's are: `opentelemetry_sdk`'s tracer
//! provider with the sampler of [`super::sampling`], its batch span
//! processor, and `opentelemetry-otlp`'s OTLP/HTTP exporter in its JSON encoding
//! (`POST {endpoint}/v1/traces`, JSON), which Jaeger v2 and any OpenTelemetry
//! Collector accept. Trace context comes in and goes out through the SDK's
//! W3C `traceparent` propagator.
//!
//! Exporting never slows or fails a request: a finished span is handed to
//! the batch processor's queue, whose own thread exports it. The queue is
//! bounded here, in front of the SDK's (which is larger), so that every
//! span lost is counted: one that finds [`QUEUE`] spans waiting, and every
//! span of a batch whose export failed, go into
//! `zeta_mock_spans_dropped_total`.
//!
//! The exporter and the remote sampler send through the harness's own
//! HTTP client (rustls, no proxy, a timeout) on the mock's Tokio runtime
//! ([`OnRuntime`]), so the batch thread needs no runtime of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanContext, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, ShouldSample, SpanData,
    SpanExporter, SpanProcessor,
};

pub use opentelemetry::trace::SpanKind;

pub const SPAN_KIND_SERVER: SpanKind = SpanKind::Server;
pub const SPAN_KIND_CLIENT: SpanKind = SpanKind::Client;

/// Spans waiting for export before new ones are dropped (and counted).
pub const QUEUE: usize = 20_000;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(500);
const EXPORT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read from a collector or a sampling endpoint.
const MAX_ANSWER: usize = 1 << 20;

#[derive(Debug, Clone)]
pub enum AttrValue {
    Str(String),
    Int(i64),
}

impl AttrValue {
    fn key_value(&self, key: &'static str) -> KeyValue {
        match self {
            AttrValue::Str(s) => KeyValue::new(key, s.clone()),
            AttrValue::Int(i) => KeyValue::new(key, *i),
        }
    }
}

/// A started span. The caller fills in what it learns while the work
/// runs (`attributes`, `error`, `end`) and hands it to [`Tracer::finish`].
pub struct Span {
    inner: opentelemetry_sdk::trace::Span,
    context: SpanContext,
    pub attributes: Vec<(&'static str, AttrValue)>,
    pub error: bool,
    pub end: SystemTime,
}

impl Span {
    /// Its trace id, span id and whether the sampler recorded it.
    pub fn context(&self) -> &SpanContext {
        &self.context
    }

    pub fn sampled(&self) -> bool {
        self.context.is_sampled()
    }

    /// The `traceparent` that makes a callee's span a child of this one,
    /// written by the SDK's W3C propagator.
    pub fn traceparent(&self) -> String {
        let cx = Context::new().with_remote_span_context(self.context.clone());
        let mut headers = std::collections::HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut headers);
        headers.remove("traceparent").unwrap_or_default()
    }
}

/// What the exporter did, for the mock's own metrics.
#[derive(Debug, Default)]
pub struct Counts {
    /// Spans in the processor's queue or in an export under way.
    waiting: AtomicU64,
    pub exported: AtomicU64,
    pub dropped: AtomicU64,
}

/// Makes and exports one service's spans. Cheap to clone.
#[derive(Clone)]
pub struct Tracer {
    /// Keeps the processor alive; when the last copy is dropped (the
    /// server stopped), the SDK shuts it down, exporting what is queued.
    _provider: SdkTracerProvider,
    tracer: SdkTracer,
    exporting: bool,
    pub counts: Arc<Counts>,
}

impl Tracer {
    /// A tracer that records every span and exports to `endpoint` (e.g.
    /// `http://jaeger:4318`), or exports nothing when `endpoint` is None.
    pub fn new(service: &'static str, endpoint: Option<String>) -> Tracer {
        Tracer::with_sampler(
            service,
            endpoint,
            Box::new(opentelemetry_sdk::trace::Sampler::AlwaysOn),
        )
    }

    /// The same with `sampler` deciding which traces are recorded. Must
    /// be called on a Tokio runtime when `endpoint` is given: the exports
    /// run on it.
    pub fn with_sampler(
        service: &'static str,
        endpoint: Option<String>,
        sampler: Box<dyn ShouldSample>,
    ) -> Tracer {
        let counts = Arc::new(Counts::default());
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(service)
            .with_attribute(KeyValue::new("service.namespace", "zeta"))
            .build();
        let mut builder = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_resource(resource);
        let exporter = endpoint.and_then(|e| {
            otlp_exporter(&e)
                .map_err(|why| tracing::warn!("{service}: spans are not exported: {why}"))
                .ok()
        });
        let exporting = exporter.is_some();
        if let Some(exporter) = exporter {
            builder = builder.with_span_processor(Bounded::new(exporter, counts.clone()));
        }
        let provider = builder.build();
        let tracer = provider.tracer_with_scope(
            opentelemetry::InstrumentationScope::builder("zeta-bench-mock")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        Tracer {
            _provider: provider,
            tracer,
            exporting,
            counts,
        }
    }

    /// Whether spans leave the process.
    pub fn enabled(&self) -> bool {
        self.exporting
    }

    /// The server span of a request: a child of the caller's `traceparent`
    /// in `headers`, if any, as the SDK's propagator reads it.
    pub fn server(&self, name: String, headers: &http::HeaderMap, start: SystemTime) -> Span {
        let parent =
            TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
        self.start(name, SPAN_KIND_SERVER, start, &parent)
    }

    /// A span inside this service under `parent` (a local parent: a
    /// sampler follows its decision).
    pub fn child(&self, parent: &SpanContext, name: String, kind: SpanKind) -> Span {
        let local = SpanContext::new(
            parent.trace_id(),
            parent.span_id(),
            parent.trace_flags(),
            false,
            parent.trace_state().clone(),
        );
        let cx = Context::new().with_remote_span_context(local);
        self.start(name, kind, SystemTime::now(), &cx)
    }

    fn start(&self, name: String, kind: SpanKind, start: SystemTime, parent: &Context) -> Span {
        let inner = self
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_start_time(start)
            .start_with_context(&self.tracer, parent);
        let context = inner.span_context().clone();
        Span {
            inner,
            context,
            attributes: Vec::new(),
            error: false,
            end: start,
        }
    }

    /// Ends `span` at its `end` with its attributes and status; a sampled
    /// span goes to the exporter, never waiting for it.
    pub fn finish(&self, span: Span) {
        let Span {
            mut inner,
            attributes,
            error,
            end,
            ..
        } = span;
        if !inner.is_recording() {
            return;
        }
        inner.set_attributes(attributes.iter().map(|(k, v)| v.key_value(k)));
        if error {
            inner.set_status(Status::error(""));
        }
        inner.end_with_timestamp(end);
    }
}

/// The SDK's OTLP/HTTP JSON exporter for `{endpoint}/v1/traces`.
fn otlp_exporter(endpoint: &str) -> Result<Counted, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OnRuntime::here(EXPORT_TIMEOUT)?)
        .with_protocol(opentelemetry_otlp::Protocol::HttpJson)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("building the OTLP exporter: {e}"))?;
    Ok(Counted {
        inner: exporter,
        counts: Arc::default(),
    })
}

/// The SDK's batch processor behind a bound that counts what it drops.
#[derive(Debug)]
struct Bounded {
    inner: BatchSpanProcessor,
    counts: Arc<Counts>,
}

impl Bounded {
    fn new(mut exporter: Counted, counts: Arc<Counts>) -> Bounded {
        exporter.counts = counts.clone();
        let config = BatchConfigBuilder::default()
            // Larger than QUEUE: the SDK never drops on its own.
            .with_max_queue_size(QUEUE + 2 * BATCH)
            .with_max_export_batch_size(BATCH)
            .with_scheduled_delay(FLUSH_EVERY)
            .build();
        Bounded {
            inner: BatchSpanProcessor::builder(exporter)
                .with_batch_config(config)
                .build(),
            counts,
        }
    }
}

impl SpanProcessor for Bounded {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let waiting = self.counts.waiting.fetch_add(1, Ordering::Relaxed);
        if waiting >= QUEUE as u64 {
            self.counts.waiting.fetch_sub(1, Ordering::Relaxed);
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// The OTLP exporter, counting each batch as exported or dropped.
#[derive(Debug)]
struct Counted {
    inner: opentelemetry_otlp::SpanExporter,
    counts: Arc<Counts>,
}

impl SpanExporter for Counted {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.inner.export(batch).await;
        let counter = match result {
            Ok(()) => &self.counts.exported,
            Err(_) => &self.counts.dropped,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        self.counts.waiting.fetch_sub(n, Ordering::Relaxed);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// The SDK's HTTP client interface on the harness's reqwest client, run on
/// the mock's runtime: the batch processor's thread has none, and the
/// remote sampler's polls share it.
#[derive(Debug, Clone)]
pub struct OnRuntime {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl OnRuntime {
    /// On the current runtime, with `timeout` for each request.
    pub fn here(timeout: Duration) -> Result<OnRuntime, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "no Tokio runtime to send on".to_string())?;
        let http = crate::http::tls::client_builder()
            .no_proxy()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(OnRuntime { http, runtime })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let http = self.http.clone();
        let sent = self
            .runtime
            .spawn(async move { send(&http, request).await });
        sent.await?
    }
}

async fn send(
    http: &reqwest::Client,
    request: http::Request<bytes::Bytes>,
) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
    let mut answer = http.execute(reqwest::Request::try_from(request)?).await?;
    let mut response = http::Response::builder().status(answer.status());
    if let Some(headers) = response.headers_mut() {
        *headers = answer.headers().clone();
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes").into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(response.body(bytes::Bytes::from(body))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_propagator_continues_the_callers_trace_and_writes_the_childs() {
        let tracer = Tracer::new("backend-api", None);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let server = tracer.server("GET /x".into(), &headers, SystemTime::now());
        assert_eq!(
            server.context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(server.sampled());
        let child = tracer.child(
            server.context(),
            "GET /v1/recommend".into(),
            SPAN_KIND_CLIENT,
        );
        let header = child.traceparent();
        assert_eq!(
            header,
            format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
                child.context().span_id()
            )
        );
        assert_ne!(child.context().span_id(), server.context().span_id());
        // Without a traceparent: a new trace.
        let root = tracer.server("GET /x".into(), &http::HeaderMap::new(), SystemTime::now());
        assert_ne!(root.context().trace_id(), server.context().trace_id());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_collector_drops_and_counts_without_blocking() {
        let tracer = Tracer::new("backend-api", Some("http://127.0.0.1:9".into()));
        assert!(tracer.enabled());
        let started = std::time::Instant::now();
        for i in 0..100u64 {
            let mut span =
                tracer.server(format!("x{i}"), &http::HeaderMap::new(), SystemTime::now());
            span.end = SystemTime::now();
            tracer.finish(span);
        }
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "finish() never waits"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tracer.counts.dropped.load(Ordering::Relaxed) < 100
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(tracer.counts.dropped.load(Ordering::Relaxed), 100);
        assert_eq!(tracer.counts.exported.load(Ordering::Relaxed), 0);
    }
}
