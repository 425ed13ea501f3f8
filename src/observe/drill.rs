//! The live view of a run (game-day drills, and any run on a terminal): a
//! status line every few seconds with the phase, the faults in force and a
//! running MTTD clock for each, and alerts pending, firing and notified.
//! The same lines, timestamped, go to `<run>/drill.log`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::alertmanager::receiver::{NotificationStatus, Receivers};
use super::prometheus::alerts::AlertWatch;
use crate::input::units::human_duration;
use crate::scenario::plan::Plan;

pub struct Drill {
    pub plan: Plan,
    /// Expected alert names per fault name.
    pub expected: Vec<(String, String)>,
    pub watch: AlertWatch,
    pub receivers: Receivers,
    pub log: PathBuf,
    pub every: Duration,
}

impl Drill {
    /// One status line at `elapsed` from load start.
    pub fn line(&self, elapsed: Duration) -> String {
        let k = self.plan.time_scale;
        let real =
            |d: Duration| human_duration(crate::input::units::saturating_secs(d.as_secs_f64() * k));
        let phase = self
            .plan
            .phases
            .iter()
            .find(|p| elapsed >= p.start && elapsed < p.start + p.duration)
            .map(|p| format!("{} {:.0}/s", p.name, p.rate_per_second))
            .unwrap_or_else(|| "draining".into());
        let notes = self.receivers.notifications();
        let mut faults = Vec::new();
        for f in &self.plan.faults {
            if elapsed < f.at || elapsed >= f.at + f.duration {
                continue;
            }
            let in_force = elapsed - f.at;
            let detected = self
                .expected
                .iter()
                .filter(|(fault, _)| *fault == f.name)
                .any(|(_, alert)| {
                    notes
                        .iter()
                        .any(|n| n.carries(alert, &[], NotificationStatus::Firing))
                });
            faults.push(format!(
                "{} {} ({})",
                f.name,
                real(in_force),
                if detected {
                    "detected"
                } else {
                    "MTTD clock running"
                }
            ));
        }
        let open = self.watch.open();
        let pending: Vec<&str> = open
            .iter()
            .filter(|t| t.first_seen_firing.is_none())
            .map(|t| t.name.as_str())
            .collect();
        let firing: Vec<&str> = open
            .iter()
            .filter(|t| t.first_seen_firing.is_some())
            .map(|t| t.name.as_str())
            .collect();
        let notified = notes
            .iter()
            .filter(|n| n.status == NotificationStatus::Firing)
            .count();
        let resolved = notes
            .iter()
            .filter(|n| n.status == NotificationStatus::Resolved)
            .count();
        format!(
            "[t+{}] {phase} | faults: {} | pending: {} | firing: {} | notifications: {notified} firing, {resolved} resolved",
            real(elapsed),
            if faults.is_empty() {
                "none".into()
            } else {
                faults.join(", ")
            },
            list(&pending),
            list(&firing),
        )
    }

    pub async fn run(self, start: Instant, cancel: CancellationToken) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .ok();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = cancel.cancelled() => return,
            }
            let line = self.line(start.elapsed());
            tracing::info!("{line}");
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{} {line}", Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"));
            }
        }
    }
}

fn list(v: &[&str]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        let mut v = v.to_vec();
        v.dedup();
        v.join(", ")
    }
}
