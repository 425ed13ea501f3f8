//! Pipeline health: what happened to the pages while part of the
//! monitoring pipeline itself was sick (a receiver answering 5xx, not
//! answering, or answering late; Alertmanager down or restarting;
//! Prometheus cut from Alertmanager), and whether anything told a human:
//! an alert on the pipeline's own metrics, or the dead man's switch the
//! heartbeat (Watchdog) feeds, which is the only thing that can page when
//! Alertmanager itself is gone.
//!
//! Judged from evidence alone, by pure functions: the faults' records,
//! the routing rows (which alert instance reached which destination), the
//! notifications as they arrived, the attempts the harness's receivers
//! turned away, Alertmanager's own failure counters, and the stack's
//! alert rules (which of them watch the pipeline).

use chrono::{DateTime, Utc};

use crate::fault::FaultRecord;
use crate::observe::alertmanager::destination::Destination;
use crate::observe::alertmanager::receiver::{Attempt, Notification, NotificationStatus};
use crate::scenario::FaultKind;
use crate::slo::check::RoutingRow;
use crate::stackfiles::files::AlertRule;

/// Metrics of the pipeline's own health: a rule reading one of them
/// watches the watchers (the Prometheus and Alertmanager mixins' alerts
/// read these).
const PIPELINE_METRICS: &[&str] = &[
    "alertmanager_notifications_failed_total",
    "alertmanager_notification_requests_failed_total",
    "prometheus_notifications_alertmanagers_discovered",
    "prometheus_notifications_errors_total",
    "prometheus_notifications_dropped_total",
    "prometheus_notifications_queue_length",
    "prometheus_rule_evaluation_failures_total",
    "prometheus_rule_group_iterations_missed_total",
];

/// One pipeline fault and what it did to delivery.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PipelineFault {
    pub fault: String,
    pub kind: FaultKind,
    /// The receiver it acted on (`pagerduty`, `slack`, `webhook`).
    pub target: String,
    /// What broke, in words.
    pub what: String,
    pub from: Option<DateTime<Utc>>,
    /// When it was reverted; `None` when it lasted to the end of the run.
    pub to: Option<DateTime<Utc>>,
    /// Delivery attempts the receiver turned away, held, or answered late.
    pub attempts_at_receiver: u64,
    /// Alertmanager's own failure counters for this integration.
    pub alertmanager_failures: Vec<String>,
    /// Pages that arrived in spite of it, each with its delay beyond the
    /// healthy path.
    pub delivered_late: Vec<LateDelivery>,
    /// Alert instances it swallowed: never delivered to a destination of
    /// this receiver that their routing names.
    pub lost: Vec<String>,
    /// Notifications to this receiver that repeated an instance and status
    /// it already carried, from the fault's start to a minute after it.
    pub repeated: u64,
    /// When a human was told the pipeline was impaired, or that nobody was.
    pub awareness: String,
    /// What a dead man's switch fed by the stack's heartbeat saw: when the
    /// heartbeat stopped and when a switch with the stated timeout would
    /// have paged; `None` when the stack has no heartbeat rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_mans_switch: Option<DeadMansSwitch>,
}

/// What a dead man's switch fed by the heartbeat saw around one fault.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct DeadMansSwitch {
    /// The heartbeat's period (the median gap over the run), wall seconds;
    /// `None` with fewer than two heartbeats, or none before the fault.
    pub period_s: Option<f64>,
    /// The stated timeout: [`SWITCH_PERIODS`] periods.
    pub timeout_s: Option<f64>,
    /// The last heartbeat before the silence that made the switch page.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Wall seconds from the fault taking effect to the switch paging;
    /// `None` when it would not have paged within the run.
    pub pages_after_s: Option<f64>,
    /// In words, with real-time equivalents.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LateDelivery {
    pub alert: String,
    pub destination: Destination,
    /// Wall seconds after the same instance reached a healthy destination
    /// (or was first notified anywhere); `None` when nothing to compare.
    pub beyond_healthy_s: Option<f64>,
    /// The real-time equivalent (× K), for reports.
    pub beyond_healthy_real_s: Option<f64>,
    /// Wall seconds after the fault was reverted; `None` when it arrived
    /// during the fault or the fault lasted to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_recovery_s: Option<f64>,
    /// Its real-time equivalent (× K).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_recovery_real_s: Option<f64>,
}

#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct PipelineReport {
    pub faults: Vec<PipelineFault>,
    /// One line per blind spot: a pipeline fault nothing told a human of.
    pub blind_spots: Vec<String>,
}

