//! `--baseline OLD.json`: regressions against an earlier run, as one more
//! SLO row ("baseline"), so every renderer shows them and they fail the
//! gate like any SLO.
//!
//! Compared: MTTD per alert (real-time equivalent), dashboard p95 load per
//! dashboard, trace coverage, load p99 per endpoint, and every SLO that
//! passed before and no longer does. Small absolute floors keep noise at
//! the millisecond scale from counting as a regression.

use std::collections::BTreeMap;

use crate::observe::dashboards::quantile;
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
        compared,
    } = c;
    SloResult {
        name: SloKind::Baseline,
        status: if regressions.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
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
            regressions.len()
        )),
        details: regressions,
    }
}

/// What the comparisons found so far.
#[derive(Default)]
struct Comparison {
    regressions: Vec<String>,
    compared: usize,
}

/// MTTD per alert, real-time seconds; 1 s floor.
fn compare_mttd(now: &RunResult, base: &RunResult, tol: Tolerances, c: &mut Comparison) {
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

/// Dashboard p95 load; 50 ms floor.
fn compare_dashboards(now: &RunResult, base: &RunResult, tol: Tolerances, c: &mut Comparison) {
    if let (Some(n), Some(b)) = (&now.dashboards, &base.dashboards) {
        for d in &n.dashboards {
            let Some(old) = b.dashboards.iter().find(|x| x.dashboard == d.dashboard) else {
                continue;
            };
            if let (Some(new), Some(old)) = (
                quantile(&d.samples_ms, 0.95),
                quantile(&old.samples_ms, 0.95),
            ) {
                c.compared += 1;
                if new > old * (1.0 + tol.dashboards) + 50.0 {
                    c.regressions.push(format!(
                        "dashboard {} p95 {new:.0} ms vs {old:.0} ms ({}, tolerance {:.0}%)",
                        d.dashboard,
                        pct(new, old),
                        tol.dashboards * 100.0
                    ));
                }
            }
        }
    }
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
