//! Interrupting a run while each kind of fault is in force leaves nothing
//! broken: no process the harness started is running (frozen ones
//! included), no port it took is listening, nothing it mounted is mounted.

mod common;

use std::time::Duration;

use common::{Project, Running, bound_ports, stack_binaries_present, survivors};
use nix::sys::signal::Signal;

fn interrupt_during(test: &str, fault: &str) {
    if !stack_binaries_present(test) {
        return;
    }
    let target = fault
        .split("target: ")
        .nth(1)
        .and_then(|t| t.split([',', ' ']).next())
        .unwrap_or("");
    if let Err(why) = zeta_bench::stack::native::can_fault(target, false) {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: CI must be able to run {target}: {why}"
        );
        common::skip(&format!("SKIPPED {test}: {why}"));
        return;
    }
    let p = Project::new();
    p.write(
        "scenarios/interrupt.yml",
        &format!(
            "name: interrupt\nstack: {{ dir: ../stack, time_scale: 15 }}\nslo: ../slo/phase1.yml\nload:\n  phases:\n    - {{ duration: 10m, rate: 20/s }}\n  mix:\n    - {{ request: \"GET /api/v1/recommendations?user_id={{user}}\" }}\nfaults:\n  - {{ {fault}, at: 30s, duration: 8m }}\n"
        ),
    );
    let mut r = Running::start(&p, &["run", "scenarios/interrupt.yml", "--out", "reports"]);
    r.wait_for("took effect", Duration::from_secs(90));
    r.signal(Signal::SIGINT);
    let code = r.wait(Duration::from_secs(60));
    assert_eq!(code, 3, "{}", r.seen.join("\n"));
    let dir = p.run_dir();
    assert!(survivors(&dir).is_empty(), "{test}: {:?}", survivors(&dir));
    assert!(
        bound_ports(&dir).is_empty(),
        "{test}: {:?}",
        bound_ports(&dir)
    );
    assert!(
        !zeta_bench::stack::components::node_exporter::disk::Disk::is_mounted(&dir.join("disk")),
        "{test}: still mounted"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    let by = result["faults"][0]["reverted_by"].as_str().unwrap_or("");
    assert!(
        by == "teardown" || by == "cleared on interrupt",
        "{test}: reverted_by {by:?}"
    );
}

#[test]
fn during_service_down_kill() {
    interrupt_during(
        "during_service_down_kill",
        "kind: service_down, target: backend-api",
    );
}

#[test]
fn during_service_down_freeze() {
    interrupt_during(
        "during_service_down_freeze",
        "kind: service_down, target: ml-engine, mode: freeze",
    );
}

#[test]
fn during_knob_faults() {
    interrupt_during(
        "during_high_latency",
        "kind: high_latency, target: backend-api, latency: 300ms",
    );
    interrupt_during(
        "during_error_rate",
        "kind: error_rate, target: ml-engine, ratio: 50%",
    );
    interrupt_during(
        "during_cache_degradation",
        "kind: cache_degradation, target: backend-api, miss_ratio: 90%",
    );
    interrupt_during(
        "during_memory_pressure",
        "kind: memory_pressure, target: backend-api, fill_to: 90%",
    );
}

#[test]
fn during_database_down() {
    interrupt_during(
        "during_database_down",
        "kind: database_down, target: postgresql",
    );
}

#[test]
fn during_disk_pressure() {
    interrupt_during(
        "during_disk_pressure",
        "kind: disk_pressure, target: disk, fill_to: 90%",
    );
}
