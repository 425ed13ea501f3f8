//! The external provider against a stack that already runs: `zeta-bench up`
//! brings one up (real Prometheus, Alertmanager and mocks), and Grafana,
//! Loki and Jaeger are stand-ins in this test answering their real formats
//! (the fixtures under tests/fixtures). The run must start nothing, inject
//! only knob faults and revert them, query the three stand-ins with the
//! credentials from the environment without ever printing them, and say
//! "not measured" where it cannot see notifications.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Project, Running, survivors};
use nix::sys::signal::Signal;

const SECRET: &str = "glsa_super_secret_token_4711";

/// (path, Authorization header) of every request a stand-in answered.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Grafana, Loki and Jaeger stand-ins on one loopback port, recording the
/// paths and Authorization headers they were asked with.
fn stand_ins() -> (String, Seen) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
                let seen = seen2.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from);
                    let path = uri.path().to_string();
                    seen.lock().unwrap().push((path.clone(), auth));
                    let (status, body) = match path.as_str() {
                        "/grafana/api/health" => {
                            (200, r#"{"database":"ok","version":"11.4.0"}"#.to_string())
                        }
                        "/grafana/api/ds/query" => (
                            200,
                            include_str!("../fixtures/grafana/ds_query_prometheus_response.json")
                                .to_string(),
                        ),
                        "/loki/ready" => (200, "ready".to_string()),
                        "/loki/loki/api/v1/query_range" => (
                            200,
                            include_str!(
                                "../fixtures/loki/marshal_query_range_streams_response.json"
                            )
                            .to_string(),
                        ),
                        "/jaeger/" => (200, "<html></html>".to_string()),
                        "/jaeger/api/v3/services" => {
                            (200, r#"{"services":["backend-api"]}"#.to_string())
                        }
                        p if p.starts_with("/jaeger/api/v3/traces/") => (
                            404,
                            r#"{"error":{"httpCode":404,"message":"No traces found"}}"#.to_string(),
                        ),
                        _ => (404, "404 page not found".to_string()),
                    };
                    (StatusCode::from_u16(status).unwrap(), body)
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap()))
                .unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv_timeout(Duration::from_secs(10)).unwrap(), seen)
}

