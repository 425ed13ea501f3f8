//! Invalid input exits 2 before anything starts, naming file:line:column,
//! the field, and what was expected, for every problem in the file.

use crate::common;

use common::Project;

const BROKEN: &str = r#"name: broken
stack: { dir: ../stack, time_scale: 10 }
slo: ../slo/phase1.yml
load:
  phases:
    - { name: warmup, duration: 1m, rate: 20/s, colour: blue }
    - { name: steady, duration: five minutes, rate: 100/s }
  mix:
    - { request: "GET /api/v1/recommendations?user_id={user}", weight: 1 }
faults:
  - { kind: service_down, target: payments, at: 30s, duration: 1m }
  - { kind: service_down, target: backend-api, at: 50s, duration: 1m }
expect:
  alerts:
    - { name: ServiceDown, labels: { job: backend-api } }
"#;

#[test]
fn every_problem_is_named_with_its_location() {
    let p = Project::new();
    p.write("scenarios/broken.yml", BROKEN);
    for cmd in ["run", "validate"] {
        let out = p.run(&[cmd, "scenarios/broken.yml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
        assert!(
            has("scenarios/broken.yml:6:49: load.phases[0].colour: unknown field \"colour\""),
            "{err}"
        );
        assert!(
            has(
                "scenarios/broken.yml:7:33: load.phases[1].duration: expected a duration like \"90s\", \"5m\" or \"1h30m\", found \"five minutes\""
            ),
            "{err}"
        );
        assert!(
            has(
                "scenarios/broken.yml:11:35: faults[0].target: unknown fault target \"payments\" for service_down; expected one of \"backend-api\", \"ml-engine\""
            ),
            "{err}"
        );
        assert_eq!(lines.len(), 4, "three problems and a count: {err}");
        assert!(
            !p.path("reports").exists()
                || std::fs::read_dir(p.path("reports")).unwrap().count() == 0,
            "nothing was started"
        );
    }
}

#[test]
fn a_fault_past_the_end_of_the_load_is_an_input_error() {
    let p = Project::new();
    let text = BROKEN
        .replace(", colour: blue", "")
        .replace("duration: five minutes", "duration: 2m")
        .replace(
            "target: payments, at: 30s, duration: 1m",
            "target: backend-api, at: 2m30s, duration: 1m",
        )
        .replace("at: 50s, duration: 1m", "at: 10s, duration: 20s");
    p.write("scenarios/late.yml", &text);
    let out = p.run(&["validate", "scenarios/late.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("scenarios/late.yml:11:69: faults[0].duration: the fault would end at 3m30s (2m30s + 1m00s) but the load phases end at 3m00s"), "{err}");
}

#[test]
fn validate_names_the_seed_rules_that_can_never_meet_the_mttd_target() {
    let p = Project::new();
    let out = p.run(&["validate", "scenarios/service-down.yml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    // Never "ok" after a problem.
    assert!(
        stdout.contains(
            "scenarios/service-down.yml: FAILS: a rule above can never meet the MTTD target"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains(": ok"), "{stdout}");
    assert!(stdout.contains("ServiceDown"), "{stdout}");
    assert!(stderr.contains("alert HighErrorRate: severity critical is covered by the MTTD SLO (≤ 5m00s), but it cannot notify sooner than 5m30s (for 5m00s + group_wait 30.0s)"), "{stderr}");
    assert!(
        stderr.contains("alert HighLatencyP95: severity critical"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stack/prometheus/alert-rules.yml:"),
        "{stderr}"
    );
    // Once the seed's `for` values are lowered, validation passes.
    p.edit(
        "stack/prometheus/alert-rules.yml",
        "for: 5m\n        labels:\n          severity: critical",
        "for: 2m\n        labels:\n          severity: critical",
    );
    p.edit(
        "stack/prometheus/alert-rules.yml",
        "for: 10m\n        labels:\n          severity: critical",
        "for: 3m\n        labels:\n          severity: critical",
    );
    let out = p.run(&["validate", "scenarios/service-down.yml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_expected_alert_without_a_rule_and_a_too_fast_time_scale_are_input_errors() {
    let p = Project::new();
    let text = std::fs::read_to_string(p.path("scenarios/service-down.yml"))
        .unwrap()
        .replace("name: ServiceDown", "name: ServiceDwn")
        .replace("time_scale: 10", "time_scale: 30");
    p.write("scenarios/x.yml", &text);
    let out = p.run(&["validate", "scenarios/x.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("expect.alerts[0].name: no alerting rule named \"ServiceDwn\""),
        "{err}"
    );
    assert!(err.contains("stack.time_scale: time scale 30 would put the stack's shortest scrape/evaluation interval (15.0s) at 500ms"), "{err}");
}

#[test]
fn every_shipped_scenario_is_valid_input() {
    let p = Project::new();
    let mut files: Vec<String> = Vec::new();
    for dir in ["scenarios", "scenarios/ci"] {
        for e in std::fs::read_dir(p.path(dir)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "yml") {
                files.push(format!(
                    "{dir}/{}",
                    path.file_name().unwrap().to_str().unwrap()
                ));
            }
        }
    }
    assert!(files.len() >= 17, "{files:?}");
    for f in &files {
        let out = p.run(&["validate", f]);
        // 1 is the seed's rules that cannot meet MTTD, reported by design.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Valid input; exit 1 says so in the summary line instead of "ok".
        let summary = match out.status.code() {
            Some(0) => format!("{f}: ok"),
            _ => format!("{f}: FAILS: a rule above can never meet the MTTD target"),
        };
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&summary),
            "{f}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_fault_this_machine_cannot_carry_out_is_refused_at_its_line() {
    needs!(common::stack());
    // A PATH with Prometheus and Alertmanager but no node-exporter.
    let tools = tempfile::tempdir().unwrap();
    for n in ["prometheus", "prometheus-alertmanager", "alertmanager"] {
        if let Some(p) = zeta_bench::stack::process::which(n) {
            std::os::unix::fs::symlink(p, tools.path().join(n)).unwrap();
        }
    }
    let p = Project::new();
    let out = p.run_with_env(
        &[
            "run",
            "scenarios/ci/disk-pressure.yml",
            "--provider",
            "native",
        ],
        &[("PATH", tools.path().display().to_string())],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let expected = if nix::unistd::geteuid().is_root() {
        "prometheus-node-exporter is not installed, so DiskSpaceLow could not fire"
    } else {
        "which needs root"
    };
    assert!(
        err.lines()
            .any(|l| l.starts_with("scenarios/ci/disk-pressure.yml:")
                && l.contains("faults[0].target: disk_pressure on \"disk\" cannot run here")
                && l.contains(expected)),
        "{err}"
    );
    assert!(!p.path("reports").exists(), "nothing was started");
}

#[test]
fn validate_warns_of_expressions_whose_meaning_the_time_scale_changes() {
    let p = Project::new();
    p.edit(
        "stack/prometheus/alert-rules.yml",
        "expr: model_quality_ndcg_at_10 < 0.3",
        "expr: increase(training_job_duration_seconds_count[1h]) > 3 and model_quality_ndcg_at_10 < 0.3",
    );
    let out = p.run(&["validate", "scenarios/smoke.yml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: time scale 15: prometheus/alert-rules.yml: alert ModelQualityLow: increase() compared with 3: its window is divided by K"),
        "{stderr}"
    );
    // At 1× nothing changes meaning.
    p.edit("scenarios/smoke.yml", "time_scale: 15", "time_scale: 1");
    let out = p.run(&["validate", "scenarios/smoke.yml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning: time scale"), "{stderr}");
}

#[test]
fn jobs_above_one_refuse_an_external_stack_at_its_provider_and_start_nothing() {
    let p = Project::new();
    let scenario = r#"name: shared
stack: { dir: ../stack, provider: external, urls: { prometheus: "http://127.0.0.1:9", alertmanager: "http://127.0.0.1:9", backend-api: "http://127.0.0.1:9" } }
slo: ../slo/phase1.yml
load:
  phases: [{ duration: 1m, rate: 5/s }]
  mix: [{ request: "GET /api/v1/recommendations?user_id={user}" }]
faults:
  - { kind: error_rate, target: backend-api, ratio: 20%, at: 10s, duration: 20s }
"#;
    p.write("scenarios/a.yml", scenario);
    p.write(
        "scenarios/b.yml",
        &scenario.replace("name: shared", "name: shared-b"),
    );
    let out = p.run(&["run", "scenarios/a.yml", "scenarios/b.yml", "--jobs", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for file in ["scenarios/a.yml", "scenarios/b.yml"] {
        assert!(
            err.lines().any(|l| l.starts_with(&format!(
                "{file}:2:35: stack.provider: --jobs 2 runs scenarios at the same time"
            ))),
            "{err}"
        );
    }
    // No run directory: only the suite's report of the two errors.
    let dirs = std::fs::read_dir(p.out())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(dirs, 0, "nothing was started");
    let junit = std::fs::read_to_string(p.out().join("suite-junit.xml")).unwrap();
    assert!(
        junit.contains("--jobs 2 runs scenarios at the same time"),
        "{junit}"
    );
    // Out of range is a usage error, exit 2.
    for n in ["0", "17", "many"] {
        let out = p.run(&["run", "scenarios/a.yml", "--jobs", n]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--jobs {n}: {}",
            common::text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--jobs"),
            "{}",
            common::text(&out)
        );
    }
}

#[test]
fn trials_spaced_closer_than_their_recovery_are_refused_at_every() {
    let p = Project::new();
    let text = BROKEN
        .replace(", colour: blue", "")
        .replace("duration: five minutes", "duration: 5m")
        .replace("target: payments, at: 30s", "target: ml-engine, at: 30s")
        .replace("expect:", "trials: { count: 3, every: 2m }\nexpect:");
    p.write("scenarios/tight.yml", &text);
    let out = p.run(&["validate", "scenarios/tight.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("scenarios/tight.yml:13:28: trials.every: expected at least "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.ends_with("at time scale 10), found 2m"), "{line}");
    // A spacing that leaves room is taken, and the plan shows it.
    p.write(
        "scenarios/spaced.yml",
        &text.replace("every: 2m", "every: 30m"),
    );
    let out = p.run(&[
        "run",
        "--dry-run",
        "--accept-distortion",
        "scenarios/spaced.yml",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // 30 real-time minutes at 10x.
    assert!(
        text.contains("3 trial(s), starting 3m00s of wall time apart"),
        "{text}"
    );
}

#[test]
fn a_time_scale_that_makes_spaced_trials_rejoin_is_refused_unless_accepted() {
    let p = Project::new();
    let text = BROKEN
        .replace(", colour: blue", "")
        .replace("duration: five minutes", "duration: 5m")
        .replace("target: payments, at: 30s", "target: ml-engine, at: 30s")
        .replace("expect:", "trials: { count: 3, every: 20m }\nexpect:");
    p.write("scenarios/spaced.yml", &text);
    let at = "scenarios/spaced.yml:13:28: trials.every: at time scale 10 trials 20m00s apart";
    // At 10x the trials are 2 wall minutes apart, inside Prometheus'
    // 15-minute retention of resolved alerts; at 1x they are not.
    let out = p.run(&["run", "--dry-run", "scenarios/spaced.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(at), "{err}");
    assert!(err.contains("--accept-distortion"), "{err}");
    let out = p.run(&["validate", "scenarios/spaced.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("warning: {at}")), "{err}");
    let out = p.run(&[
        "run",
        "--dry-run",
        "--accept-distortion",
        "scenarios/spaced.yml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    // At real time there is nothing to distort; nor without `every`.
    let out = p.run(&[
        "run",
        "--dry-run",
        "--time-scale",
        "1",
        "scenarios/spaced.yml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    p.write(
        "scenarios/packed.yml",
        &text.replace("trials: { count: 3, every: 20m }", "trials: 3"),
    );
    let out = p.run(&["run", "--dry-run", "scenarios/packed.yml"]);
    assert_eq!(out.status.code(), Some(0));
}

/// postgres_exporter waits 1 s of wall time before it answers a scrape
/// while PostgreSQL is down. The shipped stack gives its job a 5 s scrape
/// timeout (333 ms at 15x), so the shipped DatabaseDown, which reads `up`
/// of the exporter's job too, sees the outage 4 s later than at 1x: a
/// warning. A rule on `pg_up == 0` alone cannot fire there (every scrape
/// fails, `pg_up` has no sample): `run` refuses it at the time scale. With
/// the default 10 s timeout the shipped rule would see the outage 9 s late,
/// past the 5 s fidelity goal: refused too, naming K 6 or a 6 s timeout.
#[test]
fn a_time_scale_that_distorts_what_an_exporter_shows_is_refused() {
    let p = Project::new();
    let out = p.run(&["validate", "scenarios/database-down.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: time scale 15: prometheus/alert-rules.yml: alert DatabaseDown: reads pg_up of postgres-exporter")
            && err.contains("sees the outage through up, about 4.0s later"),
        "{err}"
    );
    let out = p.run(&["run", "--dry-run", "scenarios/database-down.yml"]);
    assert_eq!(out.status.code(), Some(0));

    p.edit(
        "stack/prometheus/alert-rules.yml",
        "expr: pg_up == 0 or up{job=\"postgres-exporter\"} == 0",
        "expr: pg_up == 0",
    );
    let at = "scenarios/database-down.yml:9:53: stack.time_scale: at time scale 15 the scrape \
              timeout of postgres-exporter is 333ms of wall time";
    let out = p.run(&["run", "--dry-run", "scenarios/database-down.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(at) && err.contains("at most 4 keeps"), "{err}");
    let out = p.run(&["validate", "scenarios/database-down.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("warning: {at}")), "{err}");
    assert!(err.contains("cannot fire at this K"), "{err}");
    assert_runs(
        &p,
        &[
            &["--accept-distortion", "scenarios/database-down.yml"],
            &["--time-scale", "4", "scenarios/database-down.yml"],
        ],
    );

    // Back to the shipped rule, with Prometheus' default 10 s timeout.
    p.edit(
        "stack/prometheus/alert-rules.yml",
        "expr: pg_up == 0",
        "expr: pg_up == 0 or up{job=\"postgres-exporter\"} == 0",
    );
    p.edit(
        "stack/prometheus/prometheus.yml",
        "    scrape_timeout: 5s\n",
        "",
    );
    let out = p.run(&["run", "--dry-run", "scenarios/database-down.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "scenarios/database-down.yml:9:53: stack.time_scale: at time scale 15 alert \
             DatabaseDown sees postgresql's outage about 9.0s later in real time than at 1×"
        ) && err.contains(
            "a time scale of at most 6, or a scrape timeout of at most 6s for job postgres-exporter"
        ),
        "{err}"
    );
    assert_runs(
        &p,
        &[
            &["--accept-distortion", "scenarios/database-down.yml"],
            &["--time-scale", "6", "scenarios/database-down.yml"],
        ],
    );
}

/// Each of `args` given to `run --dry-run` is accepted.
fn assert_runs(p: &Project, args: &[&[&str]]) {
    for a in args {
        let mut all = vec!["run", "--dry-run"];
        all.extend_from_slice(a);
        let out = p.run(&all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
