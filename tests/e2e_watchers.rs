//! Who watches the watchers, end to end on the real Prometheus and
//! Alertmanager: a receiver that fails for two real minutes while a page
//! is due still gets it afterwards (late, with Alertmanager's retries
//! counted), and one that fails to the end of the run loses it, and the
//! verdict names the receiver and the fault.

mod common;

use common::Project;
use zeta_bench::names::SloKind;
use zeta_bench::report::Verdict;
use zeta_bench::slo::Destination;
use zeta_bench::slo::check::Status;

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_page_held_by_a_failing_pagerduty_arrives_after_it_recovers() {
    needs!(common::stack());
    let p = Project::new();
    let (code, text) = p.run_scenario("scenarios/watchers/receiver-failing.yml");
    let r = p.result();
    let delivery = r
        .slos
        .iter()
        .find(|s| s.name == SloKind::AlertDelivery)
        .unwrap();
    assert_eq!(delivery.status, Status::Pass, "{text}");
    assert_eq!(code, 0, "{text}");
    let pipeline = r.pipeline.as_ref().expect("a pipeline section");
    let f = &pipeline.faults[0];
    assert_eq!(f.fault, "pagerduty-500");
    assert!(f.attempts_at_receiver >= 1, "{text}");
    assert!(f.lost.is_empty(), "{text}");
    let late = f
        .delivered_late
        .iter()
        .find(|l| l.destination == Destination::PagerDuty)
        .unwrap_or_else(|| panic!("the page reached PagerDuty late: {text}"));
    assert!(late.beyond_healthy_s.unwrap() > 0.0, "{text}");
    // Alertmanager's retries show, beside what the receiver saw, as its
    // own counters or at least as the attempts PagerDuty turned away.
    assert!(
        delivery
            .details
            .iter()
            .any(|d| d.contains("through fault pagerduty-500")),
        "{:?}",
        delivery.details
    );
    // The shipped stack has no rule on its own pipeline.
    assert!(
        f.awareness.starts_with("blind for the whole fault"),
        "{text}"
    );
    assert!(text.contains("Pipeline health"), "{text}");
    let html = std::fs::read_to_string(p.run_dir().join("report.html")).unwrap();
    assert!(html.contains("Pipeline health"));
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_pagerduty_failing_to_the_end_loses_the_page_and_the_verdict_names_the_fault() {
    needs!(common::stack());
    let p = Project::new();
    let (code, text) = p.run_scenario("scenarios/watchers/receiver-failing-to-the-end.yml");
    let r = p.result();
    assert_eq!(r.verdict, Verdict::Fail, "{text}");
    assert_eq!(code, 1, "{text}");
    let delivery = r
        .slos
        .iter()
        .find(|s| s.name == SloKind::AlertDelivery)
        .unwrap();
    assert_eq!(delivery.status, Status::Fail, "{text}");
    assert!(
        delivery
            .details
            .iter()
            .any(|d| d.contains("never reached pagerduty")
                && d.contains("swallowed by fault pagerduty-down")),
        "{:?}",
        delivery.details
    );
    let f = &r.pipeline.as_ref().unwrap().faults[0];
    assert_eq!(f.to, None, "in force to the end: {text}");
    assert!(!f.lost.is_empty(), "{text}");
    assert!(f.attempts_at_receiver >= 1, "{text}");
}
