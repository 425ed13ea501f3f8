//! When an `exec` fault took effect, seen from outside, by the probe its
//! `effect:` names: refused connections at the target's address (an
//! outage), the load engine's own error ratio or p95 latency crossing a
//! stated threshold, a PromQL expression that starts returning series, or
//! the fault's `check` command exiting 0. A fault whose effect is not seen
//! within its `effect_within` failed as a fault: the run is INCOMPLETE, not
//! a detection failure, because nothing was there to detect.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::exec::{self, DrillLog, Env};
use crate::http::endpoint::Endpoint;
use crate::load::engine::Live;
use crate::scenario::{Effect, ExecFault};

/// The load engine's snapshots, about once a second, while load runs.
pub type LiveLoad = tokio::sync::watch::Receiver<Option<Live>>;

/// What the probes may use.
pub struct Probes<'a> {
    pub target_url: Option<&'a str>,
    pub prometheus: &'a Endpoint,
    pub live: Option<&'a LiveLoad>,
    pub env: &'a Env,
    pub log: &'a DrillLog,
    pub fault: &'a str,
}

/// How often PromQL and `check` are tried.
const EVERY: Duration = Duration::from_millis(250);

/// When the effect was first seen and by which probe, or why it was not.
pub async fn seen(spec: &ExecFault, p: &Probes<'_>) -> Result<(DateTime<Utc>, String), String> {
    let within = spec.effect_within;
    let human = crate::input::units::human_duration(within);
    match &spec.effect {
        Effect::Down => {
            let addr = p
                .target_url
                .and_then(super::probe::address)
                .ok_or("effect: down needs the target's address, and the stack has none for it")?;
            super::probe::first_down_within(&addr, false, within).await
        }
        Effect::Promql(q) => promql(q, p, within).await,
        Effect::Check => {
            let cmd = spec
                .check
                .as_ref()
                .ok_or("effect: check, without a check command")?;
            check(cmd, p, within).await
        }
        Effect::ErrorRatio(r) => {
            load_crossing(
                p,
                within,
                |prev, now| error_ratio(prev, now) >= *r,
                &format!(
                    "the load engine's error ratio over one second reached {:.1}%",
                    r * 100.0
                ),
            )
            .await
        }
        Effect::Latency(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            load_crossing(
                p,
                within,
                |_, now| now.p95_ms >= ms,
                &format!("the load engine's p95 latency over one second reached {ms:.0} ms"),
            )
            .await
        }
    }
    .map_err(|why| format!("its effect was not seen within {human}: {why}"))
}

async fn promql(
    q: &str,
    p: &Probes<'_>,
    within: Duration,
) -> Result<(DateTime<Utc>, String), String> {
    let http = crate::http::endpoint::client(Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + within;
    let mut polls = 0u32;
    let mut last_error = None;
    while tokio::time::Instant::now() < deadline {
        polls += 1;
        let at = Utc::now();
        match query_holds(&http, p.prometheus, q, "the effect's PromQL query").await {
            Ok(true) => {
                return Ok((
                    at,
                    format!("the first of {polls} PromQL polls that returned a result: {q}"),
                ));
            }
            Ok(false) => {}
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(EVERY).await;
    }
    Err(match last_error {
        Some(e) => format!("{q} returned nothing in {polls} polls; the last error: {e}"),
        None => format!("{q} returned nothing in {polls} polls"),
    })
}

/// Whether the instant query `q` holds now at `prometheus` (see [`holds`]);
/// `what` names it in an error.
pub(super) async fn query_holds(
    http: &reqwest::Client,
    prometheus: &Endpoint,
    q: &str,
    what: &str,
) -> Result<bool, String> {
    let req = prometheus.get(http, "/api/v1/query").query(&[("query", q)]);
    crate::http::endpoint::api_data(req, what)
        .await
        .map(|data| holds(&data))
}

/// A vector or matrix with a series, or a scalar other than 0.
fn holds(data: &serde_json::Value) -> bool {
    match data["resultType"].as_str() {
        Some("vector" | "matrix") => data["result"].as_array().is_some_and(|r| !r.is_empty()),
        Some("scalar") => data["result"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v != 0.0 && !v.is_nan()),
        _ => false,
    }
}

async fn check(
    cmd: &crate::scenario::ExecCommand,
    p: &Probes<'_>,
    within: Duration,
) -> Result<(DateTime<Utc>, String), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut tries = 0u32;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        tries += 1;
        let at = Utc::now();
        let ran = exec::run(cmd, p.env, p.log, &format!("fault {} check", p.fault)).await?;
        if ran.ok() {
            return Ok((
                at,
                format!("the first of {tries} runs of the check command that exited 0"),
            ));
        }
        last = exec::describe_failure(cmd, &ran);
        tokio::time::sleep(EVERY).await;
    }
    Err(format!(
        "the check command never exited 0 in {tries} runs; the last: {last}"
    ))
}

