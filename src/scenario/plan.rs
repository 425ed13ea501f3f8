//! The plan: the scenario's timeline in wall-clock terms.
//!
//! With `time_scale: K` every duration of the scenario (phases, fault start
//! and length) is divided by K. Request *rates* are kept: 100 req/s stays
//! 100 req/s, so dashboards and ratios read the same at any K; a phase simply
//! sends K times fewer requests. Durations inside the stack are scaled by the
//! renderers in [`crate::stackfiles::render`].

use std::time::Duration;

use super::{Arrivals, Fault, FaultKind, FaultParams, Scenario};
use crate::input::units::human_duration;
use crate::input::{Diagnostics, Located};

#[derive(Debug, Clone)]
pub struct Plan {
    pub time_scale: f64,
    pub phases: Vec<PlannedPhase>,
    pub faults: Vec<PlannedFault>,
    /// End of the last phase, from the start of load.
    pub load_end: Duration,
    /// How many times the faults are injected (1: as written).
    pub trials: u32,
    /// Wall time from one trial's faults to the next one's, offset aside.
    pub trial_period: Duration,
}

#[derive(Debug, Clone)]
pub struct PlannedPhase {
    pub name: String,
    pub start: Duration,
    pub duration: Duration,
    pub rate_per_second: f64,
    /// Ramp to this rate over the phase (linearly, or in `steps`).
    pub ramp_to: Option<f64>,
    pub steps: Option<u32>,
    pub arrivals: Arrivals,
    /// A noisy tenant: (0-based tenant index, extra requests per second
    /// for it on top of its normal share).
    pub surge: Option<(u32, f64)>,
}

impl PlannedPhase {
    /// The mean arrival rate over the phase, surge included: what the
    /// achieved rate is compared with.
    pub fn mean_rate(&self) -> f64 {
        let base = match (self.ramp_to, self.steps) {
            (Some(_), Some(1)) => self.rate_per_second,
            (Some(to), _) => (self.rate_per_second + to) / 2.0,
            (None, _) => self.rate_per_second,
        };
        base + self.surge.map(|(_, extra)| extra).unwrap_or(0.0)
    }
}

#[derive(Debug, Clone)]
pub struct PlannedFault {
    pub name: String,
    pub kind: FaultKind,
    pub params: FaultParams,
    pub target: String,
    pub at: Duration,
    pub duration: Duration,
    /// Which trial this injection belongs to, from 1.
    pub trial: u32,
}

/// The expected share of requests of tenant `index` (0-based) under the
/// scenario's distribution.
pub fn tenant_share(t: &super::Tenants, index: u32) -> f64 {
    match &t.distribution {
        super::TenantDistribution::Uniform => 1.0 / t.count as f64,
        super::TenantDistribution::Weights(w) => {
            w.get(index as usize).copied().unwrap_or(0.0) / w.iter().sum::<f64>()
        }
        super::TenantDistribution::Zipf { skew } => {
            let skew = *skew;
            let h: f64 = (1..=t.count).map(|r| 1.0 / (r as f64).powf(skew)).sum();
            (1.0 / ((index + 1) as f64).powf(skew)) / h
        }
    }
}

pub fn scale(d: Duration, k: f64) -> Duration {
    crate::input::units::saturating_secs(d.as_secs_f64() / k)
}

/// Build the plan. `k` is the scenario's time scale unless the command line
/// overrides it; `min_stack_interval` is the shortest scrape or evaluation
/// interval of the stack, which must stay at or above one second once
/// divided by K.
/// A load that never sends a request would make every check vacuous.
fn sends_nothing(scenario: &Scenario) -> Option<Diagnostics> {
    let sends = scenario
        .load
        .phases
        .iter()
        .any(|p| p.rate_per_second > 0.0 || p.ramp_to.is_some_and(|r| r > 0.0));
    if sends {
        return None;
    }
    let mut d = Diagnostics::default();
    let pos = scenario
        .load
        .phases
        .first()
        .map(|p| p.duration.pos)
        .unwrap_or_default();
    d.push(
        &scenario.file,
        pos,
        "load.phases",
        "every phase sends 0 requests/s: the scenario sends nothing, so nothing it checks would be measured",
    );
    Some(d)
}