/// The receiver kind a destination belongs to.
pub fn receiver_of(d: &Destination) -> &'static str {
    match d {
        Destination::PagerDuty => "pagerduty",
        Destination::Slack(_) => "slack",
        Destination::Webhook(_) => "webhook",
    }
}

/// Whether a fault acts on the monitoring pipeline (a receiver,
/// Alertmanager, or Prometheus' link to it).
pub fn is_pipeline(kind: FaultKind) -> bool {
    is_receiver(kind)
        || matches!(
            kind,
            FaultKind::AlertmanagerDown
                | FaultKind::AlertmanagerRestart
                | FaultKind::PrometheusToAlertmanagerCut
                | FaultKind::RuleEvaluationFailing
                | FaultKind::TracingBackendDown
        )
}

/// A fault on one receiver; the others stay the healthy path.
fn is_receiver(kind: FaultKind) -> bool {
    matches!(kind, FaultKind::ReceiverFailing | FaultKind::ReceiverSlow)
}

/// The scrape jobs of the monitoring stack's own components: a rule on
/// their `up` watches the watchers (kube-prometheus' TargetDown, scoped).
const STACK_JOBS: &[&str] = &[
    "prometheus",
    "alertmanager",
    "grafana",
    "loki",
    "promtail",
    "alloy",
    "jaeger",
];