/// The error ratio between two cumulative snapshots.
pub(super) fn error_ratio(prev: &Live, now: &Live) -> f64 {
    let sent = now.sent.saturating_sub(prev.sent);
    let errors = now.errors.saturating_sub(prev.errors);
    if sent == 0 {
        0.0
    } else {
        errors as f64 / sent as f64
    }
}

/// The first load snapshot for which `crossed(previous, now)` holds. The
/// snapshot describes the second before it, so the effect is dated a
/// second before it arrived.
async fn load_crossing(
    p: &Probes<'_>,
    within: Duration,
    crossed: impl Fn(&Live, &Live) -> bool,
    what: &str,
) -> Result<(DateTime<Utc>, String), String> {
    let mut live = p
        .live
        .cloned()
        .ok_or("the load engine's figures are not available")?;
    let mut prev: Option<Live> = live.borrow_and_update().clone();
    let outcome = tokio::time::timeout(within, async {
        loop {
            if live.changed().await.is_err() {
                return Err("the load ended first".to_string());
            }
            let now = live.borrow_and_update().clone();
            let Some(now) = now else { continue };
            if let Some(before) = &prev
                && crossed(before, &now)
            {
                let at = Utc::now() - chrono::Duration::seconds(1);
                return Ok((
                    at,
                    format!(
                        "{what} (second ending {})",
                        (at + chrono::Duration::seconds(1)).format("%H:%M:%S")
                    ),
                ));
            }
            prev = Some(now);
        }
    })
    .await;
    outcome.unwrap_or_else(|_| Err(format!("{what}: never")))
}

/// A load snapshot, for tests here and in [`super::halt`].
#[cfg(test)]
pub(super) fn live_for_tests(sent: u64, errors: u64, p95_ms: f64) -> Live {
    Live {
        phase: "p".into(),
        planned_rate: 10.0,
        elapsed: Duration::ZERO,
        total: Duration::from_secs(60),
        sent,
        errors,
        dropped: 0,
        in_flight: 0,
        p95_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(sent: u64, errors: u64, p95_ms: f64) -> Live {
        live_for_tests(sent, errors, p95_ms)
    }

    #[test]
    fn the_error_ratio_is_over_the_last_snapshot_not_the_whole_run() {
        assert_eq!(error_ratio(&live(1000, 0, 1.0), &live(1010, 5, 1.0)), 0.5);
        assert_eq!(error_ratio(&live(10, 0, 1.0), &live(10, 0, 1.0)), 0.0);
    }

    #[test]
    fn a_query_holds_when_it_returns_a_series_or_a_nonzero_scalar() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert!(holds(&v(
            r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}"#
        )));
        assert!(!holds(&v(r#"{"resultType":"vector","result":[]}"#)));
        assert!(holds(&v(r#"{"resultType":"scalar","result":[1,"2"]}"#)));
        assert!(!holds(&v(r#"{"resultType":"scalar","result":[1,"0"]}"#)));
    }

    #[tokio::test]
    async fn a_load_threshold_is_seen_on_the_first_snapshot_past_it() {
        let (tx, rx) = tokio::sync::watch::channel(Some(live(100, 0, 10.0)));
        let dir = tempfile::tempdir().unwrap();
        let env = Env::default();
        let log = DrillLog::in_dir(dir.path());
        let prom = Endpoint::new("http://127.0.0.1:1");
        let p = Probes {
            target_url: None,
            prometheus: &prom,
            live: Some(&rx),
            env: &env,
            log: &log,
            fault: "f",
        };
        let feeder = tokio::spawn(async move {
            for (s, e, ms) in [(110, 0, 10.0), (120, 1, 900.0), (130, 9, 900.0)] {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = tx.send(Some(live(s, e, ms)));
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let (_, how) = load_crossing(
            &p,
            Duration::from_secs(2),
            |a, b| error_ratio(a, b) >= 0.3,
            "errors",
        )
        .await
        .unwrap();
        assert!(how.starts_with("errors"), "{how}");
        feeder.abort();
    }
}
