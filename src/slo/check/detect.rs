//! From fault to page, per expected alert and per destination: when the
//! first firing notification carrying that very instance (rule name *and*
//! the scenario's labels) reached each destination its routing policy
//! requires, and when the resolved one followed the revert. The alert's
//! MTTD is the latest of the required destinations, the page a human gets
//! last; a required destination that never got it leaves MTTD unmeasured
//! and named.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Evidence, secs, severity_of};
use crate::observe::alertmanager::destination::Destination;
use crate::observe::alertmanager::receiver::{Notification, NotificationStatus};
use crate::scenario::ExpectedAlert;

/// One destination's times for one expected alert.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DestinationTiming {
    pub destination: Destination,
    /// Named by the routing policy (`alert_delivery.routing`) for the
    /// alert's severity: MTTD waits for it.
    pub required: bool,
    /// First firing notification carrying the instance, after the fault.
    pub notified_at: Option<DateTime<Utc>>,
    /// Fault took effect → notified, wall seconds.
    pub mttd_wall_s: Option<f64>,
    /// The same × time scale.
    pub mttd_real_s: Option<f64>,
    /// First resolved notification carrying the instance after the revert.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Fault reverted → resolved notification, wall seconds.
    pub reset_wall_s: Option<f64>,
    /// The same × time scale.
    pub reset_real_s: Option<f64>,
}

/// One expected alert, from fault to notification (in one trial).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Detection {
    /// The trial, from 1, when the run had several: each trial's fault is
    /// detected on its own, from the notifications before the next trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<u32>,
    pub alert: String,
    pub labels: Vec<(String, String)>,
    pub fault: String,
    pub severity: String,
    pub fault_took_effect_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub fault_reverted_at: Option<DateTime<Utc>>,
    /// Prometheus `activeAt`: the rule's expression first held.
    pub pending_at: Option<DateTime<Utc>>,
    pub firing_seen_at: Option<DateTime<Utc>>,
    /// First firing notification carrying this instance, per destination,
    /// earliest first.
    pub notified: Vec<(Destination, DateTime<Utc>)>,
    /// Every destination that is required or was notified, with its times.
    #[serde(default)]
    pub destinations: Vec<DestinationTiming>,
    /// Where MTTD was taken (the latest required destination), or the
    /// first required destination never notified.
    #[serde(default)]
    pub late_destination: Option<Destination>,
    /// Fault → the page at the latest required destination, wall seconds;
    /// none when a required destination never got it.
    pub mttd_wall_s: Option<f64>,
    /// The same × time scale.
    pub mttd_real_s: Option<f64>,
}

impl Detection {
    /// `Name` or `Name{label="value", …}`, as the report names it, with
    /// ` (trial k)` in a run of several trials.
    pub fn instance(&self) -> String {
        match self.trial {
            Some(k) => format!("{} (trial {k})", self.alert_instance()),
            None => self.alert_instance(),
        }
    }

    /// `Name` or `Name{label="value", …}`: the same in every trial.
    pub fn alert_instance(&self) -> String {
        super::instance_name(&self.alert, &self.labels)
    }

    /// Required destinations that never got a firing notification.
    pub fn missing(&self) -> Vec<&Destination> {
        self.destinations
            .iter()
            .filter(|t| t.required && t.notified_at.is_none())
            .map(|t| &t.destination)
            .collect()
    }
}

/// Every expected alert in every trial: by alert, then by trial.
pub(super) fn detections(ev: &Evidence<'_>) -> Vec<Detection> {
    let trials = trial_count(ev.faults);
    ev.expect
        .alerts
        .iter()
        .flat_map(|e| (1..=trials).map(move |k| detection(ev, e, (trials > 1).then_some(k))))
        .collect()
}

/// How many trials the run's faults were injected in.
pub(super) fn trial_count(faults: &[crate::fault::FaultRecord]) -> u32 {
    faults.iter().map(|f| f.trial()).max().unwrap_or(1)
}

/// When trial `k + 1` began: the first request of its faults. What
/// arrives from then on belongs to it, not to trial `k`.
pub(super) fn next_trial_start(
    faults: &[crate::fault::FaultRecord],
    k: u32,
) -> Option<DateTime<Utc>> {
    faults
        .iter()
        .filter(|f| f.trial() == k + 1)
        .filter_map(|f| f.requested_at)
        .min()
}

