//! The terminal summary: verdict, SLO table, detections, routing, load.

use std::fmt::Write;

use super::model::{RunResult, Verdict};
use crate::slo::check::Status;

pub fn render(r: &RunResult) -> String {
    let mut o = String::new();
    for section in [
        header, faults, detections, trials, scorecard, routing, pipeline, load, dashboards, traces,
        slos, verdict,
    ] {
        section(&mut o, r);
    }
    o
}

fn header(o: &mut String, r: &RunResult) {
    let k = r.time_scale;
    let _ = writeln!(o, "\n== zeta-bench: {} ==", r.scenario.name);
    let _ = writeln!(
        o,
        "provider {} ({}); time scale {k}{}",
        r.provider.name,
        r.provider.reason,
        if k == 1.0 {
            String::new()
        } else {
            format!(": every duration ran {k}× faster; real-time equivalents = wall × {k}")
        }
    );
    for c in &r.components {
        let _ = writeln!(
            o,
            "  {:<13} {:<28} {}",
            c.name,
            c.url,
            c.version.as_deref().unwrap_or("version unknown")
        );
    }
    for d in &r.stack.dropped_targets {
        let _ = writeln!(
            o,
            "  not scraped: job {} target {} ({})",
            d.job, d.target, d.reason
        );
    }
    for i in &r.stack.unobserved_integrations {
        let _ = writeln!(o, "  not observed: {i}");
    }
}

fn faults(o: &mut String, r: &RunResult) {
    if !r.faults.is_empty() {
        let _ = writeln!(o, "\nFaults");
        for f in &r.faults {
            let took = f
                .took_effect_at
                .map(|t| t.format("%H:%M:%S%.3f").to_string())
                .unwrap_or_else(|| "never".into());
            let back = f
                .reverted_at
                .map(|t| t.format("%H:%M:%S%.3f").to_string())
                .unwrap_or_else(|| {
                    f.reverted_by
                        .clone()
                        .unwrap_or_else(|| "not reverted".into())
                });
            let _ = writeln!(
                o,
                "  {:<28} took effect {took}, reverted {back}{}",
                f.name,
                f.error
                    .as_ref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            );
        }
    }
}

/// Pipeline health: what a fault in the monitoring pipeline did to
/// delivery, and whether anyone was told.
fn pipeline(o: &mut String, r: &RunResult) {
    if let Some(p) = &r.pipeline {
        let _ = writeln!(o, "\nPipeline health");
        for line in crate::slo::check::pipeline::lines(p) {
            let _ = writeln!(o, "  {line}");
        }
    }
}

fn detections(o: &mut String, r: &RunResult) {
    let k = r.time_scale;
    if !r.detections.is_empty() {
        let _ = writeln!(o, "\nDetection (fault → pending → firing → notified)");
        for d in &r.detections {
            if d.trial.is_some() {
                trial_line(o, d, k);
                continue;
            }
            let rel = |t: Option<chrono::DateTime<chrono::Utc>>| match (d.fault_took_effect_at, t) {
                (Some(t0), Some(t)) => {
                    format!("+{:.1}s", (t - t0).num_milliseconds() as f64 / 1000.0)
                }
                _ => "—".into(),
            };
            let _ = writeln!(
                o,
                "  {} [{}]: pending {} · firing {} · notified {}",
                d.instance(),
                d.severity,
                rel(d.pending_at),
                rel(d.firing_seen_at),
                rel(d.notified.first().map(|(_, t)| *t)),
            );
            let at = d
                .late_destination
                .as_ref()
                .map(|x| format!(" at {x}"))
                .unwrap_or_default();
            match (d.mttd_wall_s, d.mttd_real_s) {
                (Some(w), Some(real)) if k != 1.0 => {
                    let _ = writeln!(
                        o,
                        "    MTTD {w:.1}s wall = {real:.0}s real-time equivalent{at}"
                    );
                }
                (Some(w), _) => {
                    let _ = writeln!(o, "    MTTD {w:.1}s{at}");
                }
                _ if d.late_destination.is_some() => {
                    let _ = writeln!(o, "    not detected{at}: it never got there");
                }
                _ => {
                    let _ = writeln!(o, "    not detected");
                }
            }
            for t in &d.destinations {
                let time = |w: Option<f64>, what: &str| match w {
                    Some(w) => format!("{what} +{:.1}s", w * k),
                    None => format!("no {what}"),
                };
                let _ = writeln!(
                    o,
                    "    {} {}: {} · {}",
                    t.destination,
                    if t.required {
                        "(required)"
                    } else {
                        "(not in the policy)"
                    },
                    time(t.mttd_wall_s, "page"),
                    time(t.reset_wall_s, "reset")
                );
            }
        }
    }
}

