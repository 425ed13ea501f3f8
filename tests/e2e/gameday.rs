//! Game day: `zeta-bench up` keeps the stack up, `zeta-bench fault` injects
//! into it and reverts on its own (duration over, or Ctrl-C), and Ctrl-C on
//! `up` tears everything down.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{BIN, Project, Running, bound_ports, survivors};
use nix::sys::signal::Signal;

/// The mock's knobs, read with the admin token `up` wrote to up.json.
fn knobs((url, token): &(String, String)) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-s", "-H", &format!("authorization: Bearer {token}")])
        .arg(format!("{url}/admin/faults"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn up_then_faults_that_revert_on_their_own_then_teardown() {
    needs!(common::stack());
    let p = Project::new();
    let mut up = Running::start(&p, &["up", "--time-scale", "10", "--out", "reports"]);
    up.wait_for("Ctrl-C tears everything down", Duration::from_secs(90));
    let table = up.seen.join("\n");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("reports/up.json")).unwrap()).unwrap();
    let backend = state["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "backend-api")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let backend = (backend, state["admin_token"].as_str().unwrap().to_string());

    // The control endpoint refuses a request without the per-run secret,
    // and up.json (which holds it) is readable by its owner only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.path("reports/up.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "up.json mode {mode:o}");
        let control = state["control"].as_str().unwrap();
        assert_eq!(state["token"].as_str().map(str::len), Some(32));
        let forged = std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args([
                "-H",
                "content-type: application/json",
                "-H",
                "authorization: Bearer wrong",
            ])
            .args([
                "-d",
                r#"{"kind":"service_down","target":"backend-api","duration":60}"#,
            ])
            .arg(format!("{control}/faults"))
            .output();
        if let Ok(out) = forged {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
        }
        let listed = std::process::Command::new("curl")
            .args(["-s", &format!("{control}/faults")])
            .output();
        if let Ok(out) = listed {
            let body = String::from_utf8_lossy(&out.stdout);
            assert!(body.contains("needs the token"), "{body}");
        }
    }

    // A timed fault: in force, then cleared by itself.
    let out = Command::new(BIN)
        .current_dir(p.dir.path())
        .args([
            "fault",
            "error_rate",
            "--target",
            "backend-api",
            "--ratio",
            "50%",
            "--status",
            "503",
            "--duration",
            "2s",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        knobs(&backend)["error_rate"]["ratio"],
        0.5,
        "the fault is in force"
    );
    let status = out.wait_with_output().unwrap().status;
    assert!(status.success());
    assert_eq!(
        knobs(&backend),
        serde_json::json!({}),
        "and cleared when its duration ended"
    );

    // A long fault interrupted with Ctrl-C: reverted at once.
    let mut f = Running::start(
        &p,
        &[
            "fault",
            "high_latency",
            "--target",
            "backend-api",
            "--latency",
            "300ms",
            "--duration",
            "10m",
        ],
    );
    f.wait_for("took effect", Duration::from_secs(20));
    assert_eq!(knobs(&backend)["latency"]["fixed_ms"], 300);
    f.signal(Signal::SIGINT);
    assert_eq!(f.wait(Duration::from_secs(20)), 0, "{}", f.seen.join("\n"));
    assert_eq!(knobs(&backend), serde_json::json!({}), "reverted on Ctrl-C");

    // A target the harness does not run is refused.
    let bad = Command::new(BIN)
        .current_dir(p.dir.path())
        .args(["fault", "database_down", "--target", "backend-api"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("database_down cannot target \"backend-api\"")
    );

    up.signal(Signal::SIGINT);
    assert_eq!(
        up.wait(Duration::from_secs(60)),
        0,
        "{}",
        up.seen.join("\n")
    );
    let run_dir = std::path::PathBuf::from(state["run_dir"].as_str().unwrap());
    assert!(survivors(&run_dir).is_empty(), "{:?}", survivors(&run_dir));
    assert!(bound_ports(&run_dir).is_empty());
    assert!(
        !p.path("reports/up.json").exists(),
        "the state file goes with the stack"
    );
    let _ = table;
}
