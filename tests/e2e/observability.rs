//! Loki, Promtail, Jaeger and Grafana on PATH: the native provider starts
//! them with configs rendered from stack/, wires the services to them
//! (traces to Jaeger, log files through Promtail to Loki, Grafana's
//! datasources to this run's Prometheus), measures through them, and stops
//! them. They have no Debian packages, so the binaries here are the test
//! doubles of tests/doubles/double.py, which read the rendered configs the
//! way the real ones do and answer in the real formats. Without any of
//! them on PATH the same SLOs are reported as not measured (tested by the
//! other end-to-end tests).

use crate::common;

use std::path::Path;

use common::{Project, bound_ports, survivors};

fn python() -> common::Need {
    common::Need::unless(
        std::process::Command::new("python3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "python3 is not installed (it runs the component doubles)",
    )
}

/// A directory laid out like a Grafana release (`bin/`, `conf/`), with the
/// double under each component's name in `bin/`; returns `bin/`.
fn install_doubles(root: &Path, names: &[&str]) -> std::path::PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let double = common::repo().join("tests/doubles/double.py");
    for n in names {
        std::os::unix::fs::symlink(&double, bin.join(n)).unwrap();
    }
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(root.join("conf/defaults.ini"), "; test double's home\n").unwrap();
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `zeta-bench run scenarios/ci/service-down.yml` natively, with `names`
/// as doubles on PATH; returns the output and the result.
fn run_with_doubles(
    p: &Project,
    names: &[&str],
) -> (std::process::Output, serde_json::Value, std::path::PathBuf) {
    let tools = tempfile::tempdir().unwrap();
    let bin = install_doubles(tools.path(), names);
    let out = p.run_with_env(
        &[
            "run",
            "scenarios/ci/service-down.yml",
            "--provider",
            "native",
            "--out",
            "reports",
        ],
        &[("PATH", path_with(&bin))],
    );
    let dir = p.run_dir();
    let text = common::text(&out);
    let r = serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    (out, r, dir)
}

fn component<'a>(r: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    r["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

fn slo<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no SLO {name} in {}", r["slos"]))
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn loki_promtail_jaeger_and_grafana_are_started_wired_measured_and_stopped() {
    needs!(common::stack(), python());
    let p = Project::new();
    let (out, r, dir) = run_with_doubles(&p, &["loki", "promtail", "jaeger", "grafana"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");

    for (name, version) in [
        ("loki", "loki, version 3.5.3-double"),
        ("promtail", "promtail, version 3.5.3-double"),
        ("jaeger", "jaeger 2.9.0-double"),
        ("grafana", "grafana version 12.1.1-double"),
    ] {
        let c = component(&r, name).unwrap_or_else(|| panic!("{name} not started:\n{text}"));
        assert!(
            c["version"].as_str().unwrap().starts_with(version),
            "{name}: {}",
            c["version"]
        );
        assert!(c["url"].as_str().unwrap().starts_with("http://127.0.0.1:"));
    }

    // Log search ran against Loki, and every line the services wrote came
    // back through Promtail.
    let logs = slo(&r, "log_search");
    assert_eq!(logs["status"], "pass", "{logs}");
    let search = &r["logs"]["search"];
    assert!(search["queries"].as_array().unwrap().len() >= 2, "{search}");
    for c in search["completeness"].as_array().unwrap() {
        assert!(c["written"].as_u64().unwrap() > 0, "{c}");
        assert_eq!(c["found"], c["written"], "{c}");
    }

    // Traces were looked up in Jaeger, which the services exported to.
    let traces = slo(&r, "trace_coverage");
    assert_eq!(traces["status"], "pass", "{traces}");
    assert!(
        r["traces"]["store"].as_str().unwrap().contains("Jaeger"),
        "{}",
        r["traces"]["store"]
    );

    // Dashboards were loaded through Grafana's /api/ds/query, with the
    // admin password the harness chose (the double refuses anything else).
    let dash = slo(&r, "dashboard_latency");
    assert_eq!(dash["status"], "pass", "{dash}");
    assert!(
        dash["measured"].as_str().unwrap().contains("Grafana"),
        "{dash}"
    );

    // Prometheus scraped them too; the collection Promtail cannot do here
    // is named, not silently kept.
    let targets: Vec<&str> = r["stack"]["scrape_targets"]
        .as_array()
        .map(|t| t.iter().filter_map(|x| x[0].as_str()).collect())
        .unwrap_or_default();
    for job in ["loki", "promtail", "jaeger", "grafana"] {
        assert!(targets.contains(&job), "{job} not scraped: {targets:?}");
    }
    let dropped = r["stack"]["dropped_targets"].to_string();
    assert!(dropped.contains("promtail: docker"), "{dropped}");
    assert!(dropped.contains("promtail: syslog"), "{dropped}");

    // The Grafana password is not in anything the run wrote.
    let secretless = |path: &Path| {
        let t = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            !t.contains("GF_SECURITY_ADMIN_PASSWORD="),
            "{}",
            path.display()
        );
    };
    secretless(&dir.join("result.json"));
    secretless(&dir.join("report.html"));

    assert!(survivors(&dir).is_empty(), "{:?}", survivors(&dir));
    assert!(bound_ports(&dir).is_empty(), "{:?}", bound_ports(&dir));
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn loki_without_a_log_shipper_is_not_started_and_log_search_says_why() {
    needs!(common::stack(), python());
    let p = Project::new();
    let (out, r, _) = run_with_doubles(&p, &["loki"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(component(&r, "loki").is_none());
    let logs = slo(&r, "log_search");
    assert_eq!(logs["status"], "not_measured", "{logs}");
    assert!(
        logs.to_string()
            .contains("no log shipper is (promtail or alloy on PATH)"),
        "{logs}"
    );
}
