//! Prometheus' own view of its alerts over time, from `GET /api/v1/alerts`:
//! when each alert became pending (`activeAt`, Prometheus' timestamp), when
//! it was first seen firing, and when it disappeared (resolved).
//!
//! Polled, so "first seen firing" and "gone" carry up to one poll interval of
//! delay; the poll interval is recorded with the result, and so is how late
//! the polls came, minute by minute (a slowing watch would coarsen every
//! timeline, and a long run is where it would show).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct AlertTimeline {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Prometheus' `activeAt`: when the rule's expression first held.
    pub active_at: Option<DateTime<Utc>>,
    pub first_seen_pending: Option<DateTime<Utc>>,
    pub first_seen_firing: Option<DateTime<Utc>>,
    /// First poll in which the alert was no longer listed.
    pub gone_at: Option<DateTime<Utc>>,
}

impl AlertTimeline {
    pub fn matches(&self, name: &str, labels: &[(String, String)]) -> bool {
        self.name == name && has_labels(&self.labels, labels.iter().map(|(k, v)| (k, v)))
    }
}

/// `labels` holds every one of `want` with the same value: how an alert is
/// matched to a name-and-labels expectation wherever it is seen
/// (Prometheus, Alertmanager, a notification), extra labels allowed.
pub fn has_labels<'a>(
    labels: &BTreeMap<String, String>,
    mut want: impl Iterator<Item = (&'a String, &'a String)>,
) -> bool {
    want.all(|(k, v)| labels.get(k).is_some_and(|x| x == v))
}

#[derive(Debug, Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiData {
    alerts: Vec<ApiAlert>,
}

#[derive(Debug, Deserialize)]
struct ApiAlert {
    labels: BTreeMap<String, String>,
    state: String,
    #[serde(rename = "activeAt", default)]
    active_at: Option<DateTime<Utc>>,
}

/// Parse one `/api/v1/alerts` body into (labels, state, activeAt).
fn parse(body: &str) -> Result<Vec<ApiAlert>, String> {
    let r: ApiResponse =
        serde_json::from_str(body).map_err(|e| format!("unreadable /api/v1/alerts answer: {e}"))?;
    if r.status != "success" {
        return Err(format!(
            "/api/v1/alerts answered status {:?}: {}",
            r.status,
            r.error.unwrap_or_default()
        ));
    }
    Ok(r.data.map(|d| d.alerts).unwrap_or_default())
}

/// How late the alert watch's polls came in one minute of the run: the
/// delay from each poll's due time to its start (a slow previous poll or a
/// starved runtime).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PollMinute {
    /// Minutes since the watch's first poll (wall time).
    pub minute: u32,
    pub polls: u32,
    pub max_late_ms: f64,
    pub mean_late_ms: f64,
}

/// At most this many minutes are kept one by one (a week); later polls
/// are added to the last minute, so the record stays bounded.
const LATENESS_MINUTES: usize = 7 * 24 * 60;

#[derive(Default)]
struct Lateness {
    first: Option<std::time::Instant>,
    minutes: Vec<PollMinute>,
}

impl Lateness {
    fn record(&mut self, at: std::time::Instant, late: Duration) {
        let first = *self.first.get_or_insert(at);
        let minute =
            (at.saturating_duration_since(first).as_secs() / 60).min(u32::MAX as u64) as u32;
        let ms = late.as_secs_f64() * 1000.0;
        let full = self.minutes.len() >= LATENESS_MINUTES;
        let open = self
            .minutes
            .last_mut()
            .filter(|m| m.minute == minute || full);
        match open {
            Some(m) => {
                m.mean_late_ms = (m.mean_late_ms * m.polls as f64 + ms) / (m.polls as f64 + 1.0);
                m.polls += 1;
                m.max_late_ms = m.max_late_ms.max(ms);
            }
            None => self.minutes.push(PollMinute {
                minute,
                polls: 1,
                max_late_ms: ms,
                mean_late_ms: ms,
            }),
        }
    }
}

#[derive(Clone, Default)]
pub struct AlertWatch {
    inner: Arc<Mutex<WatchState>>,
}

#[derive(Default)]
struct WatchState {
    /// Every alert instance seen, in the order they appeared.
    kept: Vec<Kept>,
    /// The instances listed at the last poll: label text → index in `kept`.
    open: HashMap<Box<str>, usize>,
    polls: u64,
    errors: Vec<String>,
    lateness: Lateness,
}

/// One alert instance as the watch keeps it. A long run keeps one per
/// instance (a rule on a per-job series goes pending once per job: 53 a
/// minute in the soak), so this is what the harness's memory grows by: the
/// label set is kept as its JSON text, one allocation of about 150 bytes,
/// where a map of strings takes about a kilobyte.
struct Kept {
    labels: Box<str>,
    active_at: Option<DateTime<Utc>>,
    first_seen_pending: Option<DateTime<Utc>>,
    first_seen_firing: Option<DateTime<Utc>>,
    gone_at: Option<DateTime<Utc>>,
}

