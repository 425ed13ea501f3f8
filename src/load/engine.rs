//! Sending the scheduled requests.
//!
//! The engine is one thread of its own, whatever else the program runs: a
//! single-threaded tokio runtime in which
//!
//! - the *dispatcher* walks the arrival schedule, picks each arrival's
//!   request, and queues it when it is due. Ahead of schedule it sleeps
//!   with the kernel's precision rather than tokio's 1 ms ticks
//!   ([`super::timer`]). When max-in-flight requests are outstanding, a due arrival
//!   is *dropped* and counted, never silently skipped.
//! - *workers*, each owning a connection, take queued arrivals, send them
//!   and record the outcome directly: no task per request, no channel and
//!   no lock between threads. That is what lets one core send about as
//!   much as wrk and oha (`scripts/compare-load-tools.sh`). A burst opens
//!   workers; afterwards the one idle for the shortest time is woken
//!   first, so the rest stay idle and retire after [`RETIRE_AFTER`],
//!   closing their connections: a long run's open files follow its load,
//!   not its worst second.
//!
//! Nothing waits for responses to send the next request: a slow server
//! cannot slow the arrival rate (open model).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::{Client, Req};
use super::record::{LoadReport, Recorder, Sample, Shard};
use super::schedule::{ArrivalIter, Picker};
use crate::scenario::plan::{Plan, PlannedPhase};
use crate::scenario::template::Values;
use crate::scenario::tenant_name;
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
    let mut recorder = Recorder::new(endpoints, phases, tenants, opts.trace_cap);
    if !opts.keep_raw {
        recorder.summaries_only();
    }
    let job = Job {
        base_url: opts.base_url.clone(),
        timeout: opts.timeout,
        progress: opts.progress.clone(),
        dispatch: Dispatch {
            phases: opts.plan.phases.clone(),
            load_end: opts.plan.load_end,
            mix: opts.mix.to_vec(),
            tenants: opts.tenants.clone(),
            max: opts.max_in_flight as usize,
            shard: opts.shard,
            start,
            cancel,
        },
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    // The caller's span (the scenario's name under `run --jobs`) goes along.
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name("zeta-load".into())
        .spawn(move || {
            let _entered = span.enter();
            let _ = done_tx.send(job.run(recorder));
        })?;
    let (recorder, interrupted) = done_rx
        .await
        .map_err(|_| anyhow::anyhow!("the load engine's thread panicked"))??;
    let started_at =
        chrono::Utc::now() - chrono::Duration::from_std(start.elapsed()).unwrap_or_default();
    let raw = opts.keep_raw.then(|| recorder.raw());
    let mut report = recorder.finish(opts.base_url.trim_end_matches('/').to_string(), interrupted);
    report.started_at = Some(started_at);
    report.shard = opts.shard;
    report.raw = raw;
    Ok(report)
}

/// One arrival that is due, ready to send.
struct Arrival {
    entry: usize,
    phase: usize,
    intended: Duration,
    tenant: u32,
    trace_id: u128,
    req: Req,
}

/// Everything the engine thread needs, owned.
struct Job {
    base_url: String,
    timeout: Duration,
    progress: Option<ProgressFn>,
    dispatch: Dispatch,
}

