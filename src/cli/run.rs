//! `zeta-bench run`: each scenario end to end, its summary printed, and for
//! a suite one combined JUnit file and Markdown summary. `--jobs N` runs N
//! scenarios at a time, each in a stack of its own (see `run::preflight`
//! for why an external stack cannot be shared that way).

use std::path::PathBuf;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::report::{RunResult, terminal};
use crate::run::{RunError, RunOptions};

use super::Exit;
use super::args::RunArgs;
use super::read::load_baseline;

pub(super) async fn run(a: RunArgs) -> Exit {
    if a.dry_run {
        return super::plan::dry_run(&a);
    }
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
    if let Some(why) = crate::fault::journal::refusal(&out, "run") {
        eprintln!("{why}");
        return Exit::CouldNotRun;
    }
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
        jobs: usize::from(a.jobs).min(a.scenarios.len()).max(1),
        yes: a.yes,
        accept_distortion: a.accept_distortion,
    };
    let outcomes = run_all(&a.scenarios, &opts, &cancel).await;
    let mut worst = Exit::Pass;
    let mut results = Vec::new();
    let mut errored = Vec::new();
    for (path, outcome) in a.scenarios.iter().zip(outcomes) {
        match outcome {
            // Not started: the run was interrupted before its turn.
            None => {}
            Some(Ok(result)) => {
                worst = worst.max(Exit::from(&result));
                results.push(result);
            }
            Some(Err(e)) => {
                worst = worst.max(Exit::from(&e));
                errored.push(crate::report::Errored {
                    scenario: path.display().to_string(),
                    exit: Exit::from(&e).code(),
                    message: e.to_string(),
                });
            }
        }
    }
    if a.scenarios.len() > 1 {
        let out = opts.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
        write_suite(&out, &results, &errored, a.scenarios.len(), worst);
    }
    worst
}

/// Every scenario, `opts.jobs` at a time, each printed as it ends; the
/// outcomes in the scenarios' order. A scenario whose turn comes after an
/// interrupt is not started (None). Side by side, each run's log lines
/// carry its scenario's name.
async fn run_all(
    paths: &[PathBuf],
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Vec<Option<Result<RunResult, RunError>>> {
    let tagged = opts.jobs > 1;
    let runs = paths.iter().enumerate().map(|(i, path)| async move {
        if cancel.is_cancelled() {
            return (i, None);
        }
        let run = crate::run::run(path, opts, cancel.clone());
        let outcome = if tagged {
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            run.instrument(tracing::info_span!("scenario", name = %name))
                .await
        } else {
            run.await
        };
        match &outcome {
            Ok(result) => print!("{}", terminal::render(result)),
            Err(e) => report_error(path, e, tagged),
        }
        (i, Some(outcome))
    });
    let mut done: Vec<_> = futures::stream::iter(runs)
        .buffer_unordered(opts.jobs.max(1)) // 0 means alone, like 1
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, outcome)| outcome).collect()
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

/// One message, written at once so that side-by-side runs do not
/// interleave it; side by side, it names its scenario.
fn report_error(path: &std::path::Path, e: &RunError, name_it: bool) {
    let whose = if name_it {
        format!(" {}:", path.display())
    } else {
        String::new()
    };
    let message = match e {
        RunError::Input(d) => format!(
            "{d}\nzeta-bench:{whose} {} problem(s) in the input; nothing was started\n",
            d.len()
        ),
        RunError::CouldNotRun(err) => format!("zeta-bench:{whose} could not run: {err:#}\n"),
    };
    eprint!("{message}");
}
