//! MTTD as a distribution: with several trials, each expected alert's
//! detection and reset times per trial and per destination, their spread
//! (min / p50 / p95 / max), the band the configuration allows (floor and
//! ceiling, [`crate::slo::floor`]), and the harness's self-check against
//! that band. A trial that began before the previous one had recovered
//! (its alert still firing, a destination still without its resolved
//! notification, or Alertmanager not yet past the sweep that removes the
//! emptied group) measured a different thing, an open group, so it is
//! excluded and says why. A trial whose alert fired again while
//! Prometheus was still re-sending an earlier resolution of it (for 15
//! minutes, unscaled) may have joined the group those re-sends re-opened:
//! it is counted, named, and judged against the band for a group that is
//! already open (no `group_wait`, up to a `group_interval`).
//!
//! Percentiles are nearest-rank over every counted trial; a trial whose
//! page never came counts as infinitely late, so a miss is never hidden by
//! a percentile below 100.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Evidence;
use super::detect::{Detection, next_trial_start};
use crate::observe::alertmanager::destination::Destination;
use crate::observe::alertmanager::receiver::{NotificationStatus, still_firing};

/// The spread of one series of trial values, real-time seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Spread {
    /// Trials with a value.
    pub measured: u32,
    /// Counted trials without one (the page, or its resolution, never came).
    pub missed: u32,
    pub min_s: f64,
    pub p50_s: f64,
    pub p95_s: f64,
    pub max_s: f64,
}

impl Spread {
    /// The spread of the values present; `None` when there are none.
    pub fn of(values: &[Option<f64>]) -> Option<Spread> {
        let mut got: Vec<f64> = values.iter().flatten().copied().collect();
        if got.is_empty() {
            return None;
        }
        got.sort_by(f64::total_cmp);
        let at = |p: u8| nearest_rank(&got, p);
        Some(Spread {
            measured: got.len() as u32,
            missed: (values.len() - got.len()) as u32,
            min_s: got[0],
            p50_s: at(50),
            p95_s: at(95),
            max_s: got[got.len() - 1],
        })
    }
}

impl Spread {
    /// min, p50, p95 and max as durations.
    pub fn cells(&self) -> [String; 4] {
        [self.min_s, self.p50_s, self.p95_s, self.max_s].map(secs)
    }

    /// ` (N missed)`, or nothing.
    pub fn missed_note(&self) -> String {
        if self.missed > 0 {
            format!(" ({} missed)", self.missed)
        } else {
            String::new()
        }
    }

    /// `min / p50 / p95 / max (N missed)`.
    pub fn slashed(&self) -> String {
        format!("{}{}", self.cells().join(" / "), self.missed_note())
    }
}

/// The `p`th percentile (1..=100) of ascending `sorted`, nearest rank.
fn nearest_rank(sorted: &[f64], p: u8) -> f64 {
    let n = sorted.len();
    let rank = (f64::from(p) / 100.0 * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// The `p`th percentile of per-trial values, a missing one counting as
/// infinitely late: `None` when the percentile falls on a miss.
pub fn percentile(values: &[Option<f64>], p: u8) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut all: Vec<f64> = values.iter().map(|v| v.unwrap_or(f64::INFINITY)).collect();
    all.sort_by(f64::total_cmp);
    Some(nearest_rank(&all, p)).filter(|v| v.is_finite())
}

/// One destination's (or the page-last) values over the trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrialSeries {
    /// `None`: the alert's MTTD in each trial, taken at its latest
    /// required destination (the page a human gets last).
    pub destination: Option<Destination>,
    pub required: bool,
    /// Fault → page, real seconds, per counted trial (in trial order).
    pub mttd_real_s: Vec<Option<f64>>,
    /// Revert → resolved notification, real seconds, per counted trial.
    pub reset_real_s: Vec<Option<f64>>,
    pub mttd: Option<Spread>,
    pub reset: Option<Spread>,
}

/// A trial left out of the distribution, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExcludedTrial {
    pub trial: u32,
    pub reason: String,
}

