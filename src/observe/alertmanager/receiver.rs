//! The harness's notification receivers: what Alertmanager sends to Slack
//! (incoming-webhook JSON, answered `ok`), to PagerDuty (Events API v2,
//! answered 202), to generic webhooks (Alertmanager's webhook JSON), and to
//! the harness's own tap on every receiver.
//!
//! Each payload is recorded as it arrived; which alert instances each one
//! carried is worked out from those arrivals by [`crate::observe::alertmanager::attribution`]
//! (the tap and Slack `callback_id` mechanism is explained there). A
//! notification that cannot be attributed is kept and reported as
//! unattributed, carrying no alert.
//!
//! Under a `receiver_failing` or `receiver_slow` fault a receiver answers
//! 5xx, never answers, or answers late ([`crate::mock::receivers`]); each
//! attempt it turned away or held is recorded as an [`Attempt`], the
//! receiver-side evidence of Alertmanager's retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;

use crate::mock::receivers::{ReceiverFault, ReceiverSwitch};
use crate::observe::alertmanager::attribution::{self, Arrival, ArrivalKind};
use crate::observe::alertmanager::destination::Destination;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Firing,
    Resolved,
    Unknown,
}

/// One alert instance a notification carried, in the state it carried it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct NotifiedAlert {
    pub name: String,
    /// The full label set, as Alertmanager holds it.
    pub labels: BTreeMap<String, String>,
    pub fingerprint: String,
    pub status: NotificationStatus,
}

/// Results of schema version 1 listed alert names only: read those as
/// instances known by name, in an unknown state (they count for nothing).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum NotifiedAlertRepr {
    Name(String),
    Full {
        name: String,
        labels: BTreeMap<String, String>,
        fingerprint: String,
        status: NotificationStatus,
    },
}

impl From<NotifiedAlertRepr> for NotifiedAlert {
    fn from(r: NotifiedAlertRepr) -> Self {
        match r {
            NotifiedAlertRepr::Name(name) => NotifiedAlert {
                labels: BTreeMap::from([("alertname".to_string(), name.clone())]),
                name,
                fingerprint: String::new(),
                status: NotificationStatus::Unknown,
            },
            NotifiedAlertRepr::Full {
                name,
                labels,
                fingerprint,
                status,
            } => NotifiedAlert {
                name,
                labels,
                fingerprint,
                status,
            },
        }
    }
}

fn alerts_any_version<'de, D>(d: D) -> Result<Vec<NotifiedAlert>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let reprs: Vec<NotifiedAlertRepr> = serde::Deserialize::deserialize(d)?;
    Ok(reprs.into_iter().map(NotifiedAlert::from).collect())
}

impl NotifiedAlert {
    /// `Name{label="value", …}` without `alertname`.
    pub fn display(&self) -> String {
        let inner: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name, inner.join(", "))
    }

    /// This instance is `name` with every one of `labels`.
    pub fn is(&self, name: &str, labels: &[(String, String)]) -> bool {
        self.name == name
            && crate::observe::prometheus::alerts::has_labels(
                &self.labels,
                labels.iter().map(|(k, v)| (k, v)),
            )
    }
}

/// How a notification's alerts were known.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "by", content = "why")]
pub enum Attribution {
    /// A webhook payload lists its alerts.
    Payload,
    /// The harness's Slack `callback_id` listed their fingerprints.
    CallbackId,
    /// A PagerDuty `dedup_key` named the tap flush of its group.
    GroupKey,
    /// The only tap flush of the receiver at that moment.
    ReceiverFlush,
    /// Not attributed, and why: it counts for nothing.
    Unattributed(String),
}

