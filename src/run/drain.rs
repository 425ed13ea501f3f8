//! After the load: let the last notifications arrive before judging. After
//! the last revert Prometheus needs a scrape and an evaluation, and
//! Alertmanager up to a group_interval; an alert still pending fires once
//! its (scaled) `for` has elapsed. The wait is bounded and says what it was
//! still waiting for when it gives up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::observe::alertmanager::receiver::{Receivers, still_firing};
use crate::observe::prometheus::alerts::{AlertTimeline, AlertWatch};
use crate::scenario::plan::scale;
use crate::stackfiles::StackFiles;

/// How long past its expected firing time a pending alert is still waited
/// for (polls and evaluation jitter).
const SLACK: chrono::Duration = chrono::Duration::seconds(2);

/// The longest, in wall time, from a revert to the resolved notifications
/// that the stack's timers allow: a scrape and two evaluations to see the
/// condition end, a group_interval for Alertmanager's next flush, a resend
/// delay for Prometheus' next send, and 5 s of slack. Both the drain and
/// the spacing of trials wait this long.
pub(super) fn recovery_bound(files: &StackFiles, k: f64) -> Duration {
    let (_, group_interval) = files.root_route_timers();
    scale(
        files.scrape_interval()
            + files.evaluation_interval() * 2
            + group_interval
            + crate::stackfiles::files::defaults::RESEND_DELAY,
        k,
    ) + Duration::from_secs(5)
}

/// Wait for resolutions as the stack's timers allow; the note to record
/// when the wait ran out.
pub(super) async fn settle(
    files: &StackFiles,
    k: f64,
    receivers: &Receivers,
    watch: &AlertWatch,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let bound = recovery_bound(files, k);
    // A rule pending now fires once its (scaled) `for` has elapsed, at the
    // next evaluation: the verdict waits for that too.
    let eval = scale(files.evaluation_interval(), k);
    let fires_after: BTreeMap<String, Duration> = files
        .rules
        .iter()
        .map(|r| (r.name.clone(), scale(r.for_, k) + eval))
        .collect();
    let fires_at = |t: &AlertTimeline| {
        let after = fires_after.get(&t.name)?;
        Some(t.active_at? + chrono::Duration::from_std(*after).ok()?)
    };
    // A heartbeat never resolves; waiting for it would only wait out the
    // bound.
    let heartbeats: BTreeSet<String> = files.heartbeats().into_iter().collect();
    drain(receivers, watch, bound, (fires_at, &heartbeats), cancel).await
}

/// Wait until no alert is active in Prometheus and every destination that
/// got a firing notification also got a resolved one, or until `bound`;
/// heartbeats aside.
async fn drain(
    receivers: &Receivers,
    watch: &AlertWatch,
    bound: Duration,
    (fires_at, heartbeats): (
        impl Fn(&AlertTimeline) -> Option<DateTime<Utc>>,
        &BTreeSet<String>,
    ),
    cancel: &CancellationToken,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + bound;
    let deadline_utc = Utc::now() + chrono::Duration::from_std(bound).unwrap_or_default();
    loop {
        let open = still_open(watch, &fires_at, deadline_utc, heartbeats);
        let unresolved = unresolved(receivers, heartbeats);
        if open.is_empty() && unresolved.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline || cancel.is_cancelled() {
            return Err(format!(
                "stopped waiting after {:.0?} for alerts to resolve: still firing in Prometheus: [{}]; no resolved notification yet: [{}]",
                bound,
                open.join(", "),
                unresolved.join(", ")
            ));
        }
        tokio::select! {
            _ = receivers.arrived() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

/// Alerts that fired and have not resolved, and pending ones whose `for`
/// ends within the wait: judging before they fire would miss a
/// notification that is on its way. Pending ones that cannot fire in time
/// are not waited for.
fn still_open(
    watch: &AlertWatch,
    fires_at: &impl Fn(&AlertTimeline) -> Option<DateTime<Utc>>,
    deadline: DateTime<Utc>,
    heartbeats: &BTreeSet<String>,
) -> Vec<String> {
    let now = Utc::now();
    watch
        .open()
        .into_iter()
        .filter(|t| !heartbeats.contains(&t.name))
        .filter(|t| {
            t.first_seen_firing.is_some()
                || fires_at(t).is_some_and(|at| at <= deadline && now <= at + SLACK)
        })
        .map(|t| t.name)
        .collect()
}

/// `alert at destination` for every firing notification not yet followed
/// by a resolved one at the same destination.
fn unresolved(receivers: &Receivers, heartbeats: &BTreeSet<String>) -> Vec<String> {
    let ns = receivers.notifications();
    still_firing(&ns)
        .into_iter()
        .filter(|(a, _)| !heartbeats.contains(&a.name))
        .map(|(a, d)| format!("{} at {d}", a.display()))
        .collect()
}
