//! Who watches the watchers, end to end on the real Prometheus and
//! Alertmanager: a receiver that fails for two real minutes while a page
//! is due still gets it afterwards (late, with Alertmanager's retries
//! counted), and one that fails to the end of the run loses it, and the
//! verdict names the receiver and the fault. Alertmanager killed during an
//! outage still pages once back, and the dead man's switch its heartbeat
//! feeds notices first; a restart mid-incident loses and repeats nothing;
//! Prometheus cut from Alertmanager pages after the cut heals, with the
//! shipped meta-alert, and the switch again notices first; a rule that
//! fails to evaluate is told by the shipped PrometheusRuleFailures; a dead
//! Jaeger leaves the services serving, and TargetDown tells.

use crate::common;

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
    // Alertmanager's retries succeed within the fault, so no notification
    // counts as failed and none of the shipped pipeline alerts fires.
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

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_killed_alertmanager_pages_once_back_and_the_dead_mans_switch_notices() {
    needs!(common::stack());
    let p = Project::new();
    let (code, text) = p.run_scenario("scenarios/watchers/alertmanager-down.yml");
    let r = p.result();
    // The page is late (five minutes of a dead Alertmanager) but not lost.
    assert_eq!(p.status(SloKind::AlertDelivery), Status::Pass, "{text}");
    assert_eq!(p.status(SloKind::Mttd), Status::Fail, "{text}");
    assert_eq!(code, 1, "{text}");
    let f = &r.pipeline.as_ref().expect("a pipeline section").faults[0];
    assert_eq!(f.fault, "alertmanager-killed");
    assert!(f.lost.is_empty(), "{text}");
    let page = f
        .delivered_late
        .iter()
        .find(|l| l.destination == Destination::PagerDuty)
        .unwrap_or_else(|| panic!("the page reached PagerDuty after the restart: {text}"));
    assert!(page.after_recovery_s.is_some_and(|s| s > 0.0), "{text}");
    let switch = f.dead_mans_switch.as_ref().expect("the heartbeat's switch");
    let pages = switch.pages_after_s.expect("the switch would have paged");
    assert!(pages > 0.0 && switch.stopped_at.is_some(), "{text}");
    // The MTTD detail names the fault, not the grouping.
    let mttd = r.slos.iter().find(|s| s.name == SloKind::Mttd).unwrap();
    assert!(
        mttd.details
            .iter()
            .any(|d| d.contains("held by pipeline fault alertmanager-killed")),
        "{:?}",
        mttd.details
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn an_alertmanager_restart_mid_incident_loses_and_repeats_nothing() {
    needs!(common::stack());
    let p = Project::new();
    let (code, text) = p.run_scenario("scenarios/watchers/alertmanager-restart.yml");
    let r = p.result();
    assert_eq!(r.verdict, Verdict::Pass, "{text}");
    assert_eq!(code, 0, "{text}");
    let f = &r.pipeline.as_ref().expect("a pipeline section").faults[0];
    assert!(f.to.is_some(), "{text}");
    assert_eq!(f.repeated, 0, "{text}");
    assert!(f.lost.is_empty(), "{text}");
    // The resolution, due after the restart, still arrived everywhere.
    let row = r
        .routing
        .iter()
        .find(|row| row.alert == "ServiceDown")
        .unwrap();
    assert_eq!(row.resolved, row.expected, "{text}");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn prometheus_cut_from_alertmanager_pages_after_the_cut_heals_and_is_noticed() {
    needs!(common::stack());
    let p = Project::new();
    let (code, text) = p.run_scenario("scenarios/watchers/prometheus-cut.yml");
    let r = p.result();
    assert_eq!(p.status(SloKind::AlertDelivery), Status::Pass, "{text}");
    // The shipped meta-alert fired (an expected alert of the scenario).
    assert_eq!(p.status(SloKind::ExpectedAlerts), Status::Pass, "{text}");
    assert_eq!(code, 1, "mttd fails: the page waited for the link: {text}");
    let f = &r.pipeline.as_ref().expect("a pipeline section").faults[0];
    assert_eq!(f.fault, "prometheus-cut");
    assert!(
        f.awareness.contains(
            "PrometheusErrorSendingAlertsToAnyAlertmanager reached slack:#engineering-alerts"
        ),
        "{text}"
    );
    assert!(
        f.delivered_late
            .iter()
            .any(|l| l.destination == Destination::PagerDuty && l.after_recovery_s.is_some()),
        "{text}"
    );
    // Prometheus stopped renewing Watchdog, so Alertmanager let it expire
    // and the heartbeat stopped during the cut.
    let switch = f.dead_mans_switch.as_ref().expect("the heartbeat's switch");
    assert!(switch.pages_after_s.is_some(), "{text}");
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_rule_failing_to_evaluate_is_told_by_the_shipped_meta_alert() {
    needs!(common::stack());
    let p = Project::new();
    let (code, text) = p.run_scenario("scenarios/watchers/rule-evaluation-failing.yml");
    let r = p.result();
    assert_eq!(r.verdict, Verdict::Pass, "{text}");
    assert_eq!(code, 0, "{text}");
    let f = &r.pipeline.as_ref().expect("a pipeline section").faults[0];
    assert!(
        f.what.contains("failing: found duplicate series"),
        "the rules API is the evidence: {text}"
    );
    assert!(
        f.awareness
            .contains("PrometheusRuleFailures reached slack:#engineering-alerts"),
        "{text}"
    );
    // The failing rule was taken away: the run's own rule check is clean.
    let rules = r
        .slos
        .iter()
        .find(|s| s.name == SloKind::ExpectedAlerts)
        .unwrap();
    assert!(
        !rules.details.iter().any(|d| d.contains("zeta-bench-fault")),
        "{text}"
    );
}

#[test]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
fn a_dead_tracing_backend_leaves_the_services_serving_and_is_told() {
    needs!(common::stack());
    let p = Project::new();
    let (code, text) = p.run_scenario("scenarios/watchers/tracing-backend-down.yml");
    let r = p.result();
    assert_eq!(r.verdict, Verdict::Pass, "{text}");
    assert_eq!(code, 0, "{text}");
    // The services kept serving: no request failed while Jaeger was dead.
    let load = r.load.as_ref().expect("a load report");
    assert_eq!(load.total_errors, 0, "{text}");
    // Spans lost to the fault are counted, and coverage after it holds.
    let traces = r.traces.as_ref().expect("a trace report");
    assert!(
        traces
            .endpoints
            .iter()
            .map(|e| e.lost_to_faults)
            .sum::<u64>()
            > 0,
        "{text}"
    );
    assert!(
        traces
            .endpoints
            .iter()
            .all(|e| e.found == e.sent && e.sent > 0),
        "{text}"
    );
    let f = &r.pipeline.as_ref().expect("a pipeline section").faults[0];
    assert!(
        f.awareness
            .contains("TargetDown reached slack:#engineering-alerts"),
        "{text}"
    );
}
