//! Reading a run's inputs: the scenario with its SLO file and stack files,
//! cross-checked, and the plan. Every problem in every file is collected
//! before returning, so one `validate` shows them all.

use std::path::Path;

use crate::input::{Diagnostics, Located, Pos};
use crate::scenario::plan::{self, Plan};
use crate::scenario::{self, Scenario};
use crate::slo::{self, SloSpec};
use crate::stack::StackFiles;

/// Everything a run needs that comes from files, validated.
pub struct Inputs {
    pub scenario: Scenario,
    pub slo: SloSpec,
    pub files: StackFiles,
    pub plan: Plan,
}

/// Read and cross-check a scenario with its SLO and stack files.
pub fn load_inputs(path: &Path, time_scale: Option<f64>) -> Result<Inputs, Diagnostics> {
    let scenario = scenario::load_scenario(path)?;
    let mut diags = Diagnostics::default();
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
    let slo = slo::load_slo(&scenario.slo.value)
        .map_err(|d| diags.extend(d))
        .ok();
    let files = StackFiles::load(&scenario.stack.dir.value)
        .map_err(|d| diags.extend(d))
        .ok();
    if let Some(files) = &files {
        check_expected_rules(&scenario, files, &mut diags);
    }
    let k = match time_scale {
        Some(k) => Located::new(k, Pos { line: 0, column: 0 }, "--time-scale"),
        None => scenario.stack.time_scale.clone(),
    };
    let plan = plan::plan(&scenario, k, files.as_ref().map(StackFiles::min_interval))
        .map_err(|d| diags.extend(d))
        .ok();
    match (slo, files, plan) {
        (Some(slo), Some(files), Some(plan)) if diags.is_empty() => Ok(Inputs {
            scenario,
            slo,
            files,
            plan,
        }),
        _ => Err(diags.sorted()),
    }
}

/// Every expected alert names a rule of the stack.
fn check_expected_rules(scenario: &Scenario, files: &StackFiles, diags: &mut Diagnostics) {
    for (i, e) in scenario.expect.alerts.iter().enumerate() {
        if files.rule(&e.name).is_none() {
            diags.push(
                &scenario.file,
                Pos::default(),
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
