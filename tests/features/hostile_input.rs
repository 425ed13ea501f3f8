//! Hostile and absurd input is refused quickly, with exit 2 and a location:
//! nested aliases ("billion laughs"), deep nesting, oversized files,
//! impossible durations and rates, a load that sends nothing, a bad
//! `--time-scale`, and files a scenario names that are not there.

use crate::common;

use std::time::{Duration, Instant};

use common::Project;

const GOOD: &str = r#"name: good
stack: { dir: ../stack, time_scale: 10 }
slo: ../slo/phase1.yml
load:
  phases:
    - { name: steady, duration: 2m, rate: 20/s }
  mix:
    - { request: "GET /api/v1/recommendations?user_id={user}", weight: 1 }
faults:
  - { kind: service_down, target: backend-api, at: 30s, duration: 1m }
expect:
  alerts:
    - { name: ServiceDown, labels: { job: backend-api, severity: critical } }
"#;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn billion_laughs_is_refused_in_under_a_second() {
    let p = Project::new();
    let mut doc = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let q = i - 1;
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{q}, *a{q}, *a{q}, *a{q}, *a{q}, *a{q}, *a{q}, *a{q}, *a{q}]\n"
        ));
    }
    doc.push_str("name: *a9\n");
    assert!(doc.len() < 1024, "a file of under 1 KB");
    p.write("scenarios/laughs.yml", &doc);
    let started = Instant::now();
    let out = p.run(&["validate", "scenarios/laughs.yml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(err.contains("scenarios/laughs.yml:"), "{err}");
    assert!(err.contains("billion laughs"), "{err}");
    assert!(err.contains("aliases of &a"), "{err}");
}

#[test]
fn an_oversized_file_is_refused_before_it_is_read() {
    let p = Project::new();
    let mut doc = GOOD.to_string();
    doc.push_str(&format!("description: \"{}\"\n", "x".repeat(2 << 20)));
    p.write("scenarios/huge.yml", &doc);
    let out = p.run(&["validate", "scenarios/huge.yml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 1024 KiB"), "{err}");
}

#[test]
fn absurd_durations_rates_and_an_idle_load_are_located() {
    let p = Project::new();
    let cases = [
        (
            GOOD.replace("duration: 2m, rate", "duration: 99999999999999h, rate"),
            "scenarios/x.yml:6:33: load.phases[0].duration: \"99999999999999h\" is longer than the 366-day limit",
        ),
        (
            GOOD.replace("rate: 20/s", "rate: 1000000000000/s"),
            "scenarios/x.yml:6:43: load.phases[0].rate: 1000000000000 requests/s is beyond any load test",
        ),
        (
            GOOD.replace("rate: 20/s", "rate: 500000/s"),
            "load.phases[0]: 500000 requests/s is more than one load engine sends (200000/s); split it over engines with `zeta-bench load --shard i/N`",
        ),
        (
            GOOD.replace("rate: 20/s", "rate: 0/s"),
            "scenarios/x.yml:6:33: load.phases: every phase sends 0 requests/s",
        ),
        (
            GOOD.replace("time_scale: 10", "time_scale: 0"),
            "scenarios/x.yml:2:37: stack.time_scale: expected a number from 0.001 to 1000, found 0",
        ),
        (
            GOOD.replace("time_scale: 10", "time_scale: 1e-300"),
            "scenarios/x.yml:2:37: stack.time_scale: expected a number from 0.001 to 1000, found 1e-300",
        ),
        (
            GOOD.replace("../slo/phase1.yml", "../slo/missing.yml"),
            "scenarios/x.yml:3:6: slo: expected an SLO file, found nothing at",
        ),
        (
            GOOD.replace("dir: ../stack", "dir: ../nowhere"),
            "scenarios/x.yml:2:15: stack.dir: expected a stack directory",
        ),
        (
            GOOD.replace("name: ServiceDown", "name: ServiceDwn"),
            "scenarios/x.yml:13:15: expect.alerts[0].name: no alerting rule named \"ServiceDwn\"",
        ),
    ];
    for (text, expected) in cases {
        p.write("scenarios/x.yml", &text);
        let out = p.run(&["validate", "scenarios/x.yml"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{expected}\n{err}");
        assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
        assert!(!err.contains(":0:0:"), "no location-less error: {err}");
    }
}

#[test]
fn a_bad_time_scale_flag_is_an_input_error() {
    let p = Project::new();
    p.write("scenarios/good.yml", GOOD);
    for k in ["0", "NaN", "-3", "inf", "1e-300", "1e300"] {
        let flag = format!("--time-scale={k}");
        let out = p.run(&["run", "scenarios/good.yml", &flag]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--time-scale {k}: {err}");
        assert!(err.contains("--time-scale"), "{err}");
        assert!(
            err.contains("expected a number from 0.001 to 1000"),
            "{err}"
        );
        assert!(err.contains("command line: --time-scale: "), "{err}");
        assert!(
            !err.contains(":0:0"),
            "a flag has no place in a file: {err}"
        );
    }
    let out = p.run(&["up", "--time-scale=0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_suite_lists_every_scenario_even_those_that_could_not_run() {
    let p = Project::new();
    p.write("scenarios/a.yml", &GOOD.replace("rate: 20/s", "rate: 0/s"));
    p.write(
        "scenarios/b.yml",
        &GOOD.replace("name: ServiceDown", "name: Nope"),
    );
    let out = p.run(&[
        "run",
        "scenarios/a.yml",
        "scenarios/b.yml",
        "--out",
        "reports",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let junit = std::fs::read_to_string(p.path("reports/suite-junit.xml")).unwrap();
    assert!(junit.contains("errors=\"2\""), "{junit}");
    for f in ["scenarios/a.yml", "scenarios/b.yml"] {
        assert!(
            junit.contains(&format!("<testsuite name=\"{f}\"")),
            "{junit}"
        );
    }
    assert!(junit.contains("could not run (exit 2)"), "{junit}");
    assert!(junit.contains("every phase sends 0 requests/s"), "{junit}");
    let md = std::fs::read_to_string(p.path("reports/suite-summary.md")).unwrap();
    assert!(md.contains("not every scenario could run"), "{md}");
    assert!(
        md.contains("scenarios/b.yml — ⛔ could not run (exit 2)"),
        "{md}"
    );
}
