//! The verdict rules on hand-built evidence.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration as TD, Utc};

use super::*;
use crate::fault::FaultRecord;
use crate::observe::alertmanager::receiver::{
    Attribution, Notification, NotificationStatus, NotifiedAlert,
};
use crate::observe::prometheus::alerts::AlertTimeline;
use crate::scenario::{ExpectedAlert, FaultKind};
use crate::slo::spec::parse_slo;

const SLO: &str = r##"
mttd: { max: 5m, severities: [critical] }
alert_delivery: { missed_critical: 0, routing: { critical: [pagerduty, "slack:#crit"], warning: ["slack:#warn"], info: [] } }
trace_coverage: { min: 100%, required: false }
"##;

fn t0() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn files(for_: &str) -> StackFiles {
    files_with(
        for_,
        "route: {receiver: x, group_wait: 30s, group_by: [alertname]}\nreceivers: [{name: x}]\n",
    )
}

/// [`files`] with this `alertmanager.yml`.
fn files_with(for_: &str, alertmanager: &str) -> StackFiles {
    StackFiles::from_texts(
        "global: {scrape_interval: 15s, evaluation_interval: 15s}\nrule_files: [rules.yml]\n",
        &format!(
            "groups:\n- name: g\n  rules:\n  - alert: ServiceDown\n    expr: up == 0\n    for: {for_}\n    labels: {{severity: critical}}\n  - alert: Noise\n    expr: vector(1)\n    labels: {{severity: warning}}\n  - alert: Watchdog\n    expr: vector(1)\n    labels: {{severity: none}}\n"
        ),
        alertmanager,
    )
}

fn fault() -> FaultRecord {
    FaultRecord {
        name: "f".into(),
        kind: FaultKind::ServiceDown,
        target: "backend-api".into(),
        planned_at: std::time::Duration::ZERO,
        requested_at: Some(t0()),
        took_effect_at: Some(t0()),
        revert_requested_at: Some(t0() + TD::seconds(30)),
        reverted_at: Some(t0() + TD::seconds(31)),
        reverted_by: Some("restarted".into()),
        error: None,
        evidence: None,
        trial: None,
        outage: false,
    }
}

fn timeline(name: &str, sev: &str, fire_s: i64) -> AlertTimeline {
    AlertTimeline {
        name: name.into(),
        labels: BTreeMap::from([
            ("alertname".into(), name.into()),
            ("severity".into(), sev.into()),
            ("job".into(), "backend-api".into()),
        ]),
        active_at: Some(t0() + TD::seconds(1)),
        first_seen_pending: Some(t0() + TD::seconds(2)),
        first_seen_firing: Some(t0() + TD::seconds(fire_s)),
        gone_at: Some(t0() + TD::seconds(40)),
    }
}

/// An instance of `alert` for backend-api, as Alertmanager would carry it.
fn carried(alert: &str, job: &str, status: NotificationStatus) -> NotifiedAlert {
    let severity = if alert == "ServiceDown" {
        "critical"
    } else {
        "warning"
    };
    NotifiedAlert {
        name: alert.into(),
        labels: BTreeMap::from([
            ("alertname".into(), alert.into()),
            ("severity".into(), severity.into()),
            ("job".into(), job.into()),
        ]),
        fingerprint: format!("{alert}-{job}"),
        status,
    }
}

fn note(dst: Destination, status: NotificationStatus, alert: &str, at_s: i64) -> Notification {
    Notification {
        at: t0() + TD::seconds(at_s),
        destination: dst,
        receiver: "r".into(),
        status,
        alerts: vec![carried(alert, "backend-api", status)],
        attribution: Attribution::CallbackId,
        summary: String::new(),
    }
}

fn expect() -> Expect {
    Expect {
        alerts: vec![ExpectedAlert {
            pos: Default::default(),
            name: "ServiceDown".into(),
            labels: vec![("job".into(), "backend-api".into())],
            fault: "f".into(),
        }],
        unexpected_alerts: UnexpectedAlerts::Fail,
    }
}

fn crit() -> Destination {
    Destination::Slack("#crit".into())
}

fn full_delivery(fire_at: i64) -> Vec<Notification> {
    vec![
        note(
            Destination::PagerDuty,
            NotificationStatus::Firing,
            "ServiceDown",
            fire_at,
        ),
        note(crit(), NotificationStatus::Firing, "ServiceDown", fire_at),
        note(
            Destination::PagerDuty,
            NotificationStatus::Resolved,
            "ServiceDown",
            45,
        ),
        note(crit(), NotificationStatus::Resolved, "ServiceDown", 45),
    ]
}

fn judge(files: &StackFiles, k: f64, alerts: &[AlertTimeline], ns: &[Notification]) -> Verdicts {
    judge_with(files, k, alerts, ns, None, &[])
}

/// [`judge`] with Alertmanager's view and its own delivery failures.
fn judge_with(
    files: &StackFiles,
    k: f64,
    alerts: &[AlertTimeline],
    ns: &[Notification],
    held: Option<&[crate::observe::alertmanager::inhibitions::HeldAlert]>,
    delivery_failures: &[String],
) -> Verdicts {
    let slo = parse_slo(Path::new("slo.yml"), SLO).unwrap();
    let faults = [fault()];
    judge_all(
        &slo,
        files,
        k,
        &faults,
        (alerts, ns),
        held,
        delivery_failures,
    )
}

/// The verdicts on this evidence, with the scenario's one expected alert.
fn judge_all(
    slo: &SloSpec,
    files: &StackFiles,
    k: f64,
    faults: &[FaultRecord],
    (alerts, notifications): (&[AlertTimeline], &[Notification]),
    held: Option<&[crate::observe::alertmanager::inhibitions::HeldAlert]>,
    delivery_failures: &[String],
) -> Verdicts {
    let exp = expect();
    evaluate(&Evidence {
        slo,
        expect: &exp,
        files,
        time_scale: k,
        faults,
        alerts,
        notifications,
        unmeasured: &[],
        notifications_unobserved: None,
        dashboard_problems: &[],
        rule_errors: &[],
        delivery_failures,
        load: Some(&crate::load::LoadReport::default()),
        load_timeout: std::time::Duration::from_secs(10),
        dashboards: None,
        traces: None,
        logs: None,
        held,
        receiver_attempts: &[],
        observed_until: None,
        request_failures: &[],
    })
}

