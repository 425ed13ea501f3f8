//! `--baseline OLD.json`: regressions against an earlier run, as one more
//! SLO row ("baseline"), so every renderer shows them and they fail the
//! gate like any SLO.
//!
//! Compared: MTTD per alert (real-time equivalent), dashboard p95 load per
//! dashboard, trace coverage, load p99 per endpoint, and every SLO that
//! passed before and no longer does. Small absolute floors keep noise at
//! the millisecond scale from counting as a regression.

use std::collections::BTreeMap;

use crate::observe::grafana::dashboards::quantile;
use crate::slo::check::{SloKind, SloResult, Status};

use super::model::RunResult;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Allowed relative increase of an alert's MTTD.
    pub mttd: f64,
    /// Allowed relative increase of a dashboard's p95 load time.
    pub dashboards: f64,
    /// Allowed relative increase of an endpoint's p99 latency.
    pub latency: f64,
    /// Allowed absolute drop of trace coverage (0.01 = one point).
    pub coverage: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            mttd: 0.10,
            dashboards: 0.25,
            latency: 0.25,
            coverage: 0.0,
        }
    }
}

impl Tolerances {
    /// `mttd=10%,dashboards=25%,latency=25%,coverage=0%`; keys left out keep
    /// their defaults.
    pub fn parse(s: &str) -> Result<Tolerances, String> {
        let mut t = Tolerances::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected KEY=PERCENT, found {part:?}"))?;
            let pct = crate::input::units::parse_percent(v)
                .ok_or_else(|| format!("{k}: expected a percentage like \"10%\", found {v:?}"))?;
            match k.trim() {
                "mttd" => t.mttd = pct,
                "dashboards" => t.dashboards = pct,
                "latency" => t.latency = pct,
                "coverage" => t.coverage = pct,
                other => {
                    return Err(format!(
                        "unknown tolerance {other:?}; expected mttd, dashboards, latency or coverage"
                    ));
                }
            }
        }
        Ok(t)
    }
}

fn pct(new: f64, old: f64) -> String {
    if old > 0.0 {
        format!("{:+.0}%", (new / old - 1.0) * 100.0)
    } else {
        "new".into()
    }
}

pub fn compare(now: &RunResult, base: &RunResult, tol: Tolerances) -> SloResult {
    let mut c = Comparison::default();
    for part in [
        compare_mttd,
        compare_dashboards,
        compare_traces,
        compare_load,
        compare_slos,
    ] {
        part(now, base, tol, &mut c);
    }
    let Comparison {
        regressions,
        notes,
        compared,
    } = c;
    let n_regressions = regressions.len();
    let fails = n_regressions > 0;
    let mut details = regressions;
    details.extend(notes);
    SloResult {
        name: SloKind::Baseline,
        status: if fails { Status::Fail } else { Status::Pass },
        required: true,
        target: format!(
            "no regression against {} of {} (MTTD +{:.0}%, dashboards +{:.0}%, latency +{:.0}%, coverage −{:.0} pt)",
            base.scenario.name,
            base.started_at.format("%Y-%m-%d %H:%M UTC"),
            tol.mttd * 100.0,
            tol.dashboards * 100.0,
            tol.latency * 100.0,
            tol.coverage * 100.0
        ),
        measured: Some(format!(
            "{} regression(s) in {compared} comparisons",
            n_regressions
        )),
        details,
    }
}

/// What the comparisons found so far.
#[derive(Default)]
struct Comparison {
    regressions: Vec<String>,
    /// What was compared and found fine, or could not be judged.
    notes: Vec<String>,
    compared: usize,
}

/// MTTD per alert, real-time seconds; 1 s floor. With trials on either
/// side, distributions are compared instead ([`compare_mttd_trials`]).
fn compare_mttd(now: &RunResult, base: &RunResult, tol: Tolerances, c: &mut Comparison) {
    if !now.trials.is_empty() || !base.trials.is_empty() {
        return compare_mttd_trials(now, base, tol, c);
    }
    let base_mttd: BTreeMap<&str, Option<f64>> = base
        .detections
        .iter()
        .map(|d| (d.alert.as_str(), d.mttd_real_s))
        .collect();
    for d in &now.detections {
        let Some(old) = base_mttd.get(d.alert.as_str()) else {
            continue;
        };
        c.compared += 1;
        match (d.mttd_real_s, old) {
            (Some(new), Some(old)) if new > old * (1.0 + tol.mttd) + 1.0 => {
                c.regressions.push(format!(
                    "{} MTTD {:.0}s vs {:.0}s ({}, tolerance {:.0}%)",
                    d.alert,
                    new,
                    old,
                    pct(new, *old),
                    tol.mttd * 100.0
                ))
            }
            (None, Some(old)) => c.regressions.push(format!(
                "{} was detected before ({old:.0}s) and is not now",
                d.alert
            )),
            _ => {}
        }
    }
}

