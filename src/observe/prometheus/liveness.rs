//! Is the stack under test still the stack under test? While the load runs,
//! Prometheus' `up` is polled for every scrape target and Prometheus'
//! own answers are timed. A component that stops answering its scrapes
//! (it died, froze, or wedged) or a Prometheus that stops answering, when
//! no fault of the scenario explains it, makes the run INCOMPLETE: every
//! later check would judge a stack with a hole in it.
//!
//! Only sustained outages count. One failed scrape under CPU contention is
//! not a dying component, and a false INCOMPLETE is as useless as a
//! silent pass: a job must stay down for [`Liveness::min_down`].
//!
//! [`UpWatch`] records transitions (bounded: one entry per change);
//! [`failures`] judges them, purely.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::http::endpoint::Endpoint;

/// At most this many outages are kept (a flapping target is one line).
const MAX_OUTAGES: usize = 200;

/// A span during which a target (or Prometheus itself) did not answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// The scrape job, or "prometheus" when Prometheus did not answer.
    pub job: String,
    pub instance: String,
    pub from: DateTime<Utc>,
    /// None: still down at the last poll.
    pub to: Option<DateTime<Utc>>,
    /// What was seen: `up == 0`, or the error Prometheus' API gave.
    pub how: String,
    /// Down already at the first answer, before the run could affect it.
    pub already_down: bool,
}

#[derive(Default)]
struct State {
    /// (job, instance) → since when it is down, if it is.
    down_since: BTreeMap<(String, String), Option<DateTime<Utc>>>,
    outages: Vec<Outage>,
    /// Prometheus unanswered since, with the first error.
    unanswered: Option<(DateTime<Utc>, String)>,
    /// Whether Prometheus has answered once.
    answered: bool,
    /// Targets down in Prometheus' first answer.
    initially_down: std::collections::BTreeSet<(String, String)>,
}

/// The `up` poller; cheap to clone.
#[derive(Clone, Default)]
pub struct UpWatch {
    inner: Arc<Mutex<State>>,
}

impl UpWatch {
    pub async fn run(
        self,
        http: reqwest::Client,
        prometheus: Endpoint,
        every: Duration,
        cancel: CancellationToken,
    ) {
        let timeout = every.max(Duration::from_secs(2));
        crate::observe::tick_until(every, cancel, |_late| async {
            let answer = up(&http, &prometheus, timeout).await;
            self.apply(answer, Utc::now());
        })
        .await;
        self.close();
    }

    /// One poll's answer: every target's `up`, or Prometheus' error.
    pub fn apply(&self, answer: Result<Vec<(String, String, bool)>, String>, at: DateTime<Utc>) {
        let mut s = self.inner.lock().expect("up watch poisoned");
        let targets = match answer {
            Ok(t) => t,
            Err(e) => {
                if s.unanswered.is_none() {
                    s.unanswered = Some((at, e));
                }
                return;
            }
        };
        if let Some((from, how)) = s.unanswered.take() {
            push(
                &mut s.outages,
                outage("prometheus", "", from, Some(at), how),
            );
        }
        let first = !std::mem::replace(&mut s.answered, true);
        for (job, instance, is_up) in targets {
            let key = (job, instance);
            let was = s.down_since.get(&key).copied().flatten();
            match (is_up, was) {
                (false, None) => {
                    if first {
                        s.initially_down.insert(key.clone());
                    }
                    s.down_since.insert(key, Some(at));
                }
                (true, Some(from)) => {
                    s.down_since.insert(key.clone(), None);
                    let mut o = outage(&key.0, &key.1, from, Some(at), "up == 0".into());
                    o.already_down = s.initially_down.remove(&key);
                    push(&mut s.outages, o);
                }
                (true, None) => {
                    s.down_since.insert(key, None);
                }
                (false, Some(_)) => {}
            }
        }
    }

    /// Close what is still down at `at`, once observing ends.
    fn close(&self) {
        let mut s = self.inner.lock().expect("up watch poisoned");
        let open: Vec<_> = s
            .down_since
            .iter()
            .filter_map(|((j, i), d)| {
                d.map(|from| {
                    let mut o = outage(j, i, from, None, "up == 0".into());
                    o.already_down = s.initially_down.contains(&(j.clone(), i.clone()));
                    o
                })
            })
            .collect();
        for o in open {
            push(&mut s.outages, o);
        }
        s.down_since.clear();
        if let Some((from, how)) = s.unanswered.take() {
            push(&mut s.outages, outage("prometheus", "", from, None, how));
        }
    }

    /// Every outage seen.
    pub fn outages(&self) -> Vec<Outage> {
        self.inner
            .lock()
            .expect("up watch poisoned")
            .outages
            .clone()
    }
}

