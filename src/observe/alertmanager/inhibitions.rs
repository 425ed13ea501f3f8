//! Alertmanager's view of the alerts it holds, from `GET /api/v2/alerts`
//! with inhibited and silenced alerts included: which alerts were
//! suppressed by an inhibition rule, and by which alert. The delivery check
//! needs it: an inhibited alert that reaches no receiver is the routing
//! policy working, not a missed alert, and one that reaches a receiver
//! while inhibited is a broken inhibition.
//!
//! Polled like [`crate::observe::prometheus::alerts`]: an inhibition shorter than one poll can
//! be missed, so the poll interval is the same as Prometheus' alert poll.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::http::endpoint::{self, Endpoint};

/// One alert (by its label set) as Alertmanager held it during the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HeldAlert {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Seen in state `active` in at least one poll.
    pub ever_active: bool,
    /// Names of the alerts that inhibited it, in any poll.
    pub inhibited_by: Vec<String>,
    pub silenced: bool,
    /// Receivers Alertmanager routed it to.
    pub receivers: Vec<String>,
    /// The longest stretch, in wall seconds between polls, in which it was
    /// seen active (not inhibited, not silenced) in consecutive polls: an
    /// alert inhibited in one poll and free for longer than `group_wait`
    /// in others should have been notified.
    #[serde(default)]
    pub longest_active_s: f64,
    /// Since when it has been active in every poll, while it is.
    #[serde(skip)]
    pub active_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// One `/api/v2/alerts` answer: (labels, state, inhibiting alert names,
/// silenced, receivers) per alert. Inhibiting fingerprints are resolved to
/// alert names through the same answer (the inhibiting alert is active, so
/// it is listed).
pub fn parse(body: &Value) -> Result<Vec<HeldAlert>, String> {
    let list = body.as_array().ok_or_else(|| {
        format!(
            "/api/v2/alerts: expected a list, found {}",
            endpoint::snippet(&body.to_string())
        )
    })?;
    let mut names_by_fp: BTreeMap<&str, String> = BTreeMap::new();
    for a in list {
        if let (Some(fp), Some(n)) = (a["fingerprint"].as_str(), a["labels"]["alertname"].as_str())
        {
            names_by_fp.insert(fp, n.to_string());
        }
    }
    list.iter()
        .map(|a| {
            let labels: BTreeMap<String, String> = a["labels"]
                .as_object()
                .ok_or("/api/v2/alerts: an alert without labels")?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let state = a["status"]["state"]
                .as_str()
                .ok_or("/api/v2/alerts: an alert without status.state")?;
            let ids = |k: &str| -> Vec<String> {
                a["status"][k]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str())
                    .map(|fp| {
                        names_by_fp
                            .get(fp)
                            .cloned()
                            .unwrap_or_else(|| format!("fingerprint {fp}"))
                    })
                    .collect()
            };
            Ok(HeldAlert {
                name: labels.get("alertname").cloned().unwrap_or_default(),
                ever_active: state == "active",
                inhibited_by: ids("inhibitedBy"),
                silenced: !ids("silencedBy").is_empty(),
                receivers: a["receivers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["name"].as_str().map(String::from))
                    .collect(),
                labels,
                longest_active_s: 0.0,
                active_since: None,
            })
        })
        .collect()
}

#[derive(Clone, Default)]
pub struct InhibitWatch {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    held: Vec<HeldAlert>,
    polls: u64,
    errors: Vec<String>,
}

impl InhibitWatch {
    pub fn held(&self) -> Vec<HeldAlert> {
        self.inner
            .lock()
            .expect("inhibit watch poisoned")
            .held
            .clone()
    }

    /// (polls, errors): a watch whose every poll failed knows nothing.
    pub fn poll_stats(&self) -> (u64, Vec<String>) {
        let s = self.inner.lock().expect("inhibit watch poisoned");
        (s.polls, s.errors.clone())
    }

    fn apply(&self, seen: Vec<HeldAlert>, now: chrono::DateTime<chrono::Utc>) {
        let mut s = self.inner.lock().expect("inhibit watch poisoned");
        s.polls += 1;
        for h in s.held.iter_mut() {
            let still = seen.iter().any(|a| a.labels == h.labels && a.ever_active);
            match (still, h.active_since) {
                (true, None) => h.active_since = Some(now),
                (true, Some(since)) => {
                    let s = (now - since).num_milliseconds() as f64 / 1000.0;
                    h.longest_active_s = h.longest_active_s.max(s);
                }
                (false, _) => h.active_since = None,
            }
        }
        for mut a in seen {
            match s.held.iter_mut().find(|h| h.labels == a.labels) {
                Some(h) => {
                    h.ever_active |= a.ever_active;
                    h.silenced |= a.silenced;
                    let by: BTreeSet<String> =
                        h.inhibited_by.drain(..).chain(a.inhibited_by).collect();
                    h.inhibited_by = by.into_iter().collect();
                    let rs: BTreeSet<String> = h.receivers.drain(..).chain(a.receivers).collect();
                    h.receivers = rs.into_iter().collect();
                }
                None => {
                    a.active_since = a.ever_active.then_some(now);
                    s.held.push(a)
                }
            }
        }
    }

