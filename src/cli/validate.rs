//! `zeta-bench validate`: every check that needs no running stack. Input
//! errors exit 2; a rule that can never meet the MTTD target exits 1;
//! otherwise 0.

use std::path::Path;

use crate::input::units::human_duration;
use crate::run::{Inputs, load_inputs};

use super::Exit;

pub(super) fn validate_all(files: &[std::path::PathBuf]) -> Exit {
    files
        .iter()
        .map(|f| validate(f))
        .max()
        .unwrap_or(Exit::Pass)
}

fn validate(f: &Path) -> Exit {
    if let Some(exit) = validate_plain_load(f) {
        return exit;
    }
    // promtool and amtool read the stack's files on their own: they check
    // them while the lint below reads the same files (on a team's 10,000
    // rules most of validate's time is promtool's).
    let tools = crate::scenario::load_scenario(f).ok().map(|sc| {
        let dir = sc.stack.dir.value.clone();
        let binaries = tool_binaries(&sc.stack);
        std::thread::spawn(move || crate::stack::tools::check(&dir, &binaries))
    });
    let i = match load_inputs(f, None) {
        Ok(i) => i,
        Err(d) => {
            eprintln!("{d}");
            eprintln!("{}: {} problem(s)", f.display(), d.len());
            return Exit::Input;
        }
    };
    let lint = lint_stack(&i, tools);
    let hazards = print_hazards(&i);
    let floors = print_floors(&i);
    let exit = lint.max(floors);
    println!(
        "{}: {} ({} phases, {} faults, {} alert rules, {} dashboards checked)",
        f.display(),
        match exit {
            Exit::Pass if hazards == 0 => "ok".to_string(),
            Exit::Pass if i.checked.warnings.is_empty() => {
                format!("ok, with {hazards} time-scale warning(s) above")
            }
            Exit::Pass => format!("ok, with {hazards} warning(s) above"),
            Exit::Input => "INVALID: the problems above".to_string(),
            _ => "FAILS: a rule above can never meet the MTTD target".to_string(),
        },
        i.scenario.load.phases.len(),
        i.scenario.faults.len(),
        i.files.rules.len(),
        i.files.grafana.dashboards.as_ref().map_or(0, Vec::len),
    );
    exit
}

/// Expressions whose meaning changes at this time scale; warnings.
fn print_hazards(i: &Inputs) -> usize {
    let k = i.plan.time_scale;
    let hazards = &i.checked.hazards;
    for h in hazards {
        eprintln!("warning: time scale {k}: {h}");
    }
    for w in &i.checked.warnings {
        eprintln!("warning: {w}");
    }
    if !i.distortions.is_empty() {
        // `run` refuses these unless --accept-distortion.
        eprintln!("warning: {}", i.distortions);
    }
    hazards.len() + i.checked.warnings.len() + i.distortions.len()
}

/// Plain load (`target:`): the schedule is all there is to check. `None`
/// for a scenario with a stack (or one that does not parse: the full
/// validation reports why).
fn validate_plain_load(f: &Path) -> Option<Exit> {
    let sc = crate::scenario::load_scenario(f).ok()?;
    sc.target.as_ref()?;
    Some(
        match crate::scenario::plan::plan(&sc, sc.stack.time_scale.clone(), None) {
            Ok(p) => {
                println!(
                    "{}: plain load for {} in {} phase(s), valid (run it with `zeta-bench load`)",
                    f.display(),
                    human_duration(p.load_end),
                    p.phases.len()
                );
                Exit::Pass
            }
            Err(d) => {
                eprintln!("{d}");
                Exit::Input
            }
        },
    )
}

/// `--bin`'s environment (`ZETA_BIN`) over the scenario's `stack.binaries`.
fn tool_binaries(stack: &crate::scenario::StackRef) -> crate::stack::binaries::Binaries {
    crate::stack::binaries::Binaries::from_env()
        .unwrap_or_else(|e| {
            eprintln!("zeta-bench validate: {e}");
            Default::default()
        })
        .over(&crate::stack::binaries::Binaries::of(stack))
}

type ToolChecks = std::thread::JoinHandle<Vec<Result<String, String>>>;

/// The dashboards' lint and promtool/amtool on the stack files (started
/// beforehand as `tools`, or here).
fn lint_stack(i: &Inputs, tools: Option<ToolChecks>) -> Exit {
    let mut exit = Exit::Pass;
    for p in &i.checked.problems {
        eprintln!("{p}");
        exit = Exit::Input;
    }
    let lines = match tools.map(std::thread::JoinHandle::join) {
        Some(Ok(lines)) => lines,
        _ => crate::stack::tools::check(&i.files.dir, &tool_binaries(&i.scenario.stack)),
    };
    for line in lines {
        match line {
            Ok(ok) => println!("{ok}"),
            Err(problem) => {
                eprintln!("{problem}");
                exit = Exit::Input;
            }
        }
    }
    exit
}

/// Each rule's detection floor; a rule the MTTD SLO covers that can never
/// meet its target is an SLO failure.
fn print_floors(i: &Inputs) -> Exit {
    let target = i.slo.mttd.as_ref();
    let mut exit = Exit::Pass;
    println!(
        "detection floors (best = for rounded up to whole evaluations + group_wait; worst adds a scrape, its timeout, an evaluation, one more per level of recording rules read, and the longest range window):"
    );
    let floors = crate::slo::floor::floors(&i.files, target);
    // As wide as the longest name, within reason.
    let width = floors
        .iter()
        .map(|f| f.rule.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(24, 48);
    for rf in floors {
        println!(
            "  {:<width$} {:<9} best {:>8}  worst {:>8}{}",
            rf.rule.name,
            rf.rule.severity(),
            human_duration(rf.floor.best),
            human_duration(rf.floor.worst),
            if rf.impossible {
                "  ← can never meet the MTTD target"
            } else {
                ""
            }
        );
        if rf.impossible {
            eprintln!(
                "{}:{}:{}: alert {}: severity {} is covered by the MTTD SLO (≤ {}), but it cannot notify sooner than {} ({})",
                i.files.dir.join("prometheus").join(&rf.rule.file).display(),
                rf.rule.pos.line,
                rf.rule.pos.column,
                rf.rule.name,
                rf.rule.severity(),
                human_duration(target.map(|m| m.max).unwrap_or_default()),
                human_duration(rf.floor.best),
                rf.floor.best_terms
            );
            exit = Exit::SloFailed;
        }
    }
    exit
}