/// One expected alert over every trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AlertTrials {
    pub alert: String,
    pub labels: Vec<(String, String)>,
    /// Trials run; `counted` of them make the distribution.
    pub trials: u32,
    /// The trial numbers counted, in order (the values' order).
    pub counted: Vec<u32>,
    pub excluded: Vec<ExcludedTrial>,
    /// The earliest and latest a notification can come, from the
    /// configuration alone, real seconds; none when the rule is unknown.
    pub floor_real_s: Option<f64>,
    pub ceiling_real_s: Option<f64>,
    pub floor_terms: Option<String>,
    pub ceiling_terms: Option<String>,
    /// Counted trials whose alert fired within Prometheus' resolved
    /// retention (plus Alertmanager's sweep) of a resolved notification of
    /// the same alert: Prometheus' re-sends may have kept its group open,
    /// so its page may have come at a `group_interval` tick instead of
    /// after a `group_wait`. They are judged against the rejoining band.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejoining: Vec<u32>,
    /// The band for an alert that joins its still-open group, real seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejoin_floor_real_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejoin_ceiling_real_s: Option<f64>,
    /// The page-last series first, then one per destination.
    pub series: Vec<TrialSeries>,
    /// Measured values outside the band: the harness measured wrong.
    pub self_check: Vec<String>,
}

impl AlertTrials {
    /// `Name` or `Name{label="value", …}`.
    pub fn instance(&self) -> String {
        super::instance_name(&self.alert, &self.labels)
    }

    /// `; the configuration allows 1m30s–2m10s`, and the band of the
    /// trials that may have joined an open group when there are any; empty
    /// when the rule is unknown.
    pub fn band(&self) -> String {
        let (Some(f), Some(c)) = (self.floor_real_s, self.ceiling_real_s) else {
            return String::new();
        };
        let rejoin = self
            .rejoin_band()
            .map(|b| format!(", {b}"))
            .unwrap_or_default();
        format!("; the configuration allows {}–{}{rejoin}", secs(f), secs(c))
    }

    /// `trials 2, 3 may have joined …: 1m00s–2m40s`, when any may have.
    pub fn rejoin_band(&self) -> Option<String> {
        let (f, c) = (self.rejoin_floor_real_s?, self.rejoin_ceiling_real_s?);
        let which: Vec<String> = self.rejoining.iter().map(u32::to_string).collect();
        Some(format!(
            "trial(s) {} {}–{} (fired while Prometheus still re-sent an earlier resolution, which can keep the Alertmanager group open: no group_wait, up to a group_interval)",
            which.join(", "),
            secs(f),
            secs(c)
        ))
    }

    /// The page-last series: what MTTD judges.
    pub fn page(&self) -> Option<&TrialSeries> {
        self.series.iter().find(|s| s.destination.is_none())
    }
}

/// Per expected alert, its trials; empty in a run of one trial.
pub(super) fn alert_trials(ev: &Evidence<'_>, detections: &[Detection]) -> Vec<AlertTrials> {
    let trials = super::detect::trial_count(ev.faults);
    if trials <= 1 {
        return Vec::new();
    }
    let excluded = unrecovered(ev, trials);
    let mut out: Vec<AlertTrials> = Vec::new();
    for e in &ev.expect.alerts {
        let mine: Vec<&Detection> = detections
            .iter()
            .filter(|d| d.alert == e.name && d.labels == e.labels && d.fault == e.fault)
            .filter(|d| !excluded.iter().any(|x| Some(x.trial) == d.trial))
            .collect();
        out.push(one_alert(ev, e, trials, &mine, excluded.clone()));
    }
    out
}