impl Kept {
    fn timeline(&self) -> AlertTimeline {
        // Our own serialisation of a string map reads back.
        let labels: BTreeMap<String, String> =
            serde_json::from_str(&self.labels).unwrap_or_default();
        AlertTimeline {
            name: labels.get("alertname").cloned().unwrap_or_default(),
            labels,
            active_at: self.active_at,
            first_seen_pending: self.first_seen_pending,
            first_seen_firing: self.first_seen_firing,
            gone_at: self.gone_at,
        }
    }
}

/// A label set as the text it is kept and looked up by (a `BTreeMap`
/// serialises in key order, so equal sets give equal text).
fn label_text(labels: &BTreeMap<String, String>) -> Box<str> {
    serde_json::to_string(labels)
        .unwrap_or_default()
        .into_boxed_str()
}

impl AlertWatch {
    /// Every alert instance seen, in the order they appeared.
    pub fn timelines(&self) -> Vec<AlertTimeline> {
        let s = self.inner.lock().expect("alert watch poisoned");
        s.kept.iter().map(Kept::timeline).collect()
    }

    /// The instances Prometheus listed at the last poll (pending or
    /// firing), in the order they appeared: what a live view needs,
    /// without the run's whole history.
    pub fn open(&self) -> Vec<AlertTimeline> {
        let s = self.inner.lock().expect("alert watch poisoned");
        let mut at: Vec<usize> = s.open.values().copied().collect();
        at.sort_unstable();
        at.into_iter().map(|i| s.kept[i].timeline()).collect()
    }

    pub fn poll_stats(&self) -> (u64, Vec<String>) {
        let s = self.inner.lock().expect("alert watch poisoned");
        (s.polls, s.errors.clone())
    }

    /// How late the polls came, minute by minute.
    pub fn poll_lateness(&self) -> Vec<PollMinute> {
        let s = self.inner.lock().expect("alert watch poisoned");
        s.lateness.minutes.clone()
    }

    fn late(&self, late: Duration) {
        let mut s = self.inner.lock().expect("alert watch poisoned");
        s.lateness.record(std::time::Instant::now(), late);
    }

    fn apply(&self, alerts: Vec<ApiAlert>, now: DateTime<Utc>) {
        let mut guard = self.inner.lock().expect("alert watch poisoned");
        let s = &mut *guard;
        s.polls += 1;
        let mut listed: HashMap<Box<str>, usize> = HashMap::with_capacity(alerts.len());
        for a in alerts {
            let text = label_text(&a.labels);
            let i = match s.open.remove(&text).or_else(|| listed.get(&text).copied()) {
                Some(i) => i,
                None => {
                    s.kept.push(Kept {
                        labels: text.clone(),
                        active_at: a.active_at,
                        first_seen_pending: None,
                        first_seen_firing: None,
                        gone_at: None,
                    });
                    s.kept.len() - 1
                }
            };
            let k = &mut s.kept[i];
            match a.state.as_str() {
                "pending" => {
                    k.first_seen_pending.get_or_insert(now);
                }
                "firing" => {
                    k.first_seen_firing.get_or_insert(now);
                }
                _ => {}
            }
            listed.insert(text, i);
        }
        // Instances no longer listed have resolved (or stopped pending).
        for (_, i) in s.open.drain() {
            s.kept[i].gone_at = Some(now);
        }
        s.open = listed;
    }

    /// Poll until cancelled. Errors are recorded (and reported), not fatal:
    /// a missed poll only coarsens the timeline.
    pub async fn run(
        self,
        http: reqwest::Client,
        prometheus: crate::http::endpoint::Endpoint,
        every: Duration,
        cancel: CancellationToken,
    ) {
        crate::observe::tick_until(every, cancel, |late| {
            self.late(late);
            self.poll(&http, &prometheus, every)
        })
        .await
    }