impl Default for Attribution {
    /// What a result of schema version 1 recorded: rule names read from
    /// text, no instances.
    fn default() -> Self {
        Attribution::Unattributed("recorded by zeta-bench before attribution by instance".into())
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Notification {
    pub at: DateTime<Utc>,
    pub destination: Destination,
    /// The Alertmanager receiver that sent it.
    pub receiver: String,
    /// Firing when any alert it carried was firing.
    pub status: NotificationStatus,
    /// The alert instances it carried, each with its own status.
    #[serde(deserialize_with = "alerts_any_version")]
    pub alerts: Vec<NotifiedAlert>,
    #[serde(default)]
    pub attribution: Attribution,
    /// Title or summary, shortened, for the report.
    pub summary: String,
}

impl Notification {
    /// It carried an instance of `name` with `labels` in state `status`.
    pub fn carries(
        &self,
        name: &str,
        labels: &[(String, String)],
        status: NotificationStatus,
    ) -> bool {
        self.alerts
            .iter()
            .any(|a| a.status == status && a.is(name, labels))
    }

    /// The rule names it carried, each once.
    pub fn alert_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.alerts.iter().map(|a| a.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Every (instance, destination) whose latest notification there carried
/// it firing: a page nobody was told had cleared. Instances are told
/// apart by fingerprint.
pub fn still_firing(ns: &[Notification]) -> Vec<(&NotifiedAlert, &Destination)> {
    let mut last: BTreeMap<(&str, &Destination), &NotifiedAlert> = BTreeMap::new();
    let mut order: Vec<&Notification> = ns.iter().collect();
    order.sort_by_key(|n| n.at);
    for n in order {
        for a in &n.alerts {
            last.insert((a.fingerprint.as_str(), &n.destination), a);
        }
    }
    last.into_iter()
        .filter(|(_, a)| a.status == NotificationStatus::Firing)
        .map(|((_, d), a)| (a, d))
        .collect()
}

/// A delivery attempt a receiver under a fault turned away (answered
/// 5xx), held without answering, or answered late.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// `pagerduty`, `slack` or `webhook`.
    pub service: String,
    /// The Alertmanager receiver that sent it.
    pub receiver: String,
    /// `500`, `no answer`, or `answered after 2s` (then also recorded as
    /// a notification).
    pub answer: String,
}

/// At most this many attempts are kept (a fault that outlasts a long run
/// must not grow the record without bound); later ones are counted.
const MAX_ATTEMPTS: usize = 10_000;

/// How long a receiver that does not answer holds a request: longer than
/// any notification timeout Alertmanager uses, bounded all the same.
const NO_ANSWER_HOLD: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Clone)]
pub struct Receivers {
    inner: Arc<Inner>,
}

struct Inner {
    /// A random path segment only the rendered Alertmanager config knows:
    /// a notification posted anywhere else is refused and counted, so a
    /// forged one cannot make MTTD or delivery pass.
    secret: String,
    refused: std::sync::atomic::AtomicU64,
    log: Mutex<Vec<Arrival>>,
    arrived: Notify,
    switch: ReceiverSwitch,
    attempts: Mutex<(Vec<Attempt>, u64)>,
}

impl Default for Receivers {
    fn default() -> Self {
        Self::new()
    }
}

impl Receivers {
    pub fn new() -> Self {
        Receivers {
            inner: Arc::new(Inner {
                secret: crate::secret::random(),
                refused: std::sync::atomic::AtomicU64::new(0),
                log: Mutex::new(Vec::new()),
                arrived: Notify::new(),
                switch: ReceiverSwitch::default(),
                attempts: Mutex::new((Vec::new(), 0)),
            }),
        }
    }

    fn routes(&self) -> Router<Receivers> {
        Router::new()
            .route("/slack/{receiver}", post(slack))
            .route("/pagerduty/{receiver}", post(pagerduty))
            .route("/webhook/{receiver}", post(webhook))
            .route("/tap/{receiver}", post(tap))
    }

    /// The receivers under their per-run path (`/<secret>/slack/…`);
    /// anything else is refused and counted.
    pub fn router(&self) -> Router {
        Router::new()
            .nest(&self.path_prefix(), self.routes())
            .fallback(refuse)
            .with_state(self.clone())
    }

