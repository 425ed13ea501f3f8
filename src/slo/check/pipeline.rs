//! Pipeline health: what happened to the pages while part of the
//! monitoring pipeline itself was sick (a receiver answering 5xx, not
//! answering, or answering late), and whether anything told a human.
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

/// Whether a fault acts on the monitoring pipeline (a receiver).
pub fn is_pipeline(kind: FaultKind) -> bool {
    matches!(kind, FaultKind::ReceiverFailing | FaultKind::ReceiverSlow)
}

/// The stack's alert rules that watch the pipeline itself.
pub fn self_monitoring(rules: &[AlertRule]) -> Vec<String> {
    let mut names: Vec<String> = rules
        .iter()
        .filter(|r| PIPELINE_METRICS.iter().any(|m| r.expr.contains(m)))
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
    let blind_spots = faults
        .iter()
        .filter(|f| f.awareness.starts_with("blind"))
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
    let at_receiver = |d: &Destination| receiver_of(d) == f.target;
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
            if let Some(late) = late_delivery(ev, r, d, from) {
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
        repeated: repeated(ev.notifications, &f.target, from, to),
        awareness: awareness(ev, from),
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
            let by = match late.beyond_healthy_real_s {
                Some(s) => format!(
                    "{} later than the healthy path ({} real time)",
                    crate::input::units::human_seconds(late.beyond_healthy_s.unwrap_or(0.0)),
                    crate::input::units::human_seconds(s)
                ),
                None => "with no healthy destination to compare".to_string(),
            };
            details.push(format!(
                "{} reached {} through fault {}, {by}; {} attempt(s) turned away, held or answered late at the receiver",
                late.alert, late.destination, f.fault, f.attempts_at_receiver
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
        for late in &f.delivered_late {
            let by = late
                .beyond_healthy_real_s
                .map(|s| {
                    format!(
                        "{} real time beyond the healthy path",
                        crate::input::units::human_seconds(s)
                    )
                })
                .unwrap_or_else(|| "no healthy path to compare".into());
            out.push(format!(
                "  delivered late: {} at {} ({by})",
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
    from: Option<DateTime<Utc>>,
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
    let healthy = first_at(&|x: &Destination| receiver_of(x) != receiver_of(d));
    let beyond = healthy.map(|h| ((arrived - h).num_milliseconds() as f64 / 1000.0).max(0.0));
    Some(LateDelivery {
        alert: r.instance(),
        destination: d.clone(),
        beyond_healthy_s: beyond,
        beyond_healthy_real_s: beyond.map(|s| s * ev.time_scale),
    })
}

/// Notifications at `target`'s receiver that carried an instance in a
/// state it had already carried there, from the fault's start to a minute
/// after its end.
fn repeated(
    ns: &[Notification],
    target: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> u64 {
    let Some(from) = from else {
        return 0;
    };
    let until = to.map(|t| t + chrono::Duration::minutes(1));
    let mut seen = std::collections::BTreeSet::new();
    let mut order: Vec<&Notification> = ns
        .iter()
        .filter(|n| receiver_of(&n.destination) == target)
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
