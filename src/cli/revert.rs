//! `zeta-bench revert RUN_DIR`: replay what a run's revert journal still
//! holds open (exec faults injected and never reverted, because the
//! harness was killed or a revert failed), newest first, and cross out each
//! one that reverted. Exit 0 when nothing is left open, 3 when something
//! is (with the command to run by hand), 2 when RUN_DIR has no journal.

use std::path::Path;

use crate::fault::exec::{self, DrillLog, Env};
use crate::fault::journal::{self, Journal, OpenFault};

use super::Exit;

pub(super) async fn revert(run_dir: &Path) -> Exit {
    let j = Journal::in_dir(run_dir);
    if !j.path().is_file() {
        eprintln!(
            "zeta-bench revert: {}: no revert journal ({}) in this directory; give the run directory a run printed (`run directory …`)",
            run_dir.display(),
            journal::FILE
        );
        return Exit::Input;
    }
    let open = match j.still_open() {
        Ok(open) => open,
        Err(e) => {
            eprintln!("zeta-bench revert: {e}");
            return Exit::Input;
        }
    };
    if open.is_empty() {
        println!(
            "{}: nothing to revert: every fault was reverted",
            run_dir.display()
        );
        return Exit::Pass;
    }
    let log = DrillLog::in_dir(run_dir);
    let mut left = 0;
    for f in open.iter().rev() {
        if let Err(e) = replay(&j, &log, f).await {
            left += 1;
            eprintln!(
                "zeta-bench revert: fault {} on {} COULD NOT BE REVERTED: {e}\n  by hand: {}\n  then run `zeta-bench revert {}` again to cross it out",
                f.key,
                f.target,
                exec::shell_line(&f.revert.argv),
                run_dir.display()
            );
        }
    }
    if left == 0 {
        println!(
            "{}: every open fault reverted ({})",
            run_dir.display(),
            open.len()
        );
        Exit::Pass
    } else {
        eprintln!(
            "zeta-bench revert: {left} of {} fault(s) still open",
            open.len()
        );
        Exit::CouldNotRun
    }
}

async fn replay(j: &Journal, log: &DrillLog, f: &OpenFault) -> Result<(), String> {
    let mut vars = f.env.clone();
    for name in &f.pass_env {
        let value = std::env::var(name).map_err(|_| {
            format!("pass_env {name} is not set in this environment; set it as for the run")
        })?;
        vars.push((name.clone(), value));
    }
    let env = Env::from_vars(vars, &f.pass_env);
    let what = format!("fault {} revert (zeta-bench revert)", f.key);
    let ran = exec::run(&f.revert, &env, log, &what).await?;
    if !ran.ok() {
        return Err(exec::describe_failure(&f.revert, &ran));
    }
    j.close(&f.key, "zeta-bench revert").map_err(|e| {
        format!(
            "reverted, but crossing it out of {} failed: {e}",
            j.path().display()
        )
    })?;
    println!(
        "fault {} on {}: reverted ({})",
        f.key,
        f.target,
        exec::shell_line(&f.revert.argv)
    );
    Ok(())
}
