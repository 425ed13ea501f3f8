//! Evidence collection while the load and the faults run: Prometheus'
//! alerts, Alertmanager's inhibitions, dashboard loads, log searches and
//! the live drill view, each a task under the session's `observers` token.
//! [`Observers::start`] spawns them; [`Observers::finish`] joins them and
//! gathers what they saw, the trace and log lookups that come after the
//! load, and the poll failures as notes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::fault::FaultRecord;
use crate::load::LoadReport;
use crate::observe::alertmanager::failures;
use crate::observe::alertmanager::inhibitions::{HeldAlert, InhibitWatch};
use crate::observe::alertmanager::receiver::Notification;
use crate::observe::grafana::dashboards::{DashboardReport, Probe, Via};
use crate::observe::jaeger::traces::{
    KILL_WINDOW_S, LossWindow, Losses, TraceReport, kept_from, kill_window,
};
use crate::observe::loki::logs::LogReport;
use crate::observe::loki::logsearch::LogSearch;
use crate::observe::prometheus::alerts::{AlertTimeline, AlertWatch};
use crate::observe::prometheus::liveness::{FaultWindow, Liveness, UpWatch};
use crate::scenario::FaultKind;
use crate::scenario::plan::scale;
use crate::stack::{Provider, Stack};

use super::Inputs;
use super::session::Session;

/// How long Jaeger gets to store the spans of the last requests.
const JAEGER_FLUSH_WAIT: Duration = Duration::from_secs(10);
/// How long Loki gets to ingest the last lines the services wrote.
const LOKI_FLUSH_WAIT: Duration = Duration::from_secs(15);

pub(super) struct Observers {
    pub watch: AlertWatch,
    pub poll: Duration,
    inhibits: InhibitWatch,
    up: UpWatch,
    /// Outages shorter than this are one slow scrape, not a dying component.
    min_down: Duration,
    probe: Option<Arc<Probe>>,
    log_search: Option<Arc<LogSearch>>,
    tasks: Vec<JoinHandle<()>>,
    /// Alertmanager's failure counter before the load.
    am_failed_before: JoinHandle<Result<failures::Counters, String>>,
    /// The most traces the stack's Jaeger keeps, where the harness
    /// configured it (not on an external stack).
    trace_capacity: Option<u64>,
}

/// What the observers saw, ready for the verdict.
pub(super) struct Collected {
    /// When the receivers stopped listening: the end of what the run saw
    /// arrive.
    pub observed_until: DateTime<Utc>,
    pub alerts: Vec<AlertTimeline>,
    pub notifications: Vec<Notification>,
    /// Alertmanager's inhibitions, when some poll of it succeeded.
    pub held: Option<Vec<HeldAlert>>,
    pub dashboards: Option<DashboardReport>,
    pub traces: Option<TraceReport>,
    pub logs: LogReport,
    /// Rules Prometheus could not evaluate (`/api/v1/rules`).
    pub rule_errors: Vec<String>,
    /// Notifications Alertmanager itself reported failing.
    pub delivery_failures: Vec<String>,
    /// Requests Alertmanager reported failing, retried or not.
    pub request_failures: Vec<String>,
    /// Components that stopped answering mid-run with no fault to explain
    /// it: the run is incomplete.
    pub stack_failures: Vec<crate::observe::prometheus::liveness::StackFailure>,
    pub notes: Vec<String>,
    /// Prometheus' alerts were polled this often (wall time).
    pub poll_interval: Duration,
    /// How late those polls came, minute by minute.
    pub poll_lateness: Vec<crate::observe::prometheus::alerts::PollMinute>,
    /// Attempts the harness's receivers turned away, held or delayed under
    /// a receiver fault.
    pub receiver_attempts: Vec<crate::observe::alertmanager::receiver::Attempt>,
}

