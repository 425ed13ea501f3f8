//! The reports rendered from a real result: the HTML escapes everything it
//! did not draw itself, has every section, and loads in a real browser
//! (headless Chromium) without errors; JUnit and Markdown say the same.

use crate::common;

use std::process::Command;

use zeta_bench::report::{RunResult, html, junit, markdown};

fn fixture() -> RunResult {
    let text =
        std::fs::read_to_string(common::repo().join("tests/fixtures/results/service-down.json"))
            .unwrap();
    serde_json::from_str(&text).expect("the fixture matches the current result model")
}

#[test]
fn html_has_every_section_and_escapes_what_users_wrote() {
    let mut r = fixture();
    r.scenario.name = "<script>alert('x')</script>".into();
    r.scenario.description = "a & b <i>".into();
    let page = html::render(&r).unwrap();
    assert!(!page.contains("<script>"), "scenario text is escaped");
    assert!(page.contains("&lt;script&gt;"));
    assert!(page.contains("a &amp; b &lt;i&gt;"));
    for id in [
        "summary",
        "verdict",
        "slos",
        "timeline",
        "detection",
        "routing",
        "dashboards",
        "traces",
        "load",
        "environment",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "section {id}");
    }
    // Charts are inline SVG; nothing is fetched.
    assert!(
        page.matches("<svg").count() >= 3,
        "rate, latency and MTTD charts"
    );
    assert!(
        !page.contains("http://cdn") && !page.contains("<link") && !page.contains("src=\"http")
    );
    assert!(page.contains("real-time equivalent"));
}

#[test]
fn junit_and_markdown_agree_with_the_result() {
    let r = fixture();
    let x = junit::render(std::slice::from_ref(&r));
    assert!(x.starts_with("<?xml"));
    assert_eq!(x.matches("<testcase ").count(), r.slos.len());
    let fails = r
        .slos
        .iter()
        .filter(|s| s.status == zeta_bench::slo::check::Status::Fail)
        .count();
    assert_eq!(x.matches("<failure ").count(), fails);
    assert!(
        x.contains("<skipped message=\"not measured: Loki is not installed"),
        "{x}"
    );
    let md = markdown::render(std::slice::from_ref(&r));
    assert!(md.starts_with("## zeta-bench: ✅ PASS"), "{md}");
    assert!(md.contains("| mttd | ✅ pass |"), "{md}");
}

#[test]
fn the_report_loads_in_headless_chromium_without_errors() {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    needs!(common::Need::unless(
        chromium.is_some(),
        "chromium is not installed"
    ));
    let chromium = chromium.expect("checked above");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, html::render(&fixture()).unwrap()).unwrap();
    let shot = dir.path().join("report.png");
    let profile = dir.path().join("profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        shot.metadata().map(|m| m.len() > 20_000).unwrap_or(false),
        "a screenshot was taken:\n{log}"
    );
    for bad in [
        "Uncaught",
        "CONSOLE(",
        "ERR_FILE_NOT_FOUND",
        "Failed to load resource",
    ] {
        assert!(!log.contains(bad), "browser reported {bad}:\n{log}");
    }
    let dom = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile2").display()
        ))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for text in [
        "PASS",
        "SLOs",
        "Timeline",
        "Detection",
        "Routing",
        "Dashboards",
        "Trace coverage",
        "ServiceDown",
    ] {
        assert!(dom.contains(text), "the rendered page shows {text}");
    }
}

#[test]
fn a_baseline_regression_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let mut faster: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("tests/fixtures/results/service-down.json"))
            .unwrap(),
    )
    .unwrap();
    // The baseline detected ServiceDown in a third of the time.
    let now = faster["detections"][0]["mttd_real_s"].as_f64().unwrap();
    faster["detections"][0]["mttd_real_s"] = serde_json::json!(now / 3.0);
    let base = dir.path().join("base.json");
    std::fs::write(&base, faster.to_string()).unwrap();
    let fixture = common::repo().join("tests/fixtures/results/service-down.json");
    let out = Command::new(common::BIN)
        .arg("report")
        .arg(&fixture)
        .arg("--baseline")
        .arg(&base)
        .arg("--junit")
        .arg(dir.path().join("j.xml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("baseline           FAIL"), "{text}");
    assert!(text.contains("ServiceDown MTTD"), "{text}");
    let junit = std::fs::read_to_string(dir.path().join("j.xml")).unwrap();
    assert!(junit.contains("name=\"baseline\"><failure"), "{junit}");
}

#[test]
fn result_json_matches_the_checked_in_schema() {
    let checked_in: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("schema/result.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        checked_in,
        zeta_bench::report::model::json_schema(),
        "schema/result.schema.json is stale: regenerate it with `zeta-bench schema > schema/result.schema.json` (and bump SCHEMA_VERSION if a field changed meaning)"
    );
    let validator = jsonschema::validator_for(&checked_in).expect("a valid JSON Schema");
    let real: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("tests/fixtures/results/service-down.json"))
            .unwrap(),
    )
    .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&real)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And it is not a schema that accepts anything.
    let mut broken = real.clone();
    broken["verdict"] = serde_json::json!("maybe");
    broken["slos"][0]["status"] = serde_json::json!(3);
    assert!(validator.iter_errors(&broken).count() >= 2);
}
