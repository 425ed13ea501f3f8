//! The pipeline judge on hand-built evidence: a page delayed by a failing
//! receiver, one it swallowed, repeats, and awareness with and without
//! rules that watch the pipeline.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as TD, Utc};

use super::*;
use crate::observe::alertmanager::receiver::{Attribution, NotifiedAlert};

fn t0() -> DateTime<Utc> {
    "2026-12-06T12:00:00Z".parse().unwrap()
}

fn at(s: i64) -> DateTime<Utc> {
    t0() + TD::seconds(s)
}

fn alert(name: &str, status: NotificationStatus) -> NotifiedAlert {
    NotifiedAlert {
        name: name.into(),
        labels: BTreeMap::from([
            ("alertname".into(), name.into()),
            ("job".into(), "backend-api".into()),
        ]),
        fingerprint: format!("fp-{name}"),
        status,
    }
}

fn note(d: Destination, name: &str, status: NotificationStatus, s: i64) -> Notification {
    Notification {
        at: at(s),
        destination: d,
        receiver: "critical".into(),
        status,
        alerts: vec![alert(name, status)],
        attribution: Attribution::Payload,
        summary: String::new(),
    }
}

fn slack() -> Destination {
    Destination::Slack("#zeta-critical-alerts".into())
}

fn row(missed: Vec<Destination>) -> RoutingRow {
    let expected = vec![Destination::PagerDuty, slack()];
    RoutingRow {
        alert: "ServiceDown".into(),
        labels: vec![("job".into(), "backend-api".into())],
        severity: "critical".into(),
        firing: expected
            .iter()
            .filter(|d| !missed.contains(d))
            .cloned()
            .collect(),
        expected,
        resolved: vec![],
        missed,
        unexpected: vec![],
        unresolved: vec![],
        inhibited_by: vec![],
        fully_inhibited: false,
        longest_free_s: None,
    }
}

fn fault(from: i64, to: Option<i64>) -> FaultRecord {
    FaultRecord {
        took_effect_at: Some(at(from)),
        reverted_at: to.map(at),
        evidence: Some("the harness's pagerduty receiver read back answering 500".into()),
        ..crate::fault::record_for(&crate::scenario::plan::PlannedFault {
            name: "pd-outage".into(),
            kind: FaultKind::ReceiverFailing,
            params: Default::default(),
            target: "pagerduty".into(),
            at: std::time::Duration::ZERO,
            duration: std::time::Duration::from_secs(8),
            trial: 1,
        })
    }
}

fn attempt(s: i64) -> Attempt {
    Attempt {
        at: at(s),
        service: "pagerduty".into(),
        receiver: "critical".into(),
        answer: "500".into(),
    }
}

fn evidence<'a>(
    faults: &'a [FaultRecord],
    rows: &'a [RoutingRow],
    ns: &'a [Notification],
    attempts: &'a [Attempt],
    failures: &'a [String],
    watchers: &'a [String],
) -> PipelineEvidence<'a> {
    PipelineEvidence {
        faults,
        rows,
        notifications: ns,
        attempts,
        delivery_failures: failures,
        request_failures: &[],
        watchers,
        heartbeats: &[],
        until: None,
        time_scale: 15.0,
    }
}

#[test]
fn a_page_held_by_a_failing_receiver_is_late_by_what_the_healthy_path_shows() {
    use NotificationStatus::Firing;
    let faults = [fault(0, Some(8))];
    let rows = [row(vec![])];
    let ns = [
        note(slack(), "ServiceDown", Firing, 4),
        note(Destination::PagerDuty, "ServiceDown", Firing, 13),
    ];
    let attempts = [attempt(4), attempt(5), attempt(7), attempt(20)];
    let failures = [
        "integration=\"pagerduty\": 1 failed notification(s)".to_string(),
        "integration=\"slack\": 1 failed notification(s)".to_string(),
    ];
    let r = judge(&evidence(&faults, &rows, &ns, &attempts, &failures, &[])).unwrap();
    let f = &r.faults[0];
    assert_eq!(
        f.attempts_at_receiver, 3,
        "the attempt after the revert is not the fault's"
    );
    assert_eq!(f.alertmanager_failures, vec![failures[0].clone()]);
    assert_eq!(f.delivered_late.len(), 1);
    assert_eq!(f.delivered_late[0].beyond_healthy_s, Some(9.0));
    assert_eq!(f.delivered_late[0].beyond_healthy_real_s, Some(135.0));
    assert!(f.lost.is_empty());
    assert!(
        f.awareness.starts_with("blind for the whole fault"),
        "{}",
        f.awareness
    );
    assert_eq!(r.blind_spots.len(), 1);
    assert!(
        r.blind_spots[0].starts_with("pd-outage ("),
        "{:?}",
        r.blind_spots
    );
}