fn slo<'a>(v: &'a Verdicts, name: &str) -> &'a SloResult {
    v.slos.iter().find(|s| s.name.name() == name).unwrap()
}

#[test]
fn a_clean_detection_passes_and_is_measured_in_real_time() {
    let f = files("1m");
    let v = judge(
        &f,
        10.0,
        &[timeline("ServiceDown", "critical", 8)],
        &full_delivery(12),
    );
    assert_eq!(slo(&v, "mttd").status, Status::Pass);
    assert_eq!(v.detections[0].mttd_wall_s, Some(12.0));
    assert_eq!(v.detections[0].mttd_real_s, Some(120.0));
    assert_eq!(slo(&v, "alert_delivery").status, Status::Pass);
    assert_eq!(slo(&v, "expected_alerts").status, Status::Pass);
    assert_eq!(slo(&v, "trace_coverage").status, Status::NotMeasured);
    assert!(!slo(&v, "trace_coverage").required);
    assert_eq!(
        crate::report::RunResult::judge(&v.slos, false),
        crate::report::Verdict::Pass
    );
}

#[test]
fn over_target_in_real_time_fails_even_when_wall_time_is_short() {
    let f = files("1m");
    // 31 s wall × 10 = 310 s > 5 min.
    let v = judge(
        &f,
        10.0,
        &[timeline("ServiceDown", "critical", 8)],
        &full_delivery(31),
    );
    let m = slo(&v, "mttd");
    assert_eq!(m.status, Status::Fail);
    assert!(
        m.details[0].contains("over the 5m00s target"),
        "{:?}",
        m.details
    );
}

#[test]
fn a_missing_destination_counts_as_missed_critical() {
    let f = files("1m");
    let ns: Vec<_> = full_delivery(12)
        .into_iter()
        .filter(|n| n.destination != Destination::PagerDuty)
        .collect();
    let v = judge(&f, 1.0, &[timeline("ServiceDown", "critical", 8)], &ns);
    let d = slo(&v, "alert_delivery");
    assert_eq!(d.status, Status::Fail);
    assert!(
        d.details
            .iter()
            .any(|l| l.contains("never reached pagerduty")),
        "{:?}",
        d.details
    );
    assert_eq!(v.routing[0].missed, vec![Destination::PagerDuty]);
}

#[test]
fn a_missing_resolve_fails_delivery() {
    let f = files("1m");
    let ns: Vec<_> = full_delivery(12)
        .into_iter()
        .filter(|n| !(n.destination == crit() && n.status == NotificationStatus::Resolved))
        .collect();
    let v = judge(&f, 1.0, &[timeline("ServiceDown", "critical", 8)], &ns);
    let d = slo(&v, "alert_delivery");
    assert_eq!(d.status, Status::Fail);
    assert!(
        d.details
            .iter()
            .any(|l| l.contains("at slack:#crit still carried it firing")),
        "{:?}",
        d.details
    );
}

#[test]
fn an_alert_that_never_fired_is_named() {
    let f = files("1m");
    let v = judge(&f, 1.0, &[], &[]);
    let e = slo(&v, "expected_alerts");
    assert_eq!(e.status, Status::Fail);
    assert!(
        e.details[0].starts_with(
            r#"ServiceDown{job="backend-api"} never fired: Prometheus never reported it"#
        ),
        "{:?}",
        e.details
    );
    assert_eq!(slo(&v, "mttd").status, Status::Fail);
    assert_eq!(slo(&v, "alert_delivery").status, Status::NotMeasured);
}

#[test]
fn a_for_longer_than_the_target_is_explained() {
    let f = files("10m");
    let mut t = timeline("ServiceDown", "critical", 0);
    t.first_seen_firing = None;
    let v = judge(&f, 1.0, &[t], &[]);
    let m = slo(&v, "mttd");
    assert!(m.details[0].contains("cannot notify sooner than 10m30s (for 10m00s + group_wait 30.0s), which is over the 5m00s MTTD target"), "{:?}", m.details);
    let e = slo(&v, "expected_alerts");
    assert!(
        e.details[0].contains("became pending but never fired"),
        "{:?}",
        e.details
    );
}

