//! What both mock services share: the HTTP metrics of the seed, process
//! metrics, the request log line, server spans, tenant bounds, and fault
//! knobs, applied by one middleware ([`observe`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::faults::{Faults, Verdict};
use super::log::{LogLine, LogSink, now_rfc3339_ms};
use super::metrics::{HistogramFamily, HttpLabels, InProgressLabels, latency_histogram};
use super::trace::{AttrValue, Span, SpanKind, Tracer};
use crate::scenario::tenant_name;

/// The server span of the request being handled, for child spans.
#[derive(Clone)]
pub struct RequestSpan {
    /// Its ids and the sampler's decision, which children follow.
    pub context: opentelemetry::trace::SpanContext,
    tracer: Tracer,
}

impl RequestSpan {
    /// Start a child span (e.g. an outgoing call).
    pub fn child(&self, name: impl Into<String>, kind: SpanKind) -> Span {
        self.tracer.child(&self.context, name.into(), kind)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct ContainerLabels {
    name: String,
}

pub struct ProcessMetrics {
    /// cAdvisor-style usage and limit, when a memory limit is configured.
    container: Option<(Family<ContainerLabels, Gauge>, String)>,
    resident: Gauge,
    virtual_mem: Gauge,
    cpu: Counter<f64, std::sync::atomic::AtomicU64>,
    start_time: Gauge,
    open_fds: Gauge,
    last_cpu: std::sync::Mutex<f64>,
}

impl ProcessMetrics {
    fn new(registry: &mut Registry, service: &str, memory_limit_mb: Option<u64>) -> ProcessMetrics {
        let container = memory_limit_mb.map(|mb| {
            let usage = Family::<ContainerLabels, Gauge>::default();
            let limit = Family::<ContainerLabels, Gauge>::default();
            registry.register(
                "container_memory_usage_bytes",
                "Memory in use (this mock's RSS), as cAdvisor names it",
                usage.clone(),
            );
            registry.register(
                "container_spec_memory_limit_bytes",
                "The memory limit this mock was given, as cAdvisor names it",
                limit.clone(),
            );
            limit
                .get_or_create(&ContainerLabels {
                    name: service.to_string(),
                })
                .set((mb << 20) as i64);
            (usage, service.to_string())
        });
        let p = ProcessMetrics {
            container,
            resident: Gauge::default(),
            virtual_mem: Gauge::default(),
            cpu: Counter::default(),
            start_time: Gauge::default(),
            open_fds: Gauge::default(),
            last_cpu: std::sync::Mutex::new(0.0),
        };
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            p.resident.clone(),
        );
        registry.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            p.virtual_mem.clone(),
        );
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            p.cpu.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            p.start_time.clone(),
        );
        registry.register(
            "process_open_fds",
            "Number of open file descriptors",
            p.open_fds.clone(),
        );
        p.start_time.set(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs() as i64,
        );
        p
    }

    /// Read /proc/self before a scrape.
    fn refresh(&self) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                * 1024
        };
        self.resident.set(kb("VmRSS:"));
        if let Some((usage, name)) = &self.container {
            usage
                .get_or_create(&ContainerLabels { name: name.clone() })
                .set(kb("VmRSS:"));
        }
        self.virtual_mem.set(kb("VmSize:"));
        // utime and stime are fields 14 and 15 of /proc/self/stat, in
        // USER_HZ (100 on Linux); the name (field 2) may hold spaces.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = [11, 12]
                .iter()
                .filter_map(|i| f.get(*i)?.parse::<f64>().ok())
                .sum();
            let secs = ticks / 100.0;
            let mut last = self.last_cpu.lock().expect("cpu poisoned");
            if secs > *last {
                self.cpu.inc_by(secs - *last);
                *last = secs;
            }
        }
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0);
        self.open_fds.set(fds as i64);
    }
}

pub struct Kit {
    pub service: &'static str,
    pub tenants: u32,
    pub registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: HistogramFamily<HttpLabels>,
    pub http_in_progress: Family<InProgressLabels, Gauge>,
    pub process: ProcessMetrics,
    spans_dropped: Counter,
    spans_dropped_seen: std::sync::atomic::AtomicU64,
    pub tracer: Tracer,
    pub faults: Faults,
    pub log: LogSink,
}