#[test]
fn a_page_that_never_arrived_is_lost_to_the_fault() {
    use NotificationStatus::Firing;
    let faults = [fault(0, None)];
    let rows = [row(vec![Destination::PagerDuty])];
    let ns = [note(slack(), "ServiceDown", Firing, 4)];
    let r = judge(&evidence(&faults, &rows, &ns, &[], &[], &[])).unwrap();
    assert_eq!(
        r.faults[0].lost,
        vec!["ServiceDown{job=\"backend-api\"} never reached pagerduty".to_string()]
    );
    assert!(r.faults[0].delivered_late.is_empty());
    assert_eq!(r.faults[0].to, None);
}

#[test]
fn a_page_delivered_before_the_fault_is_not_late() {
    use NotificationStatus::Firing;
    let faults = [fault(30, Some(40))];
    let rows = [row(vec![])];
    let ns = [
        note(slack(), "ServiceDown", Firing, 4),
        note(Destination::PagerDuty, "ServiceDown", Firing, 4),
    ];
    let r = judge(&evidence(&faults, &rows, &ns, &[], &[], &[])).unwrap();
    assert!(r.faults[0].delivered_late.is_empty());
}

#[test]
fn repeats_count_an_instance_and_status_already_carried_there() {
    use NotificationStatus::{Firing, Resolved};
    let faults = [fault(0, Some(8))];
    let ns = [
        note(Destination::PagerDuty, "ServiceDown", Firing, 10),
        note(Destination::PagerDuty, "ServiceDown", Firing, 11),
        note(Destination::PagerDuty, "ServiceDown", Resolved, 30),
        note(slack(), "ServiceDown", Firing, 4),
        note(slack(), "ServiceDown", Firing, 5),
        // Long after the fault: a repeat_interval reminder, not the fault's.
        note(Destination::PagerDuty, "ServiceDown", Firing, 600),
    ];
    let r = judge(&evidence(&faults, &[], &ns, &[], &[], &[])).unwrap();
    assert_eq!(r.faults[0].repeated, 1);
}

#[test]
fn awareness_is_the_first_pipeline_alert_after_the_fault() {
    use NotificationStatus::Firing;
    let faults = [fault(0, Some(60))];
    let watchers = ["AlertmanagerFailedToSendAlerts".to_string()];
    let ns = [note(slack(), "AlertmanagerFailedToSendAlerts", Firing, 20)];
    let r = judge(&evidence(&faults, &[], &ns, &[], &[], &watchers)).unwrap();
    assert!(
        r.faults[0]
            .awareness
            .starts_with("told after 20.0s (5m00s real time): AlertmanagerFailedToSendAlerts reached slack:#zeta-critical-alerts"),
        "{}",
        r.faults[0].awareness
    );
    assert!(r.blind_spots.is_empty());
    let none = judge(&evidence(&faults, &[], &[], &[], &[], &watchers)).unwrap();
    assert!(
        none.faults[0]
            .awareness
            .contains("none of the stack's pipeline alerts")
    );
}

#[test]
fn runs_without_a_pipeline_fault_have_no_section_and_watchers_are_found_by_metric() {
    assert_eq!(judge(&evidence(&[], &[], &[], &[], &[], &[])), None);
    let rule = |name: &str, expr: &str| AlertRule {
        name: name.into(),
        expr: expr.into(),
        for_: std::time::Duration::ZERO,
        labels: Default::default(),
        annotations: Default::default(),
        file: "rules.yml".into(),
        group_interval: None,
        pos: Default::default(),
    };
    let rules = [
        rule("ServiceDown", "up{job=\"backend-api\"} == 0"),
        rule(
            "AlertmanagerFailedToSendAlerts",
            "rate(alertmanager_notifications_failed_total[5m]) > 0",
        ),
        rule(
            "PrometheusNotConnectedToAlertmanagers",
            "max_over_time(prometheus_notifications_alertmanagers_discovered[5m]) < 1",
        ),
    ];
    assert_eq!(
        self_monitoring(&rules),
        vec![
            "AlertmanagerFailedToSendAlerts".to_string(),
            "PrometheusNotConnectedToAlertmanagers".to_string()
        ]
    );
}

fn alertmanager_down(from: i64, to: i64) -> FaultRecord {
    FaultRecord {
        kind: FaultKind::AlertmanagerDown,
        target: "alertmanager".into(),
        name: "am-killed".into(),
        evidence: Some("connection refused at 127.0.0.1:9093".into()),
        ..fault(from, Some(to))
    }
}

fn beat(s: i64) -> Notification {
    note(
        Destination::Webhook("deadmans-switch".into()),
        "Watchdog",
        NotificationStatus::Firing,
        s,
    )
}