impl Job {
    /// The engine thread: a single-threaded runtime running the dispatcher
    /// and the workers. Returns the recorder and whether the run was
    /// interrupted.
    fn run(self, recorder: Recorder) -> anyhow::Result<(Recorder, bool)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, self.engine(recorder))
    }

    async fn engine(self, recorder: Recorder) -> anyhow::Result<(Recorder, bool)> {
        let Job {
            base_url,
            timeout,
            progress,
            dispatch,
        } = self;
        let client = Rc::new(Client::new(&base_url, dispatch.max, timeout).await?);
        let timer = super::timer::Timer::new()?;
        // Taken at the end: a request still running past its deadline finds
        // it gone and records nothing.
        let rec = Rc::new(RefCell::new(Some(recorder)));
        let workers = Rc::new(Workers::default());
        let start = dispatch.start;

        let ticker = progress.map(|report| {
            let (rec, workers, phases) = (rec.clone(), workers.clone(), dispatch.phases.clone());
            let load_end = dispatch.load_end;
            tokio::task::spawn_local(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                every.tick().await;
                loop {
                    every.tick().await;
                    let Some((sent, errors, dropped, p95_ms)) =
                        rec.borrow().as_ref().map(Recorder::live)
                    else {
                        break;
                    };
                    let p = &phases[workers.phase.get().min(phases.len() - 1)];
                    report(&Live {
                        phase: p.name.clone(),
                        planned_rate: p.rate_per_second,
                        elapsed: start.elapsed().min(load_end),
                        total: load_end,
                        sent,
                        errors,
                        dropped,
                        in_flight: workers.in_flight.get(),
                        p95_ms,
                    });
                }
            })
        });

        let interrupted = dispatch.run(&timer, &client, &workers, &rec).await?;
        workers.closed.set(true);
        workers.ready.notify_waiters();

        // In-flight requests finish within their timeout; wait at most that.
        let deadline = Instant::now() + timeout + Duration::from_secs(1);
        while workers.in_flight.get() > 0 {
            if Instant::now() >= deadline {
                tracing::warn!(
                    "load: {} requests still in flight {timeout:?} after the last was sent; not recorded",
                    workers.in_flight.get()
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(t) = ticker {
            t.abort();
        }
        let recorder = rec.borrow_mut().take().expect("the recorder is taken once");
        Ok((recorder, interrupted))
    }
}

/// The engine's workers: each owns a connection and sends what it takes
/// from the queue, so that a request costs no task of its own.
#[derive(Default)]
struct Workers {
    queue: RefCell<std::collections::VecDeque<Arrival>>,
    /// Wakes an idle worker (one per queued arrival), the one idle for the
    /// shortest time: the others stay idle and retire, so that a burst's
    /// extra workers and their connections do not outlive it.
    ready: tokio::sync::Notify,
    /// Workers waiting on `ready` that nobody has woken yet.
    idle: Cell<usize>,
    count: Cell<usize>,
    /// Queued and being sent: what max-in-flight bounds.
    in_flight: Cell<usize>,
    /// The phase of the latest arrival, for progress reports.
    phase: Cell<usize>,
    /// The dispatcher is done: idle workers end.
    closed: Cell<bool>,
}

/// A worker idle this long ends and closes its connection: a burst's
/// workers must not stay open (and keep a file each) for the rest of a run.
const RETIRE_AFTER: Duration = Duration::from_secs(5);

/// What an idle worker's wait ended with.
#[derive(Debug, PartialEq)]
enum Woken {
    /// The dispatcher queued an arrival for it, or the run is closing.
    Work,
    /// Idle for [`RETIRE_AFTER`]: it has left the idle and worker counts.
    Retired,
}

impl Workers {
    /// Waits idle until woken, or retires after `retire_after`. Biased to
    /// the wake-up: a worker that was handed an arrival takes it, even if
    /// its idle time ran out in the same instant.
    async fn wait_idle(&self, retire_after: Duration) -> Woken {
        self.idle.set(self.idle.get() + 1);
        tokio::select! {
            biased;
            () = self.ready.notified() => Woken::Work,
            () = tokio::time::sleep(retire_after) => {
                self.idle.set(self.idle.get() - 1);
                self.count.set(self.count.get() - 1);
                Woken::Retired
            }
        }
    }

    /// Hands a queued arrival to the idle worker idle for the shortest
    /// time. False if none is idle.
    fn wake_one(&self) -> bool {
        if self.idle.get() == 0 {
            return false;
        }
        self.idle.set(self.idle.get() - 1);
        self.ready.notify_last();
        true
    }
}

async fn worker(
    workers: Rc<Workers>,
    client: Rc<Client>,
    rec: Rc<RefCell<Option<Recorder>>>,
    start: Instant,
) {
    let mut conn = client.conn();
    loop {
        let next = workers.queue.borrow_mut().pop_front();
        let Some(a) = next else {
            if workers.closed.get() {
                break;
            }
            if workers.wait_idle(RETIRE_AFTER).await == Woken::Retired {
                break;
            }
            continue;
        };
        let sent = start.elapsed();
        let outcome = conn.send(&client, a.req).await;
        if let Some(r) = rec.borrow_mut().as_mut() {
            r.record(&Sample {
                endpoint: a.entry,
                phase: a.phase,
                intended: a.intended,
                sent,
                done: start.elapsed(),
                outcome,
                trace_id: a.trace_id,
                tenant: a.tenant,
            });
        }
        workers.in_flight.set(workers.in_flight.get() - 1);
    }
}

/// The schedule and what to send, owned.
struct Dispatch {
    phases: Vec<PlannedPhase>,
    load_end: Duration,
    mix: Vec<MixEntry>,
    tenants: Tenants,
    max: usize,
    shard: Option<Shard>,
    start: Instant,
    cancel: CancellationToken,
}

/// Arrivals handled in a row while behind schedule before the dispatcher
/// lets the workers run.
const TURN: usize = 64;

/// An arrival due sooner than this is waited for by yielding to the
/// workers, not by sleeping: the kernel's timer slack (50 µs) would wake
/// the dispatcher later than that anyway, and at high rates every sleep
/// would cost two threads a wake-up.
const SPIN: Duration = Duration::from_micros(50);

impl Dispatch {
    /// Walk the schedule, queueing each arrival when it is due; returns
    /// whether the run was interrupted.
    async fn run(
        &self,
        timer: &super::timer::Timer,
        client: &Rc<Client>,
        workers: &Rc<Workers>,
        rec: &Rc<RefCell<Option<Recorder>>>,
    ) -> anyhow::Result<bool> {
        let start = self.start.into_std();
        let prefix = client.prefix().to_string();
        let mut picker = Picker::new(&self.mix, &self.tenants);
        let arrivals = ArrivalIter::new(&self.phases, self.tenants.seed);
        let mut url = String::with_capacity(256);
        let mut turn = 0;

        for (i, (offset, phase, forced)) in arrivals.enumerate() {
            // Every arrival draws its request and trace id, sent or not, so
            // that each shard sends exactly the requests one engine would.
            let pick = picker.pick_for(forced);
            let (entry, tenant_idx, user, item, random) = (
                pick.entry,
                pick.tenant_index,
                pick.user,
                pick.item,
                pick.random,
            );
            let trace = TraceParent::random(picker.rng());
            if self.shard.is_some_and(|s| !s.owns(i as u64)) {
                continue;
            }
            let due = start + offset;
            let now = std::time::Instant::now();
            if now + SPIN < due {
                tokio::select! {
                    r = timer.sleep_until(due) => r?,
                    _ = self.cancel.cancelled() => return Ok(true),
                }
                turn = 0;
            } else if now < due {
                // Closer than a sleep could wake: let the workers run
                // until it is time.
                while std::time::Instant::now() < due {
                    tokio::task::yield_now().await;
                }
                turn = 0;
            } else {
                if self.cancel.is_cancelled() {
                    return Ok(true);
                }
                turn += 1;
                if turn >= TURN {
                    tokio::task::yield_now().await;
                    turn = 0;
                }
            }
            if workers.in_flight.get() >= self.max {
                if let Some(r) = rec.borrow_mut().as_mut() {
                    r.dropped_at(entry, phase, self.start.elapsed().as_secs());
                }
                continue;
            }
            let tenant = picker.tenant(tenant_idx).to_string();
            let values = Values {
                tenant: &tenant,
                user,
                item,
                random,
            };
            let template = &self.mix[entry].request;
            url.clear();
            url.push_str(&prefix);
            template.target.expand_into(&mut url, values);
            let body = template
                .body
                .as_ref()
                .map(|b| bytes::Bytes::from(b.expand(values)));
            workers.in_flight.set(workers.in_flight.get() + 1);
            workers.phase.set(phase);
            workers.queue.borrow_mut().push_back(Arrival {
                entry,
                phase,
                intended: offset,
                tenant: tenant_idx,
                trace_id: trace.trace_id,
                req: Req {
                    method: template.method.clone(),
                    path: url.clone(),
                    tenant,
                    traceparent: trace.header(),
                    body,
                },
            });
            // An idle worker takes it, or a new one (never more than
            // max-in-flight of them: in-flight counts queued arrivals).
            if !workers.wake_one() && workers.count.get() < self.max {
                workers.count.set(workers.count.get() + 1);
                tokio::task::spawn_local(worker(
                    workers.clone(),
                    client.clone(),
                    rec.clone(),
                    self.start,
                ));
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a single-threaded runtime, as the engine does.
    fn local<F: std::future::Future<Output = ()>>(f: F) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f);
    }

    /// Spawns an idle worker that records its name and how it woke.
    fn idle_worker(
        w: &Rc<Workers>,
        name: &'static str,
        retire_after: Duration,
        log: &Rc<RefCell<Vec<(&'static str, Woken)>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (w, log) = (w.clone(), log.clone());
        w.count.set(w.count.get() + 1);
        tokio::task::spawn_local(async move {
            let how = w.wait_idle(retire_after).await;
            log.borrow_mut().push((name, how));
        })
    }

    #[test]
    fn the_worker_idle_for_the_shortest_time_is_woken_and_the_others_retire() {
        local(async {
            let w = Rc::new(Workers::default());
            let log = Rc::default();
            let old = idle_worker(&w, "old", Duration::from_millis(200), &log);
            tokio::task::yield_now().await;
            let new = idle_worker(&w, "new", Duration::from_secs(60), &log);
            tokio::task::yield_now().await;
            assert_eq!((w.idle.get(), w.count.get()), (2, 2));

            assert!(w.wake_one());
            new.await.unwrap();
            assert_eq!(*log.borrow(), [("new", Woken::Work)]);
            assert_eq!(w.idle.get(), 1);

            old.await.unwrap();
            assert_eq!(log.borrow()[1], ("old", Woken::Retired));
            assert_eq!((w.idle.get(), w.count.get()), (0, 1));
            assert!(!w.wake_one(), "no idle worker is left to wake");
        });
    }

    #[test]
    fn a_worker_handed_an_arrival_as_its_idle_time_runs_out_takes_it() {
        local(async {
            let w = Rc::new(Workers::default());
            let log = Rc::default();
            let h = idle_worker(&w, "worker", Duration::from_millis(10), &log);
            tokio::task::yield_now().await;
            // Block the thread past the idle time, then hand it an arrival
            // before it runs again: both are ready, the arrival wins.
            std::thread::sleep(Duration::from_millis(50));
            assert!(w.wake_one());
            h.await.unwrap();
            assert_eq!(*log.borrow(), [("worker", Woken::Work)]);
            assert_eq!((w.idle.get(), w.count.get()), (0, 1));
        });
    }
}