/// Fewer counted trials than this on either side, and a comparison would
/// guess: with 5 and 5 the smallest one-sided p-value of the rank test is
/// 1/252, under the 1 % it needs.
pub const MIN_TRIALS: usize = 5;

/// The rank test's significance level.
const ALPHA: f64 = 0.01;

/// MTTD distributions per alert: each alert's page-last values over its
/// trials, now against the baseline's. A regression is both unlikely to be
/// trial noise, by a one-sided Mann–Whitney rank test (new later than old,
/// p < 0.01; a trial that never paged ranks as the latest), and large
/// enough to matter: the median up by more than the MTTD tolerance and a
/// second. With too few trials on either side it says so and flags
/// nothing.
fn compare_mttd_trials(now: &RunResult, base: &RunResult, tol: Tolerances, c: &mut Comparison) {
    let values = |r: &RunResult, instance: &str| -> Option<Vec<Option<f64>>> {
        if r.trials.is_empty() {
            // A run of one trial: its single draw.
            let d = r
                .detections
                .iter()
                .find(|d| d.alert_instance() == instance)?;
            return Some(vec![d.mttd_real_s]);
        }
        let a = r.trials.iter().find(|a| a.instance() == instance)?;
        Some(a.page()?.mttd_real_s.clone())
    };
    let mut instances: Vec<String> = now.trials.iter().map(|a| a.instance()).collect();
    if instances.is_empty() {
        instances = now.detections.iter().map(|d| d.alert_instance()).collect();
    }
    instances.dedup();
    for instance in instances {
        let (Some(new), Some(old)) = (values(now, &instance), values(base, &instance)) else {
            continue;
        };
        if new.len() < MIN_TRIALS || old.len() < MIN_TRIALS {
            c.notes.push(format!(
                "{instance}: too few trials to judge MTTD against the baseline ({} now, {} in the baseline; the rank test needs {MIN_TRIALS} on both sides): not compared",
                new.len(),
                old.len()
            ));
            continue;
        }
        c.compared += 1;
        let p = rank_test_later(&new, &old);
        let (p50_new, p50_old) = (
            crate::slo::check::percentile(&new, 50),
            crate::slo::check::percentile(&old, 50),
        );
        let shift = match (p50_new, p50_old) {
            (Some(n), Some(o)) => n > o * (1.0 + tol.mttd) + 1.0,
            (None, Some(_)) => true,
            _ => false,
        };
        let show = |v: Option<f64>| v.map_or("never".to_string(), |s| format!("{s:.0}s"));
        let line = format!(
            "{instance} MTTD p50 {} vs {}, p95 {} vs {} over {} and {} trials (one-sided Mann–Whitney p = {p:.4})",
            show(p50_new),
            show(p50_old),
            show(crate::slo::check::percentile(&new, 95)),
            show(crate::slo::check::percentile(&old, 95)),
            new.len(),
            old.len()
        );
        if p < ALPHA && shift {
            c.regressions.push(format!(
                "{line}: later beyond trial noise (α {ALPHA}, median tolerance {:.0}% + 1s)",
                tol.mttd * 100.0
            ));
        } else {
            c.notes.push(format!("{line}: within trial noise"));
        }
    }
}