/// Alertmanager killed at 100 s and back at 160 s: the heartbeat (every
/// 4 s) stops at 100 s, so a switch paging after three missed (12 s)
/// pages 12 s in; the page held by the outage arrives after recovery, on
/// every destination (no healthy path), and is reported against the
/// fault's end. Without a heartbeat rule there is no switch, and with
/// no pipeline alert either the fault is a blind spot.
#[test]
fn a_dead_alertmanager_is_noticed_by_the_dead_mans_switch() {
    use NotificationStatus::Firing;
    let faults = [alertmanager_down(100, 160)];
    let rows = [row(vec![])];
    let mut ns: Vec<Notification> = (0..=25).map(|i| beat(i * 4)).collect();
    ns.extend((41..=50).map(|i| beat(i * 4)));
    ns.push(note(Destination::PagerDuty, "ServiceDown", Firing, 165));
    ns.push(note(slack(), "ServiceDown", Firing, 165));
    let heartbeats = ["Watchdog".to_string()];
    let ev = PipelineEvidence {
        heartbeats: &heartbeats,
        until: Some(at(200)),
        ..evidence(&faults, &rows, &ns, &[], &[], &[])
    };
    let r = judge(&ev).unwrap();
    let f = &r.faults[0];
    let s = f.dead_mans_switch.as_ref().unwrap();
    assert_eq!(s.period_s, Some(4.0));
    assert_eq!(s.timeout_s, Some(12.0));
    assert_eq!(s.stopped_at, Some(at(100)));
    assert_eq!(s.pages_after_s, Some(12.0));
    assert!(
        s.summary
            .contains("would have paged 12.0s (3m00s real time)"),
        "{}",
        s.summary
    );
    assert_eq!(f.delivered_late.len(), 2);
    assert!(f.delivered_late.iter().all(|l| l.beyond_healthy_s.is_none()
        && l.after_recovery_s == Some(5.0)
        && l.after_recovery_real_s == Some(75.0)));
    // Heartbeats repeat on purpose: not repeats.
    assert_eq!(f.repeated, 0);
    // Told by the switch, so not blind, though no pipeline alert came.
    assert!(f.awareness.starts_with("blind"));
    assert!(r.blind_spots.is_empty());
    let lines = lines(&r).join("\n");
    assert!(
        lines.contains("dead man's switch: heartbeat stopped at 12:01:40"),
        "{lines}"
    );

    // A switch that never saw the silence: heartbeats on through the fault.
    let steady: Vec<Notification> = (0..=50).map(|i| beat(i * 4)).collect();
    let ev = PipelineEvidence {
        heartbeats: &heartbeats,
        until: Some(at(200)),
        ..evidence(&faults, &rows, &steady, &[], &[], &[])
    };
    let s = judge(&ev).unwrap().faults[0]
        .dead_mans_switch
        .clone()
        .unwrap();
    assert_eq!(s.pages_after_s, None);
    assert!(s.summary.contains("would not have paged"), "{}", s.summary);

    // No heartbeat rule: no switch, and a blind spot.
    let r = judge(&evidence(&faults, &rows, &ns, &[], &[], &[])).unwrap();
    assert_eq!(r.faults[0].dead_mans_switch, None);
    assert_eq!(r.blind_spots.len(), 1);
}

/// A heartbeat that never resumes before the run ends still pages, at
/// the last heartbeat plus the timeout, if the run lasted that long.
#[test]
fn a_heartbeat_that_never_resumes_pages_if_the_run_lasts_the_timeout() {
    let faults = [alertmanager_down(100, 160)];
    let ns: Vec<Notification> = (0..=25).map(|i| beat(i * 4)).collect();
    let heartbeats = ["Watchdog".to_string()];
    for (until, pages) in [(200, Some(12.0)), (105, None)] {
        let ev = PipelineEvidence {
            heartbeats: &heartbeats,
            until: Some(at(until)),
            ..evidence(&faults, &[], &ns, &[], &[], &[])
        };
        let s = judge(&ev).unwrap().faults[0]
            .dead_mans_switch
            .clone()
            .unwrap();
        assert_eq!(s.pages_after_s, pages, "{}", s.summary);
    }
}

/// A silence that begins after the fault ended (the run winding down,
/// the receivers gone) is not the fault's: the switch did not page for it.
#[test]
fn a_silence_after_the_fault_ended_is_not_its_awareness() {
    let faults = [alertmanager_down(100, 160)];
    let ns: Vec<Notification> = (0..=50).map(|i| beat(i * 4)).collect();
    let heartbeats = ["Watchdog".to_string()];
    let ev = PipelineEvidence {
        heartbeats: &heartbeats,
        until: Some(at(400)),
        ..evidence(&faults, &[], &ns, &[], &[], &[])
    };
    let s = judge(&ev).unwrap().faults[0]
        .dead_mans_switch
        .clone()
        .unwrap();
    assert_eq!(s.pages_after_s, None, "{}", s.summary);
}
