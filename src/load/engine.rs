//! Sending the scheduled requests.
//!
//! One dispatcher walks the arrival schedule and, for each arrival that is
//! due, spawns a task that sends it; tasks report to one recorder over a
//! channel. The dispatcher never waits for responses, so a slow server
//! cannot slow the arrival rate (open model). When max-in-flight requests
//! are outstanding, a due arrival is recorded as dropped.
//!
//! The dispatcher is an OS thread of its own that sleeps with the kernel's
//! timer (tens of microseconds of slack) rather than a tokio task: tokio's
//! timer wheel has 1 ms ticks, which made requests leave up to ~1.8 ms late
//! at p99. Requests still run on the tokio runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::record::{LoadReport, Recorder, Sample, Shard};
use super::schedule::{ArrivalIter, Picker, tenant_name};
use crate::scenario::plan::Plan;
use crate::scenario::template::Values;
use crate::scenario::{MixEntry, Tenants};
use crate::trace_context::TraceParent;

/// How the load is going, for progress bars and lines.
#[derive(Debug, Clone)]
pub struct Live {
    pub phase: String,
    pub planned_rate: f64,
    pub elapsed: Duration,
    pub total: Duration,
    pub sent: u64,
    pub errors: u64,
    pub dropped: u64,
    pub in_flight: usize,
    /// p95 latency (from intended send) in the last complete second.
    pub p95_ms: f64,
}

/// Where progress snapshots go.
pub type ProgressFn = Arc<dyn Fn(&Live) + Send + Sync>;

pub struct LoadOptions<'a> {
    pub base_url: String,
    pub plan: &'a Plan,
    pub mix: &'a [MixEntry],
    pub tenants: &'a Tenants,
    pub max_in_flight: u32,
    pub timeout: Duration,
    /// Trace ids kept per endpoint for the coverage check.
    pub trace_cap: usize,
    /// Called with a snapshot about once a second (None: quiet).
    pub progress: Option<ProgressFn>,
    /// Send only this share of the schedule.
    pub shard: Option<Shard>,
    /// Keep the histograms in the report, for merging shards.
    pub keep_raw: bool,
}

/// Run the whole schedule (or until `cancel`), then wait for in-flight
/// requests up to the request timeout. `start` is the instant the schedule
/// counts from, shared with the fault scheduler.
pub async fn run(
    opts: LoadOptions<'_>,
    start: Instant,
    cancel: CancellationToken,
) -> anyhow::Result<LoadReport> {
    let client = Arc::new(
        super::client::Client::new(&opts.base_url, opts.max_in_flight as usize, opts.timeout)
            .await?,
    );
    let endpoints: Vec<String> = opts
        .mix
        .iter()
        .map(|m| m.request.endpoint.clone())
        .collect();
    let phases = opts
        .plan
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.mean_rate(), p.duration))
        .collect();
    let tenants = (1..=opts.tenants.count).map(tenant_name).collect();
    let recorder = Recorder::new(endpoints, phases, tenants, opts.trace_cap);

    let (tx, rx) = mpsc::unbounded_channel::<Sample>();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let d = Dispatch {
        client,
        runtime: tokio::runtime::Handle::current(),
        phases: opts.plan.phases.clone(),
        load_end: opts.plan.load_end,
        mix: opts.mix.to_vec(),
        tenants: opts.tenants.clone(),
        max: opts.max_in_flight as usize,
        progress: opts.progress.clone(),
        shard: opts.shard,
        in_flight: in_flight.clone(),
        start,
        cancel,
    };
    let (recorder, mut rx, interrupted) =
        tokio::task::spawn_blocking(move || d.run(recorder, tx, rx)).await?;
    let base = opts.base_url.trim_end_matches('/').to_string();
    let started_at =
        chrono::Utc::now() - chrono::Duration::from_std(start.elapsed()).unwrap_or_default();
    let mut recorder = recorder;
    // In-flight requests finish within their timeout; wait at most that.
    let deadline = Instant::now() + opts.timeout + Duration::from_secs(1);
    loop {
        tokio::select! {
            s = rx.recv() => match s {
                Some(s) => recorder.record(&s),
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!("load: {} requests still in flight after the request timeout; not recorded", in_flight.load(Ordering::Relaxed));
                break;
            }
        }
    }
    let raw = opts.keep_raw.then(|| recorder.raw());
    let mut report = recorder.finish(base, interrupted);
    report.started_at = Some(started_at);
    report.shard = opts.shard;
    report.raw = raw;
    Ok(report)
}

