//! Game-day safety without a stack: `exec` faults refused at their line
//! when malformed, `--dry-run` that starts nothing (held to it under
//! strace: no program run, no port bound), external faults that need
//! `--yes`, and the revert journal: `zeta-bench revert` replays what a
//! killed run left open, and `run` and `up` refuse to start until it has.

use crate::common;

use common::Project;

const EXEC_FAULT: &str = r#"name: exec-drill
stack: { dir: ../stack, time_scale: 10 }
slo: ../slo/phase1.yml
load:
  phases: [{ name: steady, duration: 2m, rate: 5/s }]
  mix: [{ request: "GET /api/v1/recommendations?user_id={user}" }]
faults:
  - kind: exec
    name: backend-outage
    target: backend-api
    at: 30s
    duration: 30s
    inject: ["systemctl", "stop", "backend-api"]
    revert: { argv: ["systemctl", "start", "backend-api"], timeout: 20s }
    pass_env: [KUBE_TOKEN]
halt_when:
  - 'sum(up{job="backend-api"}) == 0'
  - { error_ratio: 90% }
expect:
  alerts:
    - { name: ServiceDown, labels: { severity: critical, job: backend-api }, fault: backend-outage }
"#;

fn refused(p: &Project, yaml: &str) -> String {
    p.write("scenarios/bad.yml", yaml);
    let out = p.run(&["validate", "scenarios/bad.yml"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

#[test]
fn a_well_formed_exec_fault_validates() {
    let p = Project::new();
    p.write("scenarios/exec.yml", EXEC_FAULT);
    let out = p.run(&["validate", "scenarios/exec.yml"]);
    // Exit 1, not 2: the shipped rules' floors fail the MTTD target (as for
    // every shipped scenario); the scenario itself is valid.
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("(1 phases, 1 faults, 16 alert rules"),
        "{text}"
    );
}

#[test]
fn malformed_exec_faults_are_refused_at_their_line() {
    let p = Project::new();
    let cases = [
        (
            r#"inject: ["systemctl", "stop", "backend-api"]"#,
            r#"inject: "systemctl stop backend-api""#,
            "scenarios/bad.yml:13:13: faults[0].inject: expected a command as a list of arguments",
        ),
        (
            r#"inject: ["systemctl", "stop", "backend-api"]"#,
            "inject: []",
            "scenarios/bad.yml:13:13: faults[0].inject: expected a program and its arguments, found an empty command",
        ),
        (
            "timeout: 20s",
            "timeout: 0s",
            "faults[0].revert.timeout: expected a duration above 0 and at most 1h, found 0ms",
        ),
        (
            "pass_env: [KUBE_TOKEN]",
            "pass_env: [KUBE-TOKEN]",
            "faults[0].pass_env[0]: expected an environment variable name",
        ),
        (
            "pass_env: [KUBE_TOKEN]",
            "effect: check",
            "faults[0].effect: effect: check needs a `check` command",
        ),
        (
            "pass_env: [KUBE_TOKEN]",
            "effect: { promql: 'rate(x[5m]' }",
            "faults[0].effect.promql: not a PromQL expression Prometheus would parse",
        ),
        (
            "  - { error_ratio: 90% }",
            "  - { error_ratio: 0% }",
            "halt_when[1].error_ratio: expected a ratio above 0%, found 0%",
        ),
        (
            "  - { error_ratio: 90% }",
            "  - { colour: blue }",
            "halt_when[1]",
        ),
    ];
    for (from, to, want) in cases {
        assert!(EXEC_FAULT.contains(from), "{from}");
        let err = refused(&p, &EXEC_FAULT.replace(from, to));
        assert!(err.contains(want), "{to}: want {want:?} in:\n{err}");
    }
}

#[test]
fn network_faults_take_only_the_toxics_toxiproxy_knows() {
    let p = Project::new();
    let base = EXEC_FAULT.split("faults:").next().unwrap().to_string();
    let with = |fault: &str| {
        format!(
            "{base}faults:\n  - {{ kind: network, target: redis, at: 30s, duration: 30s, {fault} }}\n"
        )
    };
    for (fault, want) in [
        (
            "toxic: jitterbug",
            "faults[0].toxic: expected one of \"latency\", \"timeout\", \"down\", \"bandwidth\", \"reset_peer\", \"slow_close\", found \"jitterbug\"",
        ),
        (
            "toxic: latency",
            "faults[0].latency: this field is required",
        ),
        (
            "toxic: down, latency: 1s",
            "faults[0].latency: unknown field",
        ),
        (
            "toxic: bandwidth, rate_kb: 0",
            "faults[0].rate_kb: expected a rate above 0 KB/s",
        ),
        (
            "toxic: latency, latency: 1s, stream: sideways",
            "faults[0].stream: expected one of \"downstream\", \"upstream\"",
        ),
        (
            "toxic: latency, latency: 1s, toxicity: 0%",
            "faults[0].toxicity: expected a toxicity above 0%",
        ),
    ] {
        let err = refused(&p, &with(fault));
        assert!(err.contains(want), "{fault}: want {want:?} in:\n{err}");
    }
    let err = refused(
        &p,
        &with("toxic: down").replace("target: redis", "target: prometheus"),
    );
    assert!(err.contains("unknown fault target \"prometheus\" for network; expected one of \"postgresql\", \"redis\", \"ml-engine\""), "{err}");
    p.write(
        "scenarios/ok.yml",
        &with("toxic: latency, latency: 300ms, jitter: 50ms, stream: upstream, toxicity: 50%"),
    );
    let out = p.run(&["run", "--dry-run", "scenarios/ok.yml"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("Toxiproxy: latency 300ms ± 50ms on backend-api → redis (upstream, 50% of connections); removed after"),
        "{text}"
    );
}

#[test]
fn the_control_endpoint_and_the_fault_command_never_run_commands() {
    let p = Project::new();
    let out = p.run(&["fault", "exec", "--target", "backend-api"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the control endpoint never runs commands"),
        "{err}"
    );
}

/// What a traced command executed and bound: (programs run after the
/// first, binds).
fn traced(p: &Project, args: &[&str]) -> (std::process::Output, Vec<String>) {
    let log = p.path("strace.log");
    let mut cmd = std::process::Command::new("strace");
    cmd.current_dir(p.dir.path())
        .args(["-f", "-qq", "-e", "trace=execve,bind,listen", "-o"])
        .arg(&log)
        .arg(common::BIN)
        .args(args);
    let out = cmd.output().unwrap();
    let calls: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.contains("= -1") || l.contains("bind"))
        .map(str::to_string)
        .collect();
    (out, calls)
}

#[test]
fn dry_run_prints_every_shipped_scenarios_plan_and_starts_nothing() {
    needs!(common::program(
        &["strace"],
        "strace, to see what a dry run starts"
    ));
    let p = Project::new();
    p.write("scenarios/exec.yml", EXEC_FAULT);
    let mut scenarios: Vec<String> = common::walk(&p.path("scenarios"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yml"))
        .map(|f| f.strip_prefix(p.dir.path()).unwrap().display().to_string())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() > 5, "{scenarios:?}");
    for s in &scenarios {
        // Plain load scenarios (`target:`) are refused by `run`, as ever.
        let text = std::fs::read_to_string(p.path(s)).unwrap();
        let (out, calls) = traced(&p, &["run", "--dry-run", s, "--provider", "native"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if text.contains("\ntarget:") {
            assert_eq!(out.status.code(), Some(2), "{s}");
        } else {
            assert_eq!(out.status.code(), Some(0), "{s}: {}", common::text(&out));
            assert!(
                stdout.contains("DRY RUN") && stdout.contains("nothing is started"),
                "{s}: {stdout}"
            );
        }
        let execs: Vec<&String> = calls.iter().filter(|c| c.contains("execve(")).collect();
        assert_eq!(
            execs.len(),
            1,
            "{s}: only zeta-bench itself runs: {execs:#?}"
        );
        let binds: Vec<&String> = calls
            .iter()
            .filter(|c| c.contains("bind(") || c.contains("listen("))
            .collect();
        assert!(binds.is_empty(), "{s}: a dry run bound {binds:#?}");
    }
    let out = p.run(&["run", "--dry-run", "scenarios/exec.yml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "at 3.0s for 3.0s: backend-outage (exec) on backend-api",
        "inject: systemctl stop backend-api (timeout 30.0s)",
        "revert: systemctl start backend-api (timeout 20.0s)",
        "effect: refused connections at the target's address, within 30.0s",
        "environment: KUBE_TOKEN",
        "halt when (halt_when[1]): the load's error ratio over a second reaches 90.0%",
    ] {
        assert!(text.contains(want), "want {want:?} in:\n{text}");
    }
    assert!(
        !p.path("reports").exists() || std::fs::read_dir(p.path("reports")).unwrap().count() == 0,
        "a dry run made a run directory"
    );
}

#[test]
fn faults_on_an_external_stack_need_yes() {
    let p = Project::new();
    p.write(
        "scenarios/ext.yml",
        &EXEC_FAULT.replace(
            "stack: { dir: ../stack, time_scale: 10 }",
            r#"stack: { dir: ../stack, time_scale: 10, provider: external, urls: { prometheus: "http://127.0.0.1:9", alertmanager: "http://127.0.0.1:9", backend-api: "http://127.0.0.1:9" } }"#,
        ),
    );
    let out = p.run(&["run", "scenarios/ext.yml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("scenarios/ext.yml:2:")
            && err.contains("stack.provider: this scenario injects faults into an external stack")
            && err.contains("backend-outage on backend-api")
            && err.contains("--yes"),
        "{err}"
    );
}

/// A run directory as a harness killed mid-fault leaves it: its journal
/// holds a fault opened and never crossed out.
fn killed_run(p: &Project, revert: &[&str]) -> std::path::PathBuf {
    let dir = p.path("reports/exec-drill-20261206T000000.000Z-1");
    std::fs::create_dir_all(&dir).unwrap();
    let entry = serde_json::json!({
        "event": "open",
        "key": "backend-outage",
        "target": "backend-api",
        "revert": { "argv": revert, "timeout": 10.0 },
        "env": [["ZETA_FAULT", "backend-outage"], ["PATH", std::env::var("PATH").unwrap()]],
        "pass_env": [],
        "at": "2026-12-06T00:00:00Z",
    });
    std::fs::write(dir.join("revert-journal.jsonl"), format!("{entry}\n")).unwrap();
    dir
}

#[test]
fn an_open_journal_blocks_run_and_up_until_revert_replays_it() {
    let p = Project::new();
    p.write("scenarios/exec.yml", EXEC_FAULT);
    let marker = p.path("restored");
    let script = format!("echo restored $ZETA_FAULT > {}", marker.display());
    let dir = killed_run(&p, &["sh", "-c", &script]);
    for args in [
        vec!["run", "scenarios/exec.yml", "--out", "reports"],
        vec!["up", "--out", "reports"],
    ] {
        let out = p.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("not starting: an earlier run's faults may still be in force")
                && err.contains("fault backend-outage on backend-api")
                && err.contains("zeta-bench revert reports/exec-drill-20261206T000000.000Z-1"),
            "{args:?}: {err}"
        );
    }
    let out = p.run(&["revert", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        "restored backend-outage"
    );
    // Crossed out: a second revert has nothing to do, and run may start
    // (here it stops at its --dry-run).
    let out = p.run(&["revert", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(common::text(&out).contains("nothing to revert"));
    let out = p.run(&["up", "--out", "reports", "--time-scale", "0"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "past the journal, up reads its flags: {}",
        common::text(&out)
    );
}

#[test]
fn a_revert_that_fails_keeps_the_journal_open_and_says_what_to_run() {
    let p = Project::new();
    let dir = killed_run(
        &p,
        &["sh", "-c", "echo cannot reach the cluster >&2; exit 4"],
    );
    let out = p.run(&["revert", dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("COULD NOT BE REVERTED")
            && err.contains("exit status 4")
            && err.contains("cannot reach the cluster")
            && err.contains("by hand: sh -c 'echo cannot reach the cluster >&2; exit 4'"),
        "{err}"
    );
    let still = p.run(&["revert", dir.to_str().unwrap()]);
    assert_eq!(still.status.code(), Some(3));
    let none = p.run(&["revert", p.path("scenarios").to_str().unwrap()]);
    assert_eq!(none.status.code(), Some(2), "{}", common::text(&none));
}
