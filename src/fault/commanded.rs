//! An `exec` fault on the plan's timeline: written to the revert journal,
//! injected by its command, its effect verified from outside
//! ([`super::effect`]), reverted by its command and crossed out.
//!
//! A failed inject, an effect never seen and a failed revert are each the
//! fault's error, and any fault error makes the run INCOMPLETE (exit 3). A
//! failed inject or an unseen effect is reverted at once (the fault may be
//! half in force); a failed revert leaves the journal open and says, loudly,
//! the exact command to run by hand.

use std::path::{Path, PathBuf};

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::FaultRecord;
use super::effect::{self, LiveLoad, Probes};
use super::exec::{self, Context, DrillLog, Env};
use super::journal::{Journal, OpenFault};
use crate::http::endpoint::Endpoint;
use crate::scenario::ExecFault;
use crate::scenario::plan::PlannedFault;

/// What `exec` faults need from the run.
#[derive(Clone)]
pub struct Drill {
    pub run_dir: PathBuf,
    pub log: DrillLog,
    pub journal: Journal,
    /// The load engine's live figures, for `error_ratio` and `latency`.
    pub live: Option<LiveLoad>,
    /// Ctrl-C or a halt condition: stop waiting for an effect.
    pub cancel: CancellationToken,
}

impl Drill {
    pub fn in_dir(run_dir: &Path, live: Option<LiveLoad>, cancel: CancellationToken) -> Self {
        Drill {
            run_dir: run_dir.to_path_buf(),
            log: DrillLog::in_dir(run_dir),
            journal: Journal::in_dir(run_dir),
            live,
            cancel,
        }
    }
}

/// Where the fault is aimed, as the stack knows it.
pub struct Target<'a> {
    pub url: Option<&'a str>,
    pub prometheus: &'a Endpoint,
}

/// The journal's key for `f`: its name, and its trial after the first.
pub fn key(f: &PlannedFault) -> String {
    if f.trial > 1 {
        format!("{} (trial {})", f.name, f.trial)
    } else {
        f.name.clone()
    }
}

fn spec(f: &PlannedFault) -> Result<&ExecFault, String> {
    f.params.exec.as_ref().ok_or_else(|| {
        "an exec fault runs only from a scenario, which gives its commands".to_string()
    })
}

fn env_for(drill: &Drill, f: &PlannedFault, t: &Target<'_>) -> Result<Env, String> {
    let ctx = Context {
        fault: &f.name,
        target: &f.target,
        target_url: t.url,
        run_dir: &drill.run_dir,
    };
    Env::for_fault(spec(f)?, &ctx)
}

pub async fn inject(drill: &Drill, f: &PlannedFault, t: &Target<'_>, r: &mut FaultRecord) {
    r.requested_at = Some(Utc::now());
    let outcome = inject_and_see(drill, f, t, r).await;
    if let Err(e) = outcome {
        tracing::error!("fault {}: {e}", f.name);
        r.error = Some(e);
        if r.requested_at.is_some() && journaled(drill, f) {
            revert(drill, f, t, r, "reverted at once: the fault failed").await;
        }
    }
}

/// Whether `f` is open in the journal (its inject may have run).
fn journaled(drill: &Drill, f: &PlannedFault) -> bool {
    drill
        .journal
        .still_open()
        .map(|open| open.iter().any(|o| o.key == key(f)))
        .unwrap_or(true)
}

async fn inject_and_see(
    drill: &Drill,
    f: &PlannedFault,
    t: &Target<'_>,
    r: &mut FaultRecord,
) -> Result<(), String> {
    let spec = spec(f)?;
    let env = env_for(drill, f, t).map_err(|e| format!("could not inject: {e}"))?;
    drill
        .journal
        .open(&OpenFault {
            key: key(f),
            target: f.target.clone(),
            revert: spec.revert.clone(),
            env: env
                .vars
                .iter()
                .filter(|(k, _)| !spec.pass_env.contains(k))
                .cloned()
                .collect(),
            pass_env: spec.pass_env.clone(),
            at: Utc::now(),
        })
        .map_err(|e| {
            format!(
                "could not inject: writing the revert journal {}: {e}; nothing was run",
                drill.journal.path().display()
            )
        })?;
    let what = format!("fault {} inject", f.name);
    let ran = exec::run(&spec.inject, &env, &drill.log, &what)
        .await
        .map_err(|e| format!("could not inject: {e}"))?;
    if !ran.ok() {
        return Err(format!(
            "could not inject: {}",
            exec::describe_failure(&spec.inject, &ran)
        ));
    }
    let probes = Probes {
        target_url: t.url,
        prometheus: t.prometheus,
        live: drill.live.as_ref(),
        env: &env,
        log: &drill.log,
        fault: &f.name,
    };
    let (at, how) = tokio::select! {
        seen = effect::seen(spec, &probes) => seen?,
        _ = drill.cancel.cancelled() => {
            return Err("interrupted before its effect was seen".into());
        }
    };
    drill
        .log
        .write(&format!("fault {} took effect: {how}", f.name));
    r.took_effect_at = Some(at);
    r.outage = matches!(spec.effect, crate::scenario::Effect::Down);
    r.evidence = Some(how);
    tracing::info!("fault {} took effect", f.name);
    Ok(())
}

/// Run the revert command; on success cross the fault out of the journal.
pub async fn revert(
    drill: &Drill,
    f: &PlannedFault,
    t: &Target<'_>,
    r: &mut FaultRecord,
    by: &str,
) {
    r.revert_requested_at = Some(Utc::now());
    let outcome = match (spec(f), env_for(drill, f, t)) {
        (Ok(spec), Ok(env)) => run_revert(drill, f, spec, &env).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match outcome {
        Ok(()) => {
            r.reverted_at = Some(Utc::now());
            r.reverted_by = Some(by.to_string());
            tracing::info!("fault {}: reverted", f.name);
        }
        Err(e) => {
            let by_hand = spec(f).map(|s| by_hand(drill, f, s)).unwrap_or_default();
            let message = format!("could not revert: {e}\n{by_hand}");
            eprintln!(
                "\n!!! zeta-bench: fault {} COULD NOT BE REVERTED; it may still be in force.\n{message}\n",
                f.name
            );
            r.error = Some(match r.error.take() {
                Some(before) => format!("{before}; {message}"),
                None => message,
            });
        }
    }
}

async fn run_revert(
    drill: &Drill,
    f: &PlannedFault,
    spec: &ExecFault,
    env: &Env,
) -> Result<(), String> {
    let ran = exec::run(
        &spec.revert,
        env,
        &drill.log,
        &format!("fault {} revert", f.name),
    )
    .await?;
    if !ran.ok() {
        return Err(exec::describe_failure(&spec.revert, &ran));
    }
    drill.journal.close(&key(f), "revert command").map_err(|e| {
        format!(
            "reverted, but crossing it out of {} failed: {e}",
            drill.journal.path().display()
        )
    })
}

/// The command to run by hand, and how to clear the journal after.
fn by_hand(drill: &Drill, f: &PlannedFault, spec: &ExecFault) -> String {
    let mut s = format!("Revert it by hand: {}", exec::shell_line(&spec.revert.argv));
    let names = spec.env_names();
    if !names.is_empty() {
        s.push_str(&format!(" (with {} set as for the run)", names.join(", ")));
    }
    s.push_str(&format!(
        ", or retry with `zeta-bench revert {}`; fault {} stays open in {} until then",
        drill.run_dir.display(),
        key(f),
        drill.journal.path().display()
    ));
    s
}
