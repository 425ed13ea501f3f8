//! Fault injection on the plan's timeline, with exact timing and a
//! guaranteed revert.
//!
//! Each fault records when it was requested, when it *took effect*
//! (verified from outside: for `service_down` and `database_down`, the
//! first probe that saw the target down, see [`probe`]), and when it was
//! reverted (the service answers its health check again). MTTD is measured
//! from "took effect". If the run is interrupted, active faults are reverted
//! by teardown (a killed service stays down until teardown, which is the
//! state teardown leaves anyway); nothing the harness did outlives the run.
//!
//! `exec` faults ([`commanded`]) run the scenario's own commands, are
//! journaled for a revert that survives a crash ([`journal`]), and have
//! their effect verified by the probe they name ([`effect`]).

pub mod commanded;
pub mod effect;
pub mod exec;
pub mod halt;
pub mod journal;
pub mod probe;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mock::faults::{ErrorRate, Knobs, Latency};
use crate::mock::receivers::ReceiverFault;
use crate::scenario::FaultKind;
use crate::scenario::plan::{Plan, PlannedFault};
use crate::stack::Stack;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FaultRecord {
    pub name: String,
    pub kind: FaultKind,
    pub target: String,
    /// Planned start, from load start (wall time).
    #[serde(with = "crate::input::units::serde_duration")]
    #[schemars(with = "f64")]
    pub planned_at: Duration,
    pub requested_at: Option<DateTime<Utc>>,
    pub took_effect_at: Option<DateTime<Utc>>,
    pub revert_requested_at: Option<DateTime<Utc>>,
    pub reverted_at: Option<DateTime<Utc>>,
    /// How it was reverted: "restarted", "teardown" (run interrupted).
    pub reverted_by: Option<String>,
    pub error: Option<String>,
    /// How `took_effect_at` was established, for outages: the probe that
    /// first saw the target down.
    #[serde(default)]
    pub evidence: Option<String>,
    /// Which trial this injection was, from 1, when the run had several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<u32>,
    /// An `exec` fault verified as an outage (refused connections at its
    /// target), which the checks then treat like `service_down`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outage: bool,
}

impl FaultRecord {
    /// The trial it belongs to: 1 in a run of one trial.
    pub fn trial(&self) -> u32 {
        self.trial.unwrap_or(1)
    }

    /// Whether the target was down on purpose: `service_down`,
    /// `database_down`, or an `exec` fault seen as refused connections.
    pub fn is_outage(&self) -> bool {
        self.outage || matches!(self.kind, FaultKind::ServiceDown | FaultKind::DatabaseDown)
    }
}

enum Step {
    Inject(usize),
    Revert(usize),
}

/// Run every fault of the plan against `stack`, counting from `start`.
/// `cancel` (Ctrl-C, or a halt condition that held) stops the timeline:
/// every fault in force is then reverted at once and nothing more is
/// injected.
pub async fn run(
    stack: &mut Stack,
    plan: &Plan,
    start: Instant,
    drill: &commanded::Drill,
    cancel: CancellationToken,
) -> Vec<FaultRecord> {
    let mut records: Vec<FaultRecord> = plan
        .faults
        .iter()
        .map(|f| FaultRecord {
            trial: (plan.trials > 1).then_some(f.trial),
            ..record_for(f)
        })
        .collect();
    let mut steps: Vec<(Duration, Step)> = Vec::new();
    for (i, f) in plan.faults.iter().enumerate() {
        steps.push((f.at, Step::Inject(i)));
        if !outlasts_the_run(f, plan) {
            steps.push((f.at + f.duration, Step::Revert(i)));
        }
    }
    steps.sort_by_key(|(t, s)| (*t, matches!(s, Step::Inject(_))));

    for (at, step) in steps {
        tokio::select! {
            _ = tokio::time::sleep_until(start + at) => {}
            _ = cancel.cancelled() => break,
        }
        let f = &plan.faults[i_of(&step)];
        match step {
            Step::Inject(i) if f.kind == FaultKind::Exec => {
                commanded::inject(drill, f, &target(stack, f), &mut records[i]).await
            }
            Step::Inject(i) => inject(stack, f, &mut records[i]).await,
            Step::Revert(i) if f.kind == FaultKind::Exec => {
                if records[i].took_effect_at.is_some() && records[i].reverted_at.is_none() {
                    commanded::revert(
                        drill,
                        f,
                        &target(stack, f),
                        &mut records[i],
                        "revert command",
                    )
                    .await;
                }
            }
            Step::Revert(i) => {
                if records[i].took_effect_at.is_some() {
                    revert(stack, f, &mut records[i]).await;
                }
            }
        }
    }
    revert_on_interrupt(stack, plan, drill, &mut records, cancel.is_cancelled()).await;
    records
}

