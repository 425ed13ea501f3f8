//! Where each alert instance that fired went, against where its routing
//! policy says it should go. Instances are told apart by their labels, not
//! their rule name: `ServiceDown{job="ml-engine"}` is its own row, and a
//! page for it is no page for `ServiceDown{job="backend-api"}`.
//!
//! Inhibition counts by interval: an instance Alertmanager reported
//! inhibited in some polls is excused for reaching nobody only when it was
//! never free (active, uninhibited) for longer than a `group_wait` plus a
//! poll in a row. Resolution counts per instance and destination: the last
//! notification there must carry the instance resolved.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Evidence, severity_of};
use crate::observe::alertmanager::destination::Destination;
use crate::observe::alertmanager::inhibitions::HeldAlert;
use crate::observe::alertmanager::receiver::{
    Notification, NotificationStatus, NotifiedAlert, still_firing,
};
use crate::observe::prometheus::alerts::has_labels;
use crate::scenario::plan::scale;

/// One alert instance that fired: where it should have gone, where it went.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RoutingRow {
    pub alert: String,
    /// The instance's labels, `alertname` left out.
    #[serde(default)]
    pub labels: Vec<(String, String)>,
    pub severity: String,
    pub expected: Vec<Destination>,
    pub firing: Vec<Destination>,
    pub resolved: Vec<Destination>,
    pub missed: Vec<Destination>,
    pub unexpected: Vec<Destination>,
    /// Destinations whose last notification still carried it firing.
    #[serde(default)]
    pub unresolved: Vec<Destination>,
    /// Alerts that inhibited this one in Alertmanager, if any did.
    #[serde(default)]
    pub inhibited_by: Vec<String>,
    /// Inhibited in every poll that saw it: it should reach nobody.
    #[serde(default)]
    pub fully_inhibited: bool,
    /// Longest stretch it was active and not inhibited, wall seconds, when
    /// it was inhibited at some point.
    #[serde(default)]
    pub longest_free_s: Option<f64>,
}

impl RoutingRow {
    /// `Name{label="value", …}`, severity left out (it is shown beside).
    pub fn instance(&self) -> String {
        let labels: Vec<(String, String)> = self
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "severity")
            .cloned()
            .collect();
        format!("{}{}", self.alert, super::label_set(&labels))
    }
}

/// An alert instance: a rule name and the labels that tell it apart.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Instance {
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, String>,
}

impl Instance {
    /// `a` is this instance: same rule, and every label of ours (Alertmanager
    /// may add external labels, never drop ours).
    fn is(&self, a: &NotifiedAlert) -> bool {
        a.name == self.name && has_labels(&a.labels, self.labels.iter())
    }

    fn held_as(&self, h: &HeldAlert) -> bool {
        h.name == self.name && has_labels(&h.labels, self.labels.iter())
    }