    /// `/<secret>`: where the receivers listen.
    pub fn path_prefix(&self) -> String {
        format!("/{}", self.inner.secret)
    }

    /// Requests refused for want of the per-run path (forged or
    /// misdirected notifications).
    pub fn refused(&self) -> u64 {
        self.inner
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serve on a free loopback port; returns the base URL, per-run path
    /// included (it appears only in the rendered Alertmanager config).
    pub async fn serve(
        &self,
        cancel: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
        let (base, task) = crate::http::serve_loopback(self.router(), cancel).await?;
        Ok((format!("{base}{}", self.path_prefix()), task))
    }

    /// Serve on a fixed address (`stack.receivers`), for an Alertmanager
    /// the harness did not configure: its team writes the URLs by hand, so
    /// these listen at `/slack/…` without a per-run path.
    pub async fn serve_on(
        &self,
        addr: std::net::SocketAddr,
        cancel: tokio_util::sync::CancellationToken,
    ) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
        let open = self.routes().fallback(refuse).with_state(self.clone());
        crate::http::serve_on(addr, open, cancel).await
    }

    /// Every notification so far (taps excluded), attributed.
    pub fn notifications(&self) -> Vec<Notification> {
        let log = self.inner.log.lock().expect("receiver log poisoned");
        attribution::attribute(&log)
    }

    /// The switch that makes these receivers fail (shared: faults set it).
    pub fn switch(&self) -> ReceiverSwitch {
        self.inner.switch.clone()
    }

    /// The attempts turned away, held or delayed by a receiver fault, and
    /// how many more there were beyond those kept.
    pub fn attempts(&self) -> (Vec<Attempt>, u64) {
        self.inner
            .attempts
            .lock()
            .expect("receiver attempts poisoned")
            .clone()
    }

