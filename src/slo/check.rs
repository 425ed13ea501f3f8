//! Judging a run's evidence against the SLO file and the scenario's
//! expectations. Pure functions over recorded data: no I/O, so every rule
//! here is unit-tested on hand-built evidence.
//!
//! Times are measured in wall time and compared in real-time equivalent
//! (wall × time scale), which is what the SLO file states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::spec::{Destination, SloSpec};
use crate::fault::FaultRecord;
use crate::input::units::human_duration;
use crate::observe::alertmanager::receiver::Notification;
use crate::observe::prometheus::alerts::AlertTimeline;
use crate::scenario::{Expect, UnexpectedAlerts};
use crate::stackfiles::files::StackFiles;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotMeasured,
}

pub use crate::names::SloKind;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SloResult {
    pub name: SloKind,
    pub status: Status,
    pub required: bool,
    pub target: String,
    pub measured: Option<String>,
    /// Why: one line per finding, worst first.
    pub details: Vec<String>,
}

impl SloResult {
    /// This result, failed by `findings` (each shown first, after
    /// `what: `) when there are any; unchanged otherwise.
    pub fn failed_by(mut self, what: &str, findings: &[String]) -> SloResult {
        if findings.is_empty() {
            return self;
        }
        self.status = Status::Fail;
        let mut details: Vec<String> = findings.iter().map(|f| format!("{what}: {f}")).collect();
        details.append(&mut self.details);
        self.details = details;
        self
    }

    /// Whether this result fails the run: it failed, or it is required and
    /// was not measured.
    pub fn fails_run(&self) -> bool {
        self.status == Status::Fail || (self.required && self.status == Status::NotMeasured)
    }
}

pub struct Evidence<'a> {
    pub slo: &'a SloSpec,
    pub expect: &'a Expect,
    pub files: &'a StackFiles,
    pub time_scale: f64,
    pub faults: &'a [FaultRecord],
    pub alerts: &'a [AlertTimeline],
    pub notifications: &'a [Notification],
    /// Why SLOs that need Grafana, Loki or Jaeger could not be measured.
    pub unmeasured: &'a [(SloKind, String)],
    /// Why the harness could not see the stack's notifications, if so.
    pub notifications_unobserved: Option<&'a str>,
    pub dashboards: Option<&'a crate::observe::grafana::dashboards::DashboardReport>,
    pub traces: Option<&'a crate::observe::jaeger::traces::TraceReport>,
    pub logs: Option<&'a crate::observe::loki::logs::LogReport>,
    /// What the static dashboard check (`validate`'s lint) found: a broken
    /// dashboard fails, however fast it loads.
    pub dashboard_problems: &'a [String],
    /// Rules Prometheus reported it could not evaluate.
    pub rule_errors: &'a [String],
    /// What the load engine sent, when it ran.
    pub load: Option<&'a crate::load::LoadReport>,
    /// The load's per-request timeout: requests held by an outage are
    /// released at most this long after it ends.
    pub load_timeout: std::time::Duration,
    /// Notifications Alertmanager reported failing, per integration (its
    /// `alertmanager_notifications_failed_total` and its log).
    pub delivery_failures: &'a [String],
    /// Requests Alertmanager reported failing, retried or not, per
    /// integration (`alertmanager_notification_requests_failed_total`).
    pub request_failures: &'a [String],
    /// Alertmanager's view (inhibitions), when it was watched.
    pub held: Option<&'a [crate::observe::alertmanager::inhibitions::HeldAlert]>,
    /// Delivery attempts the harness's receivers turned away, held or
    /// delayed under a receiver fault.
    pub receiver_attempts: &'a [crate::observe::alertmanager::receiver::Attempt],
    /// When the evidence was gathered: the end of what the run saw.
    pub observed_until: Option<chrono::DateTime<chrono::Utc>>,
}

pub struct Verdicts {
    pub slos: Vec<SloResult>,
    pub detections: Vec<Detection>,
    /// Per expected alert over the trials; empty in a run of one trial.
    pub trials: Vec<AlertTrials>,
    /// Per rule that was expected or fired: detection, reset, precision,
    /// recall.
    pub scorecard: Vec<RuleScore>,
    pub routing: Vec<RoutingRow>,
    /// What pipeline faults did to delivery; `None` without one.
    pub pipeline: Option<pipeline::PipelineReport>,
}

