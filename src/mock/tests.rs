//! The mocks tested over real HTTP: metric contract, trace linkage, log
//! schema, bad requests, fault knobs, training jobs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::Value;

use super::MockConfig;
use crate::contract::{CONTRACT, Kind, Source};

async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// A local OTLP/HTTP receiver that keeps every body it gets.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |axum::Json(v): axum::Json<Value>| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(v);
                "{}"
            }
        }),
    );
    (spawn(app).await, got)
}

struct Pair {
    backend: String,
    ml: String,
    spans: Arc<Mutex<Vec<Value>>>,
    log_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (otlp, spans) = otlp_receiver().await;
    let mut cfg = MockConfig::in_memory();
    cfg.tenants = 20;
    cfg.otlp_endpoint = Some(otlp);
    cfg.train_duration = Duration::from_millis(200);
    cfg.log_file = Some(dir.path().join("ml-engine.log"));
    let ml = spawn(super::ml::build(&cfg).await.unwrap()).await;
    cfg.ml_engine = Some(ml.clone());
    cfg.log_file = Some(dir.path().join("backend-api.log"));
    let backend = spawn(super::backend::build(&cfg).await.unwrap()).await;
    Pair {
        backend,
        ml,
        spans,
        log_file: dir.path().join("backend-api.log"),
        _dir: dir,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn get(url: &str, tenant: Option<&str>) -> (u16, String) {
    let mut r = client().get(url);
    if let Some(t) = tenant {
        r = r.header("x-tenant-id", t);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn post_json(url: &str, tenant: Option<&str>, body: &str) -> (u16, String) {
    let mut r = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = tenant {
        r = r.header("x-tenant-id", t);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// name → (type, label names) from an OpenMetrics scrape.
fn families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    // prometheus-parse reads the Prometheus format, where a counter's TYPE
    // line names the `_total` series.
    let mut counters = BTreeSet::new();
    let normalised: Vec<String> = text
        .lines()
        .map(|l| {
            match l
                .strip_prefix("# TYPE ")
                .and_then(|r| r.strip_suffix(" counter"))
            {
                Some(name) if !name.ends_with("_total") => {
                    counters.insert(format!("{name}_total"));
                    format!("# TYPE {name}_total counter")
                }
                _ => l.to_string(),
            }
        })
        .collect();
    let scrape = prometheus_parse::Scrape::parse(normalised.into_iter().map(Ok)).unwrap();
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for s in scrape.samples {
        let kind = match s.value {
            prometheus_parse::Value::Counter(_) => "counter",
            prometheus_parse::Value::Gauge(_) => "gauge",
            prometheus_parse::Value::Histogram(_) => "histogram",
            prometheus_parse::Value::Summary(_) => "summary",
            prometheus_parse::Value::Untyped(_) => "untyped",
        };
        let labels: BTreeSet<String> = s.labels.keys().filter(|k| *k != "le").cloned().collect();
        let e = out
            .entry(s.metric.clone())
            .or_insert((kind.to_string(), BTreeSet::new()));
        e.1.extend(labels);
    }
    out
}

fn check_contract(service: Source, text: &str) {
    let fams = families(text);
    for spec in CONTRACT.iter().filter(|s| {
        s.source == service || (s.source == Source::Services && service != Source::Services)
    }) {
        let (kind, labels) = fams.get(spec.name).unwrap_or_else(|| {
            panic!(
                "{service:?} does not expose {} after traffic; it exposes {:?}",
                spec.name,
                fams.keys().collect::<Vec<_>>()
            )
        });
        let want = match spec.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert_eq!(kind, want, "{}: type", spec.name);
        let want_labels: BTreeSet<String> = spec.labels.iter().map(|s| s.to_string()).collect();
        assert_eq!(labels, &want_labels, "{}: labels", spec.name);
    }
    check_values(text);
}

/// Every value of a label with a fixed set in the contract is in that set.
fn check_values(text: &str) {
    let pair = regex::Regex::new(r#"([a-zA-Z_]+)="([^"]*)""#).unwrap();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, rest)) = line.split_once('{') else {
            continue;
        };
        for c in pair.captures_iter(rest) {
            if let Some(allowed) = crate::contract::values_of(series, &c[1]) {
                assert!(
                    allowed.contains(&&c[2]),
                    "{series}: {}={:?} is not in the contract's values {allowed:?} (src/contract.rs VALUES)",
                    &c[1],
                    &c[2]
                );
            }
        }
    }
}

async fn drive(p: &Pair) {
    for t in 1..=3 {
        let tenant = format!("tenant_{t:03}");
        // Users 0..5, then user 0 again: misses and a hit.
        for u in [0, 1, 2, 3, 4, 0] {
            let (s, body) = get(
                &format!("{}/api/v1/recommendations?user_id=user_{u}&k=5", p.backend),
                Some(&tenant),
            )
            .await;
            assert_eq!(s, 200, "{body}");
        }
        let (s, body) = post_json(
            &format!("{}/api/v1/events", p.backend),
            Some(&tenant),
            r#"{"user_id":"user_1","item_id":"item_2"}"#,
        )
        .await;
        assert_eq!(s, 202, "{body}");
    }
    // The same embedding twice: a miss, then a hit in ml-engine's cache.
    for _ in 0..2 {
        let (s, body) = post_json(
            &format!("{}/v1/embed", p.ml),
            None,
            r#"{"tenant_id":"tenant_004","user_id":"user_1"}"#,
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    let (s, body) = post_json(
        &format!("{}/api/v1/train", p.backend),
        Some("tenant_001"),
        "",
    )
    .await;
    assert_eq!(s, 202, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    let id = job["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get(&format!("{}/v1/jobs/{id}", p.ml), None).await;
        if body.contains("succeeded") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "training job did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_honour_the_metric_contract() {
    let p = pair().await;
    drive(&p).await;
    let (_, backend) = get(&format!("{}/metrics", p.backend), None).await;
    let (_, ml) = get(&format!("{}/metrics", p.ml), None).await;
    check_contract(Source::BackendApi, &backend);
    check_contract(Source::MlEngine, &ml);
    // Process metrics, as prometheus-client's Python collector names them.
    for text in [&backend, &ml] {
        let fams = families(text);
        assert_eq!(fams["process_cpu_seconds_total"].0, "counter");
        assert!(
            text.lines()
                .any(|l| l.starts_with("process_resident_memory_bytes ") && !l.ends_with(" 0")),
            "RSS reported"
        );
    }
    // The model was retrained: v2 replaced v1 for tenant_001.
    assert!(
        ml.contains(r#"model_version_deployed{tenant_id="tenant_001",model_version="v2"} 1"#),
        "{ml}"
    );
    assert!(
        !ml.contains(r#"model_version_deployed{tenant_id="tenant_001",model_version="v1"}"#),
        "{ml}"
    );
    assert!(
        ml.contains(r#"training_job_status{tenant_id="tenant_001",job_id="job_1"} 2"#),
        "{ml}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_makes_three_linked_spans() {
    let p = pair().await;
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = client()
        .get(format!(
            "{}/api/v1/recommendations?user_id=user_9&k=3",
            p.backend
        ))
        .header("x-tenant-id", "tenant_002")
        .header("traceparent", parent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let spans = loop {
        let spans: Vec<(String, Value)> = p
            .spans
            .lock()
            .unwrap()
            .iter()
            .flat_map(|body| {
                body["resourceSpans"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|rs| {
                        let service = rs["resource"]["attributes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|a| a["key"] == "service.name")
                            .and_then(|a| a["value"]["stringValue"].as_str())
                            .unwrap()
                            .to_string();
                        rs["scopeSpans"][0]["spans"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(move |s| (service.clone(), s.clone()))
                            .collect::<Vec<_>>()
                    })
            })
            .filter(|(_, s)| s["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736")
            .collect();
        if spans.len() >= 3 || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let find = |svc: &str, kind: u64| {
        spans
            .iter()
            .find(|(s, sp)| s == svc && sp["kind"] == kind)
            .map(|(_, sp)| sp.clone())
            .unwrap()
    };
    let server = find("backend-api", 2);
    let client_span = find("backend-api", 3);
    let ml_server = find("ml-engine", 2);
    assert_eq!(
        server["parentSpanId"], "00f067aa0ba902b7",
        "honours the caller's traceparent"
    );
    assert_eq!(client_span["parentSpanId"], server["spanId"]);
    assert_eq!(ml_server["parentSpanId"], client_span["spanId"]);
    let attr = |s: &Value, k: &str| {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
    };
    assert_eq!(
        attr(&server, "http.route").unwrap()["stringValue"],
        "/api/v1/recommendations"
    );
    assert_eq!(
        attr(&server, "http.request.method").unwrap()["stringValue"],
        "GET"
    );
    assert_eq!(
        attr(&server, "http.response.status_code").unwrap()["intValue"],
        "200"
    );
    assert_eq!(
        attr(&server, "tenant_id").unwrap()["stringValue"],
        "tenant_002"
    );
    assert_eq!(
        attr(&ml_server, "http.route").unwrap()["stringValue"],
        "/v1/recommend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_have_exactly_the_seed_fields() {
    let p = pair().await;
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let resp = client()
        .get(format!(
            "{}/api/v1/recommendations?user_id=user_1",
            p.backend
        ))
        .header("x-tenant-id", "tenant_001")
        .header("traceparent", parent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = get(
        &format!("{}/api/v1/recommendations?user_id=user_1", p.backend),
        Some("tenant_999"),
    )
    .await;
    let text = std::fs::read_to_string(&p.log_file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let keys: BTreeSet<&str> = lines[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let seed: BTreeSet<&str> = crate::observe::loki::logs::SEED_FIELDS
        .iter()
        .copied()
        .collect();
    assert_eq!(keys, seed);
    let ts = lines[0]["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
        "{ts}"
    );
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["service"], "backend-api");
    assert_eq!(lines[0]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(lines[0]["tenant_id"], "tenant_001");
    assert_eq!(lines[0]["endpoint"], "/api/v1/recommendations");
    assert!(lines[0]["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["level"], "WARNING");
    assert_eq!(
        lines[1]["tenant_id"], "",
        "an unknown tenant is not echoed into logs or labels"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_4xx_are_counted_and_never_add_tenants() {
    let p = pair().await;
    let b = &p.backend;
    for (status, (code, body)) in [
        (
            400,
            get(&format!("{b}/api/v1/recommendations?user_id=u1"), None).await,
        ),
        (
            404,
            get(
                &format!("{b}/api/v1/recommendations?user_id=u1"),
                Some("tenant_999"),
            )
            .await,
        ),
        (
            404,
            get(
                &format!("{b}/api/v1/recommendations?user_id=u1&tenant_id=evil%22%7D%201%0Ax%7B"),
                None,
            )
            .await,
        ),
        (
            400,
            get(
                &format!("{b}/api/v1/recommendations?user_id=u1&k=1000"),
                Some("tenant_001"),
            )
            .await,
        ),
        (
            400,
            post_json(
                &format!("{b}/api/v1/events"),
                Some("tenant_001"),
                "{\"user_id\": \"u",
            )
            .await,
        ),
        (
            422,
            post_json(
                &format!("{b}/api/v1/events"),
                Some("tenant_001"),
                "{\"user_id\": 1, \"item_id\": \"i\"}",
            )
            .await,
        ),
        (
            413,
            post_json(
                &format!("{b}/api/v1/events"),
                Some("tenant_001"),
                &" ".repeat(70_000),
            )
            .await,
        ),
    ] {
        assert_eq!(code, status, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        assert!(v["error"].is_string(), "{body}");
    }
    let (_, metrics) = get(&format!("{b}/metrics"), None).await;
    assert!(
        metrics.contains(
            r#"http_requests_total{method="GET",endpoint="/api/v1/recommendations",status="404"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"endpoint="/api/v1/events",status="413"} 1"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains("tenant_999") && !metrics.contains("evil"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_knobs_act_and_show_in_metrics() {
    let p = pair().await;
    let b = &p.backend;
    let rec = format!("{b}/api/v1/recommendations?user_id=u1");
    let put = |body: &'static str| {
        let url = format!("{b}/admin/faults");
        async move {
            let r = client()
                .put(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Latency.
    // A delay long enough that an unfiltered one cannot hide in a busy
    // machine's scheduling noise.
    assert_eq!(
        put(r#"{"latency": {"fixed_ms": 1500, "endpoint": "/api/v1/recommendations"}}"#)
            .await
            .0,
        200
    );
    let t = Instant::now();
    assert_eq!(get(&rec, Some("tenant_001")).await.0, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    assert_eq!(get(&format!("{b}/health"), None).await.0, 200);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "the endpoint filter holds: /health took {:?}",
        t.elapsed()
    );
    // Errors.
    assert_eq!(
        put(r#"{"error_rate": {"ratio": 1.0, "status": 503}}"#)
            .await
            .0,
        200
    );
    assert_eq!(get(&rec, Some("tenant_001")).await.0, 503);
    // Hang: the request waits until the knob is cleared.
    assert_eq!(put(r#"{"hang": {}}"#).await.0, 200);
    let hung = tokio::spawn({
        let rec = rec.clone();
        async move { get(&rec, Some("tenant_001")).await.0 }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!hung.is_finished(), "the request hangs");
    let r = client()
        .delete(format!("{b}/admin/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), hung)
            .await
            .unwrap()
            .unwrap(),
        200
    );
    // Cache misses forced: the same request three times never hits.
    let misses = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(r#"cache_misses_total{cache_type="recommendation"} "#))
            .map(|v| v.parse().unwrap())
            .unwrap_or(0)
    };
    let before = misses(&get(&format!("{b}/metrics"), None).await.1);
    assert_eq!(put(r#"{"cache_miss_ratio": 1.0}"#).await.0, 200);
    for _ in 0..3 {
        get(&rec, Some("tenant_003")).await;
    }
    let (_, m) = get(&format!("{b}/metrics"), None).await;
    assert_eq!(misses(&m), before + 3, "{m}");
    assert!(
        m.contains(r#"zeta_mock_fault_active{kind="cache_miss_ratio"} 1"#),
        "{m}"
    );
    // Memory ballast is resident.
    assert_eq!(put(r#"{"memory_ballast_mb": 64}"#).await.0, 200);
    let (_, m) = get(&format!("{b}/metrics"), None).await;
    assert!(m.contains("zeta_mock_memory_ballast_bytes 67108864"), "{m}");
    let rss: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(rss > 64.0 * 1024.0 * 1024.0, "{rss}");
    // Invalid knobs are refused, naming the problem.
    let (code, body) = put(r#"{"error_rate": {"ratio": 2.0}}"#).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("error_rate.ratio: expected 0 to 1, found 2"),
        "{body}"
    );
    let (code, _) = put(r#"{"latencyy": {}}"#).await;
    assert!((400..500).contains(&code));
    let (_, m) = get(&format!("{b}/metrics"), None).await;
    assert!(m.contains("zeta_mock_fault_changes_total 6"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_requires_the_token_when_one_is_set() {
    let mut cfg = MockConfig::in_memory();
    cfg.admin_token = Some("s3cret-token".into());
    for base in [
        spawn(super::backend::build(&cfg).await.unwrap()).await,
        spawn(super::ml::build(&cfg).await.unwrap()).await,
    ] {
        let url = format!("{base}/admin/faults");
        let body = r#"{"error_rate": {"ratio": 1.0, "status": 503}}"#;
        let put = |auth: Option<&str>| {
            let mut r = client()
                .put(&url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(a) = auth {
                r = r.bearer_auth(a);
            }
            r.send()
        };
        assert_eq!(put(None).await.unwrap().status(), 401);
        assert_eq!(put(Some("wrong")).await.unwrap().status(), 401);
        let r = client().get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401, "reading the knobs needs it too");
        // Nothing changed: the service still answers.
        let health = client().get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let metrics = client()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200, "metrics stay open to Prometheus");
        assert_eq!(put(Some("s3cret-token")).await.unwrap().status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_model_precomputes_the_known_users_embeddings() {
    let mut cfg = MockConfig::in_memory();
    cfg.warm_users = 5;
    let ml = spawn(super::ml::build(&cfg).await.unwrap()).await;
    for user in ["user_3", "user_3", "user_9"] {
        let r = client()
            .get(format!(
                "{ml}/v1/recommend?tenant_id=tenant_001&user_id={user}&k=5"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let metrics = client()
        .get(format!("{ml}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains("cache_type=\"embedding\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // user_3 is known (hit both times); user_9 is not (one miss).
    assert_eq!(count("cache_hits_total"), 2.0, "{metrics}");
    assert_eq!(count("cache_misses_total"), 1.0, "{metrics}");
}
