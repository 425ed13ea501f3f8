//! The alert-quality scorecard, per rule, the four attributes the SRE
//! workbook judges alerting by, measured rather than computed:
//!
//! - detection time: fault → page, over the trials (median and worst);
//! - reset time: revert → resolved notification, over the trials;
//! - precision: firings that an injected fault explains, over all
//!   firings. A firing is explained when its condition began (`activeAt`)
//!   while a fault was in force, or soon enough after the revert that the
//!   rule's range window, a scrape and an evaluation still held the fault
//!   in its expression. The quiet time between trials is where a noisy
//!   rule loses precision;
//! - recall: the faults the scenario expects the rule to catch (one per
//!   expected alert and trial), over those it caught (the expected
//!   instance fired). A pattern the rule cannot see (a slow burn just
//!   above its threshold, spikes shorter than its `for`) loses recall.

use chrono::{DateTime, Duration as TD, Utc};
use serde::{Deserialize, Serialize};

use super::Evidence;
use super::detect::Detection;
use super::trials::{Spread, page_reset};

/// One rule's scorecard row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleScore {
    pub rule: String,
    /// Fault → page (latest required destination), real seconds, over the
    /// trials that expected it.
    pub detection: Option<Spread>,
    /// Revert → resolved notification, real seconds.
    pub reset: Option<Spread>,
    /// Firing episodes of any of its instances.
    pub firings: u32,
    /// Of those, the ones an injected fault explains.
    pub explained: u32,
    /// `explained / firings`; none without firings.
    pub precision: Option<f64>,
    /// Faults the scenario expects it to catch (expected alerts × trials).
    pub expected: u32,
    pub caught: u32,
    /// `caught / expected`; none when nothing was expected of it.
    pub recall: Option<f64>,
    /// Caught faults whose page was resolved while the fault was still in
    /// force: the condition dipped under the threshold (a slow burn), and
    /// whoever was paged was told it was over while users still saw it.
    #[serde(default)]
    pub resolved_early: u32,
}

/// Every rule the scenario expects or that fired, in rule-file order.
pub(super) fn scorecard(ev: &Evidence<'_>, detections: &[Detection]) -> Vec<RuleScore> {
    ev.files
        .rules
        .iter()
        .filter(|rule| !rule.is_heartbeat())
        .filter_map(|rule| score(ev, detections, rule))
        .collect()
}

fn score(
    ev: &Evidence<'_>,
    detections: &[Detection],
    rule: &crate::stackfiles::files::AlertRule,
) -> Option<RuleScore> {
    let mine: Vec<&Detection> = detections.iter().filter(|d| d.alert == rule.name).collect();
    let firings: Vec<DateTime<Utc>> = ev
        .alerts
        .iter()
        .filter(|t| t.name == rule.name && t.first_seen_firing.is_some())
        .filter_map(|t| t.active_at.or(t.first_seen_firing))
        .collect();
    if mine.is_empty() && firings.is_empty() {
        return None;
    }
    let hold = explained_for(ev, rule);
    let explained = firings
        .iter()
        .filter(|at| in_a_fault(ev, **at, hold))
        .count() as u32;
    let caught = mine
        .iter()
        .filter(|d| d.firing_seen_at.is_some() || !d.notified.is_empty())
        .count() as u32;
    let k = ev.time_scale;
    let detection: Vec<Option<f64>> = mine.iter().map(|d| d.mttd_real_s).collect();
    let reset: Vec<Option<f64>> = mine.iter().map(|d| page_reset(d).map(|w| w * k)).collect();
    let resolved_early = mine.iter().filter(|d| resolved_early(ev, d)).count() as u32;
    let ratio = |a: u32, b: u32| (b > 0).then(|| f64::from(a) / f64::from(b));
    Some(RuleScore {
        rule: rule.name.clone(),
        detection: Spread::of(&detection),
        reset: Spread::of(&reset),
        firings: firings.len() as u32,
        explained,
        precision: ratio(explained, firings.len() as u32),
        expected: mine.len() as u32,
        caught,
        recall: ratio(caught, mine.len() as u32),
        resolved_early,
    })
}

/// Whether a resolved notification carrying the instance came after its
/// first page and before the fault was reverted.
fn resolved_early(ev: &Evidence<'_>, d: &Detection) -> bool {
    let (Some((_, first)), Some(reverted)) = (d.notified.first(), d.fault_reverted_at) else {
        return false;
    };
    ev.notifications.iter().any(|n| {
        n.at > *first
            && n.at < reverted
            && n.carries(
                &d.alert,
                &d.labels,
                crate::observe::alertmanager::receiver::NotificationStatus::Resolved,
            )
    })
}

/// How long after a revert a condition that began is still the fault's
/// doing (wall time): the rule's longest range window, a scrape and an
/// evaluation, scaled.
fn explained_for(ev: &Evidence<'_>, rule: &crate::stackfiles::files::AlertRule) -> TD {
    let window = crate::stackfiles::prometheus::promql::range_windows(&rule.expr)
        .ok()
        .and_then(|w| w.into_iter().max())
        .unwrap_or_default();
    let real = window + ev.files.scrape_interval() + ev.files.evaluation_interval_of(rule);
    TD::from_std(crate::scenario::plan::scale(real, ev.time_scale)).unwrap_or_default()
}

/// Whether a condition that began at `at` falls in a fault's time: from an
/// evaluation before it took effect (the first evaluation after a scrape
/// can see it) to `hold` after its revert.
fn in_a_fault(ev: &Evidence<'_>, at: DateTime<Utc>, hold: TD) -> bool {
    let eval = TD::from_std(crate::scenario::plan::scale(
        ev.files.evaluation_interval(),
        ev.time_scale,
    ))
    .unwrap_or_default();
    ev.faults.iter().any(|f| {
        let Some(from) = f.took_effect_at else {
            return false;
        };
        let to = f.reverted_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
        at >= from - eval && at <= to.checked_add_signed(hold).unwrap_or(to)
    })
}

/// `3/4 = 75%`, or `—`.
pub fn fraction(a: u32, b: u32) -> String {
    if b == 0 {
        "—".into()
    } else {
        format!("{a}/{b} = {:.0}%", f64::from(a) / f64::from(b) * 100.0)
    }
}
