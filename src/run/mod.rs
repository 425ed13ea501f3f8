//! One scenario, end to end:
//! [`inputs`] (parse+validate, plan) → [`preflight`] (can the provider
//! inject every fault?) → [`session`] (receivers, trace sink, stack) →
//! load ║ faults ║ [`collect`] → [`drain`] → teardown (always) →
//! [`result`] (evaluate, record, write).
//!
//! An SLO violation is a result, not an error. Errors are only
//! [`RunError::Input`] (exit 2) and [`RunError::CouldNotRun`] (exit 3).

mod collect;
mod drain;
mod inputs;
mod preflight;
mod result;
pub mod session;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::input::Diagnostics;
use crate::load::{self, LoadOptions};
use crate::report::model::RunResult;
use crate::scenario::{FaultKind, ProviderChoice};
use crate::stack::{self, Provider, ProviderDecision};

pub use inputs::{Inputs, load_inputs, load_inputs_with};
use session::{Session, SessionOptions};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Input(Diagnostics),
    #[error("{0:#}")]
    CouldNotRun(anyhow::Error),
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Input(_) => 2,
            RunError::CouldNotRun(_) => 3,
        }
    }
}

#[derive(Clone, Default)]
pub struct RunOptions {
    pub time_scale: Option<f64>,
    /// `--trials`, over the scenario's `trials:`.
    pub trials: Option<u32>,
    pub provider: Option<ProviderChoice>,
    /// Where run directories go (default `reports/`).
    pub out: Option<PathBuf>,
    /// The `zeta-bench` executable, to run mock services.
    pub self_exe: Option<PathBuf>,
    /// Print progress lines during load.
    pub progress: bool,
    /// An earlier result to compare with, and the tolerances.
    pub baseline: Option<(RunResult, crate::report::baseline::Tolerances)>,
    /// Component binaries chosen on the command line (`--bin`, `ZETA_BIN`);
    /// they win over the scenario's `stack.binaries`.
    pub binaries: crate::stack::binaries::Binaries,
    /// How many scenarios this invocation runs at the same time (`run
    /// --jobs`); 0 or 1 means this one runs alone.
    pub jobs: usize,
    /// `--yes`: inject faults into an external stack without asking.
    pub yes: bool,
    /// `--accept-distortion`: run a time scale that measures another world
    /// than the scenario's real-time one (see `Inputs::distortions`).
    pub accept_distortion: bool,
}

pub async fn run(
    path: &Path,
    opts: &RunOptions,
    cancel: CancellationToken,
) -> Result<RunResult, RunError> {
    let inputs =
        inputs::load_inputs_with(path, opts.time_scale, opts.trials).map_err(RunError::Input)?;
    if !opts.accept_distortion && !inputs.distortions.is_empty() {
        return Err(RunError::Input(inputs.distortions));
    }
    let choice = opts
        .provider
        .unwrap_or(inputs.scenario.stack.provider.value);
    let decision = stack::choose_provider(choice)
        .await
        .map_err(|e| RunError::CouldNotRun(anyhow::anyhow!(e)))?;
    preflight::check(&inputs.scenario, decision.name).map_err(RunError::Input)?;
    preflight::side_by_side(&inputs.scenario, decision.name, opts.jobs).map_err(RunError::Input)?;
    preflight::consent(&inputs.scenario, decision.name, opts.yes).map_err(RunError::Input)?;
    execute(inputs, decision, opts, cancel)
        .await
        .map_err(|e| match e.downcast::<Diagnostics>() {
            Ok(d) => RunError::Input(d),
            Err(e) => RunError::CouldNotRun(e),
        })
}

fn run_dir(opts: &RunOptions, name: &str) -> anyhow::Result<PathBuf> {
    let base = opts.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = format!(
        "{safe}-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    std::fs::create_dir_all(&base)
        .with_context(|| format!("creating the reports directory {}", base.display()))?;
    new_dir(&base, &stem)
}

/// `base/stem`, or `base/stem-2`, `-3`… when a run of the same scenario,
/// started in the same millisecond by `run --jobs`, took it already.
fn new_dir(base: &Path, stem: &str) -> anyhow::Result<PathBuf> {
    for n in 1..=64u32 {
        let dir = match n {
            1 => base.join(stem),
            n => base.join(format!("{stem}-{n}")),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating the run directory {}", dir.display()));
            }
        }
    }
    anyhow::bail!(
        "creating a run directory {}/{stem}: 64 names were taken",
        base.display()
    )
}

