//! Every fault end to end on the native stack, with the shipped scenarios:
//! the intended alert fires, reaches the receivers its severity names,
//! resolves after the revert, and afterwards nothing the harness started is
//! left running or listening.

use crate::common;

use common::{Project, bound_ports, survivors};
use serde_json::Value;

fn datastores() -> common::Need {
    common::Need::unless(
        zeta_bench::stack::components::postgresql::server::pg_bin("initdb").is_some()
            && zeta_bench::stack::process::which("prometheus-postgres-exporter").is_some(),
        "PostgreSQL or prometheus-postgres-exporter is not installed",
    )
}

/// Whether the Go-built Toxiproxy is there for backend-api's links.
/// Run a shipped scenario; returns (exit code, output, result.json).
fn run(scenario: &str) -> (i32, String, Value) {
    let p = Project::new();
    let out = p.run(&[
        "run",
        &format!("scenarios/{scenario}.yml"),
        "--out",
        "reports",
    ]);
    let text = common::text(&out);
    let dir = p.run_dir();
    assert!(
        survivors(&dir).is_empty(),
        "{scenario}: processes survived: {:?}",
        survivors(&dir)
    );
    assert!(
        bound_ports(&dir).is_empty(),
        "{scenario}: ports still bound: {:?}",
        bound_ports(&dir)
    );
    let result: Value = std::fs::read_to_string(dir.join("result.json"))
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or_else(|e| panic!("{scenario}: no result.json ({e}):\n{text}"));
    (out.status.code().unwrap_or(-1), text, result)
}

fn slo<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