fn url_of(state: &serde_json::Value, name: &str) -> String {
    state["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in up.json"))["url"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn an_external_stack_is_measured_without_being_touched() {
    needs!(common::stack());
    let p = Project::new();
    let mut up = Running::start(&p, &["up", "--time-scale", "10", "--out", "up"]);
    up.wait_for("Ctrl-C tears everything down", Duration::from_secs(120));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("up/up.json")).unwrap()).unwrap();
    let (fake, seen) = stand_ins();

    p.write(
        "scenarios/external.yml",
        &format!(
            r#"
name: external-knobs
stack:
  dir: ../stack
  provider: external
  time_scale: 10
  urls:
    grafana: {fake}/grafana
    loki: {fake}/loki
    jaeger: {fake}/jaeger
slo: ../slo/phase1.yml
tenants: {{ count: 5, seed: 3 }}
load:
  phases:
    - {{ name: steady, duration: 3m, rate: 20/s }}
  mix:
    - {{ request: "GET /api/v1/recommendations?user_id={{user}}&k=5" }}
faults:
  - {{ kind: error_rate, target: backend-api, ratio: 50%, status: 503, at: 30s, duration: 1m }}
expect:
  unexpected_alerts: warn
"#
        ),
    );
    let out = std::process::Command::new(common::BIN)
        .current_dir(p.dir.path())
        .args(["run", "scenarios/external.yml", "--out", "reports", "--yes"])
        .env("RUST_LOG", "zeta_bench=info")
        .env("ZETA_PROMETHEUS_URL", url_of(&state, "prometheus"))
        .env("ZETA_ALERTMANAGER_URL", url_of(&state, "alertmanager"))
        .env("ZETA_BACKEND_API_URL", url_of(&state, "backend-api"))
        .env("ZETA_ML_ENGINE_URL", url_of(&state, "ml-engine"))
        .env("ZETA_GRAFANA_TOKEN", SECRET)
        .env(
            "ZETA_ADMIN_TOKEN",
            state["admin_token"]
                .as_str()
                .expect("up.json has the mocks' token"),
        )
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code().unwrap();
    assert!(code == 0 || code == 1, "exit {code}:\n{text}");
    let dir = p.run_dir();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    let slo = |name: &str| {
        r["slos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} SLO:\n{text}"))
            .clone()
    };
    assert_eq!(r["provider"]["name"], "external");
    assert!(r["load"]["total_sent"].as_u64().unwrap() > 100, "{text}");

    // The knob fault took effect, errors followed, and it was reverted.
    let f = &r["faults"][0];
    assert!(f["took_effect_at"].is_string(), "{f}\n{text}");
    assert!(f["reverted_at"].is_string(), "{f}");
    assert!(r["load"]["total_errors"].as_u64().unwrap() > 0);
    let admin_url = format!("{}/admin/faults", url_of(&state, "backend-api"));
    let admin = state["admin_token"].as_str().unwrap();
    let knobs = reqwest_get_with(&admin_url, &format!("authorization: Bearer {admin}"));
    assert_eq!(knobs, serde_json::json!({}), "the knob was reset");
    // Without the token the admin API refuses even to read.
    assert!(
        reqwest_get(&admin_url)["error"]
            .as_str()
            .is_some_and(|e| e.contains("bearer token")),
        "the mocks' admin API is open"
    );

    // Dashboards through Grafana's /api/ds/query, logs through Loki,
    // traces looked up in Jaeger; the token reached Grafana only.
    assert!(
        r["dashboards"]["via"]
            .as_str()
            .unwrap()
            .contains("/api/ds/query"),
        "{}",
        r["dashboards"]["via"]
    );
    assert!(r["dashboards"]["rounds"].as_u64().unwrap() >= 1);
    assert!(
        r["logs"]["search"]["rounds"].as_u64().unwrap() >= 1,
        "{}",
        r["logs"]
    );
    assert!(
        slo("log_search")["measured"]
            .as_str()
            .unwrap()
            .contains("slowest query")
    );
    let traces = slo("trace_coverage");
    assert_eq!(
        traces["status"], "fail",
        "Jaeger has none of the traces: {traces}"
    );
    assert!(
        traces["details"]
            .to_string()
            .contains("no spans from ml-engine"),
        "{traces}"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(p, a)| p == "/grafana/api/ds/query"
            && a.as_deref() == Some(&format!("Bearer {SECRET}")))
    );
    assert!(
        seen.iter()
            .filter(|(p, _)| !p.starts_with("/grafana"))
            .all(|(_, a)| a.is_none())
    );
    assert!(
        seen.iter()
            .any(|(p, _)| p.starts_with("/jaeger/api/v3/traces/"))
    );

    // Notifications go to the Alertmanager's own receivers: not observed.
    for name in ["alert_delivery", "mttd"] {
        let s = slo(name);
        assert_eq!(s["status"], "not_measured", "{s}");
        assert!(
            s["details"][0]
                .as_str()
                .unwrap()
                .contains("stack.receivers"),
            "{s}"
        );
    }

    // The secret is in no file of the run and in no output.
    assert!(!text.contains(SECRET));
    for e in common::walk(&dir) {
        let body = std::fs::read(&e).unwrap();
        assert!(
            !String::from_utf8_lossy(&body).contains(SECRET),
            "{} holds the token",
            e.display()
        );
    }
    // Nor is the mocks' admin token.
    let admin = state["admin_token"].as_str().unwrap();
    assert!(!text.contains(admin));
    for e in common::walk(&dir) {
        let body = std::fs::read(&e).unwrap();
        assert!(
            !String::from_utf8_lossy(&body).contains(admin),
            "{} holds the mocks' admin token",
            e.display()
        );
    }
    // Nothing was started by the run.
    assert!(!dir.join("pids.txt").exists() || survivors(&dir).is_empty());

    // The stack is still up afterwards: the run did not touch it.
    assert_eq!(
        reqwest_status(&format!("{}/-/ready", url_of(&state, "prometheus"))),
        200
    );

    // The time scale was checked against the stack's own timers.
    assert!(
        !text.contains("is not verified against them"),
        "the external stack's timers were not read:\n{text}"
    );
    // The same stack at another time scale: refused at stack.time_scale.
    p.edit("scenarios/external.yml", "time_scale: 10", "time_scale: 15");
    let out = std::process::Command::new(common::BIN)
        .current_dir(p.dir.path())
        .args([
            "run",
            "scenarios/external.yml",
            "--out",
            "reports-15",
            "--yes",
        ])
        .env("ZETA_PROMETHEUS_URL", url_of(&state, "prometheus"))
        .env("ZETA_ALERTMANAGER_URL", url_of(&state, "alertmanager"))
        .env("ZETA_BACKEND_API_URL", url_of(&state, "backend-api"))
        .output()
        .unwrap();
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("scenarios/external.yml:")
            && text.contains("stack.time_scale: time scale 15 expects the external Prometheus's global.scrape_interval to be 1.0s")
            && text.contains("which is time scale 10.000"),
        "{text}"
    );

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(Duration::from_secs(60)), 0);
}

