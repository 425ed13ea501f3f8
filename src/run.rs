//! One scenario, end to end:
//! parse+validate → plan → provision → execute (load ║ faults ║ observe)
//! → teardown (always) → evaluate → result.
//!
//! An SLO violation is a result, not an error. Errors are only
//! [`RunError::Input`] (exit 2) and [`RunError::CouldNotRun`] (exit 3).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::fault;
use crate::input::{Diagnostics, Located, Pos};
use crate::load::{self, LoadOptions};
use crate::observe::alerts::AlertWatch;
use crate::observe::receiver::{NotificationStatus, Receivers};
use crate::report::model::{RunResult, SCHEMA_VERSION, ScenarioInfo, StackInfo};
use crate::scenario::plan::{self, Plan, scale};
use crate::scenario::{self, ProviderChoice, Scenario};
use crate::slo::{self, SloSpec, check};
use crate::stack::{self, Provider, Stack, StackFiles, StackOptions};

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
    pub provider: Option<ProviderChoice>,
    /// Where run directories go (default `reports/`).
    pub out: Option<PathBuf>,
    /// The `zeta-bench` executable, to run mock services.
    pub self_exe: Option<PathBuf>,
    /// Print progress lines during load.
    pub progress: bool,
    /// An earlier result to compare with, and the tolerances.
    pub baseline: Option<(RunResult, crate::report::baseline::Tolerances)>,
}

/// Everything a run needs that comes from files, validated.
pub struct Inputs {
    pub scenario: Scenario,
    pub slo: SloSpec,
    pub files: StackFiles,
    pub plan: Plan,
}

/// Read and cross-check a scenario with its SLO and stack files. Every
/// problem in every file is collected before returning.
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

pub async fn run(
    path: &Path,
    opts: &RunOptions,
    cancel: CancellationToken,
) -> Result<RunResult, RunError> {
    let inputs = load_inputs(path, opts.time_scale).map_err(RunError::Input)?;
    let choice = opts.provider.unwrap_or(inputs.scenario.stack.provider);
    let decision = stack::choose_provider(choice)
        .await
        .map_err(|e| RunError::CouldNotRun(anyhow::anyhow!(e)))?;
    let mut d = Diagnostics::default();
    if decision.name == Provider::External {
        // `--provider external` over a scenario written for another
        // provider: the same check the decoder makes.
        for f in &inputs.scenario.faults {
            if !f.kind.is_knob(&f.target.value) {
                d.push(
                    &inputs.scenario.file,
                    f.target.pos,
                    &f.target.field,
                    format!(
                        "the external provider cannot inject {} on {:?}: it only sets the mock services' fault knobs",
                        f.kind.name(),
                        f.target.value
                    ),
                );
            }
        }
    } else {
        // A fault this machine cannot carry out is refused at its line,
        // before anything starts.
        for f in &inputs.scenario.faults {
            let target = if f.kind == crate::scenario::FaultKind::DiskPressure {
                "disk"
            } else {
                f.target.value.as_str()
            };
            if let Err(why) = stack::native::can_fault(target, decision.name == Provider::Docker) {
                d.push(
                    &inputs.scenario.file,
                    f.target.pos,
                    &f.target.field,
                    format!(
                        "{} on {:?} cannot run here: {why}",
                        f.kind.name(),
                        f.target.value
                    ),
                );
            }
        }
    }
    if !d.is_empty() {
        return Err(RunError::Input(d));
    }
    execute(inputs, decision, opts, cancel)
        .await
        .map_err(RunError::CouldNotRun)
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
    let dir = base.join(format!(
        "{safe}-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the run directory {}", dir.display()))?;
    Ok(dir)
}