/// A receiver fault that lasts to the end of the load stays in force
/// through the drain, to the end of the run: the pipeline failure that
/// outlasts the incident, which is how pages are lost for good. Nothing
/// outside the harness needs restoring (the switch dies with the run).
pub fn outlasts_the_run(f: &PlannedFault, plan: &Plan) -> bool {
    receiver_fault(f).is_some() && f.at + f.duration >= plan.load_end
}

fn i_of(step: &Step) -> usize {
    match step {
        Step::Inject(i) | Step::Revert(i) => *i,
    }
}

/// The fault's target as the stack knows it: its URL, and Prometheus for
/// a PromQL effect.
fn target<'a>(stack: &'a Stack, f: &PlannedFault) -> commanded::Target<'a> {
    commanded::Target {
        url: target_url(stack, &f.target),
        prometheus: &stack.prometheus,
    }
}

/// A mock service's or a component's URL.
fn target_url<'a>(stack: &'a Stack, name: &str) -> Option<&'a str> {
    stack.services.get(name).map(String::as_str).or_else(|| {
        stack
            .components
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.url.as_str())
    })
}

/// At the end of the timeline, interrupted or not: run `exec` faults' reverts
/// and clear knobs of faults still in force (a receiver fault that outlasts
/// the run stays, unless interrupted);
/// processes go with teardown.
async fn revert_on_interrupt(
    stack: &mut Stack,
    plan: &Plan,
    drill: &commanded::Drill,
    records: &mut [FaultRecord],
    interrupted: bool,
) {
    for (i, r) in records.iter_mut().enumerate() {
        let f = &plan.faults[i];
        if f.kind == FaultKind::Exec {
            if r.requested_at.is_some() && r.reverted_at.is_none() && r.error.is_none() {
                let t = target(stack, f);
                commanded::revert(drill, f, &t, r, "reverted on interrupt").await;
            }
            continue;
        }
        if r.took_effect_at.is_some() && r.reverted_at.is_none() {
            if outlasts_the_run(f, plan) && !interrupted {
                // Left in force through the drain; the switch goes with
                // the run.
                r.reverted_by = Some("in force to the end of the run".into());
            } else if clears_in_place(f) {
                revert(stack, f, r).await;
                r.reverted_by = Some("cleared on interrupt".into());
            } else {
                r.reverted_by = Some("teardown".into());
            }
        }
    }
}

/// Whether reverting `f` changes a setting rather than restarting a
/// process: done at once on an interrupt or a halt, not left to teardown.
fn clears_in_place(f: &PlannedFault) -> bool {
    knobs(f).is_some()
        || receiver_fault(f).is_some()
        || matches!(
            f.kind,
            FaultKind::Network
                | FaultKind::PrometheusToAlertmanagerCut
                | FaultKind::RuleEvaluationFailing
        )
        || (f.kind == FaultKind::HighLatency && f.target == "postgresql")
}

/// How a delay or toxic on a dependency link was seen in force (a cut
/// link is probed from outside instead, in [`verified_link_down`]).
fn link_evidence(stack: &Stack, f: &PlannedFault) -> Option<String> {
    let toxic = match f.kind {
        FaultKind::HighLatency if f.target == "postgresql" => "latency",
        FaultKind::Network if !is_link_down(f) => f.params.toxic.as_ref()?.kind.name(),
        _ => return None,
    };
    let proxy = match stack.link(&f.target) {
        Some(p) if p.name != f.target => format!("{} (the link to {})", p.name, f.target),
        _ => f.target.clone(),
    };
    Some(format!(
        "Toxiproxy's proxy {proxy} read back carrying the {toxic} toxic"
    ))
}

