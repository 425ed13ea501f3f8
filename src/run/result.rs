//! The run's record: the verdicts judged from the evidence, assembled into
//! one [`RunResult`] with where everything ran, then written beside the
//! run's other files (`result.json` and every rendered report).

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::fault::FaultRecord;
use crate::load::LoadReport;
use crate::report::model::{RunResult, SCHEMA_VERSION, ScenarioInfo, StackInfo};
use crate::slo::check::{self, SloKind};
use crate::stack::{Provider, Stack};

use super::Inputs;
use super::collect::Collected;

/// What the run did, beyond what the observers collected.
pub(super) struct Outcome<'a> {
    pub inputs: &'a Inputs,
    pub stack: &'a Stack,
    pub started_at: DateTime<Utc>,
    pub load: Option<LoadReport>,
    pub faults: Vec<FaultRecord>,
    pub collected: Collected,
    pub notes: Vec<String>,
    pub interrupted: bool,
    pub notifications_unobserved: Option<String>,
    pub dir: &'a Path,
}

/// Judge the evidence and assemble the result.
pub(super) fn build(o: Outcome<'_>) -> RunResult {
    let Inputs {
        scenario,
        slo,
        files,
        plan,
        checked,
        distortions: _,
    } = o.inputs;
    let c = o.collected;
    let unmeasured = unmeasured_reasons(o.stack);
    let verdicts = check::evaluate(&check::Evidence {
        slo,
        expect: &scenario.expect,
        files,
        time_scale: plan.time_scale,
        faults: &o.faults,
        alerts: &c.alerts,
        notifications: &c.notifications,
        unmeasured: &unmeasured,
        notifications_unobserved: o.notifications_unobserved.as_deref(),
        dashboards: c.dashboards.as_ref(),
        traces: c.traces.as_ref(),
        logs: Some(&c.logs),
        load: o.load.as_ref(),
        load_timeout: scenario.load.timeout,
        // The same static check `validate` runs, done once in `load_inputs`.
        dashboard_problems: &checked.problems,
        rule_errors: &c.rule_errors,
        delivery_failures: &c.delivery_failures,
        request_failures: &c.request_failures,
        held: c.held.as_deref(),
        receiver_attempts: &c.receiver_attempts,
        observed_until: Some(c.observed_until),
    });
    let verdict = RunResult::judge(&verdicts.slos, o.interrupted);
    RunResult {
        schema_version: SCHEMA_VERSION,
        zeta_bench_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            file: scenario.file.display().to_string(),
        },
        started_at: o.started_at,
        finished_at: Utc::now(),
        time_scale: plan.time_scale,
        provider: o.stack.provider.clone(),
        components: o.stack.components.clone(),
        stack: StackInfo {
            dir: files.dir.display().to_string(),
            git_revision: git_revision(&files.dir),
            scrape_targets: o.stack.rendered.scrape_targets.clone(),
            dropped_targets: o.stack.rendered.dropped_targets.clone(),
            unobserved_integrations: o.stack.rendered.unobserved_integrations.clone(),
            absent: o
                .stack
                .absent
                .iter()
                .chain(&o.stack.missing)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        faults: o.faults,
        alerts: c.alerts,
        alert_poll_interval_s: c.poll_interval.as_secs_f64(),
        alert_poll_lateness: c.poll_lateness,
        notifications: c.notifications,
        detections: verdicts.detections,
        trials: verdicts.trials,
        scorecard: verdicts.scorecard,
        routing: verdicts.routing,
        pipeline: verdicts.pipeline,
        load: o.load,
        dashboards: c.dashboards,
        traces: c.traces,
        logs: Some(c.logs),
        slos: verdicts.slos,
        verdict,
        notes: o.notes,
        run_dir: o.dir.display().to_string(),
    }
}

/// `result.json` and the rendered reports, in the run directory.
pub(super) fn write(result: &RunResult, dir: &Path) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(result)?;
    std::fs::write(dir.join("result.json"), json).context("writing result.json")?;
    crate::report::write_all(result, dir)
}

/// The stack directory's git revision (`abc1234`, `-dirty` with local
/// edits), when it is in a git checkout.
fn git_revision(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Why the SLOs that need a component this stack does not have (Grafana,
/// Loki, Jaeger) are not measured, as the provider recorded its absence
/// and the component's catalogue entry says what was therefore not done.
fn unmeasured_reasons(stack: &Stack) -> Vec<(SloKind, String)> {
    let started = stack.provider.name != Provider::External;
    let mut out = Vec::new();
    for c in crate::stack::components::ALL {
        let Some(reason) = stack.absent.get(c.name.name()) else {
            continue;
        };
        for need in c.needed_by {
            if !(started && need.stand_in_when_started) {
                out.push((need.slo, format!("{reason}; {}", need.not_done)));
            }
        }
    }
    out
}