fn outage(
    job: &str,
    instance: &str,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    how: String,
) -> Outage {
    Outage {
        job: job.to_string(),
        instance: instance.to_string(),
        from,
        to,
        how,
        already_down: false,
    }
}

fn push(outages: &mut Vec<Outage>, o: Outage) {
    if outages.len() < MAX_OUTAGES {
        outages.push(o);
    }
}

/// `up` for every target: (job, instance, up).
async fn up(
    http: &reqwest::Client,
    prometheus: &Endpoint,
    timeout: Duration,
) -> Result<Vec<(String, String, bool)>, String> {
    let req = prometheus
        .get(http, "/api/v1/query")
        .query(&[("query", "up")])
        .timeout(timeout);
    let v = crate::http::endpoint::api_data(req, "/api/v1/query").await?;
    Ok(v["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let label = |k: &str| s["metric"][k].as_str().unwrap_or("").to_string();
            let value = s["value"][1].as_str().unwrap_or("0");
            (label("job"), label("instance"), value != "0")
        })
        .collect())
}

/// When a fault acted on a component: from its request to its revert
/// (None: not reverted before observing ended).
#[derive(Debug, Clone)]
pub struct FaultWindow {
    pub target: String,
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

/// How outages are judged.
pub struct Liveness<'a> {
    /// Shorter outages are noise (one slow scrape).
    pub min_down: Duration,
    /// After a fault is reverted, its target has this long to be scraped
    /// again.
    pub recovery: Duration,
    pub faults: &'a [FaultWindow],
    /// When observing ended, for outages still open.
    pub ended: DateTime<Utc>,
    /// Count targets that were down before the run began. True for a stack
    /// the harness started (its components passed their readiness checks,
    /// so a target down from the start is misconfigured); false for an
    /// external stack, whose other jobs are not the run's to judge.
    pub count_already_down: bool,
}

/// An outage that counts against the run.
#[derive(Debug, Clone, PartialEq)]
pub struct StackFailure {
    /// The scrape job (the component's name), or "prometheus".
    pub component: String,
    /// `job (instance) stopped answering … at HH:MM:SS, for 12.3 s, …`.
    pub message: String,
}

/// The outages no fault explains and long enough to count.
pub fn failures(outages: &[Outage], l: &Liveness<'_>) -> Vec<StackFailure> {
    outages
        .iter()
        .filter(|o| {
            let to = o.to.unwrap_or(l.ended);
            (to - o.from).to_std().unwrap_or_default() >= l.min_down
        })
        .filter(|o| l.count_already_down || !o.already_down)
        .filter(|o| !explained(o, l))
        .map(|o| StackFailure {
            component: o.job.clone(),
            message: describe(o, l.ended),
        })
        .collect()
}

/// Targets that were down before the run began, as `job (instance)`.
pub fn already_down(outages: &[Outage]) -> Vec<String> {
    outages
        .iter()
        .filter(|o| o.already_down)
        .map(|o| format!("{} ({})", o.job, o.instance))
        .collect()
}

/// What a job's scrape goes through besides its own process: an exporter
/// asks its datastore on every scrape, and its scrape can time out while
/// the datastore is down or slowed.
fn scrapes_through(job: &str) -> Option<&'static str> {
    match job {
        "postgres-exporter" => Some("postgresql"),
        "redis-exporter" => Some("redis"),
        _ => None,
    }
}

/// A fault on the outage's component (its job is the fault's target, or
/// the datastore its exporter asks), in effect or within `recovery` of
/// its revert when the outage began.
fn explained(o: &Outage, l: &Liveness<'_>) -> bool {
    l.faults.iter().any(|f| {
        let (start, end) = (
            f.from,
            f.to.unwrap_or(l.ended) + chrono::Duration::from_std(l.recovery).unwrap_or_default(),
        );
        let on_it = f.target == o.job || scrapes_through(&o.job) == Some(f.target.as_str());
        on_it && o.from >= start && o.from <= end
    })
}