/// The alert fired, reached exactly `dests`, and was resolved at each.
fn assert_routed(r: &Value, alert: &str, dests: &[&str], text: &str) {
    let row = r["routing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["alert"] == alert)
        .unwrap_or_else(|| panic!("{alert} did not fire:\n{text}"));
    let list = |k: &str| {
        let mut v: Vec<String> = row[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let mut want: Vec<String> = dests.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(list("firing"), want, "{alert} firing destinations:\n{text}");
    assert_eq!(
        list("resolved"),
        want,
        "{alert} resolved destinations:\n{text}"
    );
    let f = &r["faults"][0];
    assert!(
        f["took_effect_at"].is_string() && f["reverted_at"].is_string(),
        "{f}"
    );
    assert_eq!(slo(r, "expected_alerts")["status"], "pass", "{text}");
    assert_eq!(slo(r, "alert_delivery")["status"], "pass", "{text}");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn error_rate_fires_high_error_rate_too_late_for_the_seed_target() {
    needs!(common::stack());
    let (code, text, r) = run("error-spike");
    assert_routed(
        &r,
        "HighErrorRate",
        &["pagerduty", "slack:#zeta-critical-alerts"],
        &text,
    );
    // The seed's `for: 5m` cannot meet a 5-minute MTTD.
    assert_eq!(code, 1, "{text}");
    assert_eq!(slo(&r, "mttd")["status"], "fail", "{text}");
    let real = r["detections"][0]["mttd_real_s"].as_f64().unwrap();
    assert!(real > 300.0, "{real}");
    assert_eq!(r["faults"][0]["reverted_by"], "knobs cleared");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn high_latency_fires_high_latency_p95() {
    needs!(common::stack());
    let (code, text, r) = run("high-latency");
    assert_routed(
        &r,
        "HighLatencyP95",
        &["pagerduty", "slack:#zeta-critical-alerts"],
        &text,
    );
    assert_eq!(code, 1, "the seed's for: 10m cannot meet MTTD: {text}");
    let p95 = r["load"]["endpoints"][0]["latency"]["p95_ms"]
        .as_f64()
        .unwrap();
    assert!(p95 > 1_000.0, "the load engine saw the latency: {p95}");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn database_down_pages_within_the_target() {
    needs!(common::stack(), datastores());
    let (code, text, r) = run("database-down");
    assert_routed(
        &r,
        "DatabaseDown",
        &["pagerduty", "slack:#zeta-critical-alerts"],
        &text,
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(r["faults"][0]["reverted_by"], "restarted");
    // backend-api failed while the database was down: the symptom.
    assert!(r["load"]["total_errors"].as_u64().unwrap() > 0, "{text}");
    // The symptom outlives its cause: HighErrorRate's window and `for`
    // end after DatabaseDown has resolved, when nothing inhibits it, and it
    // pages (reported as unexpected; the scenario says warn).
    let first = |alert: &str, status: &str| -> String {
        r["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| {
                n["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["name"] == alert && a["status"] == status)
            })
            .filter_map(|n| n["at"].as_str().map(String::from))
            .min()
            .unwrap_or_else(|| panic!("no {status} notification for {alert}:\n{text}"))
    };
    assert!(
        first("HighErrorRate", "firing") > first("DatabaseDown", "resolved"),
        "{text}"
    );
    assert!(
        text.contains("unexpected alert fired: HighErrorRate (unexpected_alerts: warn)"),
        "{text}"
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn cache_degradation_warns_engineering_and_pages_nobody() {
    needs!(common::stack());
    let (code, text, r) = run("cache-degradation");
    assert_routed(&r, "CacheHitRateLow", &["slack:#engineering-alerts"], &text);
    assert_eq!(code, 0, "{text}");
    // A warning: MTTD (critical alerts) is not applicable, not failed.
    assert_eq!(slo(&r, "mttd")["status"], "not_measured");
    assert_eq!(slo(&r, "mttd")["required"], false);
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn disk_pressure_warns_engineering_and_unmounts() {
    needs!(common::stack());
    needs!(common::Need::unless(
        zeta_bench::stack::components::node_exporter::disk::can_mount().is_ok()
            && zeta_bench::stack::process::which("prometheus-node-exporter").is_some(),
        "needs root (to mount the tmpfs) and prometheus-node-exporter",
    ));
    let (code, text, r) = run("disk-pressure");
    assert_routed(&r, "DiskSpaceLow", &["slack:#engineering-alerts"], &text);
    assert_eq!(code, 0, "{text}");
    assert_eq!(r["faults"][0]["reverted_by"], "fill removed");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.contains(&format!("{}/disk", r["run_dir"].as_str().unwrap())),
        "unmounted"
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn memory_pressure_warns_engineering() {
    needs!(common::stack());
    let (code, text, r) = run("memory-pressure");
    assert_routed(&r, "HighMemoryUsage", &["slack:#engineering-alerts"], &text);
    assert_eq!(code, 0, "{text}");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_frozen_service_is_down_too() {
    needs!(common::stack());
    let p = Project::new();
    let text = std::fs::read_to_string(p.path("scenarios/service-down.yml"))
        .unwrap()
        .replace(
            "at: 1m, duration: 3m }",
            "at: 1m, duration: 3m, mode: freeze }",
        );
    p.write("scenarios/freeze.yml", &text);
    let out = p.run(&["run", "scenarios/freeze.yml", "--out", "reports"]);
    let text = common::text(&out);
    let dir = p.run_dir();
    assert!(survivors(&dir).is_empty(), "{:?}", survivors(&dir));
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_routed(
        &r,
        "ServiceDown",
        &["pagerduty", "slack:#zeta-critical-alerts"],
        &text,
    );
    assert_eq!(r["faults"][0]["reverted_by"], "resumed (SIGCONT)");
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn database_latency_through_the_proxy_fires_high_latency_p95() {
    needs!(common::stack(), datastores(), common::toxiproxy());
    let (code, text, r) = run("db-latency");
    assert_routed(
        &r,
        "HighLatencyP95",
        &["pagerduty", "slack:#zeta-critical-alerts"],
        &text,
    );
    assert_eq!(code, 1, "the seed's for: 10m cannot meet MTTD: {text}");
    assert_eq!(r["faults"][0]["reverted_by"], "toxic removed");
    // The delay is a latency toxic on the Go-built Toxiproxy, read back.
    let evidence = r["faults"][0]["evidence"].as_str().unwrap_or("");
    assert_eq!(
        evidence,
        "Toxiproxy's proxy postgresql read back carrying the latency toxic"
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_cut_redis_link_warns_engineering() {
    needs!(common::stack(), common::toxiproxy());
    let (code, text, r) = run("redis-link-down");
    assert_routed(&r, "CacheHitRateLow", &["slack:#engineering-alerts"], &text);
    // Each lookup waits for the dead link first: the latency pages too,
    // too late for the seed's target with its for: 10m.
    assert_routed(
        &r,
        "HighLatencyP95",
        &["pagerduty", "slack:#zeta-critical-alerts"],
        &text,
    );
    assert_eq!(code, 1, "{text}");
    assert_eq!(slo(&r, "expected_alerts")["status"], "pass", "{text}");
    let f = &r["faults"][0];
    assert_eq!(f["reverted_by"], "toxic removed", "{f}");
    assert!(
        f["evidence"].as_str().unwrap_or("").contains("refused"),
        "the cut is verified from outside: {f}"
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_load_starved_by_max_in_flight_fails_the_load_check() {
    needs!(common::stack());
    let p = Project::new();
    p.edit(
        "scenarios/ci/high-latency.yml",
        "  timeout: 10s",
        "  timeout: 10s\n  max_in_flight: 1",
    );
    let out = p.run(&["run", "scenarios/ci/high-latency.yml", "--out", "reports"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(p.run_dir().join("result.json")).unwrap())
            .unwrap();
    let load = slo(&r, "load");
    assert_eq!(load["status"], "fail", "{text}");
    let details = load["details"].to_string();
    assert!(details.contains("did not happen as planned"), "{details}");
    assert!(details.contains("were dropped"), "{details}");
}
