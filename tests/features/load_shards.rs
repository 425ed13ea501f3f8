//! Sharded load: N `zeta-bench load --shard i/N` runs send, together,
//! exactly the requests one unsharded run sends (same URLs, same count),
//! and `zeta-bench report` merges their reports into the whole schedule.
//! Also `zeta-bench load scenario.yml` with the scenario's `target:`.

use crate::common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BIN, Project};

/// A target that records every request's path and query.
fn target() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen2 = seen.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                let seen = seen2.clone();
                async move {
                    seen.lock().unwrap().push(uri.to_string());
                    "ok"
                }
            });
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", l.local_addr().unwrap()))
                .unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (rx.recv_timeout(Duration::from_secs(10)).unwrap(), seen)
}

fn load(p: &Project, url: &str, extra: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .current_dir(p.dir.path())
        .args([
            "load",
            "--target",
            url,
            "--rate",
            "200/s",
            "--duration",
            "3s",
            "--request",
            "GET /api/v1/recommendations?user_id={user}&k=5",
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(c: std::process::Child) -> String {
    let out = c.wait_with_output().unwrap();
    let text = common::text(&out);
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn shards_send_the_whole_schedule_between_them_and_merge_exactly() {
    let p = Project::new();
    let (url, seen) = target();

    finish(load(&p, &url, &[]));
    let mut whole = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(whole.len(), 600, "200/s for 3 s");

    let a = load(&p, &url, &["--shard", "1/2", "--out", "a.json"]);
    let b = load(&p, &url, &["--shard", "2/2", "--out", "b.json"]);
    let (ta, _tb) = (finish(a), finish(b));
    assert!(ta.contains("shard 1/2"), "{ta}");
    let mut sharded = std::mem::take(&mut *seen.lock().unwrap());
    whole.sort();
    sharded.sort();
    assert_eq!(
        sharded, whole,
        "the same requests, split between the shards"
    );

    let out = Command::new(BIN)
        .current_dir(p.dir.path())
        .args(["report", "a.json", "b.json", "--merged", "m.json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("merged 2 load reports"), "{text}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("m.json")).unwrap()).unwrap();
    assert_eq!(m["total_sent"], 600);
    assert_eq!(m["phases"][0]["sent"], 600);
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("a.json")).unwrap()).unwrap();
    assert_eq!(a["total_sent"], 300);

    // A missing shard is refused, not merged into an under-count.
    let out = Command::new(BIN)
        .current_dir(p.dir.path())
        .args(["report", "a.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2/2 are missing"));
}

#[test]
fn a_scenario_with_a_target_is_plain_load() {
    let p = Project::new();
    let (url, seen) = target();
    p.write(
        "plain.yml",
        &format!(
            r#"
name: plain
target: {url}
tenants: {{ count: 3, distribution: weights, weights: [8, 1, 1], seed: 1 }}
load:
  phases:
    - {{ name: ramp, duration: 2s, rate: 50/s, to: 150/s }}
  mix:
    - {{ request: "GET /api/v1/recommendations?user_id={{user}}&k=5" }}
"#
        ),
    );
    let out = Command::new(BIN)
        .current_dir(p.dir.path())
        .args(["load", "plain.yml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The ramp's mean is 100/s over 2 s.
    assert_eq!(seen.lock().unwrap().len(), 200, "{text}");
    assert!(text.contains("phase ramp: planned 100.0/s"), "{text}");

    // `run` refuses it, pointing at `load`.
    let out = Command::new(BIN)
        .current_dir(p.dir.path())
        .args(["run", "plain.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain.yml:3:9: target: a scenario with a target is plain load"),
        "{err}"
    );
}

#[test]
fn the_kubernetes_indexed_job_runs_every_shard_once() {
    let text =
        std::fs::read_to_string(common::repo().join("deploy/kubernetes/load-shards.yml")).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"].as_u64(), Some(n));
    let c = &spec["template"]["spec"]["containers"][0];
    let shards = c["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "SHARDS")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert_eq!(shards, n, "SHARDS must equal completions");
    let args = c["args"][0].as_str().unwrap();
    for want in [
        "zeta-bench load /scenario/scenario.yml",
        "--shard \"$((JOB_COMPLETION_INDEX + 1))/$SHARDS\"",
        "--out \"/results/shard-$JOB_COMPLETION_INDEX.json\"",
    ] {
        assert!(args.contains(want), "{want} not in {args}");
    }
    // The scenario it is meant for is valid plain load.
    let out = Command::new(BIN).args(["load", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--shard <I/N>"));
    let sc = common::repo().join("scenarios/load/backend-api-plain.yml");
    let out = Command::new(BIN)
        .args(["load"])
        .arg(&sc)
        .args(["--target", "ftp://nope"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "the scenario decodes; only the target is refused"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target: expected a base URL"));
}