impl Kit {
    /// The shared metrics are registered into `registry`; the service then
    /// registers its own and calls [`Kit::finish`].
    pub fn new(
        service: &'static str,
        tenants: u32,
        mut registry: Registry,
        tracer: Tracer,
        log: LogSink,
        memory_limit_mb: Option<u64>,
    ) -> Kit {
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let http_in_progress = Family::<InProgressLabels, Gauge>::default();
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
        let spans_dropped = Counter::default();
        registry.register(
            "zeta_mock_spans_dropped",
            "Spans dropped because the trace collector was unreachable or slow",
            spans_dropped.clone(),
        );
        let process = ProcessMetrics::new(&mut registry, service, memory_limit_mb);
        let faults = Faults::new(service, &mut registry);
        Kit {
            service,
            tenants,
            registry,
            http_requests,
            http_duration,
            http_in_progress,
            process,
            spans_dropped,
            spans_dropped_seen: Default::default(),
            tracer,
            faults,
            log,
        }
    }

    /// The kit a service is built on: its log sink, tracer and shared
    /// metrics from `cfg`, registered into `registry` after the service's
    /// own metrics.
    pub fn from_config(
        service: &'static str,
        cfg: &super::MockConfig,
        registry: Registry,
    ) -> anyhow::Result<Arc<Kit>> {
        let log = LogSink::new(
            !cfg.quiet,
            cfg.log_file.as_deref(),
            cfg.log_file_max_mb << 20,
        )?;
        // backend-api is the entry service: it decides for each trace.
        let sampler = super::sampling::from_env(service, service == "backend-api");
        let tracer = Tracer::with_sampler(service, cfg.otlp_endpoint.clone(), sampler);
        let kit = Kit::new(
            service,
            cfg.tenants,
            registry,
            tracer,
            log,
            cfg.memory_limit_mb,
        );
        Ok(Arc::new(kit))
    }

    /// `tenant_001` … up to the configured count: label values stay bounded.
    pub fn is_known_tenant(&self, t: &str) -> bool {
        t.strip_prefix("tenant_")
            .filter(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=self.tenants).contains(&n) && tenant_name(n) == t)
    }

    pub fn encode(&self) -> String {
        self.process.refresh();
        let dropped = self.tracer.counts.dropped.load(Ordering::Relaxed);
        let seen = self.spans_dropped_seen.swap(dropped, Ordering::Relaxed);
        if dropped > seen {
            self.spans_dropped.inc_by(dropped - seen);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The tenant a request is for: `X-Tenant-ID`, else `tenant_id` in the query.
pub fn tenant_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(t) = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()) {
        return Some(t.to_string());
    }
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "tenant_id")
        .map(|(_, v)| v.to_string())
}

pub fn json_error(status: axum::http::StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": message.into()}))).into_response()
}