/// The stack's alert rules that watch the pipeline itself: they read one
/// of its own metrics, or `up` of one of its own components.
pub fn self_monitoring(rules: &[AlertRule]) -> Vec<String> {
    let on_own_targets = |r: &AlertRule| {
        crate::stackfiles::labels::metrics_read(&r.expr)
            .is_some_and(|m| m.iter().any(|m| m == "up"))
            && STACK_JOBS.iter().any(|j| r.expr.contains(j))
    };
    let mut names: Vec<String> = rules
        .iter()
        .filter(|r| PIPELINE_METRICS.iter().any(|m| r.expr.contains(m)) || on_own_targets(r))
        .map(|r| r.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Everything the report's pipeline section says; `None` when the run had
/// no pipeline fault.
pub struct PipelineEvidence<'a> {
    pub faults: &'a [FaultRecord],
    pub rows: &'a [RoutingRow],
    pub notifications: &'a [Notification],
    pub attempts: &'a [Attempt],
    pub delivery_failures: &'a [String],
    pub request_failures: &'a [String],
    pub watchers: &'a [String],
    /// The stack's heartbeat rules (Watchdog), which feed a dead man's
    /// switch.
    pub heartbeats: &'a [String],
    /// The end of what was observed (the verdict's time); `None`: the last
    /// notification.
    pub until: Option<DateTime<Utc>>,
    pub time_scale: f64,
}

pub fn judge(ev: &PipelineEvidence<'_>) -> Option<PipelineReport> {
    let faults: Vec<PipelineFault> = ev
        .faults
        .iter()
        .filter(|f| is_pipeline(f.kind) && f.took_effect_at.is_some())
        .map(|f| one(ev, f))
        .collect();
    if faults.is_empty() {
        return None;
    }
    // Blind: no pipeline alert told anyone, and no dead man's switch would
    // have paged either.
    let blind_spots = faults
        .iter()
        .filter(|f| f.awareness.starts_with("blind"))
        .filter(|f| {
            f.dead_mans_switch
                .as_ref()
                .is_none_or(|s| s.pages_after_s.is_none())
        })
        .map(|f| format!("{} ({}): {}", f.fault, f.what, f.awareness))
        .collect();
    Some(PipelineReport {
        faults,
        blind_spots,
    })
}

fn one(ev: &PipelineEvidence<'_>, f: &FaultRecord) -> PipelineFault {
    let from = f.took_effect_at;
    let to = f.reverted_at;
    let within = |t: DateTime<Utc>| from.is_some_and(|a| t >= a) && to.is_none_or(|b| t <= b);
    // Alertmanager, or the link to it, carries every page: no destination
    // is the healthy path then. A failing rule carries none.
    let at_receiver = |d: &Destination| match f.kind {
        FaultKind::RuleEvaluationFailing | FaultKind::TracingBackendDown => false,
        k if is_receiver(k) => receiver_of(d) == f.target,
        _ => true,
    };
    let attempts_at_receiver = ev
        .attempts
        .iter()
        .filter(|a| a.service == f.target && within(a.at))
        .count() as u64;
    let integration = format!("integration=\"{}\"", f.target);
    let alertmanager_failures = ev
        .delivery_failures
        .iter()
        .chain(ev.request_failures)
        .filter(|s| s.contains(&integration))
        .cloned()
        .collect();
    let mut delivered_late = Vec::new();
    let mut lost = Vec::new();
    for r in ev.rows {
        for d in r.expected.iter().filter(|d| at_receiver(d)) {
            if r.missed.contains(d) {
                lost.push(format!("{} never reached {d}", r.instance()));
                continue;
            }
            if let Some(late) = late_delivery(ev, r, d, (from, to), is_receiver(f.kind)) {
                delivered_late.push(late);
            }
        }
    }
    PipelineFault {
        fault: f.name.clone(),
        kind: f.kind,
        target: f.target.clone(),
        what: f
            .evidence
            .clone()
            .unwrap_or_else(|| f.kind.name().to_string()),
        from,
        to,
        attempts_at_receiver,
        alertmanager_failures,
        delivered_late,
        lost,
        repeated: repeated(ev, &at_receiver, from, to),
        awareness: awareness(ev, from),
        dead_mans_switch: dead_mans_switch(ev, (from, to)),
    }
}

/// What `alert_delivery` makes of a pipeline fault: Alertmanager's failure
/// counters for an integration a receiver fault acted on are the fault's
/// evidence, not a failure by themselves (a page that never arrived still
/// fails, as a missed destination); the other failures stay. Returns the
/// failures that still count and the details that name the fault.
pub fn delivery_evidence(
    report: Option<&PipelineReport>,
    failures: &[String],
) -> (Vec<String>, Vec<String>) {
    let Some(report) = report else {
        return (failures.to_vec(), Vec::new());
    };
    let excused = |s: &String| {
        report
            .faults
            .iter()
            .any(|f| f.alertmanager_failures.contains(s))
    };
    let mut details = Vec::new();
    for f in &report.faults {
        let window = window(f);
        for lost in &f.lost {
            details.push(format!(
                "{lost}: swallowed by fault {} ({}, {window})",
                f.fault, f.what
            ));
        }
        for late in &f.delivered_late {
            let by = match (late.beyond_healthy_real_s, late.after_recovery_real_s) {
                (Some(s), _) => format!(
                    "{} later than the healthy path ({} real time)",
                    crate::input::units::human_seconds(late.beyond_healthy_s.unwrap_or(0.0)),
                    crate::input::units::human_seconds(s)
                ),
                (None, Some(s)) => format!(
                    "{} real time after the fault ended (every destination went through it)",
                    crate::input::units::human_seconds(s)
                ),
                (None, None) => "with no healthy destination to compare".to_string(),
            };
            let attempts = if is_receiver(f.kind) {
                format!(
                    "; {} attempt(s) turned away, held or answered late at the receiver",
                    f.attempts_at_receiver
                )
            } else {
                String::new()
            };
            details.push(format!(
                "{} reached {} through fault {}, {by}{attempts}",
                late.alert, late.destination, f.fault
            ));
        }
        for s in &f.alertmanager_failures {
            details.push(format!(
                "Alertmanager counted {s} during fault {}: the fault's evidence, not a failure by itself",
                f.fault
            ));
        }
    }
    (
        failures.iter().filter(|s| !excused(s)).cloned().collect(),
        details,
    )
}

/// `from HH:MM:SS to HH:MM:SS`, or `… to the end of the run`.
fn window(f: &PipelineFault) -> String {
    let t = |t: DateTime<Utc>| t.format("%H:%M:%S").to_string();
    match (f.from, f.to) {
        (Some(a), Some(b)) => format!("from {} to {}", t(a), t(b)),
        (Some(a), None) => format!("from {} to the end of the run", t(a)),
        _ => "never in force".to_string(),
    }
}

/// The report's lines for the pipeline section: per fault what broke,
/// what was late and by how much, what was lost, and awareness; then the
/// blind spots.
pub fn lines(report: &PipelineReport) -> Vec<String> {
    let mut out = Vec::new();
    for f in &report.faults {
        out.push(format!("{} — {} ({})", f.fault, f.what, window(f)));
        if is_receiver(f.kind) {
            out.push(format!(
            "  {} attempt(s) turned away, held or answered late at the {} receiver; Alertmanager counted: {}",
            f.attempts_at_receiver,
            f.target,
            if f.alertmanager_failures.is_empty() {
                "no failed notification or request".to_string()
            } else {
                f.alertmanager_failures.join("; ")
            }
            ));
        }
        for late in &f.delivered_late {
            let by = match late.beyond_healthy_real_s {
                Some(s) => format!(
                    "{} real time beyond the healthy path",
                    crate::input::units::human_seconds(s)
                ),
                None if late.after_recovery_real_s.is_some() => {
                    "every destination went through the fault".into()
                }
                None => "no healthy path to compare".into(),
            };
            let recovery = late
                .after_recovery_real_s
                .map(|s| {
                    format!(
                        ", {} real time after the fault ended",
                        crate::input::units::human_seconds(s)
                    )
                })
                .unwrap_or_default();
            out.push(format!(
                "  delivered late: {} at {} ({by}{recovery})",
                late.alert, late.destination
            ));
        }
        for lost in &f.lost {
            out.push(format!("  LOST: {lost}"));
        }
        if f.repeated > 0 {
            out.push(format!(
                "  {} repeated notification(s) at {}",
                f.repeated, f.target
            ));
        }
        out.push(format!("  awareness: {}", f.awareness));
        if let Some(s) = &f.dead_mans_switch {
            out.push(format!("  dead man's switch: {}", s.summary));
        }
    }
    for b in &report.blind_spots {
        out.push(format!("blind spot: {b}"));
    }
    out
}

/// The first firing notification of row `r`'s instance at `d`, if it came
/// after the fault took effect, against the same instance's first firing
/// notification at a destination of another receiver (the healthy path).
fn late_delivery(
    ev: &PipelineEvidence<'_>,
    r: &RoutingRow,
    d: &Destination,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    healthy_path: bool,
) -> Option<LateDelivery> {
    let firing = |n: &&Notification| n.carries(&r.alert, &r.labels, NotificationStatus::Firing);
    let first_at = |want: &dyn Fn(&Destination) -> bool| {
        ev.notifications
            .iter()
            .filter(firing)
            .filter(|n| want(&n.destination))
            .map(|n| n.at)
            .min()
    };
    let arrived = first_at(&|x: &Destination| x == d)?;
    if from.is_none_or(|a| arrived < a) {
        return None;
    }
    let secs = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).num_milliseconds() as f64 / 1000.0;
    let healthy = healthy_path
        .then(|| first_at(&|x: &Destination| receiver_of(x) != receiver_of(d)))
        .flatten();
    let beyond = healthy.map(|h| secs(arrived, h).max(0.0));
    let after = to.filter(|t| arrived > *t).map(|t| secs(arrived, t));
    Some(LateDelivery {
        alert: r.instance(),
        destination: d.clone(),
        beyond_healthy_s: beyond,
        beyond_healthy_real_s: beyond.map(|s| s * ev.time_scale),
        after_recovery_s: after,
        after_recovery_real_s: after.map(|s| s * ev.time_scale),
    })
}