/// The highest rate any phase asks of one of `engines` load engines, over
/// what one engine can send, at the phase's line.
pub fn check_engine_rate(scenario: &Scenario, engines: u32) -> Result<(), Diagnostics> {
    let mut d = Diagnostics::default();
    for (i, p) in scenario.load.phases.iter().enumerate() {
        let surge = p.surge.as_ref().map_or(1.0, |s| s.value.factor.max(1.0));
        let peak = p.rate_per_second.max(p.ramp_to.unwrap_or(0.0)) * surge;
        let per_engine = peak / f64::from(engines.max(1));
        if per_engine > crate::input::units::MAX_ENGINE_RATE {
            d.push(
                &scenario.file,
                p.duration.pos,
                &format!("load.phases[{i}]"),
                format!(
                    "{peak:.0} requests/s is more than one load engine sends ({:.0}/s); split it over engines with `zeta-bench load --shard i/N` (N ≥ {})",
                    crate::input::units::MAX_ENGINE_RATE,
                    (peak / crate::input::units::MAX_ENGINE_RATE).ceil()
                ),
            );
        }
    }
    if d.is_empty() { Ok(()) } else { Err(d) }
}

pub fn plan(
    scenario: &Scenario,
    k: Located<f64>,
    min_stack_interval: Option<Duration>,
) -> Result<Plan, Diagnostics> {
    let mut diags = Diagnostics::default();
    if let Some(min) = min_stack_interval {
        let scaled = scale(min, k.value);
        if scaled < Duration::from_secs(1) {
            diags.push(
                &scenario.file,
                k.pos,
                &k.field,
                format!(
                    "time scale {} would put the stack's shortest scrape/evaluation interval ({}) at {}; \
                     Prometheus cannot be trusted under 1s, so use a time scale of at most {}",
                    k.value,
                    human_duration(min),
                    human_duration(scaled),
                    min.as_secs_f64().floor()
                ),
            );
            return Err(diags);
        }
    }
    if let Some(d) = sends_nothing(scenario) {
        diags.extend(d);
        return Err(diags);
    }
    let mut start = Duration::ZERO;
    let phases = scenario
        .load
        .phases
        .iter()
        .map(|p| {
            let duration = scale(p.duration.value, k.value);
            let planned = PlannedPhase {
                name: p.name.clone(),
                start,
                duration,
                rate_per_second: p.rate_per_second,
                ramp_to: p.ramp_to,
                steps: p.steps,
                arrivals: p.arrivals,
                surge: p.surge.as_ref().and_then(|s| {
                    let n: u32 = s.value.tenant.strip_prefix("tenant_")?.parse().ok()?;
                    let share = tenant_share(&scenario.tenants, n - 1);
                    Some((n - 1, (s.value.factor - 1.0) * p.rate_per_second * share))
                }),
            };
            start += duration;
            planned
        })
        .collect();
    let faults = scenario
        .faults
        .iter()
        .map(|f: &Fault| PlannedFault {
            name: f.name.clone(),
            kind: f.kind,
            params: f.params.clone(),
            target: f.target.value.clone(),
            at: scale(f.at.value, k.value),
            duration: scale(f.duration.value, k.value),
            trial: 1,
        })
        .collect();
    Ok(Plan {
        time_scale: k.value,
        phases,
        faults,
        load_end: start,
        trials: 1,
        trial_period: Duration::ZERO,
    })
}

/// The stack's timing that spaces trials, in wall time.
#[derive(Debug, Clone, Copy)]
pub struct TrialTiming {
    /// Scrape plus evaluation interval: a trial's offset is drawn from
    /// `[0, cycle)`, so its faults land at every phase of both cycles.
    pub cycle: Duration,
    /// From a revert until the stack is as it was before the fault: the
    /// resolved notifications at the latest the configuration allows (the
    /// harness's drain bound), then Alertmanager's sweep of the emptied
    /// group.
    pub recovery: Duration,
    /// `trials.every`, divided by K: the spacing of the trials' starts.
    /// `None` spaces them by the shortest period (`min_trial_period`).
    pub every: Option<Duration>,
}

/// From trial 1's first fault to the end of its last one (zero without
/// faults), wall time.
pub fn fault_span(plan: &Plan) -> Duration {
    let trial_1 = || plan.faults.iter().filter(|f| f.trial <= 1);
    let first = trial_1().map(|f| f.at).min().unwrap_or_default();
    let end = trial_1()
        .map(|f| f.at + f.duration)
        .max()
        .unwrap_or_default();
    end.saturating_sub(first)
}