impl Observers {
    pub(super) fn start(
        inputs: &Inputs,
        session: &Session,
        dir: &Path,
        start: tokio::time::Instant,
        progress: bool,
    ) -> anyhow::Result<Observers> {
        let (files, plan, stack) = (&inputs.files, &inputs.plan, &session.stack);
        let observers = &session.observers;
        let eval = scale(files.evaluation_interval(), plan.time_scale);
        let poll = (eval / 4).clamp(Duration::from_millis(200), Duration::from_secs(2));
        let watch = AlertWatch::default();
        let http = crate::http::tls::client_builder().no_proxy().build()?;
        let up = UpWatch::default();
        let mut tasks = vec![
            spawn_here(watch.clone().run(
                http.clone(),
                stack.prometheus.clone(),
                poll,
                observers.clone(),
            )),
            spawn_here(up.clone().run(
                http,
                stack.prometheus.clone(),
                poll.max(Duration::from_secs(1)),
                observers.clone(),
            )),
        ];
        let scrape = scale(files.scrape_interval(), plan.time_scale);
        let min_down = (scrape * 3).max(Duration::from_secs(5));
        let am = crate::http::Endpoint::new(&stack.alertmanager_url);
        let am_failed_before = spawn_here(async move { failures::snapshot(&am).await });
        // Alertmanager's view: which alerts an inhibition rule silenced.
        let inhibits = InhibitWatch::default();
        tasks.push(spawn_here(inhibits.clone().run(
            crate::http::Endpoint::new(&stack.alertmanager_url),
            poll,
            observers.clone(),
        )));
        // Dashboards and log searches, during the load as a person would.
        let first = (plan.load_end / 4).max(Duration::from_secs(2));
        let every = (plan.load_end / 8).max(Duration::from_secs(2));
        let probe = dashboard_probe(inputs, stack)
            .map_err(|e| tracing::warn!("dashboard queries will not be measured: {e:#}"))
            .ok()
            .map(Arc::new);
        if let Some(p) = &probe {
            tasks.push(spawn_here(p.clone().run(first, every, observers.clone())));
        }
        let log_search = log_search(inputs, stack)?;
        if let Some(s) = &log_search {
            tasks.push(spawn_here(s.clone().run(first, every, observers.clone())));
        }
        if progress {
            tasks.push(drill(inputs, session, &watch, dir, start));
        }
        Ok(Observers {
            watch,
            poll,
            inhibits,
            up,
            min_down,
            probe,
            log_search,
            tasks,
            am_failed_before,
            trace_capacity: (stack.jaeger.is_some() && stack.provider.name != Provider::External)
                .then(|| crate::stackfiles::jaeger::memory_max_traces(&files.dir)),
        })
    }