/// A network fault that cuts the link (`toxic: down`).
fn is_link_down(f: &PlannedFault) -> bool {
    f.params
        .toxic
        .as_ref()
        .is_some_and(|t| t.kind == crate::scenario::ToxicKind::Down)
}

/// A link cut is in force at the first refused connection to the proxy's
/// address, probed from outside.
async fn verified_link_down(
    stack: &Stack,
    f: &PlannedFault,
    r: &mut FaultRecord,
) -> anyhow::Result<()> {
    let Some(addr) = stack.link(&f.target).map(|p| p.listen.clone()) else {
        anyhow::bail!("no Toxiproxy link to {} to probe", f.target);
    };
    let (at, how) = probe::first_down(&addr, false)
        .await
        .map_err(|e| anyhow::anyhow!("not verified down: {e}"))?;
    r.took_effect_at = Some(at);
    r.evidence = Some(how);
    Ok(())
}

/// How the harness's receiver misbehaves under a receiver fault.
pub fn receiver_fault(f: &PlannedFault) -> Option<ReceiverFault> {
    match f.kind {
        FaultKind::ReceiverFailing if f.params.freeze => Some(ReceiverFault::NoAnswer),
        FaultKind::ReceiverFailing => Some(ReceiverFault::Error {
            status: f.params.status.unwrap_or(500),
        }),
        FaultKind::ReceiverSlow => Some(ReceiverFault::Slow {
            delay: f.params.latency.unwrap_or_default(),
        }),
        _ => None,
    }
}

/// Set (or clear) a receiver fault and read the switch back: the read-back
/// is the evidence, as Toxiproxy's is for a toxic.
fn switch_receiver(stack: &Stack, f: &PlannedFault, on: bool) -> anyhow::Result<String> {
    let want = if on { receiver_fault(f) } else { None };
    stack
        .receiver_switch
        .set(&f.target, want)
        .map_err(|e| anyhow::anyhow!(e))?;
    match stack.receiver_switch.get(&f.target) {
        got if got == want => Ok(match got {
            Some(how) => format!("the harness's {} receiver read back {how}", f.target),
            None => format!(
                "the harness's {} receiver read back answering normally",
                f.target
            ),
        }),
        got => anyhow::bail!("the {} receiver read back {got:?}, not {want:?}", f.target),
    }
}

/// The mock knobs a knob-driven fault sets.
pub fn knobs(f: &PlannedFault) -> Option<Knobs> {
    let p = &f.params;
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64).unwrap_or(0);
    match f.kind {
        FaultKind::HighLatency => Some(Knobs {
            latency: Some(Latency {
                fixed_ms: ms(p.latency),
                jitter_ms: ms(p.jitter),
                endpoint: p.endpoint.clone(),
            }),
            ..Knobs::default()
        }),
        FaultKind::ErrorRate => Some(Knobs {
            error_rate: Some(ErrorRate {
                ratio: p.ratio.unwrap_or(0.0),
                status: p.status.unwrap_or(500),
                endpoint: p.endpoint.clone(),
            }),
            ..Knobs::default()
        }),
        FaultKind::CacheDegradation => Some(Knobs {
            cache_miss_ratio: p.ratio,
            ..Knobs::default()
        }),
        FaultKind::MemoryPressure => Some(Knobs {
            memory_ballast_mb: Some(
                (p.fill_to.unwrap_or(0.9)
                    * crate::stack::components::mocks::MOCK_MEMORY_LIMIT_MB as f64)
                    .ceil() as u64,
            ),
            ..Knobs::default()
        }),
        FaultKind::ServiceDown
        | FaultKind::DatabaseDown
        | FaultKind::DiskPressure
        | FaultKind::Exec
        | FaultKind::Network
        | FaultKind::ReceiverFailing
        | FaultKind::ReceiverSlow
        | FaultKind::AlertmanagerDown
        | FaultKind::AlertmanagerRestart
        | FaultKind::PrometheusToAlertmanagerCut
        | FaultKind::RuleEvaluationFailing
        | FaultKind::TracingBackendDown => None,
    }
}

/// The toxic that cuts Prometheus from Alertmanager: their Toxiproxy
/// link refuses connections.
pub fn alerting_cut() -> crate::scenario::Toxic {
    crate::scenario::Toxic {
        kind: crate::scenario::ToxicKind::Down,
        ..Default::default()
    }
}

