//! What the stack did, as seen from outside: notifications that reached the
//! harness's receivers ([`receiver`]) and Prometheus' own view of its alerts
//! over time ([`alerts`]).

pub mod alerts;
pub mod am_failures;
pub mod attribution;
pub mod dashboards;
pub mod destination;
pub mod drill;
#[cfg(test)]
mod fake;
pub mod grafana;
pub mod inhibitions;
pub mod jaeger;
pub mod liveness;
pub mod logs;
pub mod logsearch;
pub mod loki;
pub mod panel_health;
pub mod receiver;
pub mod rules;
pub mod traces;

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
pub async fn tick_until<F, Fut>(
    every: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
    mut poll: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        poll().await;
    }
}