/// What the dispatcher thread needs, owned.
struct Dispatch {
    client: Arc<super::client::Client>,
    runtime: tokio::runtime::Handle,
    phases: Vec<crate::scenario::plan::PlannedPhase>,
    load_end: Duration,
    mix: Vec<MixEntry>,
    tenants: Tenants,
    max: usize,
    progress: Option<ProgressFn>,
    shard: Option<Shard>,
    in_flight: Arc<AtomicUsize>,
    start: Instant,
    cancel: CancellationToken,
}

impl Dispatch {
    /// Walk the schedule on this (blocking) thread; returns the recorder,
    /// the channel still receiving in-flight samples, and whether the run
    /// was interrupted.
    fn run(
        self,
        mut recorder: Recorder,
        tx: mpsc::UnboundedSender<Sample>,
        mut rx: mpsc::UnboundedReceiver<Sample>,
    ) -> (Recorder, mpsc::UnboundedReceiver<Sample>, bool) {
        let opts = &self;
        let start = self.start;
        let start_std = start.into_std();
        let mut picker = Picker::new(&self.mix, &self.tenants);
        let arrivals = ArrivalIter::new(&self.phases, self.tenants.seed);
        let base = self.client.prefix().to_string();
        let max = self.max;
        let in_flight = &self.in_flight;
        let client = &self.client;
        let cancel = &self.cancel;
        let mut interrupted = false;
        let mut next_progress = start_std + Duration::from_secs(1);
        let mut url = String::with_capacity(256);

        for (i, (offset, phase, forced)) in arrivals.enumerate() {
            // Every arrival draws its request and trace id, sent or not, so
            // that each shard sends exactly the requests one engine would.
            let pick = picker.pick_for(forced);
            let (entry, tenant_idx, user, item) =
                (pick.entry, tenant_index(pick.tenant), pick.user, pick.item);
            let trace = TraceParent::random(picker.rng());
            if opts.shard.is_some_and(|s| !s.owns(i as u64)) {
                continue;
            }
            let due = start_std + offset;
            // Sleep until due in slices, draining finished samples (to keep
            // the channel short) and watching for cancellation.
            loop {
                while let Ok(s) = rx.try_recv() {
                    recorder.record(&s);
                }
                if cancel.is_cancelled() {
                    interrupted = true;
                    break;
                }
                let now = std::time::Instant::now();
                if now >= due {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(20)));
            }
            if interrupted {
                break;
            }
            if let Some(report) = &opts.progress {
                if std::time::Instant::now() >= next_progress {
                    let p = &opts.phases[phase];
                    let (sent, errors, dropped, p95_ms) = recorder.live();
                    report(&Live {
                        phase: p.name.clone(),
                        planned_rate: p.rate_per_second,
                        elapsed: offset,
                        total: opts.load_end,
                        sent,
                        errors,
                        dropped,
                        in_flight: in_flight.load(Ordering::Relaxed),
                        p95_ms,
                    });
                    next_progress += Duration::from_secs(1);
                }
            }
            if in_flight.load(Ordering::Relaxed) >= max {
                recorder.dropped(entry, phase);
                continue;
            }
            let tenant = tenant_name(tenant_idx + 1);
            let values = Values {
                tenant: &tenant,
                user,
                item,
            };
            let template = &opts.mix[entry].request;
            url.clear();
            url.push_str(&base);
            template.target.expand_into(&mut url, values);
            let body = template.body.as_ref().map(|b| b.expand(values));
            let req = super::client::Req {
                method: template.method.clone(),
                path: url.clone(),
                tenant,
                traceparent: trace.header(),
                body,
            };
            in_flight.fetch_add(1, Ordering::Relaxed);
            let tx = tx.clone();
            let in_flight = in_flight.clone();
            let client = client.clone();
            self.runtime.spawn(async move {
                let sent = start.elapsed();
                let outcome = client.send(req).await;
                let _ = tx.send(Sample {
                    endpoint: entry,
                    phase,
                    intended: offset,
                    sent,
                    done: start.elapsed(),
                    outcome,
                    trace_id: trace.trace_id,
                    tenant: tenant_idx,
                });
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        drop(tx);
        (recorder, rx, interrupted)
    }
}

fn tenant_index(name: &str) -> u32 {
    name.strip_prefix("tenant_")
        .and_then(|n| n.parse::<u32>().ok())
        .map(|n| n.saturating_sub(1))
        .unwrap_or(0)
}