pub fn record_for(f: &PlannedFault) -> FaultRecord {
    FaultRecord {
        name: f.name.clone(),
        kind: f.kind,
        target: f.target.clone(),
        planned_at: f.at,
        requested_at: None,
        took_effect_at: None,
        revert_requested_at: None,
        reverted_at: None,
        reverted_by: None,
        error: None,
        evidence: None,
        trial: None,
        outage: false,
    }
}

pub async fn inject(stack: &mut Stack, f: &PlannedFault, r: &mut FaultRecord) {
    r.requested_at = Some(Utc::now());
    let result = match (f.kind, knobs(f)) {
        (FaultKind::ServiceDown, _) if f.params.freeze => stack.freeze_service(&f.target).await,
        (FaultKind::HighLatency, _) if f.target == "postgresql" => {
            stack
                .set_latency(
                    &f.target,
                    f.params.latency.unwrap_or_default(),
                    f.params.jitter.unwrap_or_default(),
                )
                .await
        }
        (FaultKind::Network, _) => match &f.params.toxic {
            Some(t) => stack.network(&f.target, t, true).await,
            None => Err(anyhow::anyhow!("a network fault without its toxic")),
        },
        (FaultKind::ServiceDown, _) => stack.kill_service(&f.target).await,
        (FaultKind::DiskPressure, _) => {
            let want = f.params.fill_to.unwrap_or(0.9);
            stack.fill_disk(want).and_then(|got| {
                if got + 0.02 >= want {
                    tracing::info!("fault {}: the disk is {:.0}% full", f.name, got * 100.0);
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "filled to {:.1}%, not the {:.1}% asked for",
                        got * 100.0,
                        want * 100.0
                    ))
                }
            })
        }
        (FaultKind::DatabaseDown | FaultKind::AlertmanagerRestart, _) => {
            stack.stop_service(&f.target).await
        }
        (FaultKind::AlertmanagerDown | FaultKind::TracingBackendDown, _) => {
            stack.kill_service(&f.target).await
        }
        (FaultKind::RuleEvaluationFailing, _) => stack
            .rule_failing(true)
            .await
            .map(|how| r.evidence = Some(how)),
        (FaultKind::PrometheusToAlertmanagerCut, _) => {
            stack.network(&f.target, &alerting_cut(), true).await
        }
        (FaultKind::ReceiverFailing | FaultKind::ReceiverSlow, _) => {
            switch_receiver(stack, f, true).map(|how| r.evidence = Some(how))
        }
        (FaultKind::Exec, _) => Err(anyhow::anyhow!(
            "an exec fault runs only from a scenario, which gives its commands"
        )),
        (_, Some(k)) => stack.set_knobs(&f.target, &k).await,
        (_, None) => Err(anyhow::anyhow!("{} has no knobs", f.kind.name())),
    };
    if result.is_ok() {
        r.evidence = r.evidence.take().or_else(|| link_evidence(stack, f));
    }
    let result = match (result, f.kind) {
        (
            Ok(()),
            FaultKind::ServiceDown
            | FaultKind::DatabaseDown
            | FaultKind::AlertmanagerDown
            | FaultKind::AlertmanagerRestart
            | FaultKind::TracingBackendDown,
        ) => verified_down(stack, f, r).await,
        (Ok(()), FaultKind::Network) if is_link_down(f) => verified_link_down(stack, f, r).await,
        (Ok(()), FaultKind::PrometheusToAlertmanagerCut) => verified_link_down(stack, f, r).await,
        (other, _) => other,
    };
    match result {
        Ok(()) => {
            r.took_effect_at.get_or_insert_with(Utc::now);
            tracing::info!("fault {} took effect", f.name);
            match f.kind {
                FaultKind::ServiceDown
                | FaultKind::DatabaseDown
                | FaultKind::AlertmanagerDown
                | FaultKind::AlertmanagerRestart
                | FaultKind::TracingBackendDown => {
                    tracing::info!("fault {}: {} is down", f.name, f.target)
                }
                FaultKind::PrometheusToAlertmanagerCut => {
                    tracing::info!("fault {}: Prometheus cannot reach {}", f.name, f.target)
                }
                FaultKind::RuleEvaluationFailing => {
                    tracing::info!("fault {}: a rule of {} fails to evaluate", f.name, f.target)
                }
                FaultKind::Network => {
                    tracing::info!(
                        "fault {}: the link to {} carries the toxic",
                        f.name,
                        f.target
                    )
                }
                FaultKind::ReceiverFailing | FaultKind::ReceiverSlow => {
                    tracing::info!("fault {}: the {} receiver misbehaves", f.name, f.target)
                }
                _ => tracing::info!("fault {}: {} knobs set", f.name, f.target),
            }
        }
        Err(e) => {
            tracing::error!("fault {}: could not inject: {e:#}", f.name);
            r.error = Some(format!("could not inject: {e:#}"));
        }
    }
}

