//! What the stack did, as seen from outside, one folder per backend
//! watched. Each watcher polls or receives during the run and hands plain
//! data to `run/collect`, which the pure judges in `slo` then read:
//!
//! - [`prometheus`]: its alerts over time, its rules' health, and whether
//!   every scrape target (and Prometheus itself) stayed up;
//! - [`alertmanager`]: the harness's receivers (what reached PagerDuty,
//!   Slack and webhooks), which alert instances each notification
//!   carried, inhibitions, and Alertmanager's own failed deliveries;
//! - [`grafana`]: dashboard load time (through Grafana's query API, else
//!   Prometheus) and panel health against the live series;
//! - [`jaeger`]: trace coverage, through Jaeger's query API or the
//!   harness's own OTLP receiver;
//! - [`loki`]: the services' log lines, and log search through Loki;
//! - [`drill`]: the live status line of a run.

pub mod alertmanager;
pub mod drill;
#[cfg(test)]
mod fake;
pub mod grafana;
pub mod jaeger;
pub mod loki;
pub mod prometheus;

/// Call `round` after `first_after`, then again `every` after each round
/// ends, until `cancel` (which also interrupts a round in progress).
pub async fn repeat<F, Fut>(
    first_after: std::time::Duration,
    every: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    tokio::select! {
        _ = tokio::time::sleep(first_after) => {}
        _ = cancel.cancelled() => return,
    }
    loop {
        tokio::select! {
            _ = round() => {}
            _ = cancel.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

/// Call `poll` on every tick of `every` (a late tick delays the next, it
/// does not bunch them up), until `cancel`; a poll in progress finishes.
/// `poll` is told how late its tick came: a slow previous poll or a
/// starved runtime shows there, before it coarsens a timeline.
pub async fn tick_until<F, Fut>(
    every: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
    mut poll: F,
) where
    F: FnMut(std::time::Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = tokio::select! {
            _ = cancel.cancelled() => return,
            due = tick.tick() => due,
        };
        poll(tokio::time::Instant::now().saturating_duration_since(due)).await;
    }
}