/// One trial of a run of several, in a line: the distribution follows.
fn trial_line(o: &mut String, d: &crate::slo::check::Detection, k: f64) {
    let at = d
        .late_destination
        .as_ref()
        .map(|x| format!(" at {x}"))
        .unwrap_or_default();
    let mttd = match d.mttd_real_s {
        Some(real) => format!("MTTD {}{at}", secs(real)),
        None => format!("not detected{at}"),
    };
    let resets: Vec<String> = d
        .destinations
        .iter()
        .filter_map(|t| Some(format!("{} {}", t.destination, secs(t.reset_wall_s? * k))))
        .collect();
    let _ = writeln!(
        o,
        "  {} [{}]: {mttd}{}",
        d.instance(),
        d.severity,
        if resets.is_empty() {
            String::new()
        } else {
            format!(" · reset {}", resets.join(", "))
        }
    );
}

use crate::input::units::human_seconds as secs;

/// Per expected alert over the trials: min / p50 / p95 / max per
/// destination, beside the band the configuration allows.
fn trials(o: &mut String, r: &RunResult) {
    for a in &r.trials {
        let band = a.band();
        let _ = writeln!(
            o,
            "\nMTTD over trials: {} ({} of {} counted{band})",
            a.instance(),
            a.counted.len(),
            a.trials
        );
        let _ = writeln!(
            o,
            "  {:<36} {:>8} {:>8} {:>8} {:>8}   reset p50 / max",
            "at", "min", "p50", "p95", "max"
        );
        for s in &a.series {
            let name = match &s.destination {
                None => "page (last required)".to_string(),
                Some(d) if s.required => format!("{d} (required)"),
                Some(d) => d.to_string(),
            };
            let reset = s
                .reset
                .as_ref()
                .map(|x| format!("{} / {}", secs(x.p50_s), secs(x.max_s)))
                .unwrap_or_else(|| "—".into());
            match &s.mttd {
                Some(m) => {
                    let [min, p50, p95, max] = m.cells();
                    let _ = writeln!(
                        o,
                        "  {name:<36} {min:>8} {p50:>8} {p95:>8} {max:>8}   {reset}{}",
                        m.missed_note()
                    );
                }
                None => {
                    let _ = writeln!(o, "  {name:<36} never notified");
                }
            }
        }
        if let Some(page) = a.page() {
            let values: Vec<String> = page
                .mttd_real_s
                .iter()
                .zip(&a.counted)
                .map(|(v, t)| format!("#{t} {}", v.map_or("never".into(), secs)))
                .collect();
            let _ = writeln!(o, "  each trial: {}", values.join(", "));
        }
        for x in &a.excluded {
            let _ = writeln!(o, "  excluded: trial {}: {}", x.trial, x.reason);
        }
        for c in &a.self_check {
            let _ = writeln!(o, "  SELF-CHECK FAILED: {c}");
        }
    }
}

/// Per rule: detection and reset time, precision and recall.
fn scorecard(o: &mut String, r: &RunResult) {
    use crate::slo::check::fraction;
    if r.scorecard.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\nAlert quality (detection and reset p50 / max; precision: firings a fault explains; recall: expected faults caught)"
    );
    for s in &r.scorecard {
        let spread = |x: &Option<crate::slo::check::Spread>| {
            x.as_ref().map_or("—".to_string(), |m| {
                let [_, p50, _, max] = m.cells();
                format!("{p50} / {max}")
            })
        };
        let _ = writeln!(
            o,
            "  {:<24} detection {:<17} reset {:<17} precision {:<12} recall {}{}",
            s.rule,
            spread(&s.detection),
            spread(&s.reset),
            fraction(s.explained, s.firings),
            fraction(s.caught, s.expected),
            if s.resolved_early > 0 {
                format!(
                    "; {} of {} pages resolved while the fault was still in force",
                    s.resolved_early, s.caught
                )
            } else {
                String::new()
            }
        );
    }
}