fn detection(ev: &Evidence<'_>, e: &ExpectedAlert, trial: Option<u32>) -> Detection {
    let k = trial.unwrap_or(1);
    let fault = ev
        .faults
        .iter()
        .find(|f| f.name == e.fault && f.trial() == k);
    let t0 = fault.and_then(|f| f.took_effect_at);
    let reverted = fault.and_then(|f| f.reverted_at);
    // In a trial whose fault never took effect, nothing before the trial
    // began is its own: the last trial's pages are not this one's.
    let from = t0.or_else(|| trial.and_then(|k| next_trial_start(ev.faults, k - 1)));
    let until = next_trial_start(ev.faults, k);
    let before_next = move |at: DateTime<Utc>| until.is_none_or(|u| at < u);
    // The first timeline of this alert that started after the fault took
    // effect (an alert already active before it is not a detection of it),
    // and before the next trial.
    let timeline = ev
        .alerts
        .iter()
        .filter(|t| t.matches(&e.name, &e.labels))
        .filter(|t| match (from, t.gone_at) {
            (Some(from), Some(gone)) => gone > from,
            _ => true,
        })
        .filter(|t| t.active_at.is_none_or(before_next))
        .min_by_key(|t| t.active_at);
    let severity = severity_of(ev, &e.name, timeline.map(|t| &t.labels));
    let carrying = |status| {
        move |n: &&Notification| {
            from.is_none_or(|from| n.at >= from)
                && before_next(n.at)
                && n.carries(&e.name, &e.labels, status)
        }
    };
    let mut notified: Vec<(Destination, DateTime<Utc>)> = Vec::new();
    for n in ev
        .notifications
        .iter()
        .filter(carrying(NotificationStatus::Firing))
    {
        match notified.iter_mut().find(|(d, _)| *d == n.destination) {
            Some((_, at)) if n.at < *at => *at = n.at,
            Some(_) => {}
            None => notified.push((n.destination.clone(), n.at)),
        }
    }
    notified.sort_by_key(|(_, at)| *at);
    let required: Vec<Destination> = ev
        .slo
        .alert_delivery
        .as_ref()
        .map(|d| d.destinations(&severity).to_vec())
        .unwrap_or_default();
    let all: BTreeSet<Destination> = required
        .iter()
        .cloned()
        .chain(notified.iter().map(|(d, _)| d.clone()))
        .collect();
    let resolved: Vec<&Notification> = ev
        .notifications
        .iter()
        .filter(carrying(NotificationStatus::Resolved))
        .collect();
    let k = ev.time_scale;
    let destinations: Vec<DestinationTiming> = all
        .into_iter()
        .map(|dst| {
            let notified_at = notified.iter().find(|(d, _)| *d == dst).map(|(_, at)| *at);
            let resolved_at = notified_at.and_then(|first| {
                let after = reverted.map_or(first, |r| r.max(first));
                resolved
                    .iter()
                    .filter(|n| n.destination == dst && n.at >= after)
                    .map(|n| n.at)
                    .min()
            });
            let mttd_wall_s = t0.zip(notified_at).map(|(t0, at)| secs(at - t0));
            let reset_wall_s = reverted.zip(resolved_at).map(|(r, at)| secs(at - r));
            DestinationTiming {
                required: required.contains(&dst),
                destination: dst,
                notified_at,
                mttd_wall_s,
                mttd_real_s: mttd_wall_s.map(|w| w * k),
                resolved_at,
                reset_wall_s,
                reset_real_s: reset_wall_s.map(|w| w * k),
            }
        })
        .collect();
    let (late_destination, mttd_wall_s) = latest_page(&destinations, !required.is_empty());
    Detection {
        trial,
        alert: e.name.clone(),
        labels: e.labels.clone(),
        fault: e.fault.clone(),
        severity,
        fault_took_effect_at: t0,
        fault_reverted_at: reverted,
        pending_at: timeline.and_then(|t| t.active_at),
        firing_seen_at: timeline.and_then(|t| t.first_seen_firing),
        notified,
        destinations,
        late_destination,
        mttd_wall_s,
        mttd_real_s: mttd_wall_s.map(|w| w * k),
    }
}

/// The page a human gets last: among the required destinations when the
/// policy names any (the first one never notified makes MTTD unmeasured),
/// else among those notified.
fn latest_page(ds: &[DestinationTiming], policy: bool) -> (Option<Destination>, Option<f64>) {
    let counted: Vec<&DestinationTiming> = ds.iter().filter(|t| t.required || !policy).collect();
    if let Some(missing) = counted.iter().find(|t| t.mttd_wall_s.is_none()) {
        if policy {
            return (Some(missing.destination.clone()), None);
        }
    }
    counted
        .iter()
        .filter_map(|t| t.mttd_wall_s.map(|w| (t, w)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or((None, None), |(t, w)| {
            (Some(t.destination.clone()), Some(w))
        })
}