/// The shortest spacing of trials that lets each one recover before the
/// next begins: the faults' span, the recovery and a whole cycle.
pub fn min_trial_period(plan: &Plan, timing: &TrialTiming) -> Duration {
    fault_span(plan) + timing.recovery + timing.cycle
}

/// Repeat the plan's faults for trials 2..=`count`: trial k's faults keep
/// their spacing and start `(k-1) × period + offset_k` after trial 1's,
/// where the period is `timing.every`, or else covers the faults, the
/// recovery and a whole cycle (never less than that: the caller refuses a
/// shorter `every`), and the offset is drawn (seeded) from `[0, cycle)`.
/// Trial 1 is the plan as
/// written. The load holds its last phase's rate for as long as the extra
/// trials take, so every trial runs under load and the tail after the last
/// one is the scenario's own.
pub fn with_trials(mut plan: Plan, count: u32, seed: u64, timing: TrialTiming) -> Plan {
    if count <= 1 || plan.faults.is_empty() {
        return plan;
    }
    let period = min_trial_period(&plan, &timing).max(timing.every.unwrap_or_default());
    let mut offsets = trial_offsets(seed, count, timing.cycle);
    offsets[0] = Duration::ZERO;
    let written = plan.faults.clone();
    for k in 2..=count {
        let shift = period * (k - 1) + offsets[(k - 1) as usize];
        plan.faults.extend(written.iter().map(|f| PlannedFault {
            at: f.at + shift,
            trial: k,
            ..f.clone()
        }));
    }
    let extra = period * (count - 1);
    if let Some(last) = plan.phases.last().cloned() {
        plan.phases.push(PlannedPhase {
            name: format!("{} (trials 2–{count})", last.name),
            start: plan.load_end,
            duration: extra,
            rate_per_second: last.ramp_to.unwrap_or(last.rate_per_second),
            ramp_to: None,
            steps: None,
            ..last
        });
    }
    plan.load_end += extra;
    plan.trials = count;
    plan.trial_period = period;
    plan
}