fn describe(o: &Outage, ended: DateTime<Utc>) -> String {
    let who = match (o.job.as_str(), o.instance.as_str()) {
        ("prometheus", "") => "prometheus stopped answering the harness's queries".to_string(),
        (job, "") => format!("{job} stopped answering Prometheus' scrapes"),
        (job, instance) => format!("{job} ({instance}) stopped answering Prometheus' scrapes"),
    };
    let how_long = match o.to {
        Some(to) => format!(
            "for {:.1} s, until {}",
            (to - o.from).num_milliseconds() as f64 / 1000.0,
            to.format("%H:%M:%S%.3f")
        ),
        None => format!(
            "and was still down when observing ended {:.1} s later",
            (ended - o.from).num_milliseconds() as f64 / 1000.0
        ),
    };
    format!(
        "{who} at {} ({}) {how_long}, and no fault of the scenario explains it",
        o.from.format("%H:%M:%S%.3f"),
        o.how
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn targets(down: &[&str]) -> Result<Vec<(String, String, bool)>, String> {
        Ok(["alertmanager", "backend-api", "ml-engine"]
            .iter()
            .map(|j| (j.to_string(), format!("{j}:1"), !down.contains(j)))
            .collect())
    }

    fn fault(target: &str, from: i64, to: i64) -> FaultWindow {
        FaultWindow {
            target: target.into(),
            from: t(from),
            to: Some(t(to)),
        }
    }

    fn judge(w: &UpWatch, faults: &[FaultWindow], ended: i64) -> Vec<StackFailure> {
        judge_on(w, faults, ended, true)
    }

    /// `harness_started`: the stack is the harness's own (not external).
    fn judge_on(
        w: &UpWatch,
        faults: &[FaultWindow],
        ended: i64,
        harness_started: bool,
    ) -> Vec<StackFailure> {
        w.close();
        failures(
            &w.outages(),
            &Liveness {
                min_down: Duration::from_secs(5),
                recovery: Duration::from_secs(10),
                faults,
                ended: t(ended),
                count_already_down: harness_started,
            },
        )
    }

    #[test]
    fn a_component_that_dies_unexplained_is_named_with_the_time() {
        let w = UpWatch::default();
        w.apply(targets(&[]), t(0));
        w.apply(targets(&["alertmanager"]), t(10));
        w.apply(targets(&["alertmanager"]), t(20));
        let f = judge(&w, &[], 30);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message
                .starts_with("alertmanager (alertmanager:1) stopped answering"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message
                .contains("still down when observing ended 20.0 s later"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn the_faults_own_target_is_excused_during_the_fault_and_its_recovery() {
        let w = UpWatch::default();
        w.apply(targets(&[]), t(0));
        w.apply(targets(&["backend-api"]), t(11));
        w.apply(targets(&[]), t(40));
        // Down again after the recovery window: not the fault any more.
        w.apply(targets(&["backend-api"]), t(60));
        w.apply(targets(&[]), t(70));
        let f = judge(&w, &[fault("backend-api", 10, 35)], 80);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("for 10.0 s"), "{}", f[0].message);
        // Another component down during the fault is not excused.
        let w = UpWatch::default();
        w.apply(targets(&["ml-engine"]), t(12));
        w.apply(targets(&[]), t(20));
        assert_eq!(judge(&w, &[fault("backend-api", 10, 35)], 80).len(), 1);
    }

    #[test]
    fn an_exporter_is_excused_while_its_datastore_is_down() {
        let w = UpWatch::default();
        let mut all = targets(&[]).unwrap();
        all.push(("postgres-exporter".into(), "pe:1".into(), true));
        w.apply(Ok(all.clone()), t(0));
        all.last_mut().unwrap().2 = false;
        w.apply(Ok(all.clone()), t(12));
        all.last_mut().unwrap().2 = true;
        w.apply(Ok(all), t(30));
        assert!(judge(&w, &[fault("postgresql", 10, 28)], 40).is_empty());
        assert_eq!(judge(&w, &[fault("redis", 10, 28)], 40).len(), 1);
    }

    #[test]
    fn a_target_down_from_the_start_counts_only_for_a_stack_the_harness_started() {
        let w = UpWatch::default();
        w.apply(targets(&["ml-engine"]), t(0));
        w.apply(targets(&["ml-engine"]), t(20));
        assert_eq!(judge(&w, &[], 30).len(), 1);
        let outages = w.outages();
        assert_eq!(already_down(&outages), ["ml-engine (ml-engine:1)"]);
        let external = judge_on(&w, &[], 30, false);
        assert!(external.is_empty(), "{external:?}");
    }

    #[test]
    fn a_single_slow_scrape_is_not_a_dying_component() {
        let w = UpWatch::default();
        w.apply(targets(&[]), t(0));
        w.apply(targets(&["ml-engine"]), t(1));
        w.apply(targets(&[]), t(3));
        assert!(judge(&w, &[], 30).is_empty());
    }

    #[test]
    fn prometheus_not_answering_is_an_outage_of_its_own() {
        let w = UpWatch::default();
        w.apply(targets(&[]), t(0));
        w.apply(Err("connection refused".into()), t(5));
        w.apply(Err("connection refused".into()), t(6));
        w.apply(targets(&[]), t(15));
        let f = judge(&w, &[], 30);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message
                .starts_with("prometheus stopped answering the harness's queries"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("connection refused"),
            "{}",
            f[0].message
        );
    }
}