fn routing(o: &mut String, r: &RunResult) {
    if !r.routing.is_empty() {
        let _ = writeln!(o, "\nRouting (alert: expected → got)");
        for row in &r.routing {
            let list = |v: &[crate::slo::Destination]| {
                if v.is_empty() {
                    "nobody".to_string()
                } else {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let _ = writeln!(
                o,
                "  {} [{}]: {} → {}; resolved at {}",
                row.instance(),
                row.severity,
                list(&row.expected),
                list(&row.firing),
                list(&row.resolved)
            );
        }
    }
}

fn load(o: &mut String, r: &RunResult) {
    if let Some(l) = &r.load {
        let _ = writeln!(
            o,
            "\nLoad ({} sent, {} dropped, {} errors; latency from intended send time)",
            l.total_sent, l.total_dropped, l.total_errors
        );
        for e in &l.endpoints {
            let _ = writeln!(
                o,
                "  {:<34} {:>7} req  p50 {:>7.1}ms  p95 {:>7.1}ms  p99 {:>7.1}ms  {}",
                e.endpoint,
                e.requests,
                e.latency.p50_ms,
                e.latency.p95_ms,
                e.latency.p99_ms,
                e.by_class
                    .iter()
                    .map(|(c, n)| format!("{c}:{n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
}

fn dashboards(o: &mut String, r: &RunResult) {
    if let Some(d) = &r.dashboards {
        let _ = writeln!(o, "\nDashboards ({} loads each; {})", d.rounds, d.via);
        for dash in &d.dashboards {
            let q = |x| {
                crate::observe::grafana::dashboards::quantile(&dash.samples_ms, x)
                    .map(|v| format!("{v:.0}ms"))
                    .unwrap_or_else(|| "—".into())
            };
            let measured = dash.panels.iter().filter(|p| p.skipped.is_none()).count();
            let no_data = dash
                .panels
                .iter()
                .filter(|p| {
                    !p.samples_ms.is_empty() && p.no_data_rounds as usize == p.samples_ms.len()
                })
                .count();
            let _ = writeln!(
                o,
                "  {:<24} p50 {:>6}  p95 {:>6}  max {:>6}  {measured}/{} panels measured, {no_data} without data",
                dash.dashboard,
                q(0.5),
                q(0.95),
                q(1.0),
                dash.panels.len()
            );
        }
    }
}

fn traces(o: &mut String, r: &RunResult) {
    if let Some(t) = &r.traces {
        let _ = writeln!(o, "\nTraces ({})", t.store);
        for e in &t.endpoints {
            let mut aside = String::new();
            if e.chain_checked > 0 {
                aside.push_str(&format!(
                    ", {}/{} calls linked to ml-engine",
                    e.linked, e.chain_checked
                ));
            }
            if e.lost_to_faults > 0 {
                aside.push_str(&format!(", {} lost to faults", e.lost_to_faults));
            }
            if e.beyond_retention > 0 {
                aside.push_str(&format!(
                    ", {} older than the store keeps",
                    e.beyond_retention
                ));
            }
            let _ = writeln!(
                o,
                "  {:<34} {}/{} traced{aside}",
                e.endpoint, e.found, e.sent
            );
        }
    }
}

fn slos(o: &mut String, r: &RunResult) {
    let _ = writeln!(o, "\nSLOs");
    for s in &r.slos {
        let status = match s.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotMeasured if s.required => "NOT MEASURED (required)",
            Status::NotMeasured => "NOT MEASURED",
        };
        let _ = writeln!(
            o,
            "  {:<18} {:<24} target {}{}",
            s.name,
            status,
            s.target,
            s.measured
                .as_ref()
                .map(|m| format!("; measured {m}"))
                .unwrap_or_default()
        );
        for d in &s.details {
            let _ = writeln!(o, "      {d}");
        }
    }
    for n in &r.notes {
        let _ = writeln!(o, "note: {n}");
    }
}

fn verdict(o: &mut String, r: &RunResult) {
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Incomplete => "INCOMPLETE",
    };
    let not_checked = r.not_checked();
    if !not_checked.is_empty() {
        let _ = writeln!(o, "\nNot checked by this run:");
        for n in &not_checked {
            let _ = writeln!(o, "  - {n}");
        }
    }
    let _ = writeln!(
        o,
        "\nVerdict: {verdict}   (result: {}/result.json)",
        r.run_dir
    );
}