    /// Stop observing and gather the evidence. `samples` are the load's
    /// trace samples; `load_started` anchors the faults' loss windows for
    /// trace coverage.
    pub(super) async fn finish(
        self,
        session: &mut Session,
        load: Option<&LoadReport>,
        faults: &[FaultRecord],
        started_at: DateTime<Utc>,
        dir: &Path,
        cancel: &CancellationToken,
    ) -> Collected {
        // Alertmanager's failure counters and log as they stand while the
        // receivers still listen: what it fails to deliver once they stop
        // (the heartbeat goes on) is the harness's doing, not the stack's.
        let am_after = am_state(&session.stack).await;
        let observed_until = Utc::now();
        session.stop_listening().await;
        for t in self.tasks {
            let _ = t.await;
        }
        let mut notes = Vec::new();
        let rule_errors = if cancel.is_cancelled() {
            Vec::new()
        } else {
            crate::observe::prometheus::rules::check(&session.stack.prometheus).await
        };
        if let Some(p) = self.probe.as_ref().filter(|_| !cancel.is_cancelled()) {
            let start = started_at.timestamp_millis() as f64 / 1000.0;
            p.check_health(&session.stack.prometheus, start).await;
            if let Some(ep) = &session.stack.jaeger {
                match crate::observe::jaeger::api::Jaeger::detect(
                    ep.clone(),
                    Duration::from_secs(10),
                )
                .await
                {
                    Ok(j) => p.check_traces(&j).await,
                    Err(e) => tracing::warn!("Jaeger searches of the dashboards not checked: {e}"),
                }
            }
            let now = Utc::now().timestamp_millis() as f64 / 1000.0;
            p.check_truth(&session.stack.prometheus, now).await;
        }
        let samples = load.map(|l| l.trace_samples.as_slice()).unwrap_or(&[]);
        let losses = Losses {
            windows: loss_windows(load, faults),
            kept_from_s: self
                .trace_capacity
                .zip(load)
                .and_then(|(kept, l)| kept_from(&l.timeline, kept)),
        };
        let traces = traces(session, samples, &losses, cancel, &mut notes).await;
        let service_logs = dir.join(crate::stack::components::mocks::SERVICE_LOGS);
        let mut logs = crate::observe::loki::logs::check_files(
            &service_logs,
            samples,
            load.and_then(|l| l.started_at),
        );
        if let Some(s) = &self.log_search {
            if !cancel.is_cancelled() {
                s.completeness(&service_logs, started_at, LOKI_FLUSH_WAIT)
                    .await;
            }
            logs.search = Some(s.report());
        }
        notes.extend(poll_notes("Prometheus' alerts", self.watch.poll_stats()));
        let poll_lateness = self.watch.poll_lateness();
        notes.extend(late_polls(&poll_lateness, self.poll));
        let (attempts, beyond) = session.receivers.attempts();
        if beyond > 0 {
            notes.push(format!(
                "{beyond} more delivery attempts were turned away at the harness's receivers than the {} kept",
                attempts.len()
            ));
        }
        let (am_polls, am_errors) = self.inhibits.poll_stats();
        // Inhibitions are known only if some poll succeeded.
        let held = (am_polls as usize > am_errors.len()).then(|| self.inhibits.held());
        notes.extend(poll_notes("Alertmanager's alerts", (am_polls, am_errors)));
        let (delivery_failures, request_failures) =
            delivery_failures(self.am_failed_before, am_after, &mut notes).await;
        let external = session.stack.provider.name == Provider::External;
        let stack_failures = liveness(&self.up, self.min_down, faults, external, &mut notes);
        Collected {
            observed_until,
            delivery_failures,
            request_failures,
            stack_failures,
            alerts: self.watch.timelines(),
            notifications: session.receivers.notifications(),
            held,
            dashboards: self.probe.map(|p| p.report()),
            traces,
            logs,
            rule_errors,
            notes,
            poll_interval: self.poll,
            poll_lateness,
            receiver_attempts: attempts,
        }
    }
}

/// The outages the up watch saw that no fault explains. On an external
/// stack, targets already down at the start are the team's: a note.
fn liveness(
    up: &UpWatch,
    min_down: Duration,
    faults: &[FaultRecord],
    external: bool,
    notes: &mut Vec<String>,
) -> Vec<crate::observe::prometheus::liveness::StackFailure> {
    let outages = up.outages();
    let windows: Vec<FaultWindow> = faults
        .iter()
        .filter_map(|f| {
            Some(FaultWindow {
                target: f.target.clone(),
                from: f.requested_at.or(f.took_effect_at)?,
                to: f.reverted_at,
            })
        })
        .collect();
    let before = crate::observe::prometheus::liveness::already_down(&outages);
    if external && !before.is_empty() {
        notes.push(format!(
            "scrape targets already down when the run began, not counted against it: {}",
            before.join(", ")
        ));
    }
    crate::observe::prometheus::liveness::failures(
        &outages,
        &Liveness {
            min_down,
            recovery: min_down * 2,
            faults: &windows,
            ended: Utc::now(),
            count_already_down: !external,
        },
    )
}

/// Alertmanager's failure counters and the log it had written, at the end
/// of what is judged.
struct AmState {
    counters: Result<failures::Counters, String>,
    log: String,
}

async fn am_state(stack: &Stack) -> AmState {
    let am = crate::http::Endpoint::new(&stack.alertmanager_url);
    let counters = failures::snapshot(&am).await;
    let log = stack
        .components
        .iter()
        .find(|c| c.name == "alertmanager" && !c.log.is_empty())
        .and_then(|c| std::fs::read_to_string(&c.log).ok())
        .unwrap_or_default();
    AmState { counters, log }
}

