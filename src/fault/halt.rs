//! Halt conditions: the steady-state hypothesis of a game day (Chaos
//! Toolkit), the halt conditions of Gremlin and Steadybit. While load and
//! faults run, every `halt_when:` condition is checked twice a second:
//! PromQL guards against the stack's Prometheus, the error ratio against
//! the load engine's own figures. The first that holds stops the drill:
//! the caller's token is cancelled, which stops the load and makes the
//! fault timeline revert every fault at once; the run then ends INCOMPLETE
//! with the reason.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::effect::LiveLoad;
use crate::http::endpoint::Endpoint;
use crate::input::Located;
use crate::scenario::Halt;

/// How often the conditions are checked.
const EVERY: Duration = Duration::from_millis(500);

/// Check `conditions` until `done`; when one holds, cancel `halt` and
/// return why. None when none held (or there were none).
pub async fn watch(
    conditions: &[Located<Halt>],
    prometheus: &Endpoint,
    live: Option<LiveLoad>,
    halt: &CancellationToken,
    done: &CancellationToken,
) -> Option<String> {
    if conditions.is_empty() {
        return None;
    }
    let http = crate::http::endpoint::client(Duration::from_secs(2)).ok()?;
    let mut live = live;
    let mut prev = live.as_mut().and_then(|l| l.borrow_and_update().clone());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = done.cancelled() => return None,
            _ = halt.cancelled() => return None,
        }
        let now = live.as_mut().and_then(|l| l.borrow_and_update().clone());
        for c in conditions {
            if let Some(why) = holds(&c.value, &http, prometheus, prev.as_ref(), now.as_ref()).await
            {
                let reason = format!(
                    "halted at {}: halt_when {} held: {why}",
                    chrono::Utc::now().format("%H:%M:%S%.3f"),
                    c.field
                );
                tracing::error!("{reason}; reverting every fault and stopping the load");
                halt.cancel();
                return Some(reason);
            }
        }
        if now.is_some() {
            prev = now;
        }
    }
}

async fn holds(
    c: &Halt,
    http: &reqwest::Client,
    prometheus: &Endpoint,
    prev: Option<&crate::load::engine::Live>,
    now: Option<&crate::load::engine::Live>,
) -> Option<String> {
    match c {
        Halt::Promql(q) => {
            match super::effect::query_holds(http, prometheus, q, "a halt_when query").await {
                Ok(true) => Some(format!("{q} returned a result")),
                Ok(false) => None,
                Err(e) => {
                    tracing::warn!("halt_when: {e}");
                    None
                }
            }
        }
        Halt::ErrorRatio(max) => {
            let (prev, now) = (prev?, now?);
            if std::ptr::eq(prev, now) || now.sent == prev.sent {
                return None;
            }
            let ratio = super::effect::error_ratio(prev, now);
            (ratio >= *max).then(|| {
                format!(
                    "the load's error ratio over the last second was {:.1}%, at or above {:.1}%",
                    ratio * 100.0,
                    max * 100.0
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::engine::Live;

    fn live(sent: u64, errors: u64) -> Live {
        crate::fault::effect::live_for_tests(sent, errors, 1.0)
    }

    #[tokio::test]
    async fn an_error_ratio_past_the_bound_halts_within_a_second() {
        let (tx, rx) = tokio::sync::watch::channel(Some(live(100, 0)));
        let conditions = vec![Located::new(
            Halt::ErrorRatio(0.5),
            Default::default(),
            "halt_when[0]",
        )];
        let prom = Endpoint::new("http://127.0.0.1:1");
        let (halt, done) = (CancellationToken::new(), CancellationToken::new());
        let started = std::time::Instant::now();
        let feeder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(600)).await;
            let _ = tx.send(Some(live(110, 1)));
            tokio::time::sleep(Duration::from_millis(600)).await;
            let _ = tx.send(Some(live(120, 9)));
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let why = watch(&conditions, &prom, Some(rx), &halt, &done)
            .await
            .unwrap();
        assert!(halt.is_cancelled());
        assert!(
            why.contains("halt_when[0]") && why.contains("80.0%"),
            "{why}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        feeder.abort();
    }

    #[tokio::test]
    async fn no_condition_held_until_done_is_no_halt() {
        let conditions = vec![Located::new(
            Halt::ErrorRatio(0.5),
            Default::default(),
            "halt_when[0]",
        )];
        let prom = Endpoint::new("http://127.0.0.1:1");
        let (halt, done) = (CancellationToken::new(), CancellationToken::new());
        let d2 = done.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            d2.cancel();
        });
        assert!(
            watch(&conditions, &prom, None, &halt, &done)
                .await
                .is_none()
        );
        assert!(!halt.is_cancelled());
    }
}