/// The staging drill as it ships (`scripts/staging-drill.sh`): a stand-in
/// brought up by one `zeta-bench up`, drilled from a second process through
/// `provider: external` with an exec outage that kills the real
/// backend-api by pid and restarts it with its own command, and a
/// Toxiproxy latency toxic on its PostgreSQL link through the stand-in's
/// Toxiproxy API. Both are measured from their verified effect, at every
/// required destination, and nothing of the stand-in outlives the drill.
#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn the_staging_drill_measures_real_faults_on_an_external_stack() {
    needs!(common::stack(), common::toxiproxy());
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .arg(common::repo().join("scripts/staging-drill.sh"))
        .env("ZETA_BENCH_BIN", common::BIN)
        .env("TMPDIR", tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("detected what it should"), "{text}");

    let drill = common::walk(tmp.path());
    let result = drill
        .iter()
        .find(|p| p.ends_with("result.json"))
        .unwrap_or_else(|| panic!("no result.json:\n{text}"));
    let r =
        zeta_bench::report::read::parse_result(result, &std::fs::read_to_string(result).unwrap())
            .unwrap();
    assert_eq!(r.provider.name, zeta_bench::stack::Provider::External);
    // Both faults verified from outside and reverted by their own means.
    let fault = |name: &str| r.faults.iter().find(|f| f.name == name).unwrap().clone();
    let outage = fault("backend-outage");
    assert!(
        outage
            .evidence
            .as_deref()
            .is_some_and(|e| e.contains("refused connection")),
        "{outage:?}"
    );
    assert_eq!(outage.reverted_by.as_deref(), Some("revert command"));
    let latency = fault("pg-link-latency");
    assert!(
        latency.evidence.as_deref().is_some_and(
            |e| e == "Toxiproxy's proxy postgresql read back carrying the latency toxic"
        ),
        "{latency:?}"
    );
    assert!(
        latency.reverted_at.is_some() && latency.error.is_none(),
        "{latency:?}"
    );
    // Each alert attributed to its own fault, with an MTTD at both
    // required destinations.
    for (alert, cause) in [
        ("ServiceDown", "backend-outage"),
        ("HighLatencyP95", "pg-link-latency"),
    ] {
        let d = r.detections.iter().find(|d| d.alert == alert).unwrap();
        assert_eq!(d.fault, cause);
        let required: Vec<_> = d.destinations.iter().filter(|t| t.required).collect();
        assert_eq!(required.len(), 2, "{d:?}");
        assert!(required.iter().all(|t| t.mttd_real_s.is_some()), "{d:?}");
    }
    // The kill went to a real process: its command line was saved, and
    // the process the drill restarted is gone, as is the stand-in.
    assert!(drill.iter().any(|p| p.ends_with("backend-api.cmdline")));
    assert!(
        !drill.iter().any(|p| p.ends_with("backend-api.environ")),
        "the saved environment (it holds the stand-in's secrets) outlived the drill"
    );
    let pid: String = drill
        .iter()
        .find(|p| p.ends_with("backend-api.pid"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .unwrap();
    let alive = || {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .is_ok_and(|s| !s.contains(") Z "))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !alive(),
        "the restarted backend-api {pid} outlived the drill"
    );
    let up_dir = drill
        .iter()
        .find(|p| p.ends_with("pids.txt") && p.to_string_lossy().contains("/up/up-"))
        .and_then(|p| p.parent())
        .unwrap();
    assert!(survivors(up_dir).is_empty(), "{:?}", survivors(up_dir));
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn external_refuses_faults_it_cannot_inject() {
    let p = Project::new();
    let out = p.run(&[
        "run",
        "scenarios/service-down.yml",
        "--provider",
        "external",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("scenarios/service-down.yml:"), "{err}");
    assert!(
        err.contains("the external provider cannot inject service_down on \"backend-api\""),
        "{err}"
    );
}

fn reqwest_get(url: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-s", url])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn reqwest_get_with(url: &str, header: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-s", "-H", header, url])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn reqwest_status(url: &str) -> u16 {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}