/// When the target was down on purpose (service_down, database_down, an
/// exec fault seen as refused connections), as
/// seconds from load start, widened by the request timeout: an open-model
/// load piles requests up against an outage, and the drops at
/// `max_in_flight` then are the fault's effect, not a starved generator.
fn outages(ev: &Evidence<'_>) -> Vec<(f64, f64)> {
    let Some(start) = ev.load.and_then(|l| l.started_at) else {
        return Vec::new();
    };
    let secs = |t: DateTime<Utc>| (t - start).num_milliseconds() as f64 / 1000.0;
    ev.faults
        .iter()
        .filter(|f| f.is_outage())
        .filter_map(|f| {
            let from = secs(f.took_effect_at?);
            let to = f.reverted_at.map(secs).unwrap_or(f64::INFINITY);
            Some((from, to + ev.load_timeout.as_secs_f64() + 1.0))
        })
        .collect()
}

/// A rule Prometheus cannot evaluate can never fire: the alerting under
/// test is broken whatever else was seen.
fn rule_health(r: SloResult, errors: &[String]) -> SloResult {
    r.failed_by("rule evaluation failed", errors)
}

pub fn evaluate(ev: &Evidence<'_>) -> Verdicts {
    let detections = detect::detections(ev);
    let trials = trials::alert_trials(ev, &detections);
    let scorecard = quality::scorecard(ev, &detections);
    let routing = routing::routing(ev);
    let watchers = pipeline::self_monitoring(&ev.files.rules);
    let heartbeats = ev.files.heartbeats();
    let pipeline = pipeline::judge(&pipeline::PipelineEvidence {
        faults: ev.faults,
        rows: &routing,
        notifications: ev.notifications,
        attempts: ev.receiver_attempts,
        delivery_failures: ev.delivery_failures,
        request_failures: ev.request_failures,
        watchers: &watchers,
        heartbeats: &heartbeats,
        until: ev.observed_until,
        time_scale: ev.time_scale,
    });
    let mut slos = vec![
        signals::load(&ev.slo.load, ev.load, &outages(ev)),
        rule_health(expectations(ev, &detections), ev.rule_errors),
    ];
    // Where the harness cannot see notifications, MTTD (which ends at the
    // first one) and delivery are not measured, whatever Prometheus shows.
    let unobserved = ev.notifications_unobserved.map(str::to_string);
    if let Some(m) = &ev.slo.mttd {
        let mut r = mttd(ev, m, &detections, &trials);
        if let Some(why) = &unobserved {
            r.status = Status::NotMeasured;
            r.measured = None;
            r.details = vec![why.clone()];
        }
        slos.push(r);
    }
    if let Some(d) = &ev.slo.alert_delivery {
        let mut r = delivery(ev, d, &routing, pipeline.as_ref());
        if let Some(why) = &unobserved {
            r.status = Status::NotMeasured;
            r.measured = None;
            r.details = vec![why.clone()];
        }
        slos.push(r);
    }
    let reason = |name: SloKind| {
        ev.unmeasured
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| "this version of zeta-bench does not measure it yet".into())
    };
    if let Some(d) = &ev.slo.dashboard_latency {
        let measured = signals::dashboards(d, ev.dashboards, reason(SloKind::DashboardLatency));
        let mut broken = ev.dashboard_problems.to_vec();
        broken.extend(signals::broken_panels(ev.dashboards));
        slos.push(signals::broken_dashboards(measured, &broken));
    }
    if let Some(c) = &ev.slo.dashboard_correctness {
        slos.push(correctness(ev, c));
    }
    if let Some(l) = &ev.slo.log_search {
        slos.push(signals::logs(l, ev.logs, reason(SloKind::LogSearch)));
    }
    if let Some(t) = &ev.slo.trace_coverage {
        slos.push(signals::traces(
            t,
            ev.traces,
            reason(SloKind::TraceCoverage),
        ));
    }
    Verdicts {
        slos,
        detections,
        trials,
        scorecard,
        routing,
        pipeline,
    }
}

/// The truth-checked panels against the load.
fn correctness(ev: &Evidence<'_>, c: &super::spec::CorrectnessSlo) -> SloResult {
    let scrape = ev.files.scrape_interval().as_secs_f64() / ev.time_scale.max(1e-9);
    let ground = truth::Ground {
        load: ev.load,
        scrape_s: scrape,
        faults: ev.faults.len(),
        declared: ev.files.grafana.truth.as_ref().map_or(0, Vec::len),
    };
    let panels = ev
        .dashboards
        .map(|d| d.truth.as_slice())
        .unwrap_or_default();
    truth::judge(c, panels, &ground)
}