async fn execute(
    inputs: Inputs,
    decision: ProviderDecision,
    opts: &RunOptions,
    cancel: CancellationToken,
) -> anyhow::Result<RunResult> {
    let started_at = Utc::now();
    let dir = run_dir(opts, &inputs.scenario.name)?;
    tracing::info!("run directory {}", dir.display());
    let mut session = start_session(&inputs, decision, opts, &dir, &cancel).await?;
    let stack = &session.stack;
    tracing::info!(
        "stack up: prometheus {} alertmanager {}",
        stack.prometheus_url,
        stack.alertmanager_url
    );
    // An Alertmanager the harness did not configure notifies the harness
    // only when pointed at a fixed receiver address.
    let notifications_unobserved = (stack.provider.name == Provider::External
        && inputs.scenario.stack.receivers.is_none())
    .then(|| {
        "the external Alertmanager's notifications are not observed: set stack.receivers (e.g. 127.0.0.1:9095) and point its receivers' URLs there (/slack/<channel>, /pagerduty, /webhook/<name>)".to_string()
    });
    let target = stack
        .services
        .get("backend-api")
        .cloned()
        .context("the stack has no backend-api to send load to")?;
    let mut notes = match stack_notes(&inputs, &session).await {
        Ok(notes) => notes,
        Err(e) => {
            session.stack.teardown().await;
            session.stop_listening().await;
            return Err(e);
        }
    };

    let start = tokio::time::Instant::now();
    let observers = collect::Observers::start(&inputs, &session, &dir, start, opts.progress)?;
    let Driven {
        load_report,
        faults,
        halted,
        halt,
    } = drive(&inputs, &mut session, &dir, target, start, &cancel).await;
    let load_report = load_report
        .map_err(|e| notes.push(format!("load engine failed: {e:#}")))
        .ok();
    if let Some(why) = &halted {
        notes.push(format!(
            "INCOMPLETE: {why}; every fault was reverted at once and the load stopped"
        ));
    }
    notes.extend(fault_errors(&faults));
    if !halt.is_cancelled() {
        let k = inputs.plan.time_scale;
        let settled = drain::settle(
            &inputs.files,
            k,
            &session.receivers,
            &observers.watch,
            &cancel,
        );
        if let Err(waited) = settled.await {
            notes.push(waited);
        }
        // Spans are exported in batches every 500 ms.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let collected = observers
        .finish(
            &mut session,
            load_report.as_ref(),
            &faults,
            started_at,
            &dir,
            &cancel,
        )
        .await;
    notes.extend(collected.notes.iter().cloned());
    let incomplete = incomplete_stack(&mut session.stack, &collected, &mut notes).await
        || halted.is_some()
        || faults.iter().any(|f| f.error.is_some());
    notes.extend(session.stack.teardown().await);
    let interrupted = cancel.is_cancelled();
    if interrupted {
        notes.push("the run was interrupted; this result is partial".into());
    }
    let mut result = result::build(result::Outcome {
        inputs: &inputs,
        stack: &session.stack,
        started_at,
        load: load_report,
        faults,
        collected,
        notes,
        interrupted: interrupted || incomplete,
        notifications_unobserved,
        dir: &dir,
    });
    if let Some((base, tol)) = &opts.baseline {
        crate::report::baseline::apply(&mut result, base, *tol);
    }
    result::write(&result, &dir)?;
    Ok(result)
}

/// Once the stack is up, before the load: what it could not start, the
/// expressions the time scale changes, and whether it is the stack under
/// test at all (an external stack's timers match the time scale; every
/// component the provider needs is there, or allowed to be absent). The
/// notes for the result, or why the run stops here.
async fn stack_notes(inputs: &Inputs, session: &Session) -> anyhow::Result<Vec<String>> {
    let stack = &session.stack;
    let mut notes: Vec<String> = stack
        .not_started
        .iter()
        .map(|n| format!("not started: {n}"))
        .collect();
    let k = inputs.plan.time_scale;
    notes.extend(
        inputs
            .checked
            .hazards
            .iter()
            .map(|h| format!("time-scale hazard at {k}×: {h}")),
    );
    notes.extend(inputs.checked.warnings.iter().cloned());
    if !inputs.distortions.is_empty() {
        notes.push(format!(
            "run with --accept-distortion: {}",
            inputs.distortions
        ));
    }
    if stack.provider.name == Provider::External {
        notes.extend(external_time_scale(inputs, session).await?);
    }
    notes.extend(
        preflight::missing_components(&stack.missing, &inputs.scenario.stack.allow_absent)
            .map_err(anyhow::Error::msg)?,
    );
    Ok(notes)
}

/// An external stack runs at its own speed: the scenario's time scale must
/// be the one its intervals and route timers were configured for, or
/// every real-time equivalent would be wrong. A mismatch is an input error
/// at `stack.time_scale`; timers that cannot be read are a note.
async fn external_time_scale(inputs: &Inputs, session: &Session) -> anyhow::Result<Option<String>> {
    let stack = &session.stack;
    let k = inputs.plan.time_scale;
    let timers = crate::stack::external::live_timers(&stack.prometheus, &stack.alertmanager).await;
    let live = match timers {
        Ok(t) => t,
        Err(e) => {
            return Ok(Some(format!(
                "the external stack's intervals could not be read, so time scale {k} is not verified against them: {e}"
            )));
        }
    };
    let mismatches = crate::stack::external::time_scale_mismatches(&inputs.files, k, &live);
    if mismatches.is_empty() {
        return Ok(None);
    }
    let at = &inputs.scenario.stack.time_scale;
    let mut d = Diagnostics::default();
    for m in mismatches {
        d.push(&inputs.scenario.file, at.pos, &at.field, m);
    }
    Err(anyhow::Error::new(d))
}

/// What the load and the fault timeline left: the load's report, each
/// fault's record, the halt condition that held (if one did), and the
/// token that stopped them (Ctrl-C or the halt).
struct Driven {
    load_report: anyhow::Result<crate::load::LoadReport>,
    faults: Vec<crate::fault::FaultRecord>,
    halted: Option<String>,
    halt: tokio_util::sync::CancellationToken,
}

/// The load and the faults side by side, with the halt conditions watched
/// over both: the load engine's live figures feed the faults' effect
/// probes and the error-ratio halt.
async fn drive(
    inputs: &Inputs,
    session: &mut Session,
    dir: &Path,
    target: String,
    start: tokio::time::Instant,
    cancel: &CancellationToken,
) -> Driven {
    // Ctrl-C, or a halt condition that held: stops the load and the faults.
    let halt = cancel.child_token();
    let (live_tx, live_rx) = tokio::sync::watch::channel(None);
    let drill = crate::fault::commanded::Drill::in_dir(dir, Some(live_rx.clone()), halt.clone());
    let prometheus = session.stack.prometheus.clone();
    let load_opts = LoadOptions {
        base_url: target,
        plan: &inputs.plan,
        mix: &inputs.scenario.load.mix,
        tenants: &inputs.scenario.tenants,
        max_in_flight: inputs.scenario.load.max_in_flight,
        timeout: inputs.scenario.load.timeout,
        trace_cap: 1_000,
        // The drill view reports progress; the snapshots feed the faults'
        // effect probes and the halt conditions.
        progress: Some(std::sync::Arc::new(move |l: &crate::load::engine::Live| {
            let _ = live_tx.send(Some(l.clone()));
        })),
        shard: None,
        keep_raw: false,
    };
    let done = tokio_util::sync::CancellationToken::new();
    let work = async {
        let out = tokio::join!(
            load::run(load_opts, start, halt.clone()),
            crate::fault::run(
                &mut session.stack,
                &inputs.plan,
                start,
                &drill,
                halt.clone()
            )
        );
        done.cancel();
        out
    };
    let watch = crate::fault::halt::watch(
        &inputs.scenario.halt_when,
        &prometheus,
        Some(live_rx),
        &halt,
        &done,
    );
    let ((load_report, faults), halted) = tokio::join!(work, watch);
    Driven {
        load_report,
        faults,
        halted,
        halt,
    }
}

/// A fault that could not be injected, whose effect was never seen, or
/// that could not be reverted: the run did not test what it meant to (or
/// left something broken), so each is an INCOMPLETE note.
fn fault_errors(faults: &[crate::fault::FaultRecord]) -> Vec<String> {
    faults
        .iter()
        .filter_map(|f| {
            let e = f.error.as_ref()?;
            Some(format!("INCOMPLETE: fault {}: {e}", f.name))
        })
        .collect()
}

/// A component that died (and no fault brought back), or that stopped
/// answering mid-run with no fault to explain it, leaves a stack that was
/// not the stack under test: each is an INCOMPLETE note. Whether any was.
async fn incomplete_stack(
    stack: &mut crate::stack::Stack,
    collected: &collect::Collected,
    notes: &mut Vec<String>,
) -> bool {
    let dead = stack.dead_components().await;
    for (name, last) in &dead {
        notes.push(format!(
            "INCOMPLETE: {name} was not running at {} (after the load and every revert); its last log lines:\n{last}",
            Utc::now().format("%H:%M:%S%.3f")
        ));
    }
    for f in &collected.stack_failures {
        notes.push(format!(
            "INCOMPLETE: {}{}",
            f.message,
            last_lines_of(stack, &f.component)
        ));
    }
    !dead.is_empty() || !collected.stack_failures.is_empty()
}

/// `; its last log lines: …` for `component`, where the harness has its log.
fn last_lines_of(stack: &crate::stack::Stack, component: &str) -> String {
    stack
        .components
        .iter()
        // An external stack's components have no log here.
        .find(|c| c.name == component && std::path::Path::new(&c.log).is_file())
        .map(|c| {
            let last = crate::stack::process::last_lines(std::path::Path::new(&c.log), 8);
            format!("; its last log lines:\n{last}")
        })
        .unwrap_or_default()
}

/// `--bin` (or, through the library, `ZETA_BIN`) over the scenario's
/// `stack.binaries`.
fn chosen_binaries(
    opts: &RunOptions,
    inputs: &Inputs,
) -> anyhow::Result<crate::stack::binaries::Binaries> {
    use crate::stack::binaries::Binaries;
    let cli = if opts.binaries.is_empty() {
        Binaries::from_env().map_err(anyhow::Error::msg)?
    } else {
        opts.binaries.clone()
    };
    Ok(cli.over(&Binaries::of(&inputs.scenario.stack)))
}

async fn start_session(
    inputs: &Inputs,
    decision: ProviderDecision,
    opts: &RunOptions,
    dir: &Path,
    cancel: &CancellationToken,
) -> anyhow::Result<Session> {
    let self_exe = match &opts.self_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding the zeta-bench executable")?,
    };
    Session::start(
        SessionOptions {
            files: inputs.files.clone(),
            decision,
            time_scale: inputs.plan.time_scale,
            run_dir: dir.to_path_buf(),
            self_exe,
            receivers_at: inputs.scenario.stack.receivers.as_ref().map(|a| a.value),
            serve_receivers: true,
            disk: inputs
                .plan
                .faults
                .iter()
                .any(|f| f.kind == FaultKind::DiskPressure),
            alerting_link: inputs
                .plan
                .faults
                .iter()
                .any(|f| f.kind == FaultKind::PrometheusToAlertmanagerCut),
            stack_ref: Some(inputs.scenario.stack.clone()),
            mock_users: inputs.scenario.tenants.users,
            binaries: chosen_binaries(opts, inputs)?,
        },
        cancel,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_of_one_scenario_in_one_millisecond_get_two_directories() {
        let base = tempfile::tempdir().unwrap();
        let a = new_dir(base.path(), "smoke-20261201T000000.000Z-1").unwrap();
        let b = new_dir(base.path(), "smoke-20261201T000000.000Z-1").unwrap();
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        assert!(b.to_string_lossy().ends_with("-1-2"), "{}", b.display());
    }
}
