//! `zeta-bench run`: each scenario end to end, its summary printed, and for
//! a suite one combined JUnit file and Markdown summary.

use std::path::PathBuf;

use crate::report::{RunResult, terminal};
use crate::run::{RunError, RunOptions};

use super::Exit;
use super::args::RunArgs;
use super::read::load_baseline;

pub(super) async fn run(a: RunArgs) -> Exit {
    if let Err(e) = crate::http::tls::configure(&a.tls.clone().into()) {
        eprintln!("zeta-bench: {e}");
        return Exit::Input;
    }
    let baseline = match load_baseline(a.baseline.as_deref(), a.tolerance.as_deref()) {
        Ok(b) => b,
        Err(exit) => return exit,
    };
    let cancel = crate::signal::cancel_on_signal(Some(
        "zeta-bench: interrupted; reverting faults and stopping the stack…",
    ));
    let opts = RunOptions {
        time_scale: a.time_scale,
        trials: a.trials,
        provider: a.provider.map(Into::into),
        out: a.out,
        self_exe: None,
        progress: true,
        baseline,
        binaries: crate::stack::binaries::Binaries::new(a.bins.into_iter().collect()),
    };
    let mut worst = Exit::Pass;
    let mut results = Vec::new();
    let mut errored = Vec::new();
    for path in &a.scenarios {
        let exit = match crate::run::run(path, &opts, cancel.clone()).await {
            Ok(result) => {
                print!("{}", terminal::render(&result));
                let exit = Exit::from(&result);
                results.push(result);
                exit
            }
            Err(e) => {
                report_error(&e);
                errored.push(crate::report::Errored {
                    scenario: path.display().to_string(),
                    exit: Exit::from(&e).code(),
                    message: e.to_string(),
                });
                Exit::from(&e)
            }
        };
        worst = worst.max(exit);
        if cancel.is_cancelled() {
            break;
        }
    }
    if a.scenarios.len() > 1 {
        let out = opts.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
        write_suite(&out, &results, &errored, a.scenarios.len(), worst);
    }
    worst
}

/// One gate: a combined JUnit file and summary for the suite.
fn write_suite(
    out: &std::path::Path,
    results: &[RunResult],
    errored: &[crate::report::Errored],
    scenarios: usize,
    worst: Exit,
) {
    let written = std::fs::create_dir_all(out)
        .and_then(|()| {
            std::fs::write(
                out.join("suite-junit.xml"),
                crate::report::junit::render_suite(results, errored),
            )
        })
        .and_then(|()| {
            std::fs::write(
                out.join("suite-summary.md"),
                crate::report::markdown::render_suite(results, errored),
            )
        });
    match written {
        Ok(()) => println!(
            "\nSuite: {scenarios} scenario(s), worst exit code {}; {} and {}",
            worst.code(),
            out.join("suite-junit.xml").display(),
            out.join("suite-summary.md").display()
        ),
        Err(e) => eprintln!(
            "zeta-bench: writing the suite report in {}: {e}",
            out.display()
        ),
    }
}

fn report_error(e: &RunError) {
    match e {
        RunError::Input(d) => {
            eprintln!("{d}");
            eprintln!(
                "zeta-bench: {} problem(s) in the input; nothing was started",
                d.len()
            );
        }
        RunError::CouldNotRun(err) => eprintln!("zeta-bench: could not run: {err:#}"),
    }
}
