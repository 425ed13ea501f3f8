//! The hostile-input corpus (`tests/fixtures/hostile/`, plus inputs made
//! here that cannot be files in a repository: devices, links, FIFOs, files
//! without the execute bit, multi-megabyte files) against every command
//! that reads input: `run`, `validate`, `report`, `report --merged`,
//! `load`, `up`, `fault` and `mock`. Each must be refused cleanly: exit 2,
//! no panic (exit 101) and no signal, quickly, with a message, no secret
//! printed back, no run directory made, in bounded memory. With
//! `ZETA_SHOW=1` the test prints each refusal's first line.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Project};

/// One hostile invocation: its name and arguments. `{h}` is the corpus
/// directory, `{t}` the made-here inputs, `{p}` the project.
const CASES: &[(&str, &[&str])] = &[
    // report: result files
    (
        "result with an MTTD of 1e308 s",
        &["report", "{h}/result-huge-mttd.json"],
    ),
    (
        "result with a time scale of 1e308",
        &["report", "{h}/result-huge-time-scale.json"],
    ),
    (
        "result of a newer schema",
        &["report", "{h}/result-future-schema.json"],
    ),
    ("truncated result", &["report", "{h}/result-truncated.json"]),
    ("binary result", &["report", "{h}/result-binary.json"]),
    ("empty result", &["report", "{h}/result-empty.json"]),
    (
        "result nested 100000 deep",
        &["report", "{h}/result-deep.json"],
    ),
    (
        "result with a string for a number",
        &["report", "{h}/result-wrong-type.json"],
    ),
    ("result that is /dev/zero", &["report", "/dev/zero"]),
    ("result that is a directory", &["report", "{h}"]),
    ("result that is a FIFO", &["report", "{t}/fifo.json"]),
    (
        "result linked to /dev/zero",
        &["report", "{t}/zero-link.json"],
    ),
    ("result of 70 MB", &["report", "{t}/big.json"]),
    ("missing result", &["report", "{t}/nothing-here.json"]),
    (
        "baseline that is /dev/zero",
        &[
            "report",
            "{h}/../results/service-down.json",
            "--baseline",
            "/dev/zero",
        ],
    ),
    (
        "baseline of a newer schema",
        &[
            "report",
            "{h}/../results/service-down.json",
            "--baseline",
            "{h}/result-future-schema.json",
        ],
    ),
    (
        "tolerance that is not one",
        &[
            "report",
            "{h}/../results/service-down.json",
            "--baseline",
            "{h}/../results/service-down.json",
            "--tolerance",
            "mttd=lots",
        ],
    ),
    // report --merged: load shards
    (
        "shard of 4294967295",
        &[
            "report",
            "{h}/shard-absurd-count.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "shard 8 of 2",
        &[
            "report",
            "{h}/shard-index-past-count.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "shard with a negative phase",
        &[
            "report",
            "{h}/shard-negative-phase.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "shard with a phase of 1e308 s",
        &[
            "report",
            "{h}/shard-huge-phase.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "shard with a negative rate",
        &[
            "report",
            "{h}/shard-negative-rate.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "histogram header declaring gigabytes",
        &[
            "report",
            "{h}/shard-histogram-gigabytes.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "compressed histogram declaring gigabytes",
        &[
            "report",
            "{h}/shard-histogram-gigabytes-deflate.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "histogram that is not base64",
        &[
            "report",
            "{h}/shard-histogram-garbage.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "histogram cell out of range",
        &[
            "report",
            "{h}/shard-cell-out-of-range.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "per-second histogram that is not one",
        &[
            "report",
            "{h}/shard-bad-second.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "trace cap of 2^64",
        &[
            "report",
            "{h}/shard-absurd-trace-cap.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "the same shard twice",
        &[
            "report",
            "{h}/shard-good-2of2.json",
            "{h}/shard-good-2of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    (
        "one shard of two",
        &[
            "report",
            "{h}/shard-good-1of2.json",
            "--merged",
            "{t}/m.json",
        ],
    ),
    // validate: scenarios and stack files
    (
        "time scale 1e-300",
        &["validate", "{p}/scenarios/scenario-time-scale-tiny.yml"],
    ),
    (
        "time scale 1e300",
        &["validate", "{p}/scenarios/scenario-time-scale-huge.yml"],
    ),
    (
        "time scale NaN",
        &["validate", "{p}/scenarios/scenario-time-scale-nan.yml"],
    ),
    (
        "duration of 1e29 s",
        &["validate", "{p}/scenarios/scenario-duration-huge.yml"],
    ),
    (
        "rate of 1e20/s",
        &["validate", "{p}/scenarios/scenario-rate-huge.yml"],
    ),
    (
        "tenant weights summing to infinity",
        &["validate", "{p}/scenarios/scenario-weights-overflow.yml"],
    ),
    (
        "target with a password",
        &["validate", "{p}/scenarios/scenario-target-credentials.yml"],
    ),
    (
        "target on port 0",
        &["validate", "{p}/scenarios/scenario-target-port-0.yml"],
    ),
    (
        "SLO file that is /dev/zero",
        &["validate", "{p}/scenarios/scenario-slo-is-dev-zero.yml"],
    ),
    (
        "stack dir that is /dev",
        &["validate", "{p}/scenarios/scenario-stack-is-dev.yml"],
    ),
    (
        "scenario that is not YAML",
        &["validate", "{p}/scenarios/scenario-not-yaml.yml"],
    ),
    (
        "scenario that is not UTF-8",
        &["validate", "{p}/scenarios/scenario-not-utf8.yml"],
    ),
    (
        "billion laughs",
        &["validate", "{p}/scenarios/scenario-laughs.yml"],
    ),
    (
        "YAML nested 10000 deep",
        &["validate", "{p}/scenarios/scenario-deep.yml"],
    ),
    (
        "max_in_flight 0",
        &["validate", "{p}/scenarios/scenario-max-in-flight-0.yml"],
    ),
    (
        "2^32 trials",
        &["validate", "{p}/scenarios/scenario-trials-absurd.yml"],
    ),
    (
        "100 trials every 0s",
        &[
            "run",
            "--dry-run",
            "{p}/scenarios/scenario-trials-every-zero.yml",
        ],
    ),
    (
        "trials every 1e400s",
        &["validate", "{p}/scenarios/scenario-trials-every-huge.yml"],
    ),
    (
        "unknown fault kind",
        &["validate", "{p}/scenarios/scenario-unknown-fault.yml"],
    ),
    (
        "receiver fault answering status 1e400",
        &[
            "validate",
            "{p}/scenarios/scenario-receiver-status-huge.yml",
        ],
    ),
    (
        "receiver fault with a latency of 10^23 hours",
        &[
            "validate",
            "{p}/scenarios/scenario-receiver-slow-latency-huge.yml",
        ],
    ),
    (
        "Alertmanager fault aimed at a path",
        &[
            "validate",
            "{p}/scenarios/scenario-pipeline-fault-bad-target.yml",
        ],
    ),
    ("scenario of 2 MB", &["validate", "{t}/big.yml"]),
    ("scenario that is /dev/zero", &["validate", "/dev/zero"]),
    (
        "rule nested 10000 deep",
        &["validate", "{t}/deep-rule/scenarios/service-down.yml"],
    ),
    (
        "rule chaining 10000 operators",
        &["validate", "{t}/long-rule/scenarios/service-down.yml"],
    ),
    (
        "rule with a range of 1e300 seconds (the PromQL parser panics on it)",
        &["validate", "{t}/huge-range-rule/scenarios/service-down.yml"],
    ),
    (
        "rule file linked to /dev/zero",
        &["validate", "{t}/zero-rules/scenarios/service-down.yml"],
    ),
    (
        "dashboard linked to /dev/zero",
        &["validate", "{t}/zero-dashboard/scenarios/service-down.yml"],
    ),
    (
        "stack.binaries not executable",
        &["validate", "{t}/noexec/scenarios/service-down.yml"],
    ),
    // run: flags
    (
        "run --time-scale 1e-300",
        &[
            "run",
            "{p}/scenarios/service-down.yml",
            "--time-scale",
            "1e-300",
        ],
    ),
    (
        "run --time-scale NaN",
        &[
            "run",
            "{p}/scenarios/service-down.yml",
            "--time-scale",
            "NaN",
        ],
    ),
    (
        "run --bin not executable",
        &[
            "run",
            "{p}/scenarios/service-down.yml",
            "--bin",
            "prometheus={t}/noexec-prometheus",
        ],
    ),
    (
        "run --bin a program that is not Prometheus",
        &[
            "run",
            "{p}/scenarios/service-down.yml",
            "--bin",
            "prometheus=/bin/true",
        ],
    ),
    (
        "run --bin unknown component",
        &[
            "run",
            "{p}/scenarios/service-down.yml",
            "--bin",
            "grafana={t}/noexec-prometheus",
        ],
    ),
    (
        "run --trials 0",
        &["run", "{p}/scenarios/service-down.yml", "--trials", "0"],
    ),
    (
        "run --jobs 0",
        &["run", "{p}/scenarios/service-down.yml", "--jobs", "0"],
    ),
    (
        "run --ca-cert /dev/zero",
        &[
            "run",
            "{p}/scenarios/service-down.yml",
            "--ca-cert",
            "/dev/zero",
        ],
    ),
    ("run a missing scenario", &["run", "{t}/nothing-here.yml"]),
    (
        "run a scenario with a password in its target",
        &["run", "{p}/scenarios/scenario-target-credentials.yml"],
    ),
    // load: flags
    (
        "load --rate 0/s",
        &["load", "--target", "http://127.0.0.1:9", "--rate", "0/s"],
    ),
    (
        "load --rate 1e20/s",
        &[
            "load",
            "--target",
            "http://127.0.0.1:9",
            "--rate",
            "100000000000000000000/s",
        ],
    ),
    (
        "load --duration 0s",
        &["load", "--target", "http://127.0.0.1:9", "--duration", "0s"],
    ),
    (
        "load --duration 1e30s",
        &[
            "load",
            "--target",
            "http://127.0.0.1:9",
            "--duration",
            "1000000000000000000000000000000s",
        ],
    ),
    (
        "load --timeout 0s",
        &["load", "--target", "http://127.0.0.1:9", "--timeout", "0s"],
    ),
    (
        "load --max-in-flight 0",
        &[
            "load",
            "--target",
            "http://127.0.0.1:9",
            "--max-in-flight",
            "0",
        ],
    ),
    (
        "load --tenants 0",
        &["load", "--target", "http://127.0.0.1:9", "--tenants", "0"],
    ),
    (
        "load --users 0",
        &["load", "--target", "http://127.0.0.1:9", "--users", "0"],
    ),
    (
        "load on port 0",
        &["load", "--target", "http://127.0.0.1:0"],
    ),
    (
        "load with a password in the URL",
        &["load", "--target", "http://alice:s3cret@127.0.0.1:9"],
    ),
    (
        "load a URL that is not one",
        &["load", "--target", "http://alice:s3cret@[::1"],
    ),
    (
        "load --shard 0/0",
        &["load", "--target", "http://127.0.0.1:9", "--shard", "0/0"],
    ),
    (
        "load --shard 5/2",
        &["load", "--target", "http://127.0.0.1:9", "--shard", "5/2"],
    ),
    (
        "load --ca-cert /dev/zero",
        &[
            "load",
            "--target",
            "https://127.0.0.1:9",
            "--ca-cert",
            "/dev/zero",
        ],
    ),
    (
        "load --request that is not one",
        &["load", "--target", "http://127.0.0.1:9", "--request", "GET"],
    ),
    (
        "load a scenario of 1e20/s",
        &[
            "load",
            "{p}/scenarios/scenario-rate-huge.yml",
            "--target",
            "http://127.0.0.1:9",
        ],
    ),
    // up, fault, mock
    ("up --time-scale 0", &["up", "--time-scale", "0"]),
    ("up --time-scale 1e-300", &["up", "--time-scale", "1e-300"]),
    (
        "up --receivers on another machine",
        &["up", "--receivers", "10.0.0.1:9095"],
    ),
    (
        "up --receivers on port 0",
        &["up", "--receivers", "127.0.0.1:0"],
    ),
    (
        "up --receivers not an address",
        &["up", "--receivers", "/dev/zero"],
    ),
    (
        "fault of an unknown kind",
        &["fault", "meteor_strike", "--target", "backend-api"],
    ),
    (
        "fault --duration that is not one",
        &[
            "fault",
            "service_down",
            "--target",
            "backend-api",
            "--duration",
            "forever",
        ],
    ),
    (
        "mock of an unknown service",
        &["mock", "frontend", "--listen", "127.0.0.1:0"],
    ),
    (
        "mock --listen that is not an address",
        &["mock", "backend-api", "--listen", "not-an-address"],
    ),
];

/// Inputs that cannot live in a repository, made in `t`.
fn make_inputs(p: &Project, t: &Path) {
    use std::os::unix::fs::{PermissionsExt, symlink};
    nix::unistd::mkfifo(&t.join("fifo.json"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    symlink("/dev/zero", t.join("zero-link.json")).unwrap();
    let big = std::fs::File::create(t.join("big.json")).unwrap();
    big.set_len(70 << 20).unwrap(); // sparse: 70 MB that take no disk
    std::fs::write(t.join("big.yml"), format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    let noexec = t.join("noexec-prometheus");
    std::fs::write(&noexec, "#!/bin/sh\necho prometheus\n").unwrap();
    std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stack_copy = |name: &str| -> std::path::PathBuf {
        let dir = t.join(name);
        for sub in ["stack", "slo", "scenarios"] {
            common::copy_tree(&p.path(sub), &dir.join(sub));
        }
        dir
    };
    let rules = |dir: &Path, expr: &str| {
        let f = dir.join("stack/prometheus/alert-rules.yml");
        let text = std::fs::read_to_string(&f).unwrap().replacen(
            "expr: up{job=~\"backend-api|ml-engine\"} == 0",
            &format!("expr: '{expr} == 0'"),
            1,
        );
        std::fs::write(f, text).unwrap();
    };
    let deep = stack_copy("deep-rule");
    rules(
        &deep,
        &format!("{}up{}", "(".repeat(10_000), ")".repeat(10_000)),
    );
    let long = stack_copy("long-rule");
    rules(&long, &"up + ".repeat(10_000));
    let huge = stack_copy("huge-range-rule");
    rules(&huge, "max_over_time(up[1e300])");
    let zero = stack_copy("zero-rules");
    std::fs::remove_file(zero.join("stack/prometheus/alert-rules.yml")).unwrap();
    symlink("/dev/zero", zero.join("stack/prometheus/alert-rules.yml")).unwrap();
    let dash = stack_copy("zero-dashboard");
    symlink("/dev/zero", dash.join("stack/grafana/dashboards/zero.json")).unwrap();
    let ne = stack_copy("noexec");
    std::fs::copy(&noexec, ne.join("prometheus-noexec")).unwrap();
    std::fs::set_permissions(
        ne.join("prometheus-noexec"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let sc = ne.join("scenarios/service-down.yml");
    let text = std::fs::read_to_string(&sc).unwrap().replacen(
        "stack:\n",
        "stack:\n  binaries: { prometheus: ../prometheus-noexec }\n",
        1,
    );
    assert!(text.contains("prometheus-noexec"), "{text}");
    std::fs::write(sc, text).unwrap();
}

#[test]
fn every_hostile_input_is_refused_cleanly() {
    use std::os::unix::process::ExitStatusExt;
    let p = Project::new();
    let hostile = common::repo().join("tests/fixtures/hostile");
    for e in std::fs::read_dir(&hostile).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".yml") {
            std::fs::copy(e.path(), p.path("scenarios").join(&name)).unwrap();
        }
    }
    let t = tempfile::tempdir().unwrap();
    make_inputs(&p, t.path());
    let fill = |a: &str| {
        a.replace("{h}", &hostile.display().to_string())
            .replace("{t}", &t.path().display().to_string())
            .replace("{p}", &p.dir.path().display().to_string())
    };
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, "");
    for (name, args) in CASES {
        let args: Vec<String> = args.iter().map(|a| fill(a)).collect();
        let started = Instant::now();
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(p.dir.path())
            .env("ZETA_STATE_FILE", t.path().join("no-state.json"))
            .output()
            .expect("running zeta-bench");
        let took = started.elapsed();
        if took > slowest.0 {
            slowest = (took, name);
        }
        let text = common::text(&out);
        let why = match (out.status.code(), out.status.signal()) {
            (_, Some(sig)) => Some(format!("killed by signal {sig}")),
            (Some(2), _) if text.contains("s3cret") => Some("printed the password".into()),
            (Some(2), _) if text.contains("panicked") => Some("panicked".into()),
            (Some(2), _) if text.trim().is_empty() => Some("said nothing".into()),
            (Some(2), _) if took > Duration::from_secs(5) => Some(format!("took {took:?}")),
            (Some(2), _) => None,
            (code, _) => Some(format!("exit {code:?}")),
        };
        if std::env::var_os("ZETA_SHOW").is_some() {
            common::say(&format!("{name}: {}", text.lines().next().unwrap_or("")));
        }
        if let Some(why) = why {
            failures.push(format!(
                "{name}: {why}\n    {}",
                text.trim().replace('\n', "\n    ")
            ));
        }
    }
    let peak_kb = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(0);
    let refused = CASES.len() - failures.len();
    // The summary line scripts/test.sh's reader sees.
    common::say(&format!(
        "hostile corpus: {refused} of {} inputs refused cleanly (exit 2); slowest {:?} ({}); peak memory of any run {} MB",
        CASES.len(),
        slowest.0,
        slowest.1,
        peak_kb / 1024
    ));
    assert!(CASES.len() >= 60, "the corpus has {} inputs", CASES.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(peak_kb < 100 * 1024, "a refusal peaked at {peak_kb} KB");
    assert!(
        !p.path("reports").exists()
            || std::fs::read_dir(p.path("reports"))
                .unwrap()
                .next()
                .is_none(),
        "an input error made a run directory"
    );
}
