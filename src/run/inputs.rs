//! Reading a run's inputs: the scenario with its SLO file and stack files,
//! cross-checked, and the plan. Every problem in every file is collected
//! before returning, so one `validate` shows them all.

use std::path::Path;

use crate::input::{Diagnostics, Located, Pos};
use crate::scenario::plan::{self, Plan};
use crate::scenario::{self, Scenario};
use crate::slo::{self, SloSpec};
use crate::stackfiles::StackFiles;
use crate::stackfiles::lint::Checked;
use crate::stackfiles::wall_waits;

/// Everything a run needs that comes from files, validated.
pub struct Inputs {
    pub scenario: Scenario,
    pub slo: SloSpec,
    pub files: StackFiles,
    pub plan: Plan,
    /// The stack files' lint and time-scale hazards, checked once here for
    /// both `validate` and `run`.
    pub checked: Checked,
    /// Where this K measures another world than the real-time one the
    /// scenario describes (`trials.every` spacing trials apart at K=1 but
    /// not at this K; an expected alert that reads only an exporter's own
    /// series, whose scrapes all time out at this K during the fault): a
    /// warning for `validate`, a refusal for `run` unless
    /// `--accept-distortion`.
    pub distortions: Diagnostics,
}

/// Read and cross-check a scenario with its SLO and stack files.
pub fn load_inputs(path: &Path, time_scale: Option<f64>) -> Result<Inputs, Diagnostics> {
    load_inputs_with(path, time_scale, None)
}