/// Alertmanager's failed notifications during the run: the counter's rise
/// per integration, and the errors from its log where the harness has it;
/// then its failed requests (retried or not), per integration.
async fn delivery_failures(
    before: JoinHandle<Result<failures::Counters, String>>,
    after: AmState,
    notes: &mut Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let log = after.log;
    let (before, after) = match (before.await, after.counters) {
        (Ok(Ok(b)), Ok(a)) => (b, a),
        (Ok(Err(e)), _) | (_, Err(e)) => {
            notes.push(format!(
                "Alertmanager's failed-notification counter could not be read, so its own delivery failures are not checked: {e}"
            ));
            return (Vec::new(), Vec::new());
        }
        (Err(e), _) => {
            notes.push(format!("reading Alertmanager's counters: {e}"));
            return (Vec::new(), Vec::new());
        }
    };
    let requests = failures::request_rises(&before.1, &after.1);
    let (before, after) = (before.0, after.0);
    let mut out = failures::rises(&before, &after);
    if !out.is_empty() {
        out.extend(failures::log_errors(&log, 5));
    }
    (out, requests)
}

fn poll_notes(what: &str, (polls, errors): (u64, Vec<String>)) -> Option<String> {
    (!errors.is_empty()).then(|| {
        format!(
            "{} of {polls} polls of {what} failed; first: {}",
            errors.len(),
            errors[0]
        )
    })
}

/// A note when some poll of Prometheus' alerts came more than one poll
/// interval late: the first-seen times of that minute carry the delay.
fn late_polls(
    minutes: &[crate::observe::prometheus::alerts::PollMinute],
    every: Duration,
) -> Option<String> {
    let worst = minutes
        .iter()
        .max_by(|a, b| a.max_late_ms.total_cmp(&b.max_late_ms))?;
    (worst.max_late_ms > every.as_secs_f64() * 1000.0).then(|| {
        format!(
            "Prometheus' alerts were polled up to {:.1} s late (wall minute {}, every {:.1} s); \
             alert times seen in that minute carry that much more delay",
            worst.max_late_ms / 1000.0,
            worst.minute,
            every.as_secs_f64()
        )
    })
}

/// Seconds after the load started at which a service was killed (by
/// `service_down`, or by an exec fault seen as an outage).
fn loss_windows(load: Option<&LoadReport>, faults: &[FaultRecord]) -> Vec<LossWindow> {
    let Some(start) = load.and_then(|l| l.started_at) else {
        return Vec::new();
    };
    let s = |t: DateTime<Utc>| (t - start).num_milliseconds() as f64 / 1000.0;
    faults
        .iter()
        .filter_map(|f| {
            let at = s(f.took_effect_at?);
            match f.kind {
                FaultKind::ServiceDown => Some(kill_window(at)),
                FaultKind::Exec if f.outage => Some(kill_window(at)),
                // Jaeger keeps traces in memory: its restart loses every
                // span it had, and spans sent while it was down are lost.
                FaultKind::TracingBackendDown => Some((
                    f64::NEG_INFINITY,
                    f.reverted_at
                        .map(|t| s(t) + KILL_WINDOW_S)
                        .unwrap_or(f64::INFINITY),
                )),
                _ => None,
            }
        })
        .collect()
}