    /// One poll of `/api/v1/alerts`, applied to the timelines.
    async fn poll(
        &self,
        http: &reqwest::Client,
        prometheus: &crate::http::endpoint::Endpoint,
        every: Duration,
    ) {
        let result = match prometheus
            .get(http, "/api/v1/alerts")
            .timeout(every.max(Duration::from_secs(1)))
            .send()
            .await
        {
            Ok(resp) => match resp.text().await {
                Ok(body) => parse(&body),
                Err(e) => Err(crate::http::http_error(&e)),
            },
            Err(e) => Err(crate::http::http_error(&e)),
        };
        match result {
            Ok(alerts) => self.apply(alerts, Utc::now()),
            Err(e) => {
                let mut s = self.inner.lock().expect("alert watch poisoned");
                if s.errors.len() < 20 {
                    s.errors.push(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = include_str!("../../../tests/fixtures/prometheus/api_v1_alerts.json");

    #[test]
    fn poll_lateness_is_kept_per_minute_and_bounded() {
        let mut l = Lateness::default();
        let t0 = std::time::Instant::now();
        let ms = Duration::from_millis;
        l.record(t0, ms(0));
        l.record(t0 + Duration::from_secs(30), ms(40));
        l.record(t0 + Duration::from_secs(61), ms(5));
        assert_eq!(l.minutes.len(), 2);
        assert_eq!((l.minutes[0].polls, l.minutes[0].max_late_ms), (2, 40.0));
        assert_eq!(l.minutes[0].mean_late_ms, 20.0);
        assert_eq!((l.minutes[1].minute, l.minutes[1].polls), (1, 1));
        for m in 2..LATENESS_MINUTES as u64 + 50 {
            l.record(t0 + Duration::from_secs(60 * m), ms(1));
        }
        assert_eq!(l.minutes.len(), LATENESS_MINUTES);
        assert_eq!(l.minutes.last().unwrap().polls, 51);
    }

    #[test]
    fn parses_a_real_answer() {
        let alerts = parse(BODY).unwrap();
        assert!(!alerts.is_empty());
        assert!(alerts.iter().all(|a| a.labels.contains_key("alertname")));
        assert!(alerts.iter().all(|a| a.active_at.is_some()));
    }

    #[test]
    fn errors_are_never_an_empty_list() {
        assert!(parse(r#"{"status":"error","errorType":"internal","error":"boom"}"#).is_err());
        assert!(parse("<html>502</html>").is_err());
        assert!(
            parse(r#"{"status":"success","data":{"alerts":[]}}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn timeline_goes_pending_firing_gone() {
        let w = AlertWatch::default();
        let mk = |state: &str| ApiAlert {
            labels: [
                ("alertname".to_string(), "ServiceDown".to_string()),
                ("job".into(), "backend-api".into()),
            ]
            .into(),
            state: state.into(),
            active_at: Some("2026-01-01T00:00:00Z".parse().unwrap()),
        };
        let t0: DateTime<Utc> = "2026-01-01T00:00:01Z".parse().unwrap();
        w.apply(vec![mk("pending")], t0);
        w.apply(vec![mk("firing")], t0 + chrono::Duration::seconds(6));
        w.apply(vec![], t0 + chrono::Duration::seconds(20));
        let t = &w.timelines()[0];
        assert_eq!(t.first_seen_pending, Some(t0));
        assert_eq!(t.first_seen_firing, Some(t0 + chrono::Duration::seconds(6)));
        assert_eq!(t.gone_at, Some(t0 + chrono::Duration::seconds(20)));
        assert!(t.matches("ServiceDown", &[("job".into(), "backend-api".into())]));
        assert!(!t.matches("ServiceDown", &[("job".into(), "ml-engine".into())]));
        // Firing again later opens a new timeline.
        w.apply(vec![mk("firing")], t0 + chrono::Duration::seconds(30));
        assert_eq!(w.timelines().len(), 2);
    }

    /// A rule on a per-job series goes pending once per job: each job is
    /// an instance of its own, kept after it is gone, and the live view
    /// lists only those still listed.
    #[test]
    fn churning_instances_are_all_kept_and_only_the_listed_ones_are_open() {
        let w = AlertWatch::default();
        let job = |i: u32| ApiAlert {
            labels: [
                (
                    "alertname".to_string(),
                    "TrainingJobRunningLong".to_string(),
                ),
                ("job_id".into(), format!("job_{i}")),
                ("tenant_id".into(), "tenant \"7\"\n".into()),
            ]
            .into(),
            state: "pending".into(),
            active_at: None,
        };
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        for i in 1..=500u32 {
            let at = t0 + chrono::Duration::seconds(i64::from(i));
            w.apply(vec![job(i - 1), job(i)], at);
        }
        let all = w.timelines();
        assert_eq!(all.len(), 501);
        assert_eq!(all[7].labels["job_id"], "job_7");
        assert_eq!(all[7].labels["tenant_id"], "tenant \"7\"\n");
        assert_eq!(all[7].name, "TrainingJobRunningLong");
        let (pending, gone) = (all[7].first_seen_pending.unwrap(), all[7].gone_at.unwrap());
        assert_eq!((gone - pending).num_seconds(), 2, "listed in two polls");
        let open = w.open();
        assert_eq!(
            open.iter()
                .map(|t| t.labels["job_id"].as_str())
                .collect::<Vec<_>>(),
            ["job_499", "job_500"]
        );
        assert!(open.iter().all(|t| t.gone_at.is_none()));
        assert_eq!(all.iter().filter(|t| t.gone_at.is_none()).count(), 2);
    }
}