fn severity_of(
    ev: &Evidence<'_>,
    alert: &str,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> String {
    labels
        .and_then(|l| l.get("severity").cloned())
        .or_else(|| ev.files.rule(alert).map(|r| r.severity().to_string()))
        .unwrap_or_default()
}

fn secs(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn real(ev: &Evidence<'_>, wall_s: f64) -> String {
    let real = crate::input::units::saturating_secs(wall_s * ev.time_scale);
    if ev.time_scale == 1.0 {
        human_duration(real)
    } else {
        format!(
            "{} real-time equivalent ({} wall × {})",
            human_duration(real),
            human_duration(crate::input::units::saturating_secs(wall_s)),
            ev.time_scale
        )
    }
}

/// Whether the expected instance fired: Prometheus showed a matching
/// instance firing, or a notification carried one (attribution is by
/// instance, so another instance's page is not this one's).
fn has_fired(d: &Detection) -> bool {
    d.firing_seen_at.is_some() || !d.notified.is_empty()
}

/// Instances of the same rule that fired, with their labels.
fn other_instances(ev: &Evidence<'_>, d: &Detection) -> Vec<String> {
    routing::fired_instances(ev)
        .iter()
        .filter(|i| i.name == d.alert)
        .map(routing::Instance::display)
        .collect()
}

/// Fired instances no expected alert names (rule name and its labels).
fn unexpected_instances(ev: &Evidence<'_>) -> Vec<String> {
    let mut out: Vec<String> = routing::fired_instances(ev)
        .iter()
        .filter(|i| {
            !ev.expect.alerts.iter().any(|e| {
                e.name == i.name
                    && crate::observe::prometheus::alerts::has_labels(
                        &i.labels,
                        e.labels.iter().map(|(k, v)| (k, v)),
                    )
            })
        })
        .map(|i| {
            if ev.expect.alerts.iter().any(|e| e.name == i.name) {
                i.display()
            } else {
                i.name.clone()
            }
        })
        .collect();
    out.dedup();
    out
}

/// `Name` or `Name{label="value", …}`: an expected instance, as reports
/// name it.
fn instance_name(alert: &str, labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        alert.to_string()
    } else {
        format!("{alert}{}", label_set(labels))
    }
}

fn label_set(labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn expectations(ev: &Evidence<'_>, detections: &[Detection]) -> SloResult {
    let mut details = Vec::new();
    let mut failed = false;
    for d in detections {
        if d.fault_took_effect_at.is_none() {
            failed = true;
            details.push(format!(
                "{}: its fault {:?} never took effect, so nothing could be detected",
                d.instance(),
                d.fault
            ));
        } else if !has_fired(d) {
            failed = true;
            let others = other_instances(ev, d);
            let why = if !others.is_empty() {
                format!(
                    "an instance with {} never fired; what fired was {}",
                    label_set(&d.labels),
                    others.join(", ")
                )
            } else if d.pending_at.is_some() {
                "it became pending but never fired (its `for` did not elapse while the condition held)"
                    .to_string()
            } else {
                "Prometheus never reported it pending or firing: its expression never held"
                    .to_string()
            };
            details.push(format!("{} never fired: {why}", d.instance()));
        }
    }
    let unexpected = unexpected_instances(ev);
    if !unexpected.is_empty() {
        let fail = ev.expect.unexpected_alerts == UnexpectedAlerts::Fail;
        failed |= fail;
        details.push(format!(
            "unexpected alert{} fired: {}{}",
            if unexpected.len() == 1 { "" } else { "s" },
            unexpected.join(", "),
            if fail {
                ""
            } else {
                " (unexpected_alerts: warn)"
            }
        ));
    }
    let fired_expected = detections.iter().filter(|d| has_fired(d)).count();
    let trials = detect::trial_count(ev.faults);
    SloResult {
        name: SloKind::ExpectedAlerts,
        status: if failed { Status::Fail } else { Status::Pass },
        required: true,
        target: if trials > 1 {
            format!(
                "{} expected alert(s) fire in each of {trials} trials, no unexpected alert",
                ev.expect.alerts.len()
            )
        } else {
            format!(
                "{} expected alert(s) fire, no unexpected alert",
                detections.len()
            )
        },
        measured: Some(format!(
            "{fired_expected} of {} fired, {} unexpected",
            detections.len(),
            unexpected.len()
        )),
        details,
    }
}

/// With several trials: the chosen percentile of each covered alert.
fn mttd_over_trials(
    m: &super::spec::MttdSlo,
    covered: &[&Detection],
    trials: &[AlertTrials],
    target: String,
) -> SloResult {
    let covered: Vec<&AlertTrials> = trials
        .iter()
        .filter(|a| {
            covered
                .iter()
                .any(|d| d.alert == a.alert && d.labels == a.labels)
        })
        .collect();
    let (failed, details, measured) = trials::judge_mttd(m, &covered);
    SloResult {
        name: SloKind::Mttd,
        status: if failed { Status::Fail } else { Status::Pass },
        required: m.required,
        target: match m.percentile {
            Some(p) if p < 100 => format!("{target}, p{p} of the trials"),
            _ => format!("{target}, every trial"),
        },
        measured,
        details,
    }
}

fn mttd(
    ev: &Evidence<'_>,
    m: &super::spec::MttdSlo,
    detections: &[Detection],
    trials: &[AlertTrials],
) -> SloResult {
    // Covered: what fired has a covered severity, or what the scenario
    // expects does (its pinned `severity` label, else the rule's). A
    // critical alert downgraded to warning is then still judged, and
    // fails, instead of leaving MTTD with nothing to measure.
    let covered: Vec<&Detection> = detections
        .iter()
        .filter(|d| {
            m.severities.contains(&d.severity) || m.severities.contains(&expected_severity(ev, d))
        })
        .collect();
    let target = format!(
        "≤ {} for {} alerts",
        human_duration(m.max),
        m.severities.join("/")
    );
    if covered.is_empty() {
        return mttd_vacuous(m, detections, target);
    }
    if !trials.is_empty() {
        return mttd_over_trials(m, &covered, trials, target);
    }
    let max_wall = m.max.as_secs_f64() / ev.time_scale;
    let mut details = Vec::new();
    let mut failed = false;
    let mut worst: Option<f64> = None;
    for d in &covered {
        let at = d
            .late_destination
            .as_ref()
            .map(|dst| format!(" at {dst}"))
            .unwrap_or_default();
        let others = other_destinations(ev, d);
        match d.mttd_wall_s {
            Some(w) => {
                worst = Some(worst.map_or(w, |x: f64| x.max(w)));
                if w > max_wall {
                    failed = true;
                    details.push(format!(
                        "{}: MTTD {}{at} is over the {} target{others}",
                        d.instance(),
                        real(ev, w),
                        human_duration(m.max)
                    ));
                } else {
                    details.push(format!(
                        "{}: MTTD {}{at}{others}",
                        d.instance(),
                        real(ev, w)
                    ));
                }
            }
            None if !d.notified.is_empty() => {
                failed = true;
                let missing: Vec<String> = d.missing().iter().map(|x| x.to_string()).collect();
                details.push(format!(
                    "{}: never reached {}, which its routing policy requires for {} alerts{others}",
                    d.instance(),
                    missing.join(", "),
                    d.severity
                ));
            }
            None => {
                failed = true;
                let mut line = format!(
                    "{}: never detected: no firing notification carrying it reached any receiver",
                    d.instance()
                );
                if let Some(rule) = ev.files.rule(&d.alert) {
                    let f = super::floor::floor(rule, ev.files);
                    if f.best > m.max {
                        line.push_str(&format!(
                            "; its configuration cannot notify sooner than {} ({}), which is over the {} MTTD target",
                            human_duration(f.best),
                            f.best_terms,
                            human_duration(m.max)
                        ));
                    }
                }
                details.push(line);
            }
        }
    }
    details.extend(detections.iter().filter_map(|d| group_interval_wait(ev, d)));
    SloResult {
        name: SloKind::Mttd,
        status: if failed { Status::Fail } else { Status::Pass },
        required: m.required,
        target,
        measured: worst.map(|w| format!("worst {}", real(ev, w))),
        details,
    }
}

/// The severity the scenario expects of `d`: its pinned `severity` label,
/// else the rule's own.
fn expected_severity(ev: &Evidence<'_>, d: &Detection) -> String {
    d.labels
        .iter()
        .find(|(k, _)| k == "severity")
        .map(|(_, v)| v.clone())
        .or_else(|| ev.files.rule(&d.alert).map(|r| r.severity().to_string()))
        .unwrap_or_default()
}

/// The times at the destinations other than the late one, as
/// ` (slack:#x 2m01s, …)`, or nothing.
fn other_destinations(ev: &Evidence<'_>, d: &Detection) -> String {
    let others: Vec<String> = d
        .destinations
        .iter()
        .filter(|t| Some(&t.destination) != d.late_destination.as_ref())
        .filter_map(|t| {
            let w = t.mttd_wall_s?;
            Some(format!("{} {}", t.destination, real(ev, w)))
        })
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(" ({})", others.join(", "))
    }
}

/// No expected alert has a severity the MTTD SLO covers, neither as it
/// fired nor as the scenario expects it: the scenario says MTTD does not
/// apply (smoke runs, warning-only faults). NOT MEASURED, listed as not
/// checked, and not required.
fn mttd_vacuous(m: &super::spec::MttdSlo, detections: &[Detection], target: String) -> SloResult {
    let severities = m.severities.join(" or ");
    let details = if detections.is_empty() {
        vec![format!(
            "the scenario expects no alert, so no detection time was measured"
        )]
    } else {
        detections
            .iter()
            .map(|d| {
                format!(
                    "{} has severity {:?}, which this SLO does not cover ({severities}): no detection time was measured for it",
                    d.instance(),
                    d.severity
                )
            })
            .collect()
    };
    SloResult {
        name: SloKind::Mttd,
        status: Status::NotMeasured,
        required: false,
        target,
        measured: None,
        details,
    }
}

/// An alert that joins an Alertmanager group which is already open is not
/// sent after `group_wait` but with the group's next flush, up to
/// `group_interval` later. Name it when firing → notified took clearly
/// longer than `group_wait` (by more than an evaluation interval).
fn group_interval_wait(ev: &Evidence<'_>, d: &Detection) -> Option<String> {
    let firing = d.firing_seen_at?;
    let notified = d.notified.first()?.1;
    let (group_wait, group_interval) = ev.files.root_route_timers();
    let k = ev.time_scale;
    let waited = (notified - firing).num_milliseconds() as f64 / 1000.0;
    let expected = group_wait.as_secs_f64() / k;
    let slack = ev.files.evaluation_interval().as_secs_f64() / k + 1.0;
    if waited <= expected + slack {
        return None;
    }
    // A pipeline fault in force while it waited is the reason, not the
    // grouping.
    let held_by = ev.faults.iter().find(|f| {
        pipeline::is_pipeline(f.kind)
            && f.took_effect_at.is_some_and(|a| a < notified)
            && f.reverted_at.is_none_or(|b| b > firing)
    });
    if let Some(f) = held_by {
        return Some(format!(
            "{}: waited {} between firing and its first notification, held by pipeline fault {} ({} on {})",
            d.alert,
            real(ev, waited),
            f.name,
            f.kind.name(),
            f.target
        ));
    }
    Some(format!(
        "{}: waited {} between firing and its first notification, longer than group_wait ({}); it probably joined an Alertmanager group that was already open and waited for its group_interval ({})",
        d.alert,
        real(ev, waited),
        human_duration(group_wait),
        human_duration(group_interval)
    ))
}

fn delivery(
    ev: &Evidence<'_>,
    d: &super::spec::DeliverySlo,
    rows: &[RoutingRow],
    pipeline: Option<&pipeline::PipelineReport>,
) -> SloResult {
    let (failures, pipeline_details) = pipeline::delivery_evidence(pipeline, ev.delivery_failures);
    let failures = failures.as_slice();
    let mut details = Vec::new();
    let mut missed_critical = 0u64;
    let mut failed = false;
    for r in rows {
        let row = delivery_row(r);
        missed_critical += row.missed_critical;
        failed |= row.failed;
        details.extend(row.details);
    }
    details.extend(pipeline_details);
    details.extend(routing::duplicates(ev));
    details.extend(unattributed(ev));
    if missed_critical > d.missed_critical {
        failed = true;
    }
    let uncovered = ev
        .expect
        .alerts
        .iter()
        .all(|e| !d.covers(&severity_of(ev, &e.name, None)));
    if rows.is_empty() || (!ev.expect.alerts.is_empty() && uncovered && failures.is_empty()) {
        let why = if rows.is_empty() {
            "no alert fired, so no delivery could be checked".to_string()
        } else {
            "no expected alert has a severity the routing policy names, so their delivery was not checked".to_string()
        };
        return SloResult {
            name: SloKind::AlertDelivery,
            status: Status::NotMeasured,
            // Expected alerts that never fired fail `expected_alerts`; with
            // none expected there was nothing to deliver.
            required: d.required && !ev.expect.alerts.is_empty(),
            target: format!("≤ {} missed critical, routing as policy", d.missed_critical),
            measured: None,
            details: vec![why],
        }
        .failed_by("Alertmanager failed to notify", failures);
    }
    SloResult {
        name: SloKind::AlertDelivery,
        status: if failed { Status::Fail } else { Status::Pass },
        required: d.required,
        target: format!(
            "≤ {} missed critical, routing as policy, resolved",
            d.missed_critical
        ),
        measured: Some(format!(
            "{missed_critical} missed critical, {} alert instance(s) checked",
            rows.len()
        )),
        details,
    }
    // A failing integration fails delivery even when another one of the
    // same receiver got through (unless a pipeline fault made it fail).
    .failed_by("Alertmanager failed to notify", failures)
}

/// Notifications that carried no attributable alert: they count for
/// nothing, and the report says why (the first few reasons).
fn unattributed(ev: &Evidence<'_>) -> Vec<String> {
    let whys: Vec<String> = ev
        .notifications
        .iter()
        .filter_map(|n| match &n.attribution {
            crate::observe::alertmanager::receiver::Attribution::Unattributed(why) => Some(
                format!("{} from receiver {:?}: {why}", n.destination, n.receiver),
            ),
            _ => None,
        })
        .collect();
    if whys.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "{} notification(s) could not be attributed to alert instances and count for nothing",
        whys.len()
    )];
    out.extend(whys.into_iter().take(3));
    out
}