fn one_alert(
    ev: &Evidence<'_>,
    e: &crate::scenario::ExpectedAlert,
    trials: u32,
    mine: &[&Detection],
    excluded: Vec<ExcludedTrial>,
) -> AlertTrials {
    let bounds = ev
        .files
        .rule(&e.name)
        .map(|r| crate::slo::floor::floor(r, ev.files));
    let k = ev.time_scale;
    let page = TrialSeries {
        destination: None,
        required: true,
        mttd_real_s: mine.iter().map(|d| d.mttd_real_s).collect(),
        reset_real_s: mine.iter().map(|d| page_reset(d).map(|w| w * k)).collect(),
        mttd: None,
        reset: None,
    };
    let mut series = vec![page];
    for dst in destinations(mine) {
        let timing = |d: &Detection| {
            d.destinations
                .iter()
                .find(|t| t.destination == dst)
                .cloned()
        };
        series.push(TrialSeries {
            required: mine.iter().any(|d| timing(d).is_some_and(|t| t.required)),
            mttd_real_s: mine
                .iter()
                .map(|d| timing(d).and_then(|t| t.mttd_real_s))
                .collect(),
            reset_real_s: mine
                .iter()
                .map(|d| timing(d).and_then(|t| t.reset_real_s))
                .collect(),
            destination: Some(dst),
            mttd: None,
            reset: None,
        });
    }
    for s in &mut series {
        s.mttd = Spread::of(&s.mttd_real_s);
        s.reset = Spread::of(&s.reset_real_s);
    }
    let floor_real_s = bounds.as_ref().map(|b| b.best.as_secs_f64());
    let ceiling_real_s = bounds.as_ref().map(|b| b.worst.as_secs_f64());
    let counted: Vec<u32> = mine.iter().map(|d| d.trial.unwrap_or(1)).collect();
    let rejoining: Vec<u32> = mine
        .iter()
        .filter(|d| may_rejoin(ev, e, d))
        .map(|d| d.trial.unwrap_or(1))
        .collect();
    let band = |b: &crate::slo::floor::Floor, rejoin: bool| match rejoin {
        true => Band::of(b.rejoin_best, b.rejoin_worst),
        false => Band::of(b.best, b.worst),
    };
    let bands: Vec<Option<Band>> = counted
        .iter()
        .map(|t| bounds.as_ref().map(|b| band(b, rejoining.contains(t))))
        .collect();
    let self_check = self_check(&series, &counted, &bands, k);
    let rejoin_band = bounds.as_ref().filter(|_| !rejoining.is_empty());
    AlertTrials {
        alert: e.name.clone(),
        labels: e.labels.clone(),
        trials,
        counted,
        excluded,
        floor_real_s,
        ceiling_real_s,
        floor_terms: bounds.as_ref().map(|b| b.best_terms.clone()),
        ceiling_terms: bounds.as_ref().map(|b| b.worst_terms.clone()),
        rejoining,
        rejoin_floor_real_s: rejoin_band.map(|b| b.rejoin_best.as_secs_f64()),
        rejoin_ceiling_real_s: rejoin_band.map(|b| b.rejoin_worst.as_secs_f64()),
        series,
        self_check,
    }
}

/// The reset time of the page: the latest resolution among the required
/// destinations (the last pager to clear), else among those notified.
pub(super) fn page_reset(d: &Detection) -> Option<f64> {
    let required: Vec<_> = d.destinations.iter().filter(|t| t.required).collect();
    let counted = if required.is_empty() {
        d.destinations.iter().collect()
    } else {
        required
    };
    if counted.iter().any(|t| t.reset_wall_s.is_none()) {
        return None;
    }
    counted
        .iter()
        .filter_map(|t| t.reset_wall_s)
        .max_by(f64::total_cmp)
}

