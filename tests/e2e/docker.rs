//! The docker provider: the pinned images of stack/docker-compose.yml as
//! containers (host network), the mocks as processes. Without a Docker
//! engine (this project's CI machines have none) the end-to-end test says
//! so in one line and passes; what is always checked is that asking for
//! docker without an engine is "could not run" (exit 3) with the reason.

use crate::common;

use common::Project;

fn engine_socket() -> Option<String> {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(String::from))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "2",
            "--unix-socket",
            &socket,
            "http://docker/_ping",
        ])
        .output()
        .ok()?;
    (String::from_utf8_lossy(&out.stdout) == "OK").then_some(socket)
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn docker_without_an_engine_cannot_run_and_says_why() {
    needs!(
        common::Need::unless(engine_socket().is_none(), "a Docker engine answers here").optional()
    );
    let p = Project::new();
    let out = p.run(&["run", "scenarios/smoke.yml", "--provider", "docker"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("the docker provider needs a Docker engine"),
        "{err}"
    );
    assert!(err.contains("use provider: native"), "{err}");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn service_down_on_the_docker_provider() {
    needs!(
        common::Need::unless(
            engine_socket().is_some(),
            "no Docker engine answers (set DOCKER_HOST or start dockerd to run it)"
        )
        .optional()
    );
    let socket = engine_socket().expect("checked above");
    needs!(common::stack());
    let p = Project::new();
    let out = p.run(&[
        "run",
        "scenarios/ci/service-down.yml",
        "--provider",
        "docker",
        "--out",
        "reports",
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "engine {socket}:\n{text}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.run_dir().join("result.json")).unwrap())
            .unwrap();
    assert_eq!(r["provider"]["name"], "docker");
    let prom = r["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "prometheus")
        .unwrap();
    assert!(
        prom["version"]
            .as_str()
            .unwrap()
            .starts_with("image prom/prometheus:")
    );
    // Every container of the run is gone.
    let run = p
        .run_dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let left = std::process::Command::new("curl")
        .args(["-s", "--unix-socket", &socket])
        .arg(format!("http://docker/containers/json?all=1&filters=%7B%22name%22%3A%5B%22zeta-bench-{run}%22%5D%7D"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout).trim(), "[]");
}