async fn execute(
    inputs: Inputs,
    decision: stack::ProviderDecision,
    opts: &RunOptions,
    cancel: CancellationToken,
) -> anyhow::Result<RunResult> {
    let Inputs {
        scenario,
        slo,
        files,
        plan,
    } = inputs;
    let k = plan.time_scale;
    let started_at = Utc::now();
    let dir = run_dir(opts, &scenario.name)?;
    let self_exe = match &opts.self_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding the zeta-bench executable")?,
    };
    tracing::info!("run directory {}", dir.display());

    // Receivers first: the rendered Alertmanager config points at them.
    let receivers = Receivers::new(files.rules.iter().map(|r| r.name.clone()).collect());
    let observers = cancel.child_token();
    let (receiver_base, receiver_task) = match &scenario.stack.receivers {
        Some(addr) => receivers.serve_on(addr.value, observers.clone()).await,
        None => receivers.serve(observers.clone()).await,
    }
    .context("starting the notification receivers")?;
    // An Alertmanager the harness did not configure notifies the harness
    // only when pointed at a fixed receiver address.
    let notifications_unobserved = (decision.name == Provider::External
        && scenario.stack.receivers.is_none())
    .then(|| {
        "the external Alertmanager's notifications are not observed: set stack.receivers (e.g. 127.0.0.1:9095) and point its receivers' URLs there (/slack/<channel>, /pagerduty, /webhook/<name>)".to_string()
    });

    let trace_sink = crate::observe::traces::TraceSink::default();
    let (otlp_endpoint, trace_task) = trace_sink
        .serve(observers.clone())
        .await
        .context("starting the OTLP trace receiver")?;

    tracing::info!("provider {}: {}", decision.name, decision.reason);
    let mut stack = Stack::start(
        decision.clone(),
        StackOptions {
            files: files.clone(),
            time_scale: k,
            run_dir: dir.clone(),
            self_exe,
            receiver_base,
            otlp_endpoint: Some(otlp_endpoint),
            disk: plan
                .faults
                .iter()
                .any(|f| f.kind == crate::scenario::FaultKind::DiskPressure),
            stack_ref: Some(scenario.stack.clone()),
        },
        &cancel,
    )
    .await?;
    tracing::info!(
        "stack up: prometheus {} alertmanager {}",
        stack.prometheus_url,
        stack.alertmanager_url
    );

    let watch = AlertWatch::default();
    let eval = scale(files.evaluation_interval(), k);
    let poll = (eval / 4).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let http = reqwest::Client::builder().no_proxy().build()?;
    let watch_task = tokio::spawn(watch.clone().run(
        http,
        stack.prometheus.clone(),
        poll,
        observers.clone(),
    ));

    // Alertmanager's view: which alerts an inhibition rule silenced.
    let inhibits = crate::observe::inhibitions::InhibitWatch::default();
    let inhibit_task = tokio::spawn(inhibits.clone().run(
        crate::http::endpoint::Endpoint::new(&stack.alertmanager_url),
        poll,
        observers.clone(),
    ));

    // Dashboards, loaded during the load as a person would open them.
    let probe = dashboard_probe(&files, &stack)
        .map_err(|e| tracing::warn!("dashboard queries will not be measured: {e:#}"))
        .ok()
        .map(std::sync::Arc::new);
    let probe_task = probe.clone().map(|p| {
        let first = (plan.load_end / 4).max(Duration::from_secs(2));
        let every = (plan.load_end / 8).max(Duration::from_secs(2));
        tokio::spawn(p.run(first, every, observers.clone()))
    });

    // Log search, where Loki runs: the SLO file's queries, timed under load.
    let log_search = match (&stack.loki, &slo.log_search) {
        (Some(ep), Some(l)) => {
            let loki = crate::observe::loki::Loki::new(ep.clone(), l.max * 4)
                .map_err(anyhow::Error::msg)?;
            Some(std::sync::Arc::new(
                crate::observe::logsearch::LogSearch::new(loki, &l.queries),
            ))
        }
        _ => None,
    };
    let log_task = log_search.clone().map(|s| {
        let first = (plan.load_end / 4).max(Duration::from_secs(2));
        let every = (plan.load_end / 8).max(Duration::from_secs(2));
        tokio::spawn(s.run(first, every, observers.clone()))
    });

    let target = stack
        .services
        .get("backend-api")
        .cloned()
        .context("the stack has no backend-api to send load to")?;
    let start = tokio::time::Instant::now();
    let drill_task = opts.progress.then(|| {
        let drill = crate::observe::drill::Drill {
            plan: plan.clone(),
            expected: scenario
                .expect
                .alerts
                .iter()
                .map(|a| (a.fault.clone(), a.name.clone()))
                .collect(),
            watch: watch.clone(),
            receivers: receivers.clone(),
            log: dir.join("drill.log"),
            // Every 5 s of wall time, at most every 30 s of real time.
            every: Duration::from_secs_f64((30.0 / plan.time_scale).clamp(2.0, 5.0)),
        };
        tokio::spawn(drill.run(start, observers.clone()))
    });
    let load_opts = LoadOptions {
        base_url: target,
        plan: &plan,
        mix: &scenario.load.mix,
        tenants: &scenario.tenants,
        max_in_flight: scenario.load.max_in_flight,
        timeout: scenario.load.timeout,
        trace_cap: 1_000,
        // The drill view reports progress.
        progress: None,
        shard: None,
        keep_raw: false,
    };
    let (load_report, faults) = tokio::join!(
        load::run(load_opts, start, cancel.clone()),
        fault::run(&mut stack, &plan, start, cancel.clone())
    );
    let mut notes: Vec<String> = stack
        .not_started
        .iter()
        .map(|n| format!("not started: {n}"))
        .collect();
    let load_report = match load_report {
        Ok(r) => Some(r),
        Err(e) => {
            notes.push(format!("load engine failed: {e:#}"));
            None
        }
    };

    // Let resolutions arrive: after the last revert, Prometheus needs a
    // scrape and an evaluation, Alertmanager up to a group_interval.
    if !cancel.is_cancelled() {
        let (_, group_interval) = files.root_route_timers();
        let bound = scale(
            files.scrape_interval()
                + files.evaluation_interval() * 2
                + group_interval
                + stack::files::defaults::RESEND_DELAY,
            k,
        ) + Duration::from_secs(5);
        // A rule pending now fires once its (scaled) `for` has elapsed, at
        // the next evaluation: the verdict waits for that too.
        let eval = scale(files.evaluation_interval(), k);
        let fires_after: std::collections::BTreeMap<String, Duration> = files
            .rules
            .iter()
            .map(|r| (r.name.clone(), scale(r.for_, k) + eval))
            .collect();
        let fires_at = |t: &crate::observe::alerts::AlertTimeline| {
            let after = fires_after.get(&t.name)?;
            Some(t.active_at? + chrono::Duration::from_std(*after).ok()?)
        };
        if let Err(waited) = drain(&receivers, &watch, bound, fires_at, &cancel).await {
            notes.push(waited);
        }
    }

    // Spans are exported in batches every 500 ms.
    if !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    observers.cancel();
    let _ = watch_task.await;
    let _ = inhibit_task.await;
    let _ = receiver_task.await;
    let _ = trace_task.await;
    if let Some(t) = probe_task {
        let _ = t.await;
    }
    if let Some(t) = log_task {
        let _ = t.await;
    }
    if let Some(t) = drill_task {
        let _ = t.await;
    }
    let dashboards = probe.map(|p| p.report());
    let samples = load_report
        .as_ref()
        .map(|l| l.trace_samples.as_slice())
        .unwrap_or(&[]);
    let kills: Vec<f64> = match load_report.as_ref().and_then(|l| l.started_at) {
        Some(start) => faults
            .iter()
            .filter(|f| f.kind == crate::scenario::FaultKind::ServiceDown)
            .filter_map(|f| f.took_effect_at)
            .map(|t| (t - start).num_milliseconds() as f64 / 1000.0)
            .collect(),
        None => Vec::new(),
    };
    // Traces: Jaeger where the stack has it; the harness's own receiver
    // where the harness started the services; otherwise not measured.
    let traces = match &stack.jaeger {
        Some(ep) if !cancel.is_cancelled() => {
            match crate::observe::jaeger::Jaeger::detect(ep.clone(), Duration::from_secs(10)).await
            {
                Ok(j) => Some(
                    crate::observe::traces::look_up_in_jaeger(
                        &j,
                        samples,
                        &kills,
                        JAEGER_FLUSH_WAIT,
                    )
                    .await,
                ),
                Err(e) => {
                    notes.push(format!("trace coverage: {e}"));
                    Some(crate::observe::traces::TraceReport {
                        store: format!("Jaeger {}", ep.display()),
                        lookup_errors: 1,
                        lookup_error_examples: vec![e],
                        ..Default::default()
                    })
                }
            }
        }
        Some(_) => None,
        None if stack.provider.name == Provider::External => None,
        None => Some(trace_sink.coverage(samples, &kills)),
    };
    let service_logs = dir.join(crate::stack::native::SERVICE_LOGS);
    let mut logs = crate::observe::logs::check_files(&service_logs, samples);
    if let Some(s) = &log_search {
        if !cancel.is_cancelled() {
            s.completeness(&service_logs, started_at, LOKI_FLUSH_WAIT)
                .await;
        }
        logs.search = Some(s.report());
    }
    let teardown_notes = stack.teardown().await;
    notes.extend(teardown_notes);
    let interrupted = cancel.is_cancelled();
    if interrupted {
        notes.push("the run was interrupted; this result is partial".into());
    }
    let (polls, poll_errors) = watch.poll_stats();
    if !poll_errors.is_empty() {
        notes.push(format!(
            "{} of {polls} polls of Prometheus' alerts failed; first: {}",
            poll_errors.len(),
            poll_errors[0]
        ));
    }

    let (am_polls, am_errors) = inhibits.poll_stats();
    if !am_errors.is_empty() {
        notes.push(format!(
            "{} of {am_polls} polls of Alertmanager's alerts failed; first: {}",
            am_errors.len(),
            am_errors[0]
        ));
    }
    // Inhibitions are known only if some poll succeeded.
    let held = inhibits.held();
    let held = (am_polls as usize > am_errors.len()).then_some(held.as_slice());
    let alerts = watch.timelines();
    let notifications = receivers.notifications();
    let mut unmeasured = unmeasured_reasons(&stack);
    if let Some(why) = &notifications_unobserved {
        unmeasured.push(("notifications".into(), why.clone()));
    }
    let verdicts = check::evaluate(&check::Evidence {
        slo: &slo,
        expect: &scenario.expect,
        files: &files,
        time_scale: k,
        faults: &faults,
        alerts: &alerts,
        notifications: &notifications,
        unmeasured: &unmeasured,
        dashboards: dashboards.as_ref(),
        traces: traces.as_ref(),
        logs: Some(&logs),
        held,
    });
    let verdict = RunResult::judge(&verdicts.slos, interrupted);
    let result = RunResult {
        schema_version: SCHEMA_VERSION,
        zeta_bench_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            file: scenario.file.display().to_string(),
        },
        started_at,
        finished_at: Utc::now(),
        time_scale: k,
        provider: decision,
        components: stack.components.clone(),
        stack: StackInfo {
            dir: files.dir.display().to_string(),
            git_revision: git_revision(&files.dir),
            scrape_targets: stack.rendered.scrape_targets.clone(),
            dropped_targets: stack.rendered.dropped_targets.clone(),
            unobserved_integrations: stack.rendered.unobserved_integrations.clone(),
        },
        faults,
        alerts,
        alert_poll_interval_s: poll.as_secs_f64(),
        notifications,
        detections: verdicts.detections,
        routing: verdicts.routing,
        load: load_report,
        dashboards,
        traces,
        logs: Some(logs),
        slos: verdicts.slos,
        verdict,
        notes,
        run_dir: dir.display().to_string(),
    };
    let mut result = result;
    if let Some((base, tol)) = &opts.baseline {
        crate::report::baseline::apply(&mut result, base, *tol);
    }
    let json = serde_json::to_string_pretty(&result)?;
    std::fs::write(dir.join("result.json"), json).context("writing result.json")?;
    crate::report::write_all(&result, &dir)?;
    Ok(result)
}