    /// What `service`'s receiver does with this notification while a fault
    /// is in force: `Some(response)` when it does not take it (answered
    /// 5xx, or held and never answered); `None` to take it, after any delay.
    async fn misbehave(&self, service: &str, receiver: &str) -> Option<axum::response::Response> {
        let fault = self.inner.switch.get(service)?;
        let answer = match fault {
            ReceiverFault::Error { status } => status.to_string(),
            ReceiverFault::NoAnswer => "no answer".to_string(),
            ReceiverFault::Slow { delay } => {
                format!(
                    "answered after {}",
                    crate::input::units::human_duration(delay)
                )
            }
        };
        self.attempt(service, receiver, answer);
        match fault {
            ReceiverFault::Error { status } => Some(
                StatusCode::from_u16(status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                    .into_response(),
            ),
            ReceiverFault::NoAnswer => {
                tokio::time::sleep(NO_ANSWER_HOLD).await;
                Some(StatusCode::GATEWAY_TIMEOUT.into_response())
            }
            ReceiverFault::Slow { delay } => {
                tokio::time::sleep(delay).await;
                None
            }
        }
    }

    fn attempt(&self, service: &str, receiver: &str, answer: String) {
        let mut a = self
            .inner
            .attempts
            .lock()
            .expect("receiver attempts poisoned");
        if a.0.len() < MAX_ATTEMPTS {
            a.0.push(Attempt {
                at: Utc::now(),
                service: service.to_string(),
                receiver: receiver.to_string(),
                answer,
            });
        } else {
            a.1 += 1;
        }
    }

    /// Resolves when the next payload arrives.
    pub async fn arrived(&self) {
        self.inner.arrived.notified().await;
    }

    fn record(&self, receiver: String, kind: ArrivalKind) {
        self.inner
            .log
            .lock()
            .expect("receiver log poisoned")
            .push(Arrival {
                at: Utc::now(),
                receiver,
                kind,
            });
        self.inner.arrived.notify_waiters();
    }
}

/// Anything but a notification on the receivers' path: refused, counted.
async fn refuse(State(r): State<Receivers>) -> StatusCode {
    r.inner
        .refused
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    StatusCode::NOT_FOUND
}

fn shorten(s: &str) -> String {
    let line = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_string()
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Status as a Slack message's text and colours suggest: shown for a
/// message that cannot be attributed, never used to judge.
fn slack_text_status(all: &str, colors: &[&str]) -> NotificationStatus {
    let upper = all.to_uppercase();
    if upper.contains("FIRING") {
        NotificationStatus::Firing
    } else if upper.contains("RESOLVED") || colors.contains(&"good") {
        NotificationStatus::Resolved
    } else if colors.iter().any(|c| *c == "danger" || *c == "warning") {
        NotificationStatus::Firing
    } else {
        NotificationStatus::Unknown
    }
}

async fn slack(
    State(r): State<Receivers>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    if let Some(turned_away) = r.misbehave("slack", &receiver).await {
        return turned_away;
    }
    let mut texts = vec![str_at(&body, "text").to_string()];
    let mut title = String::new();
    let mut colors = Vec::new();
    let mut callback = None;
    for a in body["attachments"].as_array().into_iter().flatten() {
        for key in ["title", "pretext", "text", "fallback"] {
            texts.push(str_at(a, key).to_string());
        }
        if title.is_empty() {
            title = str_at(a, "title").to_string();
        }
        colors.push(str_at(a, "color"));
        callback = callback.or_else(|| attribution::parse_callback(str_at(a, "callback_id")));
    }
    let all = texts.join("\n");
    let channel = str_at(&body, "channel");
    let kind = ArrivalKind::Slack {
        channel: if channel.is_empty() {
            "#(webhook default)".to_string()
        } else {
            channel.to_string()
        },
        callback,
        text_status: slack_text_status(&all, &colors),
        summary: shorten(if title.is_empty() { &all } else { &title }),
    };
    r.record(receiver, kind);
    (StatusCode::OK, "ok").into_response()
}

async fn pagerduty(
    State(r): State<Receivers>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    if let Some(turned_away) = r.misbehave("pagerduty", &receiver).await {
        return turned_away;
    }
    let status = match str_at(&body, "event_action") {
        "trigger" => NotificationStatus::Firing,
        "resolve" => NotificationStatus::Resolved,
        _ => NotificationStatus::Unknown,
    };
    let dedup = str_at(&body, "dedup_key").to_string();
    let kind = ArrivalKind::PagerDuty {
        dedup_key: dedup.clone(),
        status,
        summary: shorten(body["payload"]["summary"].as_str().unwrap_or("")),
    };
    r.record(receiver, kind);
    (
        StatusCode::ACCEPTED,
        Json(
            serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": dedup}),
        ),
    )
        .into_response()
}

/// A webhook payload (a team webhook or the tap) recorded as `kind` of
/// its flush, or refused (400) when it is no webhook payload.
fn record_flush(
    r: &Receivers,
    receiver: String,
    body: &Value,
    kind: fn(attribution::Flush) -> ArrivalKind,
) -> axum::response::Response {
    match attribution::parse_flush(body) {
        Ok(flush) => {
            r.record(receiver, kind(flush));
            (StatusCode::OK, "ok").into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn webhook(
    State(r): State<Receivers>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    if let Some(turned_away) = r.misbehave("webhook", &receiver).await {
        return turned_away;
    }
    record_flush(&r, receiver, &body, |flush| ArrivalKind::Webhook { flush })
}

async fn tap(
    State(r): State<Receivers>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    record_flush(&r, receiver, &body, |flush| ArrivalKind::Tap { flush })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    const CAPTURED: &str = "../../tests/fixtures/alertmanager/captured-0.25";

    async fn post(r: &Receivers, path: &str, body: &str) -> StatusCode {
        post_raw(r, &format!("{}{path}", r.path_prefix()), body).await
    }

    async fn post_raw(r: &Receivers, path: &str, body: &str) -> StatusCode {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        r.router().oneshot(req).await.unwrap().status()
    }

    fn captured(name: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/observe");
        std::fs::read_to_string(dir.join(CAPTURED).join(name)).unwrap()
    }

    #[tokio::test]
    async fn slack_and_pagerduty_are_attributed_through_the_tap() {
        let r = Receivers::new();
        assert_eq!(
            post(&r, "/slack/critical", &captured("slack-1.json")).await,
            StatusCode::OK
        );
        assert_eq!(
            post(&r, "/pagerduty/critical", &captured("pagerduty-1.json")).await,
            StatusCode::ACCEPTED
        );
        // Before the tap's flush arrives, neither can be attributed.
        assert!(r.notifications().iter().all(|n| n.alerts.is_empty()));
        assert_eq!(
            post(&r, "/tap/critical", &captured("tap-1.json")).await,
            StatusCode::OK
        );
        let ns = r.notifications();
        assert_eq!(ns.len(), 2, "the tap is not a notification");
        let slack = &ns[0];
        assert_eq!(slack.destination, Destination::Slack("#c".into()));
        assert_eq!(slack.receiver, "critical");
        assert_eq!(slack.attribution, Attribution::CallbackId);
        let backend = [("job".to_string(), "backend-api".to_string())];
        assert!(slack.carries("ServiceDown", &backend, NotificationStatus::Firing));
        assert!(!slack.carries("ServiceDown", &backend, NotificationStatus::Resolved));
        assert_eq!(ns[1].destination, Destination::PagerDuty);
        assert_eq!(ns[1].attribution, Attribution::GroupKey);
        assert_eq!(ns[1].alert_names(), vec!["ServiceDown"]);
    }

    #[tokio::test]
    async fn webhook_fixture_from_alertmanager_docs() {
        let r = Receivers::new();
        let body =
            include_str!("../../../tests/fixtures/alertmanager/webhook_v4_firing_3_alerts.json");
        assert_eq!(post(&r, "/webhook/ops", body).await, StatusCode::OK);
        let ns = r.notifications();
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0].destination, Destination::Webhook("ops".into()));
        assert!(
            ns[0]
                .alerts
                .iter()
                .any(|a| a.status == NotificationStatus::Firing)
        );
        assert_eq!(
            post(&r, "/webhook/ops", r#"{"status": "firing"}"#).await,
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn malformed_json_is_rejected_not_recorded() {
        let r = Receivers::new();
        let status = post(&r, "/slack/x", "{not json").await;
        assert!(status.is_client_error());
        assert!(r.notifications().is_empty());
    }

    #[test]
    fn text_status_is_only_a_hint() {
        assert_eq!(
            slack_text_status("[FIRING:1] X", &[]),
            NotificationStatus::Firing
        );
        assert_eq!(
            slack_text_status("[RESOLVED] X", &[]),
            NotificationStatus::Resolved
        );
        assert_eq!(
            slack_text_status("x", &["good"]),
            NotificationStatus::Resolved
        );
        assert_eq!(slack_text_status("x", &[]), NotificationStatus::Unknown);
    }

    #[tokio::test]
    async fn a_notification_without_the_run_path_is_refused_and_counted() {
        let r = Receivers::new();
        let body = r##"{"channel":"#zeta-critical-alerts","text":"[FIRING:1] ServiceDown"}"##;
        assert_eq!(
            post_raw(&r, "/slack/critical", body).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            post_raw(&r, "/wrong-secret/slack/critical", body).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            post_raw(&r, "/tap/critical", &captured("tap-1.json")).await,
            StatusCode::NOT_FOUND
        );
        assert!(
            r.notifications().is_empty(),
            "a forged one counts for nothing"
        );
        assert_eq!(r.refused(), 3);
        assert_eq!(r.path_prefix().len(), 33);
        assert_eq!(post(&r, "/slack/critical", body).await, StatusCode::OK);
        assert_eq!(r.notifications().len(), 1);
        assert!(matches!(
            r.notifications()[0].attribution,
            Attribution::Unattributed(_)
        ));
    }
}
