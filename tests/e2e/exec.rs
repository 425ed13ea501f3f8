//! `exec` faults and halt conditions on the real stack: a freeze by pid
//! (the plain `kill` recipe: SIGSTOP to inject, SIGCONT to revert) whose
//! effect the load engine sees and whose ServiceDown page is measured from
//! that moment; a harness SIGKILLed mid-fault (freezing a process outside
//! the stack, which outlives the harness as a staging service would) whose
//! open journal blocks the next run until `zeta-bench revert` thaws it;
//! and a halt
//! condition that reverts everything within 2 s and ends INCOMPLETE.

use crate::common;

use std::time::Duration;

use common::{Project, Running};
use nix::sys::signal::Signal;

/// A ServiceDown drill at 15×: backend-api frozen by pid for `fault_for`.
fn freeze_scenario(fault_for: &str) -> String {
    format!(
        r#"name: exec-freeze
stack: {{ dir: ../stack, provider: native, time_scale: 15 }}
slo: ../slo/phase1.yml
tenants: {{ count: 5, seed: 7 }}
load:
  phases:
    - {{ name: warmup, duration: 1m, rate: 20/s }}
    - {{ name: steady, duration: 5m, rate: 20/s }}
  mix:
    - {{ request: "GET /api/v1/recommendations?user_id={{user}}&k=5" }}
  timeout: 2s
faults:
  - kind: exec
    name: freeze-backend
    target: backend-api
    at: 1m
    duration: {fault_for}
    inject: ["sh", "-c", "kill -STOP $(awk '$1 == \"backend-api\" {{print $2}}' \"$ZETA_RUN_DIR/pids.txt\")"]
    revert: ["sh", "-c", "kill -CONT $(awk '$1 == \"backend-api\" {{print $2}}' \"$ZETA_RUN_DIR/pids.txt\")"]
    effect: {{ latency: 500ms }}
    effect_within: 10s
expect:
  alerts:
    - {{ name: ServiceDown, labels: {{ severity: critical, job: backend-api }}, fault: freeze-backend }}
  unexpected_alerts: warn
"#
    )
}

/// Kills what a run listed in `pids.txt` when the test ends, however it
/// ends: a harness killed with SIGKILL tears nothing down.
struct Reaper(std::path::PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(self.0.join("pids.txt")).unwrap_or_default();
        for pid in text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<i32>().ok())
        {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, Signal::SIGCONT);
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
    }
}

fn state_of(pid: &str) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
        })
        .unwrap_or('?')
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_freeze_by_pid_is_measured_from_its_verified_effect() {
    needs!(common::stack());
    let p = Project::new();
    p.write("scenarios/exec.yml", &freeze_scenario("3m"));
    let out = p.run(&["run", "scenarios/exec.yml", "--out", "reports"]);
    let _reaper = Reaper(p.run_dir());
    let text = common::text(&out);
    let r = p.result();
    assert_ne!(out.status.code(), Some(3), "{text}");
    let f = &r.faults[0];
    assert!(f.error.is_none(), "{:?}", f.error);
    let evidence = f.evidence.as_deref().unwrap_or("");
    assert!(evidence.contains("p95 latency"), "{evidence}");
    assert!(f.took_effect_at.unwrap() >= f.requested_at.unwrap() - chrono::Duration::seconds(1));
    assert_eq!(f.reverted_by.as_deref(), Some("revert command"));
    let d = r
        .detections
        .iter()
        .find(|d| d.alert == "ServiceDown")
        .unwrap();
    assert_eq!(
        d.fault_took_effect_at, f.took_effect_at,
        "MTTD counts from the verified effect"
    );
    assert!(d.mttd_real_s.is_some(), "{text}");
    let journal = std::fs::read_to_string(p.run_dir().join("revert-journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"event\":\"open\"") && journal.contains("\"event\":\"closed\""),
        "{journal}"
    );
    let log = std::fs::read_to_string(p.run_dir().join("faults.log")).unwrap();
    assert!(
        log.contains("fault freeze-backend inject: $ sh -c") && log.contains("took effect"),
        "{log}"
    );
}