/// [`load_inputs`], with `--trials` over the scenario's `trials:`.
pub fn load_inputs_with(
    path: &Path,
    time_scale: Option<f64>,
    trials: Option<u32>,
) -> Result<Inputs, Diagnostics> {
    let mut scenario = scenario::load_scenario(path)?;
    if let Some(n) = trials {
        scenario.trials.count = Located::new(n, Pos::default(), "--trials");
    }
    let mut diags = Diagnostics::default();
    check_trials(&scenario, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    if let Some(t) = &scenario.target {
        diags.push(
            &scenario.file,
            t.pos,
            "target",
            format!(
                "a scenario with a target is plain load, without a stack to verify: run it with `zeta-bench load {}`",
                scenario.file.display()
            ),
        );
        return Err(diags);
    }
    let slo = located_file(&scenario, &scenario.slo, "an SLO file", &mut diags)
        .and_then(|p| slo::load_slo(p).map_err(|d| diags.extend(d)).ok());
    let files = located_dir(&scenario, &mut diags)
        .and_then(|p| StackFiles::load(p).map_err(|d| diags.extend(d)).ok());
    if let Some(files) = &files {
        check_expected_rules(&scenario, files, &mut diags);
    }
    if let Err(d) = plan::check_engine_rate(&scenario, 1) {
        diags.extend(d);
    }
    let k = match time_scale {
        Some(k) => match crate::input::units::check_time_scale(k) {
            Ok(k) => Located::new(k, Pos::default(), "--time-scale"),
            Err(e) => {
                diags.push(Path::new("--time-scale"), Pos::default(), "--time-scale", e);
                return Err(diags);
            }
        },
        None => scenario.stack.time_scale.clone(),
    };
    let plan = plan::plan(&scenario, k, files.as_ref().map(StackFiles::min_interval))
        .map_err(|d| diags.extend(d))
        .ok()
        .zip(files.as_ref())
        .and_then(|(p, files)| {
            let timing = trial_timing(&scenario, &p, files);
            check_trial_spacing(&scenario, &p, &timing, &mut diags)?;
            let t = &scenario.trials;
            Some(plan::with_trials(p, t.count.value, t.seed, timing))
        });
    match (slo, files, plan) {
        (Some(slo), Some(files), Some(plan)) if diags.is_empty() => Ok(Inputs {
            distortions: {
                let mut d = trial_distortion(&scenario, &plan);
                d.extend(exporter_distortion(
                    &scenario,
                    &plan,
                    &files,
                    time_scale.is_some(),
                ));
                d
            },
            checked: crate::stackfiles::lint::check(&files, plan.time_scale),
            scenario,
            slo,
            files,
            plan,
        }),
        _ => Err(diags.sorted()),
    }
}

/// How trials are spaced at the plan's K.
fn trial_timing(scenario: &Scenario, p: &plan::Plan, files: &StackFiles) -> plan::TrialTiming {
    plan::TrialTiming {
        cycle: plan::scale(
            files.scrape_interval() + files.evaluation_interval(),
            p.time_scale,
        ),
        // Then Alertmanager's sweep, so the next trial opens a fresh group
        // (wall time: the sweep is not scaled).
        recovery: super::drain::recovery_bound(files, p.time_scale)
            + crate::stackfiles::files::defaults::GROUP_SWEEP,
        every: (scenario.trials.every.as_ref()).map(|e| plan::scale(e.value, p.time_scale)),
    }
}

/// `trials.every` must leave each trial time to recover before the next
/// begins; a shorter spacing is refused where it was written, with the
/// shortest one this stack and K allow (in real time).
fn check_trial_spacing(
    scenario: &Scenario,
    p: &plan::Plan,
    timing: &plan::TrialTiming,
    diags: &mut Diagnostics,
) -> Option<()> {
    let (Some(every), Some(scaled)) = (&scenario.trials.every, timing.every) else {
        return Some(());
    };
    let min = plan::min_trial_period(p, timing);
    if p.faults.is_empty() || scaled >= min || scenario.trials.count.value <= 1 {
        return Some(());
    }
    // In real time, rounded up to the second: a spacing it suggests works.
    let real = |d: std::time::Duration| {
        let secs = d.mul_f64(p.time_scale).as_secs_f64().ceil();
        crate::input::units::format_duration(std::time::Duration::from_secs_f64(secs))
    };
    diags.push(
        &scenario.file,
        every.pos,
        &every.field,
        format!(
            "expected at least {} between trial starts (the faults' span, the recovery this stack's \
             configuration allows and a scrape and evaluation cycle, at time scale {}), found {}",
            real(min),
            p.time_scale,
            crate::input::units::format_duration(every.value)
        ),
    );
    None
}

/// `trials.every` describes a real-time world: trials that far apart.
/// Prometheus keeps a resolved alert 15 minutes and Alertmanager sweeps an
/// emptied group 30 s later, both in wall time, whatever K. A trial that
/// begins within that span of the previous one's revert may join its
/// still-open group and page at a `group_interval` tick instead of after a
/// `group_wait`. When that holds at this K but not at K=1 (the same
/// spacing, K times longer in wall time), the run would measure another
/// world than the one the scenario describes.
fn trial_distortion(scenario: &Scenario, p: &plan::Plan) -> Diagnostics {
    use crate::stackfiles::files::defaults::{GROUP_SWEEP, PROMETHEUS_RESOLVED_RETENTION};
    let mut d = Diagnostics::default();
    let Some(every) = &scenario.trials.every else {
        return d;
    };
    let k = p.time_scale;
    if p.trials <= 1 || p.faults.is_empty() || k <= 1.0 {
        return d;
    }
    // From trial 1's last revert to trial 2's first fault, in real time.
    let span = plan::fault_span(p).mul_f64(k);
    let Some(gap) = every.value.checked_sub(span) else {
        return d;
    };
    let reopens = PROMETHEUS_RESOLVED_RETENTION + GROUP_SWEEP;
    if gap <= reopens || gap.div_f64(k) > reopens {
        return d;
    }
    let fmt = crate::input::units::human_duration;
    let most = (gap.as_secs_f64() / reopens.as_secs_f64() * 100.0).floor() / 100.0;
    d.push(
        &scenario.file,
        every.pos,
        &every.field,
        format!(
            "at time scale {} trials {} apart begin {} of wall time after the previous trial's \
             faults end, within Prometheus' retention of resolved alerts and Alertmanager's \
             sweep ({}, not time-scaled): their alert may join the previous trial's open group \
             and page at a group_interval tick instead of after group_wait, which at real time \
             ({} after) it cannot. This K measures another MTTD than the real-time one; a time \
             scale of at most {} keeps the trials apart (run --accept-distortion runs it anyway)",
            crate::input::units::show_number(k),
            fmt(every.value),
            fmt(gap.div_f64(k)),
            fmt(reopens),
            fmt(gap),
            crate::input::units::show_number(most.max(1.0)),
        ),
    );
    d
}

/// An expected alert whose MTTD at this K no longer stands for 1×, through
/// an exporter that waits in wall time for what the scenario's fault took
/// down ([`crate::stackfiles::wall_waits`]): it reads only the exporter's
/// own series and every scrape times out, so it cannot fire; or it sees
/// the outage more than [`wall_waits::FIDELITY`] later than at 1×.
fn exporter_distortion(
    scenario: &Scenario,
    p: &plan::Plan,
    files: &StackFiles,
    k_from_flag: bool,
) -> Diagnostics {
    use crate::scenario::FaultKind;
    let mut d = Diagnostics::default();
    let k = p.time_scale;
    for e in &scenario.expect.alerts {
        let Some(dist) = files
            .rule(&e.name)
            .and_then(|rule| wall_waits::distortion(files, rule, k))
        else {
            continue;
        };
        let w = dist.wait;
        let takes_it_down = p.faults.iter().any(|f| {
            matches!(f.kind, FaultKind::DatabaseDown | FaultKind::ServiceDown)
                && f.target == w.watches
        });
        if !takes_it_down {
            continue;
        }
        let ts = &scenario.stack.time_scale;
        let (file, pos, field) = if k_from_flag {
            (Path::new("--time-scale"), Pos::default(), "--time-scale")
        } else {
            (scenario.file.as_path(), ts.pos, ts.field.as_str())
        };
        d.push(
            file,
            pos,
            field,
            format!(
                "{}; {} (run --accept-distortion runs it anyway)",
                distortion_effect(&e.name, &dist, k),
                dist.remedy()
            ),
        );
    }
    d
}

/// What the time scale does to alert `name`, for the refusal.
fn distortion_effect(name: &str, dist: &wall_waits::Distorted, k: f64) -> String {
    let fmt = crate::input::units::human_duration;
    let (w, scale) = (dist.wait, crate::input::units::show_number(k));
    match dist.how {
        wall_waits::Distortion::Blind => format!(
            "at time scale {scale} the scrape timeout of {} is {} of wall time, no longer than \
             the {} the exporter waits before it answers while {} is down: every scrape fails \
             during the fault, the series alert {name} reads have no sample, and it cannot \
             fire, where at 1× it does",
            w.job,
            fmt(dist.timeout.div_f64(k)),
            fmt(w.wait),
            w.watches,
        ),
        wall_waits::Distortion::Late(lag) => format!(
            "at time scale {scale} alert {name} sees {}'s outage about {} later in real time \
             than at 1×: {}, and the scrape timeout of {} ({}) lets each scrape wait up to {} \
             of real time",
            w.watches,
            fmt(lag),
            w.what,
            w.job,
            crate::input::units::format_duration(dist.timeout),
            fmt(w.wait.mul_f64(k).min(dist.timeout)),
        ),
    }
}

/// Trials repeat faults: a count within range, and faults to repeat.
fn check_trials(scenario: &Scenario, diags: &mut Diagnostics) {
    let t = &scenario.trials.count;
    if !(1..=scenario::MAX_TRIALS).contains(&t.value) {
        diags.push(
            &scenario.file,
            t.pos,
            &t.field,
            format!(
                "expected a number of trials from 1 to {}, found {}",
                scenario::MAX_TRIALS,
                t.value
            ),
        );
    } else if t.value > 1 && scenario.faults.is_empty() {
        diags.push(
            &scenario.file,
            t.pos,
            &t.field,
            format!(
                "{} trials of a scenario without faults: a trial repeats the faults, and there are none",
                t.value
            ),
        );
    }
}

/// The file a scenario field names, or a problem at that field's line.
fn located_file<'a>(
    scenario: &Scenario,
    field: &'a Located<std::path::PathBuf>,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<&'a Path> {
    if field.value.is_file() {
        return Some(&field.value);
    }
    diags.push(
        &scenario.file,
        field.pos,
        &field.field,
        format!(
            "expected {what}, found nothing at {}",
            field.value.display()
        ),
    );
    None
}

/// The stack directory, or a problem at `stack.dir`'s line.
fn located_dir<'a>(scenario: &'a Scenario, diags: &mut Diagnostics) -> Option<&'a Path> {
    let dir = &scenario.stack.dir;
    if dir.value.is_dir() {
        return Some(&dir.value);
    }
    diags.push(
        &scenario.file,
        dir.pos,
        &dir.field,
        format!(
            "expected a stack directory (with prometheus/ and alertmanager/), found none at {}",
            dir.value.display()
        ),
    );
    None
}

/// Every expected alert names a rule of the stack.
fn check_expected_rules(scenario: &Scenario, files: &StackFiles, diags: &mut Diagnostics) {
    for (i, e) in scenario.expect.alerts.iter().enumerate() {
        if files.rule(&e.name).is_none() {
            diags.push(
                &scenario.file,
                e.pos,
                &format!("expect.alerts[{i}].name"),
                format!(
                    "no alerting rule named {:?} in {}; rules are {}",
                    e.name,
                    files.dir.join("prometheus").display(),
                    files
                        .rules
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}