/// Probe the stopped target from outside and take the first moment it was
/// seen down as the moment the fault took effect.
async fn verified_down(stack: &Stack, f: &PlannedFault, r: &mut FaultRecord) -> anyhow::Result<()> {
    let url = stack.services.get(&f.target).cloned().or_else(|| {
        stack
            .components
            .iter()
            .find(|c| c.name == f.target)
            .map(|c| c.url.clone())
    });
    let Some(addr) = url.as_deref().and_then(probe::address) else {
        r.evidence = Some(format!(
            "no address known for {}: taken as in force when the stop returned",
            f.target
        ));
        return Ok(());
    };
    let frozen = f.kind == FaultKind::ServiceDown && f.params.freeze;
    let (at, how) = probe::first_down(&addr, frozen)
        .await
        .map_err(|e| anyhow::anyhow!("not verified down: {e}"))?;
    r.took_effect_at = Some(at);
    r.evidence = Some(how);
    Ok(())
}

pub async fn revert(stack: &mut Stack, f: &PlannedFault, r: &mut FaultRecord) {
    r.revert_requested_at = Some(Utc::now());
    let result = match f.kind {
        FaultKind::ServiceDown if f.params.freeze => stack.thaw_service(&f.target).await,
        FaultKind::HighLatency if f.target == "postgresql" => {
            stack
                .set_latency(
                    &f.target,
                    std::time::Duration::ZERO,
                    std::time::Duration::ZERO,
                )
                .await
        }
        FaultKind::Network => match &f.params.toxic {
            Some(t) => stack.network(&f.target, t, false).await,
            None => Err(anyhow::anyhow!("a network fault without its toxic")),
        },
        FaultKind::ServiceDown
        | FaultKind::DatabaseDown
        | FaultKind::AlertmanagerDown
        | FaultKind::AlertmanagerRestart
        | FaultKind::TracingBackendDown => stack.restart_service(&f.target).await,
        FaultKind::PrometheusToAlertmanagerCut => {
            stack.network(&f.target, &alerting_cut(), false).await
        }
        FaultKind::RuleEvaluationFailing => stack.rule_failing(false).await.map(|_| ()),
        FaultKind::ReceiverFailing | FaultKind::ReceiverSlow => {
            switch_receiver(stack, f, false).map(|_| ())
        }
        FaultKind::DiskPressure => stack.drain_disk().and_then(|level| {
            if level < 0.05 {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "the disk is still {:.1}% full after removing the fill",
                    level * 100.0
                ))
            }
        }),
        _ => stack.set_knobs(&f.target, &Knobs::default()).await,
    };
    match result {
        Ok(()) => {
            r.reverted_at = Some(Utc::now());
            r.reverted_by = Some(
                match f.kind {
                    FaultKind::DiskPressure => "fill removed",
                    FaultKind::ServiceDown if f.params.freeze => "resumed (SIGCONT)",
                    FaultKind::HighLatency if f.target == "postgresql" => "toxic removed",
                    FaultKind::Network => "toxic removed",
                    FaultKind::PrometheusToAlertmanagerCut => "link restored",
                    FaultKind::RuleEvaluationFailing => "failing rule removed",
                    FaultKind::ReceiverFailing | FaultKind::ReceiverSlow => {
                        "receiver answering again"
                    }
                    _ if knobs(f).is_some() => "knobs cleared",
                    _ => "restarted",
                }
                .into(),
            );
            tracing::info!("fault {}: {} is back to normal", f.name, f.target);
        }
        Err(e) => {
            tracing::error!("fault {}: could not revert: {e:#}", f.name);
            r.error = Some(format!("could not revert: {e:#}"));
        }
    }
}