/// One-sided p-value that `new` is stochastically later than `old`: the
/// probability, with no difference, of a Mann–Whitney U at least the one
/// observed (ties count a half; a missing value is the latest). Exact for
/// up to 400 pairs, the normal approximation with continuity correction
/// beyond.
pub fn rank_test_later(new: &[Option<f64>], old: &[Option<f64>]) -> f64 {
    let v = |x: &Option<f64>| x.unwrap_or(f64::INFINITY);
    let mut u = 0.0f64;
    for a in new {
        for b in old {
            u += match v(a).total_cmp(&v(b)) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    let (n, m) = (new.len(), old.len());
    if n * m <= 400 {
        let counts = u_distribution(n, m);
        let total: f64 = counts.iter().sum();
        let from = u.ceil() as usize;
        counts.iter().skip(from).sum::<f64>() / total
    } else {
        let (nf, mf) = (n as f64, m as f64);
        let mean = nf * mf / 2.0;
        let sd = (nf * mf * (nf + mf + 1.0) / 12.0).sqrt();
        let z = (u - 0.5 - mean) / sd;
        0.5 * erfc(z / std::f64::consts::SQRT_2)
    }
}

/// The number of arrangements of `n` and `m` values giving each U, with no
/// ties: f(n, m, u) = f(n-1, m, u-m) + f(n, m-1, u).
fn u_distribution(n: usize, m: usize) -> Vec<f64> {
    // f[j][u] for the current i, over j = 0..=m.
    let mut f: Vec<Vec<f64>> = (0..=m).map(|_| vec![1.0]).collect();
    for i in 1..=n {
        let mut g: Vec<Vec<f64>> = vec![vec![1.0]];
        for j in 1..=m {
            let mut row = vec![0.0; i * j + 1];
            for (u, c) in f[j].iter().enumerate() {
                row[u + j] += c;
            }
            for (u, c) in g[j - 1].iter().enumerate() {
                row[u] += c;
            }
            g.push(row);
        }
        f = g;
    }
    f.pop().unwrap_or_default()
}

/// The complementary error function (Numerical Recipes' erfc, |error| <
/// 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Dashboard p95 load; 50 ms floor. Over the tolerance, with at least 5
/// loads on both sides, the loads must also be slower by the rank test.
fn compare_dashboards(now: &RunResult, base: &RunResult, tol: Tolerances, c: &mut Comparison) {
    let (Some(n), Some(b)) = (&now.dashboards, &base.dashboards) else {
        return;
    };
    for d in &n.dashboards {
        let Some(was) = b.dashboards.iter().find(|x| x.dashboard == d.dashboard) else {
            continue;
        };
        let (Some(new), Some(old)) = (
            quantile(&d.samples_ms, 0.95),
            quantile(&was.samples_ms, 0.95),
        ) else {
            continue;
        };
        c.compared += 1;
        if new <= old * (1.0 + tol.dashboards) + 50.0 {
            continue;
        }
        let line = format!(
            "dashboard {} p95 {new:.0} ms vs {old:.0} ms ({}, tolerance {:.0}%)",
            d.dashboard,
            pct(new, old),
            tol.dashboards * 100.0
        );
        // A p95 of a few loads moves with one slow load on a busy machine:
        // with enough loads on both sides, the whole sample must be slower
        // too.
        match loads_later(&d.samples_ms, &was.samples_ms) {
            Some(p) if p >= ALPHA => c.notes.push(format!(
                "{line}, but its loads are not slower beyond noise (one-sided Mann–Whitney p = {p:.3} over {} and {} loads): not a regression",
                d.samples_ms.len(),
                was.samples_ms.len()
            )),
            _ => c.regressions.push(line),
        }
    }
}

/// The rank test's p that `new` load times are later than `old`, when both
/// have at least [`MIN_TRIALS`] samples.
fn loads_later(new: &[f64], old: &[f64]) -> Option<f64> {
    if new.len() < MIN_TRIALS || old.len() < MIN_TRIALS {
        return None;
    }
    let some = |v: &[f64]| v.iter().map(|x| Some(*x)).collect::<Vec<_>>();
    Some(rank_test_later(&some(new), &some(old)))
}

/// Trace coverage.
fn compare_traces(now: &RunResult, base: &RunResult, tol: Tolerances, c: &mut Comparison) {
    if let (Some(new), Some(old)) = (
        now.traces.as_ref().and_then(|t| t.coverage()),
        base.traces.as_ref().and_then(|t| t.coverage()),
    ) {
        c.compared += 1;
        if new + tol.coverage < old - 1e-9 {
            c.regressions.push(format!(
                "trace coverage {:.2}% vs {:.2}%",
                new * 100.0,
                old * 100.0
            ));
        }
    }
}

/// Load p99 per endpoint; 5 ms floor.
fn compare_load(now: &RunResult, base: &RunResult, tol: Tolerances, c: &mut Comparison) {
    if let (Some(n), Some(b)) = (&now.load, &base.load) {
        for e in &n.endpoints {
            let Some(old) = b.endpoints.iter().find(|x| x.endpoint == e.endpoint) else {
                continue;
            };
            c.compared += 1;
            let (new, old) = (e.latency.p99_ms, old.latency.p99_ms);
            if new > old * (1.0 + tol.latency) + 5.0 {
                c.regressions.push(format!(
                    "{} p99 {new:.1} ms vs {old:.1} ms ({}, tolerance {:.0}%)",
                    e.endpoint,
                    pct(new, old),
                    tol.latency * 100.0
                ));
            }
        }
    }
}

/// SLOs that passed before and do not now.
fn compare_slos(now: &RunResult, base: &RunResult, _: Tolerances, c: &mut Comparison) {
    for s in &now.slos {
        if let Some(old) = base.slos.iter().find(|o| o.name == s.name) {
            c.compared += 1;
            if old.status == Status::Pass && s.status != Status::Pass {
                c.regressions.push(format!(
                    "SLO {} passed in the baseline and is {:?} now",
                    s.name, s.status
                ));
            }
        }
    }
}

/// Add (or replace) the baseline row and judge the run again.
pub fn apply(now: &mut RunResult, base: &RunResult, tol: Tolerances) {
    now.slos.retain(|s| s.name != SloKind::Baseline);
    now.slos.push(compare(now, base, tol));
    if now.verdict != super::model::Verdict::Incomplete {
        now.verdict = RunResult::judge(&now.slos, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> RunResult {
        serde_json::from_str(include_str!(
            "../../tests/fixtures/results/service-down.json"
        ))
        .unwrap()
    }

    #[test]
    fn a_run_compared_with_itself_has_no_regression() {
        let r = fixture();
        let c = compare(&r, &r, Tolerances::default());
        assert_eq!(c.status, Status::Pass, "{:?}", c.details);
        assert!(c.measured.unwrap().starts_with("0 regression(s) in "));
    }

    #[test]
    fn a_schema_1_result_is_still_a_baseline() {
        let old: RunResult = serde_json::from_str(include_str!(
            "../../tests/fixtures/results/service-down-v1.json"
        ))
        .unwrap();
        assert_eq!(old.schema_version, 1);
        assert!(old.notifications.iter().all(|n| !n.alerts.is_empty()));
        let c = compare(&fixture(), &old, Tolerances::default());
        assert!(c.measured.is_some(), "{:?}", c.details);
    }

    #[test]
    fn slower_detection_and_lost_slos_are_regressions() {
        let base = fixture();
        let mut now = fixture();
        let old = base.detections[0].mttd_real_s.unwrap();
        now.detections[0].mttd_real_s = Some(old * 1.5);
        now.slos
            .iter_mut()
            .find(|s| s.name == SloKind::AlertDelivery)
            .unwrap()
            .status = Status::Fail;
        apply(&mut now, &base, Tolerances::default());
        let row = now
            .slos
            .iter()
            .find(|s| s.name == SloKind::Baseline)
            .unwrap();
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.details
                .iter()
                .any(|d| d.starts_with("ServiceDown MTTD") && d.contains("+50%")),
            "{:?}",
            row.details
        );
        assert!(
            row.details
                .iter()
                .any(|d| d.contains("SLO alert_delivery passed in the baseline")),
            "{:?}",
            row.details
        );
        assert_eq!(now.verdict, super::super::model::Verdict::Fail);
        // Within a generous tolerance the MTTD change is not a regression.
        let mut within = fixture();
        within.detections[0].mttd_real_s = Some(old * 1.5);
        let c = compare(&within, &base, Tolerances::parse("mttd=60%").unwrap());
        assert_eq!(c.status, Status::Pass, "{:?}", c.details);
    }

    #[test]
    fn the_rank_test_is_exact_for_small_samples_and_approximates_large_ones() {
        let v = |xs: &[f64]| xs.iter().map(|x| Some(*x)).collect::<Vec<_>>();
        let (low, high) = (v(&[1., 2., 3., 4., 5.]), v(&[6., 7., 8., 9., 10.]));
        // Every new value later: 1 arrangement in C(10,5) = 252.
        assert!((rank_test_later(&high, &low) - 1.0 / 252.0).abs() < 1e-12);
        assert!((rank_test_later(&low, &high) - 1.0).abs() < 1e-12);
        // Interleaved: no evidence either way.
        let (a, b) = (v(&[1., 3., 5., 7., 9.]), v(&[2., 4., 6., 8., 10.]));
        assert!(rank_test_later(&a, &b) > 0.5);
        // A miss ranks as the latest.
        let mut missed = low.clone();
        missed[0] = None;
        assert!(rank_test_later(&missed, &low) < rank_test_later(&low, &low));
        // Beyond 400 pairs the normal approximation agrees with the exact
        // value at the boundary to within a percent.
        let xs: Vec<f64> = (0..21).map(f64::from).collect();
        let ys: Vec<f64> = (0..21).map(|i| f64::from(i) + 6.5).collect();
        let exact = rank_test_later(&v(&ys[..20]), &v(&xs[..20]));
        let approx = rank_test_later(&v(&ys), &v(&xs));
        assert!(exact < 0.05 && approx < 0.05, "{exact} {approx}");
        assert!((exact - approx).abs() < 0.01, "{exact} {approx}");
    }

    /// `r` as a run of trials whose ServiceDown page-last values are `mttd`.
    fn with_trials(mut r: RunResult, mttd: &[f64]) -> RunResult {
        use crate::slo::check::{AlertTrials, Spread, TrialSeries};
        let d = &r.detections[0];
        let values: Vec<Option<f64>> = mttd.iter().map(|x| Some(*x)).collect();
        r.trials = vec![AlertTrials {
            alert: d.alert.clone(),
            labels: d.labels.clone(),
            trials: mttd.len() as u32,
            counted: (1..=mttd.len() as u32).collect(),
            excluded: Vec::new(),
            floor_real_s: Some(90.0),
            ceiling_real_s: Some(130.0),
            floor_terms: None,
            ceiling_terms: None,
            rejoining: Vec::new(),
            rejoin_floor_real_s: None,
            rejoin_ceiling_real_s: None,
            series: vec![TrialSeries {
                destination: None,
                required: true,
                mttd: Spread::of(&values),
                reset: None,
                mttd_real_s: values,
                reset_real_s: Vec::new(),
            }],
            self_check: Vec::new(),
        }];
        r
    }

    #[test]
    fn distributions_regress_only_beyond_trial_noise() {
        let clean_a = [95., 102., 110., 98., 121., 105., 99., 117., 93., 108.];
        let clean_b = [101., 96., 119., 104., 92., 113., 107., 100., 124., 97.];
        let slower: Vec<f64> = clean_b.iter().map(|x| x + 60.0).collect();
        let base = with_trials(fixture(), &clean_a);
        let same = compare(
            &with_trials(fixture(), &clean_b),
            &base,
            Tolerances::default(),
        );
        assert_eq!(same.status, Status::Pass, "{:?}", same.details);
        assert!(
            same.details
                .iter()
                .any(|d| d.contains("within trial noise")),
            "{:?}",
            same.details
        );
        let worse = compare(
            &with_trials(fixture(), &slower),
            &base,
            Tolerances::default(),
        );
        assert_eq!(worse.status, Status::Fail, "{:?}", worse.details);
        assert!(
            worse.details[0].contains("later beyond trial noise")
                && worse.details[0].contains("over 10 and 10 trials"),
            "{:?}",
            worse.details
        );
        // Too few trials: said, not guessed.
        let few = compare(
            &with_trials(fixture(), &slower[..3]),
            &base,
            Tolerances::default(),
        );
        assert_eq!(few.status, Status::Pass, "{:?}", few.details);
        assert!(
            few.details
                .iter()
                .any(|d| d.contains("too few trials to judge")),
            "{:?}",
            few.details
        );
        // A single draw against a distribution is too few as well.
        let single = compare(&fixture(), &base, Tolerances::default());
        assert!(
            single
                .details
                .iter()
                .any(|d| d.contains("(1 now, 10 in the baseline")),
            "{:?}",
            single.details
        );
    }

    #[test]
    fn a_dashboard_p95_moved_by_a_few_slow_loads_is_noise_and_a_slower_sample_is_not() {
        let with_loads = |loads: &[f64]| {
            let mut r = fixture();
            let d = &mut r.dashboards.as_mut().unwrap().dashboards[0];
            d.samples_ms = loads.to_vec();
            r
        };
        // Two clean runs on a busy machine (measured here: +73 % at p95).
        let base = with_loads(&[54., 61., 70., 108., 112., 114., 129.]);
        let busy = with_loads(&[59., 74., 151., 161., 173., 223.]);
        let c = compare(&busy, &base, Tolerances::default());
        assert!(
            c.details
                .iter()
                .any(|d| d.contains("not slower beyond noise")),
            "{:?}",
            c.details
        );
        assert!(
            !c.details
                .iter()
                .any(|d| d.starts_with("dashboard") && !d.contains("noise"))
        );
        // Every load three times slower: a regression.
        let slow = with_loads(&[300., 330., 350., 360., 380., 400., 420.]);
        let c = compare(&slow, &base, Tolerances::default());
        assert_eq!(c.status, Status::Fail, "{:?}", c.details);
        assert!(c.details[0].starts_with("dashboard "), "{:?}", c.details);
    }

    #[test]
    fn tolerances_parse_and_refuse_nonsense() {
        let t = Tolerances::parse("mttd=5%, latency=50%").unwrap();
        assert_eq!((t.mttd, t.latency, t.dashboards), (0.05, 0.5, 0.25));
        assert!(
            Tolerances::parse("speed=5%")
                .unwrap_err()
                .contains("unknown tolerance")
        );
        assert!(
            Tolerances::parse("mttd=5")
                .unwrap_err()
                .contains("percentage")
        );
    }
}