/// A drill whose fault freezes a process outside the stack (one that
/// outlives the harness, as a staging service does), by its pid.
fn victim_scenario(pid: u32) -> String {
    format!(
        r#"name: exec-victim
stack: {{ dir: ../stack, provider: native, time_scale: 15 }}
slo: ../slo/phase1.yml
load:
  phases:
    - {{ duration: 8m, rate: 10/s }}
  mix:
    - {{ request: "GET /api/v1/recommendations?user_id={{user}}" }}
faults:
  - kind: exec
    name: freeze-victim
    target: backend-api
    at: 1m
    duration: 6m
    env: {{ VICTIM: "{pid}" }}
    inject: ["sh", "-c", "kill -STOP $VICTIM"]
    revert: ["sh", "-c", "kill -CONT $VICTIM"]
    check: ["sh", "-c", "grep -q '^State:.*T' /proc/$VICTIM/status"]
expect:
  unexpected_alerts: warn
"#
    )
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_harness_killed_mid_fault_leaves_a_journal_that_revert_replays() {
    needs!(common::stack());
    let p = Project::new();
    let mut victim = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let pid = victim.id().to_string();
    p.write("scenarios/exec.yml", &victim_scenario(victim.id()));
    let mut r = Running::start(&p, &["run", "scenarios/exec.yml", "--out", "reports"]);
    r.wait_for("took effect", Duration::from_secs(120));
    r.signal(Signal::SIGKILL);
    let _ = r.wait(Duration::from_secs(10));
    let dir = p.run_dir();
    let _reaper = Reaper(dir.clone());
    assert_eq!(
        state_of(&pid),
        'T',
        "the victim is still frozen after the kill"
    );

    let blocked = p.run(&["run", "scenarios/exec.yml", "--out", "reports"]);
    let err = String::from_utf8_lossy(&blocked.stderr);
    assert_eq!(blocked.status.code(), Some(3), "{err}");
    assert!(
        err.contains("fault freeze-victim on backend-api") && err.contains("zeta-bench revert"),
        "{err}"
    );

    let out = p.run(&["revert", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));
    assert_ne!(state_of(&pid), 'T', "the victim runs again");
    let again = p.run(&["revert", dir.to_str().unwrap()]);
    assert!(common::text(&again).contains("nothing to revert"));
    let _ = victim.kill();
    let _ = victim.wait();
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_halt_condition_reverts_everything_within_two_seconds() {
    needs!(common::stack());
    let p = Project::new();
    p.write(
        "scenarios/halt.yml",
        r#"name: halt
stack: { dir: ../stack, provider: native, time_scale: 15 }
slo: ../slo/phase1.yml
load:
  phases:
    - { duration: 6m, rate: 20/s }
  mix:
    - { request: "GET /api/v1/recommendations?user_id={user}" }
faults:
  - { kind: error_rate, target: backend-api, ratio: 100%, at: 1m, duration: 4m }
halt_when:
  - { error_ratio: 50% }
"#,
    );
    let out = p.run(&["run", "scenarios/halt.yml", "--out", "reports"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    let r = p.result();
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("halted at"))
        .unwrap_or_else(|| panic!("{:?}", r.notes));
    assert!(
        note.contains("halt_when[0]") && note.contains("INCOMPLETE"),
        "{note}"
    );
    let at = note
        .split("halted at ")
        .nth(1)
        .unwrap()
        .split(':')
        .take(3)
        .collect::<Vec<_>>()
        .join(":");
    let halted = chrono::NaiveTime::parse_from_str(&at, "%H:%M:%S%.3f").unwrap();
    let f = &r.faults[0];
    let reverted = f
        .reverted_at
        .unwrap_or_else(|| panic!("not reverted: {f:?}"))
        .time();
    let took = (reverted - halted).num_milliseconds();
    assert!(
        (0..=2000).contains(&took),
        "reverted {took} ms after the halt"
    );
    assert_eq!(f.reverted_by.as_deref(), Some("cleared on interrupt"));
    assert!(
        r.load.as_ref().is_some_and(|l| l.total_sent < 20 * 24),
        "the load stopped early"
    );
}