/// `count` offsets drawn uniformly from `[0, cycle)`, the same for the same
/// seed.
fn trial_offsets(seed: u64, count: u32, cycle: Duration) -> Vec<Duration> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| cycle.mul_f64(rng.random_range(0.0..1.0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Pos;
    use std::path::Path;

    fn scenario() -> Scenario {
        super::super::parse_scenario(
            Path::new("s.yml"),
            "name: t\nslo: s.yml\nstack: {time_scale: 10}\nload:\n  phases:\n    - {duration: 1m, rate: 5/s}\n    - {duration: 2m, rate: 10/s}\n  mix: [{request: GET /}]\nfaults:\n  - {kind: service_down, target: backend-api, at: 30s, duration: 1m}\n",
        )
        .unwrap()
    }

    #[test]
    fn durations_divide_by_k_and_rates_stay() {
        let s = scenario();
        let p = plan(
            &s,
            s.stack.time_scale.clone(),
            Some(Duration::from_secs(15)),
        )
        .unwrap();
        assert_eq!(p.phases[0].duration, Duration::from_secs(6));
        assert_eq!(p.phases[1].start, Duration::from_secs(6));
        assert_eq!(p.load_end, Duration::from_secs(18));
        assert_eq!(p.phases[1].rate_per_second, 10.0);
        assert_eq!(p.faults[0].at, Duration::from_secs(3));
        assert_eq!(p.faults[0].duration, Duration::from_secs(6));
    }

    fn timing() -> TrialTiming {
        TrialTiming {
            cycle: Duration::from_secs(3),
            recovery: Duration::from_secs(20),
            every: None,
        }
    }

    #[test]
    fn trials_repeat_the_faults_after_recovery_at_seeded_offsets() {
        let s = scenario();
        let one = plan(&s, s.stack.time_scale.clone(), None).unwrap();
        let p = with_trials(one.clone(), 4, 7, timing());
        assert_eq!(p.trials, 4);
        // The fault lasts 6 s: the period adds the recovery and a cycle.
        assert_eq!(p.trial_period, Duration::from_secs(29));
        assert_eq!(p.faults.len(), 4);
        assert_eq!(p.faults[0].at, one.faults[0].at, "trial 1 is as written");
        let mut offsets = Vec::new();
        for (k, f) in p.faults.iter().enumerate().skip(1) {
            assert_eq!(f.trial, k as u32 + 1);
            let base = one.faults[0].at + p.trial_period * k as u32;
            assert!(
                f.at >= base && f.at < base + Duration::from_secs(3),
                "{f:?}"
            );
            offsets.push(f.at - base);
        }
        assert!(offsets.windows(2).any(|w| w[0] != w[1]), "{offsets:?}");
        // Each trial starts after the previous one has had its recovery.
        for w in p.faults.windows(2) {
            assert!(w[1].at >= w[0].at + w[0].duration + timing().recovery);
        }
        // The load holds the last rate for the extra trials.
        assert_eq!(p.load_end, one.load_end + Duration::from_secs(29 * 3));
        let extra = p.phases.last().unwrap();
        assert_eq!(extra.start, one.load_end);
        assert_eq!(extra.rate_per_second, 10.0);
        assert!(p.faults.last().unwrap().at + Duration::from_secs(6) < p.load_end);
        // The same seed, the same schedule; another seed, another one.
        let again = with_trials(one.clone(), 4, 7, timing());
        let other = with_trials(one.clone(), 4, 8, timing());
        let ats = |p: &Plan| p.faults.iter().map(|f| f.at).collect::<Vec<_>>();
        assert_eq!(ats(&p), ats(&again));
        assert_ne!(ats(&p), ats(&other));
        // One trial is the plan as written.
        let same = with_trials(one.clone(), 1, 7, timing());
        assert_eq!(ats(&same), ats(&one));
        assert_eq!(same.load_end, one.load_end);
    }

    #[test]
    fn trials_every_spaces_the_starts_and_never_below_the_recovery() {
        let s = scenario();
        let one = plan(&s, s.stack.time_scale.clone(), None).unwrap();
        let spaced = |every: u64| TrialTiming {
            every: Some(Duration::from_secs(every)),
            ..timing()
        };
        assert_eq!(min_trial_period(&one, &timing()), Duration::from_secs(29));
        let p = with_trials(one.clone(), 3, 7, spaced(80));
        assert_eq!(p.trial_period, Duration::from_secs(80));
        assert_eq!(p.load_end, one.load_end + Duration::from_secs(160));
        for (k, f) in p.faults.iter().enumerate().skip(1) {
            let base = one.faults[0].at + Duration::from_secs(80) * k as u32;
            assert!(f.at >= base && f.at < base + Duration::from_secs(3));
        }
        // A spacing shorter than the recovery (refused by the inputs'
        // check) never packs trials closer than the recovery allows.
        let p = with_trials(one, 3, 7, spaced(5));
        assert_eq!(p.trial_period, Duration::from_secs(29));
    }

    #[test]
    fn a_surge_multiplies_one_tenants_real_share() {
        let s = super::super::parse_scenario(
            Path::new("s.yml"),
            "name: t\nslo: s.yml\ntenants: {count: 10, distribution: uniform}\nload:\n  phases:\n    - {duration: 1m, rate: 100/s, surge: {tenant: tenant_003, factor: 10}}\n  mix: [{request: GET /}]\n",
        )
        .unwrap();
        let p = plan(&s, s.stack.time_scale.clone(), None).unwrap();
        // tenant_003 normally gets 10/s; ×10 means 90/s more.
        let (index, extra) = p.phases[0].surge.unwrap();
        assert_eq!(index, 2);
        assert!((extra - 90.0).abs() < 1e-9, "{extra}");
        let err = super::super::parse_scenario(
            Path::new("s.yml"),
            "name: t\nslo: s.yml\ntenants: {count: 10}\nload:\n  phases:\n    - {duration: 1m, rate: 100/s, surge: {tenant: tenant_030, factor: 0.5}}\n  mix: [{request: GET /}]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("surge.factor: expected a factor above 1, found 0.5"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_scale_that_puts_intervals_under_a_second() {
        let s = scenario();
        let k = Located::new(
            20.0,
            Pos {
                line: 3,
                column: 21,
            },
            "stack.time_scale",
        );
        let err = plan(&s, k, Some(Duration::from_secs(15)))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("s.yml:3:21: stack.time_scale: time scale 20 would put"),
            "{err}"
        );
        assert!(err.contains("at most 15"), "{err}");
    }
}