/// Every destination of any trial, in order.
fn destinations(mine: &[&Detection]) -> Vec<Destination> {
    let mut all: Vec<Destination> = mine
        .iter()
        .flat_map(|d| d.destinations.iter().map(|t| t.destination.clone()))
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The earliest and latest a trial's page can come, real seconds.
#[derive(Debug, Clone, Copy)]
struct Band {
    floor: f64,
    ceiling: f64,
}

impl Band {
    fn of(floor: std::time::Duration, ceiling: std::time::Duration) -> Band {
        Band {
            floor: floor.as_secs_f64(),
            ceiling: ceiling.as_secs_f64(),
        }
    }
}

/// Whether trial `d`'s alert fired within Prometheus' resolved retention
/// (and Alertmanager's sweep after it) of a resolved notification of the
/// same alert: Prometheus was then still re-sending that resolution, and
/// each re-send re-creates the group the sweep removed, so the alert may
/// have joined an open group. Wall time: neither span is time-scaled.
fn may_rejoin(ev: &Evidence<'_>, e: &crate::scenario::ExpectedAlert, d: &Detection) -> bool {
    let Some(fired) = d.firing_seen_at else {
        return false;
    };
    use crate::stackfiles::files::defaults::{GROUP_SWEEP, PROMETHEUS_RESOLVED_RETENTION};
    let reopens =
        chrono::Duration::from_std(PROMETHEUS_RESOLVED_RETENTION + GROUP_SWEEP).unwrap_or_default();
    ev.notifications.iter().any(|n| {
        n.at < fired
            && fired - n.at < reopens
            && n.carries(&e.name, &e.labels, NotificationStatus::Resolved)
    })
}

/// How far outside its band a value may fall before it is the harness's
/// error rather than jitter: a second of wall time (polls, process
/// start-up) below the floor; above the ceiling, 10 % and two seconds of
/// wall time (a busy machine's scheduling). Each counted trial has its own
/// band (`bands`, in `counted`'s order): a trial that may have joined an
/// open group is judged against the rejoining one.
fn self_check(
    series: &[TrialSeries],
    counted: &[u32],
    bands: &[Option<Band>],
    k: f64,
) -> Vec<String> {
    let mut out = Vec::new();
    for s in series.iter().filter(|s| s.destination.is_some()) {
        let at = s
            .destination
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        for ((v, trial), band) in s.mttd_real_s.iter().zip(counted).zip(bands) {
            let (Some(v), Some(band)) = (*v, band) else {
                continue;
            };
            if v < band.floor - k {
                out.push(format!(
                    "trial {trial}: MTTD {} at {at} is below the configuration's floor {}: the harness measured wrong (the fault took effect earlier than recorded, or a notification was attributed to the wrong trial)",
                    secs(v),
                    secs(band.floor)
                ));
            } else if v > band.ceiling * 1.1 + 2.0 * k {
                out.push(format!(
                    "trial {trial}: MTTD {} at {at} is clearly above the configuration's ceiling {}: the stack was slower than its configuration allows (a starved Prometheus or Alertmanager), or the harness recorded the fault late",
                    secs(v),
                    secs(band.ceiling)
                ));
            }
        }
    }
    out
}

use crate::input::units::human_seconds as secs;

/// Trials that began before the one before them had recovered: at the
/// first request of trial k's faults, an alert still firing in Prometheus
/// or a destination still without the resolved notification of a page.
fn unrecovered(ev: &Evidence<'_>, trials: u32) -> Vec<ExcludedTrial> {
    (1..trials)
        .filter_map(|prev| {
            let start = next_trial_start(ev.faults, prev)?;
            let open = still_open_at(ev, start);
            if !open.is_empty() {
                return Some(ExcludedTrial {
                    trial: prev + 1,
                    reason: format!(
                        "began before trial {prev} had recovered: {}",
                        open.join("; ")
                    ),
                });
            }
            group_not_swept(ev, prev, start).map(|reason| ExcludedTrial {
                trial: prev + 1,
                reason,
            })
        })
        .collect()
}

/// Whether trial `prev + 1`'s first alert reached Alertmanager before its
/// sweep could have removed the group trial `prev` emptied: it may then
/// have joined that group and been sent at its next `group_interval` tick
/// rather than after a `group_wait`, which is not the detection measured.
fn group_not_swept(ev: &Evidence<'_>, prev: u32, start: DateTime<Utc>) -> Option<String> {
    let resolved = ev
        .notifications
        .iter()
        .filter(|n| n.at < start && n.status == NotificationStatus::Resolved)
        .map(|n| n.at)
        .max()?;
    let until = next_trial_start(ev.faults, prev + 1);
    let fired = ev
        .alerts
        .iter()
        .filter_map(|t| t.first_seen_firing)
        .filter(|f| *f >= start && until.is_none_or(|u| *f < u))
        .min()?;
    let sweep = crate::stackfiles::files::defaults::GROUP_SWEEP;
    let gap = (fired - resolved).to_std().unwrap_or_default();
    (gap < sweep).then(|| {
        format!(
            "its alert fired {} after trial {prev}'s last resolved notification, within Alertmanager's {} sweep of emptied groups: it may have joined trial {prev}'s group and waited for its group_interval instead of a group_wait",
            secs(gap.as_secs_f64()),
            secs(sweep.as_secs_f64())
        )
    })
}

/// Whether an alert still open when a trial begins can change how that
/// trial's expected alerts are detected or sent: it is one of them (an
/// earlier instance not yet resolved), it can share their Alertmanager
/// groups (the root route does not group by `alertname`), or an inhibit
/// rule can take it as its source. Anything else, such as another rule's
/// warning that fires over a long run (a cache gone cold), is the
/// unexpected-alert check's business and does not void the trial.
fn can_touch_trial(ev: &Evidence<'_>, alert: &str) -> bool {
    !ev.files.is_heartbeat(alert)
        && (ev.expect.alerts.iter().any(|e| e.name == alert)
            || ev.files.alerts_share_groups()
            || ev.files.may_inhibit(alert))
}

/// What was still firing at `at` that can touch the next trial
/// ([`can_touch_trial`]): Prometheus' alerts, and pages without their
/// resolved notification; heartbeats aside (they never resolve).
fn still_open_at(ev: &Evidence<'_>, at: DateTime<Utc>) -> Vec<String> {
    let mut open: Vec<String> = ev
        .alerts
        .iter()
        .filter(|t| can_touch_trial(ev, &t.name))
        .filter(|t| t.first_seen_firing.is_some_and(|f| f < at))
        .filter(|t| t.gone_at.is_none_or(|g| g > at))
        .map(|t| format!("{} still firing in Prometheus", t.name))
        .collect();
    let before: Vec<_> = ev
        .notifications
        .iter()
        .filter(|n| n.at < at)
        .cloned()
        .collect();
    open.extend(
        still_firing(&before)
            .into_iter()
            .filter(|(a, _)| can_touch_trial(ev, &a.name))
            .map(|(a, d)| format!("{} not yet resolved at {d}", a.display())),
    );
    open.sort();
    open.dedup();
    open
}

/// The MTTD judgement over trials: per covered alert, the chosen
/// percentile of its page-last series against the target, with the spread
/// per destination and the band; whether any failed, and the lines.
pub(super) fn judge_mttd(
    m: &crate::slo::spec::MttdSlo,
    covered: &[&AlertTrials],
) -> (bool, Vec<String>, Option<String>) {
    let p = m.percentile.unwrap_or(100);
    let which = if p == 100 {
        "worst".to_string()
    } else {
        format!("p{p}")
    };
    let max = m.max.as_secs_f64();
    let mut failed = false;
    let mut details = Vec::new();
    let mut judged_all: Vec<String> = Vec::new();
    for a in covered {
        let Some(page) = a.page() else { continue };
        let n = page.mttd_real_s.len();
        let judged = percentile(&page.mttd_real_s, p);
        let rests = format!("{which} of {n} trial{}", if n == 1 { "" } else { "s" });
        match judged {
            _ if n == 0 => {
                failed = true;
                details.push(format!(
                    "{}: no trial could be counted ({} excluded)",
                    a.instance(),
                    a.excluded.len()
                ));
            }
            Some(v) if v <= max => {
                details.push(format!("{}: MTTD {rests} {}", a.instance(), secs(v)));
            }
            Some(v) => {
                failed = true;
                details.push(format!(
                    "{}: MTTD {rests} {} is over the {} target",
                    a.instance(),
                    secs(v),
                    secs(max)
                ));
            }
            None => {
                failed = true;
                let missed = page.mttd_real_s.iter().filter(|v| v.is_none()).count();
                details.push(format!(
                    "{}: MTTD {rests} falls on a trial whose page never reached every required destination ({missed} of {n} missed)",
                    a.instance()
                ));
            }
        }
        judged_all.push(format!(
            "{which} {} over {n}",
            judged.map_or("never".to_string(), secs)
        ));
        details.push(spread_line(a));
        details.extend(
            a.excluded
                .iter()
                .map(|x| format!("{}: trial {} excluded: {}", a.instance(), x.trial, x.reason)),
        );
        details.extend(
            a.self_check
                .iter()
                .map(|c| format!("SELF-CHECK {}: {c}", a.instance())),
        );
    }
    let measured = (!judged_all.is_empty()).then(|| judged_all.join(", "));
    (failed, details, measured)
}

/// `X: per destination min / p50 / p95 / max …; band floor–ceiling`.
pub fn spread_line(a: &AlertTrials) -> String {
    let parts: Vec<String> = a
        .series
        .iter()
        .filter_map(|s| {
            let d = s.destination.as_ref()?;
            Some(match &s.mttd {
                Some(sp) => format!("{d} {}", sp.slashed()),
                None => format!("{d} never notified"),
            })
        })
        .collect();
    format!(
        "{}: MTTD min / p50 / p95 / max over {} trial(s): {}{}",
        a.instance(),
        a.counted.len(),
        parts.join(", "),
        a.band()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_and_misses_count_as_late() {
        let v: Vec<Option<f64>> = (1..=10).map(|i| Some(f64::from(i))).collect();
        let s = Spread::of(&v).unwrap();
        assert_eq!((s.min_s, s.p50_s, s.p95_s, s.max_s), (1.0, 5.0, 10.0, 10.0));
        assert_eq!(percentile(&v, 90), Some(9.0));
        assert_eq!(percentile(&v, 100), Some(10.0));
        // One miss of ten: p90 still sees the ninth value, p95 the miss.
        let mut missed = v.clone();
        missed[3] = None;
        assert_eq!(percentile(&missed, 90), Some(10.0));
        assert_eq!(percentile(&missed, 95), None);
        let s = Spread::of(&missed).unwrap();
        assert_eq!((s.measured, s.missed), (9, 1));
        assert_eq!(Spread::of(&[None, None]), None);
        assert_eq!(percentile(&[], 50), None);
        // Twenty values: p95 is the 19th.
        let v: Vec<Option<f64>> = (1..=20).map(|i| Some(f64::from(i))).collect();
        assert_eq!(Spread::of(&v).unwrap().p95_s, 19.0);
    }

    #[test]
    fn the_self_check_flags_values_outside_the_band() {
        let series = vec![TrialSeries {
            destination: Some(Destination::PagerDuty),
            required: true,
            mttd_real_s: vec![Some(95.0), Some(60.0), Some(200.0), None],
            reset_real_s: vec![None; 4],
            mttd: None,
            reset: None,
        }];
        let fresh = Some(Band {
            floor: 90.0,
            ceiling: 130.0,
        });
        let out = self_check(&series, &[1, 2, 3, 4], &[fresh; 4], 10.0);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[0].starts_with("trial 2: MTTD 1m00s at pagerduty is below"),
            "{}",
            out[0]
        );
        assert!(
            out[1].starts_with("trial 3: MTTD 3m20s at pagerduty is clearly above"),
            "{}",
            out[1]
        );
        // Within jitter of the band: nothing to flag.
        let series = vec![TrialSeries {
            mttd_real_s: vec![Some(81.0), Some(160.0)],
            ..series[0].clone()
        }];
        assert!(self_check(&series, &[1, 2], &[fresh; 2], 10.0).is_empty());
        // A trial that may have joined an open group has its own band: 60 s
        // is inside it, and the same 60 s in a fresh group is not.
        let rejoin = Some(Band {
            floor: 60.0,
            ceiling: 160.0,
        });
        let series = vec![TrialSeries {
            mttd_real_s: vec![Some(60.0), Some(60.0)],
            ..series[0].clone()
        }];
        let out = self_check(&series, &[1, 2], &[fresh, rejoin], 10.0);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("trial 1: MTTD 1m00s"), "{}", out[0]);
    }
}