/// Traces: Jaeger where the stack has it; the harness's own receiver where
/// the harness started the services; otherwise not measured.
async fn traces(
    session: &Session,
    samples: &[crate::load::record::TraceSample],
    losses: &Losses,
    cancel: &CancellationToken,
    notes: &mut Vec<String>,
) -> Option<TraceReport> {
    let stack = &session.stack;
    match &stack.jaeger {
        Some(ep) if !cancel.is_cancelled() => {
            match crate::observe::jaeger::api::Jaeger::detect(ep.clone(), Duration::from_secs(10))
                .await
            {
                Ok(j) => Some(
                    crate::observe::jaeger::traces::look_up_in_jaeger(
                        &j,
                        samples,
                        losses,
                        JAEGER_FLUSH_WAIT,
                    )
                    .await,
                ),
                Err(e) => {
                    notes.push(format!("trace coverage: {e}"));
                    Some(TraceReport {
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
        None => Some(session.trace_sink.coverage(samples, losses)),
    }
}

/// Log search, where Loki runs: the SLO file's queries, timed under load.
fn log_search(inputs: &Inputs, stack: &Stack) -> anyhow::Result<Option<Arc<LogSearch>>> {
    match (&stack.loki, &inputs.slo.log_search) {
        (Some(ep), Some(l)) => {
            let loki = crate::observe::loki::api::Loki::new(ep.clone(), l.max * 4)
                .map_err(anyhow::Error::msg)?;
            Ok(Some(Arc::new(LogSearch::new(loki, &l.queries))))
        }
        _ => Ok(None),
    }
}

/// The live drill view: a status line every few seconds.
fn drill(
    inputs: &Inputs,
    session: &Session,
    watch: &AlertWatch,
    dir: &Path,
    start: tokio::time::Instant,
) -> JoinHandle<()> {
    let plan = &inputs.plan;
    let drill = crate::observe::drill::Drill {
        plan: plan.clone(),
        expected: inputs
            .scenario
            .expect
            .alerts
            .iter()
            .map(|a| (a.fault.clone(), a.name.clone()))
            .collect(),
        watch: watch.clone(),
        receivers: session.receivers.clone(),
        log: dir.join("drill.log"),
        // Every 5 s of wall time, at most every 30 s of real time.
        every: crate::input::units::saturating_secs((30.0 / plan.time_scale).clamp(2.0, 5.0)),
    };
    spawn_here(drill.run(start, session.observers.clone()))
}

/// `tokio::spawn` in the caller's tracing span, so that the watchers' log
/// lines name their scenario when `run --jobs` runs several at once.
fn spawn_here<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(tracing::Instrument::in_current_span(task))
}

/// Dashboards, through Grafana where it runs, else against Prometheus.
fn dashboard_probe(inputs: &Inputs, stack: &Stack) -> anyhow::Result<Probe> {
    let (dashboards, sources) = inputs.files.grafana.read()?;
    let scrape = sources
        .iter()
        .find(|s| s.kind == "prometheus")
        .and_then(|s| s.time_interval())
        .unwrap_or(crate::stackfiles::grafana::vars::DEFAULT_SCRAPE);
    let mut running: std::collections::BTreeSet<String> =
        stack.components.iter().map(|c| c.name.clone()).collect();
    running.insert("prometheus".into());
    let via = match &stack.grafana {
        Some(g) => Via::Grafana(
            crate::observe::grafana::api::Grafana::new(g.clone(), Duration::from_secs(30))
                .map_err(anyhow::Error::msg)?,
        ),
        None => Via::Prometheus(stack.prometheus.clone()),
    };
    let truth = inputs.files.grafana.truth.as_deref().unwrap_or_default();
    Ok(Probe::new(dashboards, sources, via, scrape, &running)?.with_truth(dashboards, truth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::prometheus::alerts::PollMinute;

    fn minute(minute: u32, max_late_ms: f64) -> PollMinute {
        PollMinute {
            minute,
            polls: 60,
            max_late_ms,
            mean_late_ms: max_late_ms / 10.0,
        }
    }

    #[test]
    fn polls_later_than_one_interval_are_noted_with_the_worst_minute() {
        let every = Duration::from_secs(1);
        assert_eq!(late_polls(&[], every), None);
        assert_eq!(late_polls(&[minute(0, 3.0), minute(1, 999.0)], every), None);
        let note = late_polls(
            &[minute(0, 3.0), minute(7, 2500.0), minute(9, 1200.0)],
            every,
        )
        .expect("a poll 2.5 s late is noted");
        assert!(note.contains("2.5 s late (wall minute 7"), "{note}");
    }
}
