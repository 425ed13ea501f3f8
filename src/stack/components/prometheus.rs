//! Prometheus: scrapes every target and evaluates the alert rules.
//!
//! Its catalogue entry and its start, which comes last so that its first
//! scrapes find every target up. Its configuration and rules as files, and
//! PromQL, are [`crate::stackfiles::prometheus`].

use std::time::{Duration, Instant};

use anyhow::bail;
use tokio_util::sync::CancellationToken;

use super::{Build, Component, Probe};
use crate::names::ComponentName;
use crate::scenario::FaultKind;
use crate::scenario::plan::scale;
use crate::stack::process::Ready;
use crate::stackfiles::prometheus::render;

/// Debian's and upstream's program name.
pub const PROGRAMS: &[&str] = &["prometheus"];

pub const COMPONENT: Component =
    Component::new(ComponentName::Prometheus, "Metrics queries & alerts")
        .compose("prometheus")
        .probe(Probe {
            ready: "/-/ready",
            version: Some(("/api/v1/status/buildinfo", |v| {
                v["data"]["version"].as_str()
            })),
        })
        .faults(
            &[(FaultKind::RuleEvaluationFailing, "prometheus")],
            Some(can_fault),
        )
        .start_reserving(reserve, |b| Box::pin(start(b)));

/// A rule fault reloads Prometheus by SIGHUP, which only the native
/// provider's processes take.
fn can_fault(docker: bool) -> Result<(), String> {
    if docker {
        return Err(
            "it reloads Prometheus by SIGHUP, which the docker provider's container does not take; use provider: native".into(),
        );
    }
    Ok(())
}

/// Its program (a stack without Prometheus is no stack), and its address
/// now: Grafana's datasource points at it before it starts.
fn reserve(b: &mut Build<'_>) -> anyhow::Result<()> {
    b.reserve(
        ComponentName::Prometheus,
        PROGRAMS,
        "prometheus",
        &["localhost:9090", "prometheus:9090"],
    )
}

/// Render its config, check it with the chosen version's own promtool,
/// start it, and wait until it has scraped every target once.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let program = b.reserved_program(ComponentName::Prometheus)?;
    let addr = b.address("prometheus:9090")?;
    let config = b.render_checked(
        ComponentName::Prometheus,
        render::render,
        |r| &r.prometheus_config,
        &crate::stack::tools::PROMTOOL,
    )?;
    let data = b.opts.run_dir.join("data");
    let mut args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", data.join("prometheus").display()),
        format!("--web.listen-address={addr}"),
    ];
    args.extend(b.rendered.prometheus_flags.iter().cloned());
    let spec = b.spec(
        "prometheus",
        program.clone(),
        args,
        Ready::Http(format!("http://{addr}/-/ready")),
    );
    b.start(spec).await?;
    b.record("prometheus", &program, format!("http://{addr}"))
        .await;
    let scrape = scale(b.opts.files.scrape_interval(), b.opts.time_scale);
    wait_for_targets(
        &b.running.http,
        &format!("http://{addr}"),
        scrape * 3 + Duration::from_secs(10),
        b.cancel,
    )
    .await
}

/// Wait until Prometheus has scraped every target successfully once.
async fn wait_for_targets(
    http: &reqwest::Client,
    prometheus: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let url = format!("{prometheus}/api/v1/targets?state=active");
    let mut last;
    loop {
        if cancel.is_cancelled() {
            bail!("interrupted while waiting for Prometheus' first scrapes");
        }
        last = match http.get(&url).timeout(Duration::from_secs(2)).send().await {
            Ok(resp) => match resp.json::<serde_json::Value>().await {
                Ok(body) => match targets_down(&body) {
                    None => return Ok(()),
                    Some(why) => why,
                },
                Err(e) => format!("unreadable answer: {e}"),
            },
            Err(e) => crate::http::http_error(&e),
        };
        if Instant::now() >= deadline {
            bail!(
                "prometheus: timed out after {:.0?} waiting for every scrape target to be up: {last}",
                timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `None` when Prometheus lists targets and every one is up; otherwise
/// what is not (each down target's job, URL, health and last error).
fn targets_down(body: &serde_json::Value) -> Option<String> {
    let targets = body["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if targets.is_empty() {
        return Some("Prometheus lists no targets yet".into());
    }
    let down: Vec<String> = targets
        .iter()
        .filter(|t| t["health"] != "up")
        .map(|t| {
            format!(
                "{} ({}): health {}, {}",
                t["labels"]["job"].as_str().unwrap_or("?"),
                t["scrapeUrl"].as_str().unwrap_or("?"),
                t["health"].as_str().unwrap_or("?"),
                t["lastError"]
                    .as_str()
                    .filter(|e| !e.is_empty())
                    .unwrap_or("no error yet")
            )
        })
        .collect();
    (!down.is_empty()).then(|| down.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_up_only_when_listed_and_all_up() {
        let none = serde_json::json!({"data": {"activeTargets": []}});
        assert_eq!(
            targets_down(&none).as_deref(),
            Some("Prometheus lists no targets yet")
        );
        let mixed = serde_json::json!({"data": {"activeTargets": [
            {"labels": {"job": "backend-api"}, "scrapeUrl": "http://a/metrics", "health": "up", "lastError": ""},
            {"labels": {"job": "redis-exporter"}, "scrapeUrl": "http://b/metrics", "health": "down", "lastError": "connection refused"},
            {"labels": {"job": "ml-engine"}, "scrapeUrl": "http://c/metrics", "health": "unknown", "lastError": ""}
        ]}});
        assert_eq!(
            targets_down(&mixed).as_deref(),
            Some(
                "redis-exporter (http://b/metrics): health down, connection refused; ml-engine (http://c/metrics): health unknown, no error yet"
            )
        );
        let up = serde_json::json!({"data": {"activeTargets": [
            {"labels": {"job": "backend-api"}, "health": "up"}
        ]}});
        assert_eq!(targets_down(&up), None);
    }
}