    /// Poll every `every` until cancelled.
    pub async fn run(self, am: Endpoint, every: Duration, cancel: CancellationToken) {
        let http = match endpoint::client(Duration::from_secs(5)) {
            Ok(h) => h,
            Err(e) => {
                self.inner
                    .lock()
                    .expect("inhibit watch poisoned")
                    .errors
                    .push(e.to_string());
                return;
            }
        };
        let path = "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true";
        crate::observe::repeat(Duration::ZERO, every, cancel, || async {
            let r = endpoint::json(am.get(&http, path), "/api/v2/alerts")
                .await
                .and_then(|(status, body)| {
                    if status.is_success() {
                        parse(&body)
                    } else {
                        Err(format!("/api/v2/alerts: HTTP {status}"))
                    }
                });
            match r {
                Ok(seen) => self.apply(seen, chrono::Utc::now()),
                Err(e) => {
                    let mut s = self.inner.lock().expect("inhibit watch poisoned");
                    s.polls += 1;
                    if s.errors.len() < 5 {
                        s.errors.push(e);
                    }
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::fake::{Canned, serve};

    const CAPTURED: &str =
        include_str!("../../../tests/fixtures/alertmanager/api_v2_alerts_inhibited.json");

    #[test]
    fn a_real_answer_names_the_inhibiting_alert() {
        let held = parse(&serde_json::from_str(CAPTURED).unwrap()).unwrap();
        let her = held.iter().find(|h| h.name == "HighErrorRate").unwrap();
        assert_eq!(her.inhibited_by, vec!["DatabaseDown".to_string()]);
        assert!(!her.ever_active);
        assert_eq!(her.receivers, vec!["null-recv".to_string()]);
        let db = held.iter().find(|h| h.name == "DatabaseDown").unwrap();
        assert!(db.ever_active && db.inhibited_by.is_empty());
        assert!(parse(&serde_json::json!({"error": "x"})).is_err());
        assert!(parse(&serde_json::json!([{"labels": {"alertname": "A"}}])).is_err());
    }

    fn held(name: &str, active: bool) -> HeldAlert {
        HeldAlert {
            name: name.into(),
            labels: [("alertname".to_string(), name.to_string())].into(),
            ever_active: active,
            ..HeldAlert::default()
        }
    }

    #[test]
    fn the_longest_uninhibited_stretch_is_kept() {
        let w = InhibitWatch::default();
        let t = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        w.apply(vec![held("A", false)], t(0));
        w.apply(vec![held("A", true)], t(10));
        w.apply(vec![held("A", true)], t(20));
        w.apply(vec![held("A", true)], t(50));
        w.apply(vec![held("A", false)], t(60));
        w.apply(vec![held("A", true)], t(70));
        w.apply(vec![held("A", true)], t(75));
        let a = &w.held()[0];
        assert!(a.ever_active);
        assert_eq!(a.longest_active_s, 40.0);
        // Gone from a poll ends a stretch too.
        let w = InhibitWatch::default();
        w.apply(vec![held("B", true)], t(0));
        w.apply(vec![], t(100));
        w.apply(vec![held("B", true)], t(110));
        assert_eq!(w.held()[0].longest_active_s, 0.0);
    }

    #[tokio::test]
    async fn polls_merge_and_errors_are_kept() {
        let fake = serve(vec![Canned::new("/api/v2/alerts", 200, CAPTURED)]).await;
        let w = InhibitWatch::default();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(w.clone().run(
            Endpoint::new(&fake.url),
            Duration::from_millis(50),
            cancel.clone(),
        ));
        // Until two polls came back (bounded: a busy machine is slow).
        until(|| w.poll_stats().0 >= 2).await;
        cancel.cancel();
        task.await.unwrap();
        let (polls, errors) = w.poll_stats();
        assert!(polls >= 2 && errors.is_empty(), "{polls} {errors:?}");
        assert_eq!(w.held().len(), 3, "merged across polls");
        assert!(fake.seen.lock().unwrap()[0].uri.contains("inhibited=true"));

        let down = serve(vec![Canned::new("/api/v2/alerts", 500, "{}")]).await;
        let w = InhibitWatch::default();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(w.clone().run(
            Endpoint::new(&down.url),
            Duration::from_millis(50),
            cancel.clone(),
        ));
        until(|| !w.poll_stats().1.is_empty()).await;
        cancel.cancel();
        task.await.unwrap();
        assert!(w.poll_stats().1[0].contains("500"));
    }

    /// Wait until `done`, for at most 10 s.
    async fn until(done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the watch did not poll within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
