//! The harness's notification receivers: what Alertmanager sends to Slack
//! (incoming-webhook JSON, answered `ok`), to PagerDuty (Events API v2,
//! answered 202) and to generic webhooks (Alertmanager's webhook JSON).
//!
//! Each notification is recorded with its arrival time, where it landed
//! (Slack channel from the payload, PagerDuty, webhook name) and which
//! alerts it carried. Slack and PagerDuty payloads are text rendered by the
//! stack's templates, so alerts are recognised by their rule names appearing
//! as words in that text; a notification naming no known alert is kept and
//! reported as unattributed rather than dropped.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;

use super::destination::Destination;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    Firing,
    Resolved,
    Unknown,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Notification {
    pub at: DateTime<Utc>,
    pub destination: Destination,
    /// The Alertmanager receiver that sent it.
    pub receiver: String,
    pub status: NotificationStatus,
    /// Alert names recognised in it.
    pub alerts: Vec<String>,
    /// Title or summary, shortened, for the report.
    pub summary: String,
}

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
    known_alerts: Vec<String>,
    log: Mutex<Vec<Notification>>,
    arrived: Notify,
}

impl Receivers {
    /// `known_alerts`: the rule names to recognise in message text.
    pub fn new(known_alerts: Vec<String>) -> Self {
        Receivers {
            inner: Arc::new(Inner {
                secret: crate::secret::random(),
                refused: std::sync::atomic::AtomicU64::new(0),
                known_alerts,
                log: Mutex::new(Vec::new()),
                arrived: Notify::new(),
            }),
        }
    }

    fn routes(&self) -> Router<Receivers> {
        Router::new()
            .route("/slack/{receiver}", post(slack))
            .route("/pagerduty/{receiver}", post(pagerduty))
            .route("/webhook/{receiver}", post(webhook))
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

    pub fn notifications(&self) -> Vec<Notification> {
        self.inner
            .log
            .lock()
            .expect("receiver log poisoned")
            .clone()
    }

    /// Resolves when the next notification arrives.
    pub async fn arrived(&self) {
        self.inner.arrived.notified().await;
    }

    fn record(&self, n: Notification) {
        self.inner
            .log
            .lock()
            .expect("receiver log poisoned")
            .push(n);
        self.inner.arrived.notify_waiters();
    }

    fn recognise(&self, text: &str) -> Vec<String> {
        self.inner
            .known_alerts
            .iter()
            .filter(|name| contains_word(text, name))
            .cloned()
            .collect()
    }
}

/// Anything but a notification on the receivers' path: refused, counted.
async fn refuse(State(r): State<Receivers>) -> StatusCode {
    r.inner
        .refused
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    StatusCode::NOT_FOUND
}

/// `name` appears in `text` with no identifier character on either side.
fn contains_word(text: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
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

async fn slack(
    State(r): State<Receivers>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let mut texts = vec![str_at(&body, "text").to_string()];
    let mut title = String::new();
    let mut colors = Vec::new();
    for a in body["attachments"].as_array().into_iter().flatten() {
        for key in ["title", "pretext", "text", "fallback"] {
            texts.push(str_at(a, key).to_string());
        }
        for f in a["fields"].as_array().into_iter().flatten() {
            texts.push(format!("{} {}", str_at(f, "title"), str_at(f, "value")));
        }
        if title.is_empty() {
            title = str_at(a, "title").to_string();
        }
        colors.push(str_at(a, "color").to_string());
    }
    let all = texts.join("\n");
    let upper = all.to_uppercase();
    let status = if upper.contains("RESOLVED") {
        NotificationStatus::Resolved
    } else if upper.contains("FIRING") {
        NotificationStatus::Firing
    } else if colors.iter().any(|c| c == "good") {
        NotificationStatus::Resolved
    } else if colors.iter().any(|c| c == "danger" || c == "warning") {
        NotificationStatus::Firing
    } else {
        NotificationStatus::Unknown
    };
    let channel = str_at(&body, "channel");
    let destination = Destination::Slack(if channel.is_empty() {
        "#(webhook default)".to_string()
    } else {
        channel.to_string()
    });
    r.record(Notification {
        at: Utc::now(),
        destination,
        receiver,
        status,
        alerts: r.recognise(&all),
        summary: shorten(if title.is_empty() { &all } else { &title }),
    });
    (StatusCode::OK, "ok")
}

async fn pagerduty(
    State(r): State<Receivers>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let status = match str_at(&body, "event_action") {
        "trigger" => NotificationStatus::Firing,
        "resolve" => NotificationStatus::Resolved,
        _ => NotificationStatus::Unknown,
    };
    let summary = body["payload"]["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let text = format!("{summary}\n{}", body["payload"]["custom_details"]);
    r.record(Notification {
        at: Utc::now(),
        destination: Destination::PagerDuty,
        receiver,
        status,
        alerts: r.recognise(&text),
        summary: shorten(&summary),
    });
    let dedup = str_at(&body, "dedup_key").to_string();
    (
        StatusCode::ACCEPTED,
        Json(
            serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": dedup}),
        ),
    )
}

async fn webhook(
    State(r): State<Receivers>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let at = Utc::now();
    let mut by_status: Vec<(NotificationStatus, Vec<String>)> = Vec::new();
    for a in body["alerts"].as_array().into_iter().flatten() {
        let status = match str_at(a, "status") {
            "firing" => NotificationStatus::Firing,
            "resolved" => NotificationStatus::Resolved,
            _ => NotificationStatus::Unknown,
        };
        let name = a["labels"]["alertname"].as_str().unwrap_or("").to_string();
        match by_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, names)) if !names.contains(&name) => names.push(name),
            Some(_) => {}
            None => by_status.push((status, vec![name])),
        }
    }
    for (status, alerts) in by_status {
        r.record(Notification {
            at,
            destination: Destination::Webhook(receiver.clone()),
            receiver: receiver.clone(),
            status,
            summary: alerts.join(", "),
            alerts,
        });
    }
    (StatusCode::OK, "ok")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn receivers() -> Receivers {
        Receivers::new(vec![
            "ServiceDown".into(),
            "HighErrorRate".into(),
            "Down".into(),
        ])
    }

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

