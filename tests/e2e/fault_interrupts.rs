//! Interrupting a run while each kind of fault is in force leaves nothing
//! broken: no process the harness started is running (frozen ones
//! included), no port it took is listening, nothing it mounted is mounted.

use crate::common;

use std::time::Duration;

use common::{Project, Running, bound_ports, survivors};
use nix::sys::signal::Signal;

/// Whether this machine can carry out the fault (CI must).
fn can_fault(fault: &str) -> common::Need {
    let target = fault
        .split("target: ")
        .nth(1)
        .and_then(|t| t.split([',', ' ']).next())
        .unwrap_or("");
    let why = zeta_bench::stack::native::can_fault(target, false).err();
    common::Need::unless(why.is_none(), why.unwrap_or_default())
}

fn interrupt_during(fault: &str) {
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
    assert!(survivors(&dir).is_empty(), "{fault}: {:?}", survivors(&dir));
    assert!(
        bound_ports(&dir).is_empty(),
        "{fault}: {:?}",
        bound_ports(&dir)
    );
    assert!(
        !zeta_bench::stack::components::node_exporter::disk::Disk::is_mounted(&dir.join("disk")),
        "{fault}: still mounted"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    let by = result["faults"][0]["reverted_by"].as_str().unwrap_or("");
    assert!(
        by == "teardown" || by == "cleared on interrupt",
        "{fault}: reverted_by {by:?}"
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn during_service_down_kill() {
    needs!(
        common::stack(),
        can_fault("kind: service_down, target: backend-api"),
    );
    interrupt_during("kind: service_down, target: backend-api");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn during_service_down_freeze() {
    needs!(
        common::stack(),
        can_fault("kind: service_down, target: ml-engine, mode: freeze"),
    );
    interrupt_during("kind: service_down, target: ml-engine, mode: freeze");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn during_knob_faults() {
    needs!(
        common::stack(),
        can_fault("kind: high_latency, target: backend-api, latency: 300ms"),
        can_fault("kind: error_rate, target: ml-engine, ratio: 50%"),
        can_fault("kind: cache_degradation, target: backend-api, miss_ratio: 90%"),
        can_fault("kind: memory_pressure, target: backend-api, fill_to: 90%"),
    );
    interrupt_during("kind: high_latency, target: backend-api, latency: 300ms");
    interrupt_during("kind: error_rate, target: ml-engine, ratio: 50%");
    interrupt_during("kind: cache_degradation, target: backend-api, miss_ratio: 90%");
    interrupt_during("kind: memory_pressure, target: backend-api, fill_to: 90%");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn during_database_down() {
    needs!(
        common::stack(),
        can_fault("kind: database_down, target: postgresql"),
    );
    interrupt_during("kind: database_down, target: postgresql");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn during_disk_pressure() {
    needs!(
        common::stack(),
        can_fault("kind: disk_pressure, target: disk, fill_to: 90%"),
    );
    interrupt_during("kind: disk_pressure, target: disk, fill_to: 90%");
}
