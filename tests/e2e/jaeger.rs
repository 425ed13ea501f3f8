//! The real Jaeger v2 (built by `scripts/go-tools.sh`) in a native run:
//! trace coverage is looked up in Jaeger, and the mocks sample as Jaeger's
//! remote sampling endpoint tells them, so the seed's production strategy
//! (10 %) fails the 100 % target.

use crate::common;

use common::{Project, survivors};
use zeta_bench::stack::binaries::{Binaries, find};

/// Jaeger v2 where the install cache or PATH has it. In CI it must: the
/// test command builds it.
fn jaeger() -> common::Need {
    common::Need::unless(
        find(&Binaries::default(), "jaeger", &["jaeger"]).is_some(),
        "Jaeger v2 is not built (scripts/go-tools.sh builds it)",
    )
}

fn run_service_down(p: &Project) -> (i32, String, serde_json::Value) {
    let out = p.run(&["run", "scenarios/service-down.yml", "--out", "reports"]);
    let text = common::text(&out);
    let dir = p.run_dir();
    assert!(survivors(&dir).is_empty(), "{:?}", survivors(&dir));
    let r = std::fs::read_to_string(dir.join("result.json"))
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or_else(|e| panic!("no result.json ({e}):\n{text}"));
    (out.status.code().unwrap_or(-1), text, r)
}

fn trace_coverage(r: &serde_json::Value) -> &serde_json::Value {
    r["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "trace_coverage")
        .unwrap()
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn service_down_measures_trace_coverage_through_real_jaeger() {
    needs!(common::stack(), jaeger());
    let p = Project::new();
    let (code, text, r) = run_service_down(&p);
    assert_eq!(code, 0, "{text}");
    let t = trace_coverage(&r);
    assert_eq!(t["status"], "pass", "{text}");
    assert!(
        t["measured"]
            .as_str()
            .unwrap()
            .contains("in Jaeger http://"),
        "{text}"
    );
    let jaeger = r["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "jaeger")
        .unwrap_or_else(|| panic!("no jaeger component:\n{text}"));
    assert!(
        jaeger["version"].as_str().unwrap().starts_with("jaeger v"),
        "{jaeger}"
    );
    assert!(text.contains("jaeger v"), "{text}");
    // The linkage backend-api → ml-engine came back from Jaeger itself.
    assert!(text.contains("calls linked to ml-engine"), "{text}");
    assert!(!text.contains("did not stop within"), "{text}");
    // The sample covers the whole run: requests after backend-api came
    // back were looked up too, not only those before the outage.
    let start =
        chrono::DateTime::parse_from_rfc3339(r["load"]["started_at"].as_str().unwrap()).unwrap();
    let back =
        chrono::DateTime::parse_from_rfc3339(r["faults"][0]["reverted_at"].as_str().unwrap())
            .unwrap();
    let back_s = (back - start).num_milliseconds() as f64 / 1000.0;
    let samples = r["load"]["trace_samples"].as_array().unwrap();
    let after = samples
        .iter()
        .filter(|s| s["sent_s"].as_f64().unwrap() > back_s)
        .count();
    assert!(
        after > samples.len() / 10,
        "{after} of {} trace samples after the restart at +{back_s:.1}s",
        samples.len()
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn the_seeds_production_sampling_fails_trace_coverage_at_about_ten_percent() {
    needs!(common::stack(), jaeger());
    let p = Project::new();
    let production =
        std::fs::read_to_string(p.path("stack/jaeger/sampling-strategies.production.json"))
            .unwrap();
    p.write("stack/jaeger/sampling-strategies.json", &production);
    // A failed SLO fails the run, required or not.
    let (code, text, r) = run_service_down(&p);
    let t = trace_coverage(&r);
    assert_eq!(t["status"], "fail", "{text}");
    assert_eq!(code, 1, "{text}");
    let measured = t["measured"].as_str().unwrap();
    let pct: f64 = measured
        .split('%')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no percentage in {measured:?}"));
    assert!((5.0..=20.0).contains(&pct), "{pct}% in {measured}");
}