/// Counts, times, logs and traces every request (except `/metrics` and
/// `/admin/*`), and applies the fault knobs.
pub async fn observe(State(kit): State<Arc<Kit>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/metrics" || path.starts_with("/admin/") {
        return next.run(req).await;
    }
    let start = Instant::now();
    let started_at = SystemTime::now();
    let method = req.method().to_string();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let tenant = tenant_of(req.headers(), req.uri().query())
        .filter(|t| kit.is_known_tenant(t))
        .unwrap_or_default();
    let mut span = kit
        .tracer
        .server(format!("{method} {endpoint}"), req.headers(), started_at);
    req.extensions_mut().insert(RequestSpan {
        context: span.context().clone(),
        tracer: kit.tracer.clone(),
    });
    let in_progress = kit
        .http_in_progress
        .get_or_create(&InProgressLabels {
            method: method.clone(),
            endpoint: endpoint.clone(),
        })
        .clone();
    in_progress.inc();
    let response = match kit.faults.before(&endpoint).await {
        Verdict::Proceed => next.run(req).await,
        Verdict::Fail(status) => json_error(status, "injected fault: error_rate"),
    };
    in_progress.dec();

    let elapsed = start.elapsed();
    let status = response.status();
    let labels = HttpLabels {
        method: method.clone(),
        endpoint: endpoint.clone(),
        status: status.as_u16().to_string(),
    };
    kit.http_requests.get_or_create(&labels).inc();
    kit.http_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    // Attributes only for a span that leaves the process.
    if kit.tracer.enabled() && span.sampled() {
        span.attributes = vec![
            ("http.request.method", AttrValue::Str(method.clone())),
            ("http.route", AttrValue::Str(endpoint.clone())),
            (
                "http.response.status_code",
                AttrValue::Int(status.as_u16() as i64),
            ),
        ];
        if !tenant.is_empty() {
            span.attributes
                .push(("tenant_id", AttrValue::Str(tenant.clone())));
        }
        span.error = status.is_server_error();
    }
    span.end = SystemTime::now();
    let ids = kit.log.enabled().then(|| {
        (
            hex(&span.context().trace_id().to_bytes()),
            hex(&span.context().span_id().to_bytes()),
        )
    });
    kit.tracer.finish(span);
    if let Some((trace_id, span_id)) = ids {
        let (level, message) = if status.is_server_error() {
            ("ERROR", "Request failed")
        } else if status.is_client_error() {
            ("WARNING", "Request rejected")
        } else {
            ("INFO", "Request processed successfully")
        };
        kit.log.write(&LogLine {
            timestamp: now_rfc3339_ms(),
            level,
            service: kit.service,
            trace_id: &trace_id,
            span_id: &span_id,
            tenant_id: &tenant,
            endpoint: &endpoint,
            message,
            latency_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        });
    }
    response
}

/// Lower-case hex of an id, as W3C trace context and OpenTelemetry's
/// `Display` write it, without the formatting machinery (it is on every
/// request's path).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

pub async fn metrics(State(kit): State<Arc<Kit>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        kit.encode(),
    )
        .into_response()
}

/// The routes every mock has: `/metrics` and the fault admin API, which
/// requires `Authorization: Bearer <admin_token>` when a token is set.
pub fn common_routes(kit: Arc<Kit>, admin_token: Option<String>) -> axum::Router {
    use axum::routing::get;
    let admin = axum::Router::new()
        .route(
            "/admin/faults",
            get(super::faults::get_knobs)
                .put(super::faults::put_knobs)
                .delete(super::faults::delete_knobs),
        )
        .route_layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let token = admin_token.clone();
                async move {
                    if authorized(token.as_deref(), req.headers()) {
                        next.run(req).await
                    } else {
                        json_error(
                            axum::http::StatusCode::UNAUTHORIZED,
                            "the fault admin API needs the harness's bearer token",
                        )
                    }
                }
            },
        ));
    axum::Router::new()
        .route("/metrics", get(metrics))
        .merge(admin)
        .with_state(kit)
}

/// Whether a request carries the admin token (always, when none is set).
fn authorized(token: Option<&str>, headers: &axum::http::HeaderMap) -> bool {
    token.is_none_or(|t| crate::secret::bearer_matches(headers, t))
}

/// `user_id` (1 to 128 characters) and `k` (1 to 100, default 10) of a
/// recommendation request, or the 400 to answer (a ready `Response` as the
/// error: axum's idiom).
#[allow(clippy::result_large_err)]
pub fn user_and_k(user: Option<String>, k: Option<&str>) -> Result<(String, usize), Response> {
    let Some(user) = user.filter(|u| !u.is_empty() && u.len() <= 128) else {
        return Err(json_error(
            axum::http::StatusCode::BAD_REQUEST,
            "user_id is required",
        ));
    };
    let k = match k.map(str::parse) {
        None => 10,
        Some(Ok(k)) if (1..=100).contains(&k) => k,
        _ => {
            return Err(json_error(
                axum::http::StatusCode::BAD_REQUEST,
                "k must be a whole number from 1 to 100",
            ));
        }
    };
    Ok((user, k))
}

#[cfg(test)]
mod tests {
    use super::hex;
    use opentelemetry::trace::{SpanId, TraceId};

    #[test]
    fn ids_are_written_as_opentelemetry_writes_them() {
        let t = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        let s = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        assert_eq!(hex(&t.to_bytes()), t.to_string());
        assert_eq!(hex(&s.to_bytes()), s.to_string());
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }
}