#[test]
fn unexpected_alerts_and_wrong_destinations_fail() {
    let f = files("1m");
    let mut ns = full_delivery(12);
    ns.push(note(crit(), NotificationStatus::Firing, "Noise", 5));
    ns.push(note(crit(), NotificationStatus::Resolved, "Noise", 50));
    let v = judge(
        &f,
        1.0,
        &[
            timeline("ServiceDown", "critical", 8),
            timeline("Noise", "warning", 3),
        ],
        &ns,
    );
    let e = slo(&v, "expected_alerts");
    assert_eq!(e.status, Status::Fail);
    assert!(
        e.details
            .iter()
            .any(|l| l.contains("unexpected alert fired: Noise")),
        "{:?}",
        e.details
    );
    let d = slo(&v, "alert_delivery");
    assert_eq!(d.status, Status::Fail);
    assert!(
        d.details.iter().any(|l| l.contains(
            r#"Noise{job="backend-api"} (warning) reached slack:#crit, which its routing policy does not name"#
        )),
        "{:?}",
        d.details
    );
    assert!(
        d.details
            .iter()
            .any(|l| l.contains(r#"Noise{job="backend-api"} (warning) never reached slack:#warn"#)),
        "{:?}",
        d.details
    );
}

/// Watchdog (constant, `severity: none`) fires all run long and reaches
/// its dead man's switch every minute with nothing new: that is its job,
/// so it is not an unexpected alert, a misroute, a repeat, or a rule with
/// no precision. `Noise`, as constant but at `warning`, stays noise.
#[test]
fn a_heartbeat_is_not_an_incident_a_misroute_or_a_repeat() {
    let f = files("1m");
    assert!(f.is_heartbeat("Watchdog") && !f.is_heartbeat("Noise"));
    let dms = Destination::Webhook("deadmans-switch".into());
    let mut ns = full_delivery(12);
    for at in [1, 61, 121] {
        ns.push(note(
            dms.clone(),
            NotificationStatus::Firing,
            "Watchdog",
            at,
        ));
    }
    let v = judge(
        &f,
        1.0,
        &[
            timeline("ServiceDown", "critical", 8),
            timeline("Watchdog", "none", 1),
        ],
        &ns,
    );
    for name in ["expected_alerts", "alert_delivery"] {
        let s = slo(&v, name);
        assert_eq!(s.status, Status::Pass, "{name}: {:?}", s.details);
    }
    assert!(v.routing.iter().all(|r| r.alert != "Watchdog"));
    assert!(v.scorecard.iter().all(|r| r.rule != "Watchdog"));
}

#[test]
fn a_required_slo_that_was_not_measured_fails_the_run() {
    let slos = vec![SloResult {
        name: SloKind::Mttd,
        status: Status::NotMeasured,
        required: true,
        target: String::new(),
        measured: None,
        details: vec![],
    }];
    assert_eq!(
        crate::report::RunResult::judge(&slos, false),
        crate::report::Verdict::Fail
    );
    assert_eq!(
        crate::report::RunResult::judge(&[], true),
        crate::report::Verdict::Incomplete
    );
}

#[test]
fn a_quiet_scenario_passes_with_nothing_to_detect() {
    let f = files("1m");
    let slo = parse_slo(Path::new("slo.yml"), SLO).unwrap();
    let exp = Expect {
        alerts: vec![],
        unexpected_alerts: UnexpectedAlerts::Fail,
    };
    let v = evaluate(&Evidence {
        slo: &slo,
        expect: &exp,
        files: &f,
        time_scale: 1.0,
        faults: &[],
        alerts: &[],
        notifications: &[],
        unmeasured: &[],
        notifications_unobserved: None,
        dashboard_problems: &[],
        rule_errors: &[],
        delivery_failures: &[],
        load: Some(&crate::load::LoadReport::default()),
        load_timeout: std::time::Duration::from_secs(10),
        dashboards: None,
        traces: None,
        logs: None,
        held: None,
        receiver_attempts: &[],
        observed_until: None,
        request_failures: &[],
    });
    assert_eq!(slo_named(&v, "expected_alerts").status, Status::Pass);
    let m = slo_named(&v, "mttd");
    assert_eq!((m.status, m.required), (Status::NotMeasured, false));
    assert_eq!(
        crate::report::RunResult::judge(&v.slos, false),
        crate::report::Verdict::Pass
    );
    // The same quiet run fails as soon as anything fires.
    let ns = [note(crit(), NotificationStatus::Firing, "Noise", 5)];
    let v = evaluate(&Evidence {
        slo: &slo,
        expect: &exp,
        files: &f,
        time_scale: 1.0,
        faults: &[],
        alerts: &[timeline("Noise", "warning", 3)],
        notifications: &ns,
        unmeasured: &[],
        notifications_unobserved: None,
        dashboard_problems: &[],
        rule_errors: &[],
        delivery_failures: &[],
        load: Some(&crate::load::LoadReport::default()),
        load_timeout: std::time::Duration::from_secs(10),
        dashboards: None,
        traces: None,
        logs: None,
        held: None,
        receiver_attempts: &[],
        observed_until: None,
        request_failures: &[],
    });
    assert_eq!(
        crate::report::RunResult::judge(&v.slos, false),
        crate::report::Verdict::Fail
    );
}

fn slo_named<'a>(v: &'a Verdicts, name: &str) -> &'a SloResult {
    slo(v, name)
}

#[test]
fn a_wait_for_an_open_group_is_named() {
    let f = files("1m");
    // Firing at 8 s, notified at 12 s: within group_wait (30 s at K=1).
    let v = judge(
        &f,
        1.0,
        &[timeline("ServiceDown", "critical", 8)],
        &full_delivery(12),
    );
    assert!(
        !slo(&v, "mttd")
            .details
            .iter()
            .any(|l| l.contains("group_interval"))
    );
    // Firing at 8 s, notified at 70 s: 62 s > group_wait 30 s + slack.
    let v = judge(
        &f,
        1.0,
        &[timeline("ServiceDown", "critical", 8)],
        &full_delivery(70),
    );
    let m = slo(&v, "mttd");
    assert!(m.details.iter().any(|l| l.contains("ServiceDown: waited 1m02s between firing and its first notification, longer than group_wait (30.0s)")), "{:?}", m.details);
}