    #[test]
    fn whole_words_only() {
        assert!(contains_word(
            "[FIRING:1] ServiceDown (backend-api)",
            "ServiceDown"
        ));
        assert!(!contains_word("[FIRING:1] ServiceDown", "Down"));
        assert!(contains_word("alertname = Down\n", "Down"));
    }

    #[tokio::test]
    async fn slack_payload_as_alertmanager_sends_it() {
        let r = receivers();
        // Alertmanager 0.25 default Slack payload shape.
        let body = r##"{"channel":"#zeta-critical-alerts","username":"Alertmanager","attachments":[{"title":"[FIRING:1] ServiceDown (backend-api critical)","title_link":"http://am/#/alerts","text":"","fallback":"[FIRING:1] ServiceDown | http://am","callback_id":"","footer":"","color":"danger","mrkdwn_in":["fallback","pretext","text"]}]}"##;
        assert_eq!(post(&r, "/slack/critical", body).await, StatusCode::OK);
        let n = &r.notifications()[0];
        assert_eq!(
            n.destination,
            Destination::Slack("#zeta-critical-alerts".into())
        );
        assert_eq!(n.status, NotificationStatus::Firing);
        assert_eq!(n.alerts, vec!["ServiceDown".to_string()]);
        assert_eq!(n.receiver, "critical");
    }

    #[tokio::test]
    async fn pagerduty_events_v2() {
        let r = receivers();
        let body = r#"{"routing_key":"zeta-bench-routing-key","dedup_key":"abc","event_action":"resolve","payload":{"summary":"[RESOLVED] ServiceDown (backend-api critical)","source":"Alertmanager","severity":"critical","custom_details":{"firing":"","resolved":"Labels:\n - alertname = ServiceDown\n","num_firing":"0","num_resolved":"1"}},"client":"Alertmanager"}"#;
        assert_eq!(
            post(&r, "/pagerduty/critical", body).await,
            StatusCode::ACCEPTED
        );
        let n = &r.notifications()[0];
        assert_eq!(n.destination, Destination::PagerDuty);
        assert_eq!(n.status, NotificationStatus::Resolved);
        assert_eq!(n.alerts, vec!["ServiceDown".to_string()]);
    }

    #[tokio::test]
    async fn webhook_fixture_from_alertmanager_docs() {
        let r = receivers();
        let body =
            include_str!("../../tests/fixtures/alertmanager/webhook_v4_firing_3_alerts.json");
        assert_eq!(post(&r, "/webhook/ops", body).await, StatusCode::OK);
        let ns = r.notifications();
        assert!(!ns.is_empty());
        assert!(
            ns.iter()
                .all(|n| n.destination == Destination::Webhook("ops".into()))
        );
        assert!(ns.iter().any(|n| n.status == NotificationStatus::Firing));
    }

    #[tokio::test]
    async fn malformed_json_is_rejected_not_recorded() {
        let r = receivers();
        let status = post(&r, "/slack/x", "{not json").await;
        assert!(status.is_client_error());
        assert!(r.notifications().is_empty());
    }

    #[tokio::test]
    async fn a_notification_without_the_run_path_is_refused_and_counted() {
        let r = receivers();
        let body = r##"{"channel":"#zeta-critical-alerts","text":"[FIRING:1] ServiceDown"}"##;
        assert_eq!(
            post_raw(&r, "/slack/critical", body).await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            post_raw(&r, "/wrong-secret/slack/critical", body).await,
            StatusCode::NOT_FOUND
        );
        assert!(
            r.notifications().is_empty(),
            "a forged one counts for nothing"
        );
        assert_eq!(r.refused(), 2);
        assert_eq!(r.path_prefix().len(), 33);
        assert_eq!(post(&r, "/slack/critical", body).await, StatusCode::OK);
        assert_eq!(r.notifications().len(), 1);
    }
}