/// Wait until no alert is active in Prometheus and every destination that
/// got a firing notification also got a resolved one, or until `bound`.
async fn drain(
    receivers: &Receivers,
    watch: &AlertWatch,
    bound: Duration,
    fires_at: impl Fn(&crate::observe::alerts::AlertTimeline) -> Option<DateTime<Utc>>,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + bound;
    let deadline_utc = Utc::now() + chrono::Duration::from_std(bound).unwrap_or_default();
    loop {
        // Alerts that fired and have not resolved, and pending ones whose
        // `for` ends within the wait: judging before they fire would miss
        // a notification that is on its way. Pending ones that cannot fire
        // in time are not waited for.
        let now = Utc::now();
        let open: Vec<String> = watch
            .timelines()
            .into_iter()
            .filter(|t| t.gone_at.is_none())
            .filter(|t| {
                t.first_seen_firing.is_some()
                    || fires_at(t).is_some_and(|at| at <= deadline_utc && now <= at + SLACK)
            })
            .map(|t| t.name)
            .collect();
        let ns = receivers.notifications();
        let unresolved: Vec<String> = ns
            .iter()
            .filter(|n| n.status == NotificationStatus::Firing)
            .flat_map(|f| f.alerts.iter().map(move |a| (a, &f.destination, f.at)))
            .filter(|(a, d, at)| {
                !ns.iter().any(|r| {
                    r.status == NotificationStatus::Resolved
                        && r.destination == **d
                        && r.at >= *at
                        && r.alerts.contains(a)
                })
            })
            .map(|(a, d, _)| format!("{a} at {d}"))
            .collect();
        if open.is_empty() && unresolved.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline || cancel.is_cancelled() {
            return Err(format!(
                "stopped waiting after {:.0?} for alerts to resolve: still firing in Prometheus: [{}]; no resolved notification yet: [{}]",
                bound,
                open.join(", "),
                unresolved.join(", ")
            ));
        }
        tokio::select! {
            _ = receivers.arrived() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

/// How long past its expected firing time a pending alert is still waited
/// for (polls and evaluation jitter).
const SLACK: chrono::Duration = chrono::Duration::seconds(2);

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

fn dashboard_probe(
    files: &StackFiles,
    stack: &Stack,
) -> anyhow::Result<crate::observe::dashboards::Probe> {
    use crate::stack::lint::{DATASOURCES_FILE, load_dashboards};
    let sources =
        crate::stack::grafana::provisioning::load_datasources(&files.dir.join(DATASOURCES_FILE))?;
    let dashboards = load_dashboards(&files.dir)?;
    let scrape = sources
        .iter()
        .find(|s| s.kind == "prometheus")
        .and_then(|s| s.time_interval())
        .unwrap_or(crate::stack::grafana::vars::DEFAULT_SCRAPE);
    let mut running: std::collections::BTreeSet<String> =
        stack.components.iter().map(|c| c.name.clone()).collect();
    running.insert("prometheus".into());
    crate::observe::dashboards::Probe::new(
        &dashboards,
        &sources,
        match &stack.grafana {
            Some(g) => crate::observe::dashboards::Via::Grafana(
                crate::observe::grafana::Grafana::new(g.clone(), Duration::from_secs(30))
                    .map_err(anyhow::Error::msg)?,
            ),
            None => crate::observe::dashboards::Via::Prometheus(stack.prometheus.clone()),
        },
        scrape,
        &running,
    )
}

/// How long Jaeger gets to store the spans of the last requests.
const JAEGER_FLUSH_WAIT: Duration = Duration::from_secs(10);
/// How long Loki gets to ingest the last lines the services wrote.
const LOKI_FLUSH_WAIT: Duration = Duration::from_secs(15);

/// Why the SLOs that need Grafana, Loki or Jaeger are not measured, for
/// those this stack does not have, as the provider recorded it.
fn unmeasured_reasons(stack: &Stack) -> Vec<(String, String)> {
    let why = |component: &str, what: &str| {
        stack
            .absent
            .get(component)
            .map(|reason| format!("{reason}; {what}"))
    };
    let mut out = Vec::new();
    if stack.grafana.is_none() {
        if let Some(w) = why("grafana", "dashboard queries were not run through Grafana") {
            out.push(("dashboard_latency".into(), w));
        }
    }
    if stack.loki.is_none() {
        if let Some(w) = why("loki", "no log search was timed") {
            out.push(("log_search".into(), w));
        }
    }
    if stack.jaeger.is_none() && stack.provider.name == Provider::External {
        if let Some(w) = why(
            "jaeger",
            "its services export traces elsewhere, so no trace was looked up",
        ) {
            out.push(("trace_coverage".into(), w));
        }
    }
    out
}
