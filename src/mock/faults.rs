//! Fault knobs of a mock service, set through its admin API:
//!
//! | request | effect |
//! |---|---|
//! | `GET /admin/faults` | the knobs in force, as JSON |
//! | `PUT /admin/faults` with a [`Knobs`] body | replace all knobs |
//! | `DELETE /admin/faults` | clear all knobs |
//!
//! Knobs: `latency` (`fixed_ms` + uniform `jitter_ms`, optionally for one
//! `endpoint`), `error_rate` (`ratio` of requests answered `status`),
//! `hang` (requests wait until the knob is cleared, at most 5 minutes),
//! `cache_miss_ratio` (share of cache lookups forced to miss),
//! `memory_ballast_mb` (memory held and touched). Every change is logged
//! and counted (`zeta_mock_fault_changes_total`,
//! `zeta_mock_fault_active{kind}`).

use std::sync::{Mutex, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub const HANG_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<ErrorRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang: Option<Hang>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_miss_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_ballast_mb: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub fixed_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRate {
    pub ratio: f64,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

fn default_status() -> u16 {
    500
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hang {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Knobs {
    /// Every problem with the values, for a 400 answer.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(l) = &self.latency {
            if l.fixed_ms + l.jitter_ms > 600_000 {
                out.push("latency: fixed_ms + jitter_ms must be at most 600000".into());
            }
        }
        if let Some(e) = &self.error_rate {
            if !(0.0..=1.0).contains(&e.ratio) {
                out.push(format!(
                    "error_rate.ratio: expected 0 to 1, found {}",
                    e.ratio
                ));
            }
            if !(400..=599).contains(&e.status) {
                out.push(format!(
                    "error_rate.status: expected 400 to 599, found {}",
                    e.status
                ));
            }
        }
        if let Some(r) = self.cache_miss_ratio {
            if !(0.0..=1.0).contains(&r) {
                out.push(format!("cache_miss_ratio: expected 0 to 1, found {r}"));
            }
        }
        if let Some(mb) = self.memory_ballast_mb {
            if mb > 16_384 {
                out.push(format!(
                    "memory_ballast_mb: expected at most 16384, found {mb}"
                ));
            }
        }
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// What the request path should do about faults.
pub enum Verdict {
    Proceed,
    Fail(StatusCode),
}

pub struct Faults {
    service: &'static str,
    knobs: RwLock<Knobs>,
    ballast: Mutex<Vec<u8>>,
    cleared: Notify,
    changes: Counter,
    active: Family<KindLabel, Gauge>,
    ballast_bytes: Gauge,
}

fn applies(endpoint_filter: &Option<String>, endpoint: &str) -> bool {
    endpoint_filter.as_deref().is_none_or(|f| f == endpoint)
}

impl Faults {
    pub fn new(service: &'static str, registry: &mut Registry) -> Faults {
        let f = Faults {
            service,
            knobs: RwLock::new(Knobs::default()),
            ballast: Mutex::new(Vec::new()),
            cleared: Notify::new(),
            changes: Counter::default(),
            active: Family::default(),
            ballast_bytes: Gauge::default(),
        };
        registry.register(
            "zeta_mock_fault_changes",
            "Changes made through the fault admin API",
            f.changes.clone(),
        );
        registry.register(
            "zeta_mock_fault_active",
            "1 while a fault knob is set",
            f.active.clone(),
        );
        registry.register(
            "zeta_mock_memory_ballast_bytes",
            "Memory held by the memory_ballast knob",
            f.ballast_bytes.clone(),
        );
        for kind in [
            "latency",
            "error_rate",
            "hang",
            "cache_miss_ratio",
            "memory_ballast",
        ] {
            f.active.get_or_create(&KindLabel { kind }).set(0);
        }
        f
    }

    pub fn knobs(&self) -> Knobs {
        self.knobs.read().expect("fault knobs poisoned").clone()
    }

    /// Replace the knobs; returns the log message describing the change.
    pub fn set(&self, knobs: Knobs) -> String {
        let mb = knobs.memory_ballast_mb.unwrap_or(0) as usize;
        {
            let mut ballast = self.ballast.lock().expect("ballast poisoned");
            if ballast.len() != mb << 20 {
                // vec![1; n] writes every byte, so the memory is resident.
                *ballast = vec![1u8; mb << 20];
            }
            self.ballast_bytes.set(ballast.len() as i64);
        }
        let flags = [
            ("latency", knobs.latency.is_some()),
            ("error_rate", knobs.error_rate.is_some()),
            ("hang", knobs.hang.is_some()),
            ("cache_miss_ratio", knobs.cache_miss_ratio.is_some()),
            ("memory_ballast", mb > 0),
        ];
        for (kind, on) in flags {
            self.active
                .get_or_create(&KindLabel { kind })
                .set(i64::from(on));
        }
        let text = serde_json::to_string(&knobs).unwrap_or_default();
        *self.knobs.write().expect("fault knobs poisoned") = knobs;
        self.changes.inc();
        self.cleared.notify_waiters();
        format!("fault knobs set on {}: {text}", self.service)
    }

    /// Apply latency, hang and error knobs to one request.
    pub async fn before(&self, endpoint: &str) -> Verdict {
        let knobs = self.knobs();
        if knobs
            .hang
            .as_ref()
            .is_some_and(|h| applies(&h.endpoint, endpoint))
        {
            let deadline = tokio::time::Instant::now() + HANG_MAX;
            loop {
                let still = self
                    .knobs()
                    .hang
                    .as_ref()
                    .is_some_and(|h| applies(&h.endpoint, endpoint));
                if !still || tokio::time::Instant::now() >= deadline {
                    break;
                }
                let notified = self.cleared.notified();
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        }
        if let Some(l) = knobs
            .latency
            .as_ref()
            .filter(|l| applies(&l.endpoint, endpoint))
        {
            let jitter = if l.jitter_ms > 0 {
                rand::rng().random_range(0..=l.jitter_ms)
            } else {
                0
            };
            tokio::time::sleep(Duration::from_millis(l.fixed_ms + jitter)).await;
        }
        if let Some(e) = knobs
            .error_rate
            .as_ref()
            .filter(|e| applies(&e.endpoint, endpoint))
        {
            if rand::rng().random_bool(e.ratio.clamp(0.0, 1.0)) {
                return Verdict::Fail(
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                );
            }
        }
        Verdict::Proceed
    }

    /// Whether this cache lookup must miss.
    pub fn force_cache_miss(&self) -> bool {
        match self.knobs().cache_miss_ratio {
            Some(r) if r > 0.0 => rand::rng().random_bool(r.clamp(0.0, 1.0)),
            _ => false,
        }
    }
}

pub async fn get_knobs(State(f): State<std::sync::Arc<super::kit::Kit>>) -> Response {
    Json(f.faults.knobs()).into_response()
}

pub async fn put_knobs(
    State(kit): State<std::sync::Arc<super::kit::Kit>>,
    body: Result<Json<Knobs>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let knobs = match body {
        Ok(Json(k)) => k,
        Err(r) => {
            return (
                r.status(),
                Json(serde_json::json!({"error": r.body_text()})),
            )
                .into_response();
        }
    };
    let problems = knobs.problems();
    if !problems.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": problems.join("; ")})),
        )
            .into_response();
    }
    let msg = kit.faults.set(knobs);
    kit.log.event(kit.service, "WARNING", &msg);
    Json(kit.faults.knobs()).into_response()
}

pub async fn delete_knobs(State(kit): State<std::sync::Arc<super::kit::Kit>>) -> Response {
    let msg = kit.faults.set(Knobs::default());
    kit.log.event(kit.service, "WARNING", &msg);
    Json(kit.faults.knobs()).into_response()
}