#[test]
fn an_inhibited_alert_must_stay_silent_and_is_not_missed() {
    use crate::observe::alertmanager::inhibitions::HeldAlert;
    let f = files("1m");
    let spec = parse_slo(Path::new("slo.yml"), SLO).unwrap();
    let faults = [fault()];
    let exp = expect();
    let alerts = [
        timeline("ServiceDown", "critical", 8),
        timeline("Noise", "warning", 9),
    ];
    let held = |active: bool| {
        vec![HeldAlert {
            name: "Noise".into(),
            labels: timeline("Noise", "warning", 9).labels,
            ever_active: active,
            inhibited_by: vec!["ServiceDown".into()],
            ..Default::default()
        }]
    };
    let run = |ns: &[Notification], held: Option<&[HeldAlert]>| {
        evaluate(&Evidence {
            slo: &spec,
            expect: &exp,
            files: &f,
            time_scale: 10.0,
            faults: &faults,
            alerts: &alerts,
            notifications: ns,
            unmeasured: &[],
            notifications_unobserved: None,
            dashboard_problems: &[],
            rule_errors: &[],
            delivery_failures: &[],
            load: Some(&crate::load::LoadReport::default()),
            load_timeout: std::time::Duration::from_secs(10),
            dashboards: None,
            traces: None,
            logs: None,
            held,
            receiver_attempts: &[],
            observed_until: None,
            request_failures: &[],
        })
    };
    let quiet = full_delivery(12);
    // Without Alertmanager's view, Noise reaching nobody is a miss.
    let v = run(&quiet, None);
    assert_eq!(slo(&v, "alert_delivery").status, Status::Fail);
    // Inhibited by ServiceDown, it reached nobody: the policy working.
    let h = held(false);
    let v = run(&quiet, Some(&h));
    let d = slo(&v, "alert_delivery");
    assert_eq!(d.status, Status::Pass, "{:?}", d.details);
    assert!(
        d.details
            .iter()
            .any(|l| l.contains("was inhibited by ServiceDown: silent")),
        "{:?}",
        d.details
    );
    let row = v.routing.iter().find(|r| r.alert == "Noise").unwrap();
    assert!(row.missed.is_empty() && row.fully_inhibited);
    // Inhibited the whole time, yet notified: a broken inhibition.
    let mut loud = quiet.clone();
    loud.push(note(
        Destination::Slack("#warn".into()),
        NotificationStatus::Firing,
        "Noise",
        20,
    ));
    loud.push(note(
        Destination::Slack("#warn".into()),
        NotificationStatus::Resolved,
        "Noise",
        40,
    ));
    let v = run(&loud, Some(&h));
    let d = slo(&v, "alert_delivery");
    assert_eq!(d.status, Status::Fail);
    assert!(
        d.details
            .iter()
            .any(|l| l.contains("inhibited the whole time it fired, yet reached slack:#warn")),
        "{:?}",
        d.details
    );
    // Active before the inhibition began: its notification is legitimate.
    let h = held(true);
    let v = run(&loud, Some(&h));
    assert_eq!(
        slo(&v, "alert_delivery").status,
        Status::Pass,
        "{:?}",
        slo(&v, "alert_delivery").details
    );
}

#[test]
fn slo_names_print_as_in_json_and_honour_padding() {
    assert_eq!(format!("{:<8}|", SloKind::Mttd), "mttd    |");
    assert_eq!(
        serde_json::to_value(SloKind::AlertDelivery).unwrap(),
        "alert_delivery"
    );
}

#[test]
fn a_load_that_did_not_happen_as_planned_fails() {
    use crate::load::LoadReport;
    use crate::slo::spec::LoadSlo;
    let l = LoadSlo::default();
    let good = LoadReport {
        total_sent: 1000,
        ..Default::default()
    };
    assert_eq!(signals::load(&l, Some(&good), &[]).status, Status::Pass);
    // Drops past 1 %.
    let dropping = LoadReport {
        total_sent: 900,
        total_dropped: 100,
        ..Default::default()
    };
    let r = signals::load(&l, Some(&dropping), &[]);
    assert_eq!(r.status, Status::Fail);
    assert!(r.details[0].contains("did not happen as planned"), "{r:?}");
    assert!(
        r.details[1].contains("100 of 1000 arrivals (10.0%)"),
        "{r:?}"
    );
    // The same drops during an outage the scenario caused do not count.
    let outage = LoadReport {
        dropped_by_second: vec![(30, 60), (31, 40)],
        ..dropping.clone()
    };
    let r = signals::load(&l, Some(&outage), &[(29.5, 45.0)]);
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert!(r.measured.unwrap().contains("100 more during an outage"));
    let r = signals::load(&l, Some(&outage), &[(40.0, 45.0)]);
    assert_eq!(r.status, Status::Fail, "drops outside the outage count");
    // A generator behind its schedule.
    let mut late = good.clone();
    late.send_lateness.p99_ms = 450.0;
    let r = signals::load(&l, Some(&late), &[]);
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.details.iter().any(|d| d.contains("p99 450.0 ms")),
        "{r:?}"
    );
    // No load at all.
    let r = signals::load(&l, None, &[]);
    assert_eq!(r.status, Status::Fail);
    assert!(r.fails_run());
}

#[test]
fn a_broken_dashboard_fails_however_fast_it_loads() {
    let ok = SloResult {
        name: SloKind::DashboardLatency,
        status: Status::NotMeasured,
        required: false,
        target: "t".into(),
        measured: Some("p95 20 ms".into()),
        details: vec!["Grafana not running".into()],
    };
    let same = signals::broken_dashboards(ok.clone(), &[]);
    assert_eq!(same.status, Status::NotMeasured);
    let broken = signals::broken_dashboards(ok, &["a.json: panel \"X\" queries typo".into()]);
    assert_eq!(broken.status, Status::Fail);
    assert!(broken.fails_run());
    assert!(broken.details[0].starts_with("broken dashboard: a.json"));
}

#[test]
fn a_rule_prometheus_cannot_evaluate_fails_expected_alerts() {
    let ok = SloResult {
        name: SloKind::ExpectedAlerts,
        status: Status::Pass,
        required: true,
        target: "t".into(),
        measured: None,
        details: vec![],
    };
    assert_eq!(rule_health(ok.clone(), &[]).status, Status::Pass);
    let r = rule_health(ok, &["zeta-api/Broken: health err (boom)".into()]);
    assert_eq!(r.status, Status::Fail);
    assert!(r.details[0].contains("rule evaluation failed: zeta-api/Broken"));
}