/// Notifications at `target`'s receiver that carried an instance in a
/// state it had already carried there, from the fault's start to a minute
/// after its end.
fn repeated(
    ev: &PipelineEvidence<'_>,
    at_receiver: &dyn Fn(&Destination) -> bool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> u64 {
    let Some(from) = from else {
        return 0;
    };
    let until = to.map(|t| t + chrono::Duration::minutes(1));
    let mut seen = std::collections::BTreeSet::new();
    // A heartbeat repeats on purpose.
    let heartbeat = |n: &&Notification| n.alerts.iter().all(|a| ev.heartbeats.contains(&a.name));
    let mut order: Vec<&Notification> = ev
        .notifications
        .iter()
        .filter(|n| at_receiver(&n.destination) && !heartbeat(n))
        .collect();
    order.sort_by_key(|n| n.at);
    let mut count = 0;
    for n in order {
        let in_window = n.at >= from && until.is_none_or(|u| n.at <= u);
        for a in &n.alerts {
            let key = (n.destination.clone(), a.fingerprint.clone(), a.status as u8);
            if !seen.insert(key) && in_window {
                count += 1;
            }
        }
    }
    count
}

/// A dead man's switch pages once this many heartbeat periods pass
/// without one: the timeout the report states.
const SWITCH_PERIODS: u32 = 3;

/// What a dead man's switch fed by the heartbeat would have seen around a
/// fault: its period (the median gap between heartbeats before the fault),
/// when the heartbeat stopped, and whether and when a switch paging after
/// [`SWITCH_PERIODS`] periods of silence would have paged.
fn dead_mans_switch(
    ev: &PipelineEvidence<'_>,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Option<DeadMansSwitch> {
    if ev.heartbeats.is_empty() {
        return None;
    }
    let from = from?;
    let beats = heartbeats(ev);
    let before: Vec<DateTime<Utc>> = beats.iter().copied().filter(|b| *b <= from).collect();
    // The period from every gap of the run: the silence is one gap among
    // many, and the median is not moved by it.
    let (Some(period), Some(&last)) = (median_gap(&beats), before.last()) else {
        return Some(DeadMansSwitch {
            period_s: None,
            timeout_s: None,
            stopped_at: None,
            pages_after_s: None,
            summary: format!(
                "not measured: no heartbeat ({}) reached a receiver before the fault, or fewer than two in the run",
                ev.heartbeats.join(", ")
            ),
        });
    };
    let timeout = period * (SWITCH_PERIODS as i32);
    let until = ev
        .until
        .or_else(|| ev.notifications.iter().map(|n| n.at).max())
        .unwrap_or(from)
        .max(last);
    let secs = |d: chrono::Duration| d.num_milliseconds() as f64 / 1000.0;
    let human = |d: chrono::Duration| {
        format!(
            "{} ({} real time)",
            crate::input::units::human_seconds(secs(d)),
            crate::input::units::human_seconds(secs(d) * ev.time_scale)
        )
    };
    let stated = format!(
        "a switch expecting a heartbeat every {} and paging after {SWITCH_PERIODS} missed ({})",
        human(period),
        human(timeout)
    );
    let mut out = DeadMansSwitch {
        period_s: Some(secs(period)),
        timeout_s: Some(secs(timeout)),
        stopped_at: None,
        pages_after_s: None,
        summary: format!(
            "heartbeat never silent for longer than the timeout: {stated} would not have paged"
        ),
    };
    // The first silence longer than the timeout, from the last heartbeat
    // before the fault on (the end of the run closes the last one); one
    // that began after the fault had ended and a period had passed is
    // not this fault's.
    let ended = to.map(|t| t + period);
    let mut prev = last;
    for b in beats.iter().copied().filter(|b| *b > last).chain([until]) {
        if ended.is_some_and(|e| prev > e) {
            break;
        }
        if b - prev > timeout {
            let pages = prev + timeout;
            out.stopped_at = Some(prev);
            out.summary = if pages <= until {
                out.pages_after_s = Some(secs(pages - from));
                format!(
                    "heartbeat stopped at {}; {stated} would have paged {} after the fault took effect",
                    prev.format("%H:%M:%S"),
                    human(pages - from)
                )
            } else {
                format!(
                    "heartbeat stopped at {}; the run ended before {stated} would have paged",
                    prev.format("%H:%M:%S")
                )
            };
            break;
        }
        prev = b;
    }
    Some(out)
}

/// When a heartbeat reached a receiver, in order.
fn heartbeats(ev: &PipelineEvidence<'_>) -> Vec<DateTime<Utc>> {
    let mut beats: Vec<DateTime<Utc>> = ev
        .notifications
        .iter()
        .filter(|n| {
            n.alerts
                .iter()
                .any(|a| a.status == NotificationStatus::Firing && ev.heartbeats.contains(&a.name))
        })
        .map(|n| n.at)
        .collect();
    beats.sort();
    beats.dedup();
    beats
}

/// The median gap between consecutive times, if there are two.
fn median_gap(times: &[DateTime<Utc>]) -> Option<chrono::Duration> {
    let mut gaps: Vec<chrono::Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    gaps.get(gaps.len().checked_sub(1)? / 2).copied()
}

/// The first notification of a rule that watches the pipeline, after the
/// fault took effect: when a human was told.
fn awareness(ev: &PipelineEvidence<'_>, from: Option<DateTime<Utc>>) -> String {
    if ev.watchers.is_empty() {
        return "blind for the whole fault: the stack has no alert rule on the pipeline's own health (failed notifications, Prometheus cut from Alertmanager, failing rule evaluations)".into();
    }
    let Some(from) = from else {
        return "not measured: the fault never took effect".into();
    };
    let told = ev
        .notifications
        .iter()
        .filter(|n| n.at >= from)
        .filter_map(|n| {
            let alert = n.alerts.iter().find(|a| {
                a.status == NotificationStatus::Firing && ev.watchers.contains(&a.name)
            })?;
            Some((n.at, alert.name.clone(), n.destination.clone()))
        })
        .min_by_key(|(at, _, _)| *at);
    match told {
        Some((at, name, d)) => {
            let s = (at - from).num_milliseconds() as f64 / 1000.0;
            format!(
                "told after {} ({} real time): {name} reached {d}",
                crate::input::units::human_seconds(s),
                crate::input::units::human_seconds(s * ev.time_scale)
            )
        }
        None => format!(
            "blind for the whole fault: none of the stack's pipeline alerts ({}) reached any receiver",
            ev.watchers.join(", ")
        ),
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
