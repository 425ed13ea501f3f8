//! Nothing the harness starts survives it: after a component fails to
//! start, after SIGINT in the middle of the load, after SIGTERM during
//! start-up.

use crate::common;

use std::time::Duration;

use common::{FAST_SCENARIO, Project, Running, bound_ports, survivors};
use nix::sys::signal::Signal;

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_component_that_cannot_start_exits_3_naming_it_and_leaves_nothing() {
    needs!(common::stack());
    let p = Project::new();
    p.write("scenarios/fast.yml", FAST_SCENARIO);
    // Valid YAML that Alertmanager itself rejects.
    p.edit(
        "stack/alertmanager/alertmanager.yml",
        "global:\n",
        "global:\n  no_such_setting: true\n",
    );
    let out = p.run(&["run", "scenarios/fast.yml", "--out", "reports"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    // The version's own amtool refuses the rendered config before
    // Alertmanager is started at all.
    assert!(
        err.contains("alertmanager could not start")
            || err.contains("does not pass this version's own check"),
        "{err}"
    );
    assert!(
        err.contains("no_such_setting"),
        "the component's own log line is shown: {err}"
    );
    let dir = p.run_dir();
    assert!(survivors(&dir).is_empty(), "{:?}", survivors(&dir));
    assert!(bound_ports(&dir).is_empty(), "{:?}", bound_ports(&dir));
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn sigint_in_the_middle_of_the_load_tears_everything_down() {
    needs!(common::stack());
    let p = Project::new();
    p.write("scenarios/fast.yml", FAST_SCENARIO);
    let mut r = Running::start(&p, &["run", "scenarios/fast.yml", "--out", "reports"]);
    // The fault is in force from 2 s into the load: interrupt during it.
    r.wait_for("is down", Duration::from_secs(60));
    r.signal(Signal::SIGINT);
    let code = r.wait(Duration::from_secs(60));
    let stderr = r.seen.join("\n");
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let dir = p.run_dir();
    assert!(survivors(&dir).is_empty(), "{:?}", survivors(&dir));
    assert!(bound_ports(&dir).is_empty(), "{:?}", bound_ports(&dir));
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["verdict"], "incomplete");
    assert_eq!(result["faults"][0]["reverted_by"], "teardown");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn sigterm_during_start_up_tears_everything_down() {
    needs!(common::stack());
    let p = Project::new();
    p.write("scenarios/fast.yml", FAST_SCENARIO);
    let mut r = Running::start(&p, &["run", "scenarios/fast.yml", "--out", "reports"]);
    // Some components are up, Prometheus and Alertmanager are not yet.
    r.wait_for("started ml-engine", Duration::from_secs(60));
    r.signal(Signal::SIGTERM);
    let code = r.wait(Duration::from_secs(60));
    assert_eq!(code, 3, "{}", r.seen.join("\n"));
    let dir = p.run_dir();
    assert!(survivors(&dir).is_empty(), "{:?}", survivors(&dir));
    assert!(bound_ports(&dir).is_empty(), "{:?}", bound_ports(&dir));
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn two_runs_at_once_do_not_collide() {
    needs!(common::stack());
    let p = Project::new();
    p.write("scenarios/fast.yml", FAST_SCENARIO);
    // Two whole stacks (Jaeger included) on this 2-core machine: the load
    // engines fall behind their schedule by a few hundred ms. What this
    // test is about is collisions, so it allows that lateness.
    let slo = std::fs::read_to_string(p.path("slo/phase1.yml")).unwrap();
    p.write(
        "slo/phase1.yml",
        &format!("{slo}\nload: {{ max_send_lateness: 1s }}\n"),
    );
    // Same project, same output directory, started together.
    let spawn = || {
        std::process::Command::new(common::BIN)
            .current_dir(p.dir.path())
            .args(["run", "scenarios/fast.yml", "--out", "reports"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        // The whole output: the SLO summary says which check failed.
        assert_eq!(out.status.code(), Some(0), "{}", common::text(out));
    }
    let dirs: Vec<std::path::PathBuf> = std::fs::read_dir(p.out())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.is_dir())
        .collect();
    assert_eq!(dirs.len(), 2, "one run directory each: {dirs:?}");
    // Each run saw only its own components: no address in both pid files.
    let (x, y) = (addresses(&dirs[0]), addresses(&dirs[1]));
    assert!(
        x.is_disjoint(&y),
        "shared addresses: {:?}",
        x.intersection(&y).collect::<Vec<_>>()
    );
    for d in &dirs {
        assert!(survivors(d).is_empty(), "{:?}", survivors(d));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("result.json")).unwrap()).unwrap();
        assert_eq!(r["verdict"], "pass");
    }
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn jobs_run_scenarios_side_by_side_each_in_a_stack_of_its_own() {
    needs!(common::stack());
    let p = Project::new();
    // The same file twice (one name, one millisecond) and a second name.
    p.write("scenarios/fast.yml", FAST_SCENARIO);
    p.write(
        "scenarios/other.yml",
        &FAST_SCENARIO.replace("name: service-down-fast", "name: service-down-other"),
    );
    // Three stacks on 2 cores: see two_runs_at_once_do_not_collide.
    let slo = std::fs::read_to_string(p.path("slo/phase1.yml")).unwrap();
    p.write(
        "slo/phase1.yml",
        &format!("{slo}\nload: {{ max_send_lateness: 1s }}\n"),
    );
    let out = p.run(&[
        "run",
        "scenarios/fast.yml",
        "scenarios/fast.yml",
        "scenarios/other.yml",
        "--jobs",
        "3",
        "--out",
        "reports",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Each summary is printed whole: between a header and its verdict
    // there is no other header.
    let mut open = None;
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("== zeta-bench: ") {
            assert!(open.is_none(), "summaries interleave:\n{stdout}");
            open = Some(name.to_string());
        } else if line.starts_with("Verdict: ") {
            assert!(
                open.take().is_some(),
                "a verdict without its header:\n{stdout}"
            );
        }
    }
    assert_eq!(stdout.matches("Verdict: PASS").count(), 3, "{stdout}");
    // Log lines name their scenario, including the watchers' and the load
    // engine's, which run in tasks and threads of their own.
    for name in ["fast", "other"] {
        assert!(
            stderr.contains(&format!(
                "scenario{{name={name}}}: zeta_bench::run: run directory"
            )),
            "{stderr}"
        );
    }
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("scenario{name=") && l.contains("zeta_bench::observe::drill")),
        "{stderr}"
    );
    assert!(p.out().join("suite-junit.xml").is_file());
    let dirs: Vec<std::path::PathBuf> = std::fs::read_dir(p.out())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.is_dir())
        .collect();
    assert_eq!(dirs.len(), 3, "one run directory each: {dirs:?}");
    let all: Vec<_> = dirs.iter().map(|d| addresses(d)).collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert!(
                a.is_disjoint(b),
                "shared addresses: {:?}",
                a.intersection(b).collect::<Vec<_>>()
            );
        }
    }
    for d in &dirs {
        assert!(survivors(d).is_empty(), "{:?}", survivors(d));
        assert!(bound_ports(d).is_empty(), "{:?}", bound_ports(d));
    }
}

/// The addresses of a run's components, from its `pids.txt`.
fn addresses(run_dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(run_dir.join("pids.txt"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect()
}