#[test]
fn a_page_for_another_instance_is_no_detection_and_is_unexpected() {
    let f = files("1m");
    // ml-engine's ServiceDown fired and paged; backend-api's never did.
    let mut ml = timeline("ServiceDown", "critical", 8);
    ml.labels.insert("job".into(), "ml-engine".into());
    let mut ns = full_delivery(12);
    for n in &mut ns {
        n.alerts = vec![carried("ServiceDown", "ml-engine", n.status)];
    }
    let v = judge(&f, 1.0, &[ml], &ns);
    let e = slo(&v, "expected_alerts");
    assert_eq!(e.status, Status::Fail);
    let all = e.details.join("\n");
    assert!(
        all.contains(r#"ServiceDown{job="backend-api"} never fired"#),
        "{all}"
    );
    assert!(all.contains(r#"job="ml-engine""#), "{all}");
    assert!(all.contains("unexpected alert fired"), "{all}");
    assert!(v.detections[0].notified.is_empty());
    assert_eq!(slo(&v, "mttd").status, Status::Fail);
    assert_eq!(
        label_set(&[("job".into(), "backend-api".into())]),
        "{job=\"backend-api\"}"
    );
}

#[test]
fn mttd_is_the_page_a_human_gets_last() {
    let f = files("1m");
    // Slack after 12 s, PagerDuty after 330 s (its own route's group_wait).
    let mut ns = full_delivery(12);
    ns[0].at = t0() + TD::seconds(330);
    ns[2].at = t0() + TD::seconds(400);
    ns[3].at = t0() + TD::seconds(400);
    let v = judge(&f, 1.0, &[timeline("ServiceDown", "critical", 8)], &ns);
    let d = &v.detections[0];
    assert_eq!(d.mttd_wall_s, Some(330.0));
    assert_eq!(d.late_destination, Some(Destination::PagerDuty));
    let slack = d
        .destinations
        .iter()
        .find(|t| t.destination == crit())
        .unwrap();
    assert_eq!(slack.mttd_wall_s, Some(12.0));
    assert!(slack.required);
    // Reverted at 31 s, resolved at 400 s.
    assert_eq!(slack.reset_wall_s, Some(369.0));
    let m = slo(&v, "mttd");
    assert_eq!(m.status, Status::Fail);
    assert!(
        m.details[0].contains("MTTD 5m30s at pagerduty is over the 5m00s target"),
        "{:?}",
        m.details
    );
    assert!(
        m.details[0].contains("(slack:#crit 12.0s)"),
        "{:?}",
        m.details
    );
    // PagerDuty never paged: MTTD is unmeasured and names it.
    let ns: Vec<_> = full_delivery(12)
        .into_iter()
        .filter(|n| n.destination != Destination::PagerDuty)
        .collect();
    let v = judge(&f, 1.0, &[timeline("ServiceDown", "critical", 8)], &ns);
    assert_eq!(v.detections[0].mttd_wall_s, None);
    let m = slo(&v, "mttd");
    assert_eq!(m.status, Status::Fail);
    assert!(
        m.details[0].contains("never reached pagerduty"),
        "{:?}",
        m.details
    );
}

#[test]
fn a_group_with_a_firing_and_a_resolved_alert_counts_each_as_it_is() {
    let f = files("1m");
    let mut ns = full_delivery(12);
    // The Slack resolve of ServiceDown arrives in a message that also
    // carries another instance firing: it is a resolve for ServiceDown.
    ns[3]
        .alerts
        .push(carried("Noise", "backend-api", NotificationStatus::Firing));
    ns[3].status = NotificationStatus::Firing;
    let v = judge(&f, 1.0, &[timeline("ServiceDown", "critical", 8)], &ns);
    let row = v.routing.iter().find(|r| r.alert == "ServiceDown").unwrap();
    assert!(row.unresolved.is_empty(), "{row:?}");
    assert!(row.resolved.contains(&crit()));
    let noise = v.routing.iter().find(|r| r.alert == "Noise").unwrap();
    assert_eq!(noise.firing, vec![crit()]);
    assert_eq!(noise.unresolved, vec![crit()]);
    // The reverse: a firing ServiceDown in a message whose text would say
    // RESOLVED (another alert resolved) is still firing.
    let mut ns = full_delivery(12);
    ns[3].alerts = vec![
        carried("ServiceDown", "backend-api", NotificationStatus::Firing),
        carried("Noise", "backend-api", NotificationStatus::Resolved),
    ];
    let v = judge(&f, 1.0, &[timeline("ServiceDown", "critical", 8)], &ns);
    let row = v.routing.iter().find(|r| r.alert == "ServiceDown").unwrap();
    assert_eq!(row.unresolved, vec![crit()]);
    assert_eq!(slo(&v, "alert_delivery").status, Status::Fail);
}

#[test]
fn an_alertmanager_delivery_failure_fails_delivery() {
    let f = files("1m");
    let alerts = [timeline("ServiceDown", "critical", 8)];
    let failures = ["integration=\"slack\": 2 failed notification(s)".to_string()];
    let v = judge_with(&f, 1.0, &alerts, &full_delivery(12), None, &failures);
    let d = slo(&v, "alert_delivery");
    assert_eq!(d.status, Status::Fail);
    assert!(
        d.details[0].starts_with("Alertmanager failed to notify: integration=\"slack\""),
        "{:?}",
        d.details
    );
}

#[test]
fn a_downgraded_expected_alert_is_still_judged_by_mttd() {
    let f = files("1m");
    // ServiceDown fired as severity warning and paged nobody: MTTD covers
    // critical only, but the rule (and a scenario pinning severity) expect
    // a critical one, so MTTD judges it and fails.
    let v = judge(&f, 1.0, &[timeline("ServiceDown", "warning", 8)], &[]);
    let m = slo(&v, "mttd");
    assert_eq!(m.status, Status::Fail, "{:?}", m.details);
    assert!(m.details[0].contains("never detected"), "{:?}", m.details);
    // A scenario that expects only a warning: MTTD does not apply.
    let spec = parse_slo(Path::new("slo.yml"), SLO).unwrap();
    let only_warning = [Detection {
        severity: "warning".into(),
        labels: vec![("severity".into(), "warning".into())],
        alert: "Noise".into(),
        ..v.detections[0].clone()
    }];
    let na = mttd_vacuous(spec.mttd.as_ref().unwrap(), &only_warning, "t".into());
    assert_eq!(na.status, Status::NotMeasured);
    assert!(!na.fails_run());
    assert!(na.details[0].contains("does not cover"), "{:?}", na.details);
}

#[test]
fn inhibited_in_one_poll_and_free_for_long_is_missed() {
    use crate::observe::alertmanager::inhibitions::HeldAlert;
    let f = files("1m");
    let alerts = [
        timeline("ServiceDown", "critical", 8),
        timeline("Noise", "warning", 9),
    ];
    let held = |free_s: f64| {
        vec![HeldAlert {
            name: "Noise".into(),
            labels: timeline("Noise", "warning", 9).labels,
            ever_active: true,
            inhibited_by: vec!["ServiceDown".into()],
            longest_active_s: free_s,
            ..Default::default()
        }]
    };
    let ns = full_delivery(12);
    let run = |h: &[HeldAlert]| judge_with(&f, 1.0, &alerts, &ns, Some(h), &[]);
    // Free for 10 s (under group_wait 30 s): excused.
    let v = run(&held(10.0));
    assert!(
        v.routing
            .iter()
            .find(|r| r.alert == "Noise")
            .unwrap()
            .missed
            .is_empty()
    );
    // Free for 120 s and still silent: missed.
    let v = run(&held(120.0));
    let d = slo(&v, "alert_delivery");
    assert_eq!(d.status, Status::Fail);
    assert!(
        d.details
            .iter()
            .any(|l| l.contains("never reached slack:#warn") && l.contains("free for 120s")),
        "{:?}",
        d.details
    );
}

/// Trial `k` of ServiceDown, its fault taking effect `at_s` into the run
/// and reverted 31 s later.
fn trial_fault(k: u32, at_s: i64) -> FaultRecord {
    let at = t0() + TD::seconds(at_s);
    FaultRecord {
        trial: Some(k),
        requested_at: Some(at),
        took_effect_at: Some(at),
        revert_requested_at: Some(at + TD::seconds(30)),
        reverted_at: Some(at + TD::seconds(31)),
        ..fault()
    }
}

/// One trial's pages: firing at PagerDuty and Slack `pd_s` and `slack_s`
/// after `at_s`, each resolved 5 s after the revert unless `resolve` is
/// false for PagerDuty.
fn trial_pages(at_s: i64, pd_s: i64, slack_s: i64, resolve: bool) -> Vec<Notification> {
    let mut ns = vec![
        note(
            Destination::PagerDuty,
            NotificationStatus::Firing,
            "ServiceDown",
            at_s + pd_s,
        ),
        note(
            crit(),
            NotificationStatus::Firing,
            "ServiceDown",
            at_s + slack_s,
        ),
        note(
            crit(),
            NotificationStatus::Resolved,
            "ServiceDown",
            at_s + 36,
        ),
    ];
    if resolve {
        ns.push(note(
            Destination::PagerDuty,
            NotificationStatus::Resolved,
            "ServiceDown",
            at_s + 36,
        ));
    }
    ns
}

fn trial_timeline(at_s: i64) -> AlertTimeline {
    let at = t0() + TD::seconds(at_s);
    AlertTimeline {
        active_at: Some(at + TD::seconds(1)),
        first_seen_pending: Some(at + TD::seconds(2)),
        first_seen_firing: Some(at + TD::seconds(8)),
        gone_at: Some(at + TD::seconds(34)),
        ..timeline("ServiceDown", "critical", 8)
    }
}

/// Three trials 100 s apart at 10×, judged against `slo_text`.
fn judge_trials(slo_text: &str, pages: [(i64, i64, bool); 3]) -> Verdicts {
    judge_trials_every(100, slo_text, pages)
}

/// Three trials `every` seconds apart at 10×.
fn judge_trials_every(every: i64, slo_text: &str, pages: [(i64, i64, bool); 3]) -> Verdicts {
    judge_trials_in(&files("1m"), every, slo_text, pages, Vec::new())
}

/// [`judge_trials_every`] on these stack files, with `extra` alerts
/// beside the trials'.
fn judge_trials_in(
    f: &StackFiles,
    every: i64,
    slo_text: &str,
    pages: [(i64, i64, bool); 3],
    extra: Vec<AlertTimeline>,
) -> Verdicts {
    let slo = parse_slo(Path::new("slo.yml"), slo_text).unwrap();
    let faults: Vec<FaultRecord> = (0..3)
        .map(|i| trial_fault(i + 1, i as i64 * every))
        .collect();
    let mut alerts: Vec<AlertTimeline> = (0..3).map(|i| trial_timeline(i * every)).collect();
    alerts.extend(extra);
    let mut ns: Vec<Notification> = pages
        .iter()
        .enumerate()
        .flat_map(|(i, (pd, sl, res))| trial_pages(i as i64 * every, *pd, *sl, *res))
        .collect();
    // The heartbeat fires all run long and beats every minute: it never
    // resolves, and no trial is excluded for it.
    alerts.push(AlertTimeline {
        gone_at: None,
        ..timeline("Watchdog", "none", 0)
    });
    let dms = Destination::Webhook("deadmans-switch".into());
    ns.extend(
        (0..3 * every / 60)
            .map(|m| note(dms.clone(), NotificationStatus::Firing, "Watchdog", m * 60)),
    );
    ns.sort_by_key(|n| n.at);
    judge_all(&slo, f, 10.0, &faults, (&alerts, &ns), None, &[])
}

#[test]
fn trials_give_a_spread_per_destination_and_each_trial_its_own_pages() {
    let v = judge_trials(SLO, [(10, 11, true), (12, 12, true), (9, 14, true)]);
    assert_eq!(v.detections.len(), 3);
    assert_eq!(v.detections[1].trial, Some(2));
    assert!(v.detections[1].instance().ends_with("(trial 2)"));
    // Each trial is measured from its own fault, not trial 1's.
    assert_eq!(v.detections[2].mttd_wall_s, Some(14.0));
    let a = &v.trials[0];
    assert_eq!(a.counted, [1, 2, 3]);
    let page = a.page().unwrap();
    assert_eq!(page.mttd_real_s, [Some(110.0), Some(120.0), Some(140.0)]);
    // Reset: revert (31 s) → resolved (36 s) = 5 s wall.
    assert_eq!(page.reset_real_s, [Some(50.0); 3]);
    let pd = a
        .series
        .iter()
        .find(|s| s.destination == Some(Destination::PagerDuty))
        .unwrap();
    let sp = pd.mttd.as_ref().unwrap();
    assert_eq!(
        (sp.min_s, sp.p50_s, sp.p95_s, sp.max_s),
        (90.0, 100.0, 120.0, 120.0)
    );
    // for 1m + group_wait 30s; the ceiling adds a scrape, its timeout and an
    // evaluation.
    assert_eq!(
        (a.floor_real_s, a.ceiling_real_s),
        (Some(90.0), Some(130.0))
    );
    assert!(a.self_check.is_empty(), "{:?}", a.self_check);
    // Trials 2 and 3 fire 100 s after the last one's resolution, while
    // Prometheus still re-sends it: they may join its re-opened group, so
    // at best for 1m, at worst Alertmanager's default group_interval (5m)
    // where the fresh group's ceiling has its group_wait.
    assert_eq!(a.rejoining, [2, 3]);
    assert_eq!(
        (a.rejoin_floor_real_s, a.rejoin_ceiling_real_s),
        (Some(60.0), Some(400.0))
    );
    let m = slo(&v, "mttd");
    assert_eq!(m.status, Status::Pass, "{:?}", m.details);
    assert_eq!(m.measured.as_deref(), Some("worst 2m20s over 3"));
    assert!(
        m.details[0].contains("MTTD worst of 3 trials 2m20s"),
        "{:?}",
        m.details
    );
    assert!(
        m.details[1].contains("pagerduty 1m30s / 1m40s / 2m00s / 2m00s")
            && m.details[1].contains("allows 1m30s–2m10s"),
        "{:?}",
        m.details
    );
    assert_eq!(slo(&v, "expected_alerts").status, Status::Pass);
}

#[test]
fn a_repeat_while_prometheus_resends_the_resolution_is_judged_as_joining_an_open_group() {
    // Trial 2's page comes 7 s wall (70 s real) after its fault: under the
    // fresh-group floor (90 s) by more than the jitter, yet possible when the
    // alert joins the group that trial 1's resent resolution keeps open.
    let v = judge_trials(SLO, [(10, 10, true), (7, 7, true), (10, 10, true)]);
    let a = &v.trials[0];
    assert_eq!(a.counted, [1, 2, 3]);
    assert_eq!(a.rejoining, [2, 3]);
    assert!(a.self_check.is_empty(), "{:?}", a.self_check);
    assert!(
        a.band().contains("trial(s) 2, 3 1m00s–6m40s"),
        "{}",
        a.band()
    );
    // The same 70 s in a first trial, with no resolution before it, is
    // below its floor: the self-check still flags it.
    let v = judge_trials(SLO, [(7, 7, true), (10, 10, true), (10, 10, true)]);
    let a = &v.trials[0];
    assert!(!a.rejoining.contains(&1));
    assert!(
        a.self_check
            .iter()
            .any(|c| c.starts_with("trial 1: MTTD 1m10s") && c.contains("below")),
        "{:?}",
        a.self_check
    );
    // Trials further apart than Prometheus' 15-minute retention (and the
    // sweep after it) start from a fresh group.
    let v = judge_trials_every(1000, SLO, [(10, 10, true), (10, 10, true), (10, 10, true)]);
    assert!(v.trials[0].rejoining.is_empty());
    assert_eq!(v.trials[0].rejoin_floor_real_s, None);
}

#[test]
fn the_percentile_gate_judges_the_chosen_trial_and_a_miss_counts_as_late() {
    let p50 = "mttd: { max: 5m, percentile: 50 }\nalert_delivery: { missed_critical: 0, routing: { critical: [pagerduty, \"slack:#crit\"] } }\n";
    // One trial at 40 s wall (400 s real) is over 5 minutes. The trials
    // are further apart than Prometheus' resolved retention: each starts
    // from a fresh group, whose band 400 s is clearly above.
    let pages = [(10, 11, true), (12, 12, true), (40, 40, true)];
    let worst = judge_trials_every(1000, SLO, pages);
    assert_eq!(slo(&worst, "mttd").status, Status::Fail);
    assert!(
        slo(&worst, "mttd").details[0].contains("worst of 3 trials 6m40s is over the 5m00s target"),
        "{:?}",
        slo(&worst, "mttd").details
    );
    // The self-check names the trial outside the band.
    assert!(
        slo(&worst, "mttd")
            .details
            .iter()
            .any(|l| l.starts_with("SELF-CHECK")
                && l.contains("trial 3")
                && l.contains("clearly above")),
        "{:?}",
        slo(&worst, "mttd").details
    );
    let median = judge_trials_every(1000, p50, pages);
    let m = slo(&median, "mttd");
    assert_eq!(m.status, Status::Pass, "{:?}", m.details);
    assert!(m.target.ends_with("p50 of the trials"), "{}", m.target);
    assert!(
        m.details[0].contains("p50 of 3 trials 2m00s"),
        "{:?}",
        m.details
    );
}

#[test]
fn another_rules_alert_open_across_the_trials_voids_them_only_if_it_can_touch_them() {
    // Noise (another rule's warning) fires from 5 s on and never ends, as a
    // cache gone cold does over a long run.
    let noise = || {
        vec![AlertTimeline {
            gone_at: None,
            ..timeline("Noise", "warning", 5)
        }]
    };
    let pages = [(10, 11, true), (12, 12, true), (9, 14, true)];
    let v = judge_trials_in(&files("1m"), 100, SLO, pages, noise());
    assert_eq!(v.trials[0].counted, [1, 2, 3], "{:?}", v.trials[0].excluded);
    // It can mute ServiceDown: an inhibit rule takes it as its source.
    let inhibits = "route: {receiver: x, group_wait: 30s, group_by: [alertname]}\nreceivers: [{name: x}]\ninhibit_rules:\n  - source_matchers: ['alertname=\"Noise\"']\n    target_matchers: ['severity=\"critical\"']\n";
    let v = judge_trials_in(&files_with("1m", inhibits), 100, SLO, pages, noise());
    assert_eq!(v.trials[0].counted, [1]);
    assert!(
        v.trials[0].excluded[0]
            .reason
            .contains("Noise still firing in Prometheus")
    );
    // It can share ServiceDown's groups: they are not by alertname.
    let shared = "route: {receiver: x, group_wait: 30s, group_by: [job]}\nreceivers: [{name: x}]\n";
    let v = judge_trials_in(&files_with("1m", shared), 100, SLO, pages, noise());
    assert_eq!(v.trials[0].counted, [1]);
}

#[test]
fn a_trial_that_began_before_the_last_one_recovered_is_excluded() {
    // Trial 2's page at PagerDuty never resolves before trial 3 begins.
    let v = judge_trials(SLO, [(10, 11, true), (12, 12, false), (9, 14, true)]);
    let a = &v.trials[0];
    assert_eq!(a.counted, [1, 2]);
    assert_eq!(a.excluded.len(), 1);
    assert_eq!(a.excluded[0].trial, 3);
    assert!(
        a.excluded[0]
            .reason
            .contains("began before trial 2 had recovered: ServiceDown{")
            && a.excluded[0]
                .reason
                .contains("not yet resolved at pagerduty"),
        "{}",
        a.excluded[0].reason
    );
    let m = slo(&v, "mttd");
    assert!(
        m.details.iter().any(|l| l.contains("trial 3 excluded")),
        "{:?}",
        m.details
    );
    assert_eq!(m.measured.as_deref(), Some("worst 2m00s over 2"));
}

#[test]
fn a_trial_that_fires_before_alertmanager_swept_the_last_group_is_excluded() {
    // 50 s apart: trial 1's pages resolve at 36 s, trial 2's alert fires at
    // 58 s, 22 s later, inside the 30 s sweep; trial 3 likewise.
    let v = judge_trials_every(50, SLO, [(10, 11, true), (12, 12, true), (9, 14, true)]);
    let a = &v.trials[0];
    assert_eq!(a.counted, [1], "{:?}", a.excluded);
    assert!(
        a.excluded[0]
            .reason
            .contains("fired 22.0s after trial 1's last resolved notification")
            && a.excluded[0].reason.contains("30.0s sweep"),
        "{}",
        a.excluded[0].reason
    );
    // 100 s apart: 72 s after, past the sweep.
    let v = judge_trials(SLO, [(10, 11, true), (12, 12, true), (9, 14, true)]);
    assert!(v.trials[0].excluded.is_empty());
}

#[test]
fn the_scorecard_counts_quiet_time_firings_against_precision_and_misses_against_recall() {
    let f = files("1m");
    let slo = parse_slo(Path::new("slo.yml"), SLO).unwrap();
    let faults: Vec<FaultRecord> = (0..3)
        .map(|i| trial_fault(i + 1, i64::from(i) * 100))
        .collect();
    // Trials 1 and 2 fire; trial 3 never does; and once, at 70 s, between
    // trials, ServiceDown fires with no fault in force.
    let mut alerts: Vec<AlertTimeline> = (0..2).map(|i| trial_timeline(i * 100)).collect();
    alerts.push(trial_timeline(69));
    let mut ns = trial_pages(0, 10, 11, true);
    ns.extend(trial_pages(100, 12, 12, true));
    // Trial 1's page is resolved at 20 s, while its fault is still in
    // force (it is reverted at 31 s).
    ns.push(note(
        Destination::PagerDuty,
        NotificationStatus::Resolved,
        "ServiceDown",
        20,
    ));
    let v = judge_all(&slo, &f, 10.0, &faults, (&alerts, &ns), None, &[]);
    let sd = v
        .scorecard
        .iter()
        .find(|s| s.rule == "ServiceDown")
        .unwrap();
    assert_eq!((sd.firings, sd.explained), (3, 2), "{sd:?}");
    assert_eq!((sd.expected, sd.caught), (3, 2), "{sd:?}");
    assert_eq!(fraction(sd.explained, sd.firings), "2/3 = 67%");
    assert_eq!(sd.recall, Some(2.0 / 3.0));
    let det = sd.detection.as_ref().unwrap();
    assert_eq!((det.measured, det.missed, det.max_s), (2, 1, 120.0));
    assert_eq!(sd.reset.as_ref().unwrap().p50_s, 50.0);
    assert_eq!(sd.resolved_early, 1);
    // A rule nobody expected and that never fired has no row.
    assert!(v.scorecard.iter().all(|s| s.rule != "Noise"));
}

#[test]
fn a_trial_whose_fault_never_took_effect_does_not_borrow_the_last_trials_pages() {
    let f = files("1m");
    let spec = parse_slo(Path::new("slo.yml"), SLO).unwrap();
    let mut faults: Vec<FaultRecord> = (0..3)
        .map(|i| trial_fault(i + 1, i64::from(i) * 100))
        .collect();
    faults[1].took_effect_at = None;
    faults[1].reverted_at = None;
    faults[1].error = Some("could not inject: refused".into());
    let alerts = vec![trial_timeline(0), trial_timeline(200)];
    let mut ns = trial_pages(0, 10, 11, true);
    ns.extend(trial_pages(200, 9, 14, true));
    let v = judge_all(&spec, &f, 10.0, &faults, (&alerts, &ns), None, &[]);
    let t2 = &v.detections[1];
    assert_eq!(t2.trial, Some(2));
    assert!(t2.notified.is_empty(), "{:?}", t2.notified);
    assert!(t2.pending_at.is_none());
    let e = slo(&v, "expected_alerts");
    assert!(
        e.details
            .iter()
            .any(|l| l.contains("(trial 2): its fault \"f\" never took effect")),
        "{:?}",
        e.details
    );
}