/// One alert's delivery findings.
struct RowFindings {
    missed_critical: u64,
    failed: bool,
    details: Vec<String>,
}

fn joined(ds: &[Destination]) -> String {
    ds.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn delivery_row(r: &RoutingRow) -> RowFindings {
    let mut f = RowFindings {
        missed_critical: 0,
        failed: false,
        details: Vec::new(),
    };
    if !r.missed.is_empty() {
        if r.severity == "critical" {
            f.missed_critical += 1;
        } else {
            f.failed = true;
        }
        let severity = if r.severity.is_empty() {
            "no severity"
        } else {
            &r.severity
        };
        let free = match r.longest_free_s {
            Some(s) => format!(
                "; it was inhibited by {} only part of the time and free for {s:.0}s in a row, longer than its group_wait",
                r.inhibited_by.join(", ")
            ),
            None => String::new(),
        };
        f.details.push(format!(
            "{} ({severity}) never reached {}{free}",
            r.instance(),
            joined(&r.missed)
        ));
    }
    if !r.inhibited_by.is_empty() {
        let silent = r.firing.is_empty();
        f.details.push(format!(
            "{} was inhibited by {}{}",
            r.instance(),
            r.inhibited_by.join(", "),
            match (silent, r.fully_inhibited) {
                (true, _) => ": silent, as the inhibition rules say".to_string(),
                (false, true) => String::new(),
                (false, false) =>
                    " for part of the time it fired (notified while it was not)".to_string(),
            }
        ));
    }
    if r.fully_inhibited && !r.unexpected.is_empty() {
        f.failed = true;
        f.details.push(format!(
            "{} was inhibited the whole time it fired, yet reached {}",
            r.instance(),
            joined(&r.unexpected)
        ));
    } else if !r.unexpected.is_empty() {
        f.failed = true;
        f.details.push(format!(
            "{} ({}) reached {}, which its routing policy does not name",
            r.instance(),
            r.severity,
            joined(&r.unexpected)
        ));
    }
    if !r.unresolved.is_empty() {
        f.failed = true;
        f.details.push(format!(
            "{}: the last notification at {} still carried it firing; no resolved one followed",
            r.instance(),
            joined(&r.unresolved)
        ));
    }
    f
}

mod detect;
pub mod pipeline;
mod quality;
mod routing;
mod signals;
mod trials;
pub mod truth;

pub use detect::{DestinationTiming, Detection};
pub use quality::{RuleScore, fraction};
pub use routing::RoutingRow;
pub use trials::{AlertTrials, ExcludedTrial, Spread, TrialSeries, percentile, spread_line};

#[cfg(test)]
mod tests;