    pub(super) fn pairs(&self) -> Vec<(String, String)> {
        self.labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(super) fn display(&self) -> String {
        format!("{}{}", self.name, super::label_set(&self.pairs()))
    }
}

/// Instances that reached firing in Prometheus or in a notification.
/// Every instance that fired, heartbeats aside (their firing is the
/// pipeline's pulse, judged in `pipeline`, not an incident).
pub(super) fn fired_instances(ev: &Evidence<'_>) -> Vec<Instance> {
    let mut out = every_fired_instance(ev);
    out.retain(|i| !ev.files.is_heartbeat(&i.name));
    out
}

fn every_fired_instance(ev: &Evidence<'_>) -> Vec<Instance> {
    let mut out: BTreeSet<Instance> = ev
        .alerts
        .iter()
        .filter(|t| t.first_seen_firing.is_some())
        .map(|t| Instance {
            name: t.name.clone(),
            labels: t.labels.clone(),
        })
        .collect();
    for n in ev.notifications {
        for a in n
            .alerts
            .iter()
            .filter(|a| a.status == NotificationStatus::Firing)
        {
            if !out.iter().any(|i| i.is(a)) {
                out.insert(Instance {
                    name: a.name.clone(),
                    labels: a.labels.clone(),
                });
            }
        }
    }
    out.into_iter().collect()
}

fn destinations_with(
    ns: &[&Notification],
    i: &Instance,
    status: NotificationStatus,
) -> Vec<Destination> {
    let set: BTreeSet<Destination> = ns
        .iter()
        .filter(|n| n.alerts.iter().any(|a| a.status == status && i.is(a)))
        .map(|n| n.destination.clone())
        .collect();
    set.into_iter().collect()
}

pub(super) fn routing(ev: &Evidence<'_>) -> Vec<RoutingRow> {
    let ns: Vec<&Notification> = ev.notifications.iter().collect();
    let open = still_firing(ev.notifications);
    // Free longer than this in a row, an inhibited alert should have been
    // notified: the longest group_wait, plus an evaluation and a poll.
    let k = ev.time_scale;
    let free_bound = (scale(ev.files.max_group_wait(), k)
        + scale(ev.files.evaluation_interval(), k) * 2)
        .as_secs_f64()
        + 1.0;
    fired_instances(ev)
        .into_iter()
        .map(|i| {
            let severity = severity_of(ev, &i.name, Some(&i.labels));
            let expected: Vec<Destination> = ev
                .slo
                .alert_delivery
                .as_ref()
                .map(|d| d.destinations(&severity).to_vec())
                .unwrap_or_default();
            let firing = destinations_with(&ns, &i, NotificationStatus::Firing);
            let resolved = destinations_with(&ns, &i, NotificationStatus::Resolved);
            let unresolved: BTreeSet<Destination> = open
                .iter()
                .filter(|(a, _)| i.is(a))
                .map(|(_, d)| (*d).clone())
                .collect();
            let held: Vec<&HeldAlert> = ev
                .held
                .into_iter()
                .flatten()
                .filter(|h| i.held_as(h))
                .collect();
            let inhibited_by: Vec<String> = held
                .iter()
                .flat_map(|h| h.inhibited_by.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let inhibited = !inhibited_by.is_empty();
            let fully_inhibited = inhibited && held.iter().all(|h| !h.ever_active);
            let longest_free_s =
                inhibited.then(|| held.iter().map(|h| h.longest_active_s).fold(0.0, f64::max));
            // Inhibited, and never free long enough to be owed a page.
            let excused = longest_free_s.is_some_and(|s| s <= free_bound);
            RoutingRow {
                missed: expected
                    .iter()
                    .filter(|d| !firing.contains(d) && !excused)
                    .cloned()
                    .collect(),
                unexpected: firing
                    .iter()
                    .filter(|d| !expected.contains(d) || fully_inhibited)
                    .cloned()
                    .collect(),
                unresolved: unresolved.into_iter().collect(),
                labels: i.pairs(),
                alert: i.name,
                inhibited_by,
                fully_inhibited,
                longest_free_s,
                severity,
                expected,
                firing,
                resolved,
            }
        })
        .collect()
}

/// Repeats: a firing notification at a destination that carries exactly
/// what the previous one there from the same receiver carried (same
/// instances, same states) told nobody anything new: broken grouping or
/// a repeat_interval shorter than the run.
pub(super) fn duplicates(ev: &Evidence<'_>) -> Vec<String> {
    let mut order: Vec<&Notification> = ev.notifications.iter().collect();
    order.sort_by_key(|n| n.at);
    let mut last: BTreeMap<(&Destination, &str), Vec<(&str, NotificationStatus)>> = BTreeMap::new();
    let mut repeats: BTreeMap<(String, String), u64> = BTreeMap::new();
    // A heartbeat repeats on purpose.
    let heartbeat = |n: &&Notification| n.alerts.iter().all(|a| ev.files.is_heartbeat(&a.name));
    for n in order
        .into_iter()
        .filter(|n| !n.alerts.is_empty() && !heartbeat(n))
    {
        let mut carried: Vec<(&str, NotificationStatus)> = n
            .alerts
            .iter()
            .map(|a| (a.fingerprint.as_str(), a.status))
            .collect();
        carried.sort_by(|a, b| a.0.cmp(b.0));
        let key = (&n.destination, n.receiver.as_str());
        if n.status == NotificationStatus::Firing && last.get(&key) == Some(&carried) {
            for a in &n.alerts {
                *repeats
                    .entry((a.display(), n.destination.to_string()))
                    .or_default() += 1;
            }
        }
        last.insert(key, carried);
    }
    repeats
        .into_iter()
        .map(|((alert, dst), n)| {
            format!("{alert}: {dst} got {n} repeated firing notification(s) with nothing new in them (repeat_interval or grouping)")
        })
        .collect()
}
