//! The stakeholder report: one self-contained HTML file (inline CSS and
//! SVG, no scripts, nothing fetched) for someone who was not there. The
//! template (`templates/report.html`) is rendered by minijinja with HTML
//! auto-escaping, so every string from scenarios, labels or payloads is
//! escaped; only the charts, drawn here, are inserted as markup.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::{AutoEscape, Environment};
use plotters::style::RGBColor;
use serde_json::{Value, json};

use super::charts;
use super::model::{RunResult, Verdict};
use crate::observe::grafana::dashboards::quantile;
use crate::slo::check::Status;

const TEMPLATE: &str = include_str!("templates/report.html");

fn ms(v: Option<f64>) -> String {
    v.map(|v| {
        if v >= 1000.0 {
            format!("{:.2}s", v / 1000.0)
        } else {
            format!("{v:.0}ms")
        }
    })
    .unwrap_or_else(|| "—".into())
}

use crate::input::units::human_seconds as secs;

pub fn render(r: &RunResult) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)?;
    let tmpl = env.get_template("report.html")?;
    Ok(tmpl.render(view(r))?)
}

/// Why a run is incomplete, from its INCOMPLETE notes (first lines).
fn incomplete_reason(notes: &[String]) -> String {
    let why: Vec<&str> = notes
        .iter()
        .filter_map(|n| n.strip_prefix("INCOMPLETE: "))
        .filter_map(|n| n.lines().next())
        .collect();
    if why.is_empty() {
        "The run did not complete; what follows is partial.".to_string()
    } else {
        format!(
            "The stack under test was not whole, so what follows is partial: {}.",
            why.join("; ")
        )
    }
}

fn view(r: &RunResult) -> Value {
    let k = r.time_scale;
    let (verdict, class) = match r.verdict {
        Verdict::Pass => ("PASS", "pass"),
        Verdict::Fail => ("FAIL", "fail"),
        Verdict::Incomplete => ("INCOMPLETE", "incomplete"),
    };
    let failing: Vec<&str> = r
        .slos
        .iter()
        .filter(|s| s.fails_run())
        .map(|s| s.name.name())
        .collect();
    let verdict_reason = match r.verdict {
        Verdict::Pass => "Every required SLO was measured and met.".to_string(),
        Verdict::Fail => format!(
            "Failed or not measured though required: {}.",
            failing.join(", ")
        ),
        Verdict::Incomplete => incomplete_reason(&r.notes),
    };
    let time_note = if k == 1.0 {
        "real time".to_string()
    } else {
        format!(
            "time scale {k}: every duration ran {k}× faster than real time; detection times are shown as real-time equivalents (wall time × {k})"
        )
    };
    let slos = slos_view(r);

    let (rate, latency, mttd) = charts_view(r);

    let detections = detections_view(r);

    let (dests, rows) = routing_view(r);

    let dashboards = dashboards_view(r);

    let load = load_view(r);

    let dropped: Vec<String> = r
        .stack
        .dropped_targets
        .iter()
        .map(|d| format!("{} ({})", d.job, d.reason))
        .collect();
    json!({
        "scenario": r.scenario, "verdict": verdict, "verdict_class": class, "verdict_reason": verdict_reason, "not_checked": r.not_checked(),
        "started_at": r.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        "finished_at": r.finished_at.format("%H:%M:%S UTC").to_string(),
        "provider": r.provider, "time_note": time_note, "slos": slos,
        "charts": {"rate": rate, "latency": latency, "mttd": mttd},
        "detections": detections, "trials": trials_view(r), "scorecard": scorecard_view(r),
        "routing": {"destinations": dests, "rows": rows},
        "pipeline": r.pipeline.as_ref().map(crate::slo::check::pipeline::lines),
        "dashboards": dashboards, "traces": r.traces, "load": load,
        "components": r.components.iter().map(|c| json!({"name": c.name, "version": c.version.clone().unwrap_or_default(), "url": c.url})).collect::<Vec<_>>(),
        "stack": {"dir": r.stack.dir, "git_revision": r.stack.git_revision, "dropped": dropped.join(", ")},
        "notes": r.notes, "version": r.zeta_bench_version, "schema_version": r.schema_version,
    })
}

/// Per expected alert over the trials: the spread per destination, the
/// band, every trial's value, what was excluded and the self-check.
fn trials_view(r: &RunResult) -> Vec<Value> {
    r.trials
        .iter()
        .map(|a| {
            let series: Vec<Value> = a
                .series
                .iter()
                .map(|s| {
                    let spread = |x: &Option<crate::slo::check::Spread>| {
                        x.as_ref().map_or("—".to_string(), |m| m.slashed())
                    };
                    let each: Vec<String> = s
                        .mttd_real_s
                        .iter()
                        .zip(&a.counted)
                        .map(|(v, t)| format!("#{t} {}", v.map_or("never".into(), secs)))
                        .collect();
                    json!({
                        "at": s.destination.as_ref().map_or("page (last required destination)".to_string(), |d| d.to_string()),
                        "required": s.required, "mttd": spread(&s.mttd), "reset": spread(&s.reset),
                        "each": each.join(", "),
                    })
                })
                .collect();
            json!({
                "alert": a.instance(), "trials": a.trials, "counted": a.counted.len(),
                "band": match (a.floor_real_s, a.ceiling_real_s) {
                    (Some(f), Some(c)) => format!("{}–{}", secs(f), secs(c)),
                    _ => "unknown".into(),
                },
                "rejoin": a.rejoin_band(),
                "floor_terms": a.floor_terms, "ceiling_terms": a.ceiling_terms,
                "series": series,
                "excluded": a.excluded.iter().map(|x| format!("trial {}: {}", x.trial, x.reason)).collect::<Vec<_>>(),
                "self_check": a.self_check,
            })
        })
        .collect()
}

/// The alert-quality scorecard, one row per rule.
fn scorecard_view(r: &RunResult) -> Vec<Value> {
    use crate::slo::check::fraction;
    let spread = |x: &Option<crate::slo::check::Spread>| {
        x.as_ref().map_or("—".to_string(), |m| m.slashed())
    };
    r.scorecard
        .iter()
        .map(|s| {
            json!({
                "rule": s.rule, "detection": spread(&s.detection), "reset": spread(&s.reset),
                "precision": fraction(s.explained, s.firings), "recall": fraction(s.caught, s.expected),
                "resolved_early": s.resolved_early,
            })
        })
        .collect()
}

fn slos_view(r: &RunResult) -> Vec<Value> {
    r
        .slos
        .iter()
        .map(|s| {
            let (status, label) = match s.status {
                Status::Pass => ("pass", "PASS"),
                Status::Fail => ("fail", "FAIL"),
                Status::NotMeasured => ("not_measured", "NOT MEASURED"),
            };
            json!({"name": s.name, "required": s.required, "target": s.target, "measured": s.measured.clone().unwrap_or_default(),
                   "details": s.details, "status": status, "status_label": label})
        })
        .collect()
}

fn charts_view(r: &RunResult) -> (String, String, String) {
    // Charts.
    let (spans, markers) = charts::annotations(r);
    let mut rate = String::new();
    let mut latency = String::new();
    if let Some(l) = r.load.as_ref().filter(|l| !l.timeline.is_empty()) {
        let req: Vec<(f64, f64)> = l
            .timeline
            .iter()
            .map(|p| (p.t as f64, p.requests as f64))
            .collect();
        let err: Vec<(f64, f64)> = l
            .timeline
            .iter()
            .map(|p| (p.t as f64, p.errors as f64))
            .collect();
        let p95: Vec<(f64, f64)> = l.timeline.iter().map(|p| (p.t as f64, p.p95_ms)).collect();
        rate = charts::timeline(
            "Requests and errors per second",
            "per second",
            &[
                ("requests", RGBColor(40, 120, 200), req),
                (
                    "errors (5xx, refused, timeouts)",
                    RGBColor(200, 40, 40),
                    err,
                ),
            ],
            &spans,
            &markers,
        );
        latency = charts::timeline(
            "p95 latency (from intended send time)",
            "ms",
            &[("p95", RGBColor(120, 60, 170), p95)],
            &spans,
            &markers,
        );
    }
    let target = r
        .slos
        .iter()
        .find(|s| s.name == crate::slo::check::SloKind::Mttd)
        .and_then(|s| {
            s.target
                .strip_prefix("≤ ")
                .and_then(|t| t.split_whitespace().next())
        })
        .and_then(crate::input::units::parse_duration)
        .map(|d| d.as_secs_f64());
    let mttd = if r.trials.is_empty() {
        charts::mttd_bars(r, target)
    } else {
        charts::mttd_trials(r, target)
    };
    (rate, latency, mttd)
}

fn detections_view(r: &RunResult) -> Vec<Value> {
    let k = r.time_scale;
    r
        .detections
        .iter()
        .map(|d| {
            let rel = |t: Option<chrono::DateTime<chrono::Utc>>| match (d.fault_took_effect_at, t) {
                (Some(t0), Some(t)) => {
                    let w = (t - t0).num_milliseconds() as f64 / 1000.0;
                    if k == 1.0 { format!("+{}", secs(w)) } else { format!("+{} (real +{})", secs(w), secs(w * k)) }
                }
                _ => "—".into(),
            };
            let mttd = match (d.mttd_wall_s, d.mttd_real_s) {
                (Some(w), Some(real)) if k != 1.0 => format!("{} real-time equivalent ({} wall)", secs(real), secs(w)),
                (Some(w), _) => secs(w),
                _ => "not detected".into(),
            };
            let at = d.late_destination.as_ref().map(|x| format!(" at {x}")).unwrap_or_default();
            let dests: Vec<Value> = d.destinations.iter().map(|t| json!({
                "destination": t.destination.to_string(),
                "required": t.required,
                "mttd": timing_text(t.mttd_wall_s, t.mttd_real_s, k, "never notified"),
                "reset": timing_text(t.reset_wall_s, t.reset_real_s, k, "no resolve after the revert"),
                "late": Some(&t.destination) == d.late_destination.as_ref(),
            })).collect();
            json!({"alert": d.instance(), "severity": d.severity, "fault": d.fault, "pending": rel(d.pending_at),
                   "firing": rel(d.firing_seen_at), "notified": rel(d.notified.first().map(|x| x.1)),
                   "mttd": format!("{mttd}{at}"), "destinations": dests})
        })
        .collect()
}

/// A per-destination time, wall and real-time equivalent, or `none`.
fn timing_text(wall: Option<f64>, real: Option<f64>, k: f64, none: &str) -> String {
    match (wall, real) {
        (Some(w), Some(real)) if k != 1.0 => format!("{} ({} wall)", secs(real), secs(w)),
        (Some(w), _) => secs(w),
        _ => none.to_string(),
    }
}

fn routing_view(r: &RunResult) -> (BTreeSet<String>, Vec<Value>) {
    // Routing matrix: alert × every destination seen or expected.
    let mut dests: BTreeSet<String> = BTreeSet::new();
    for row in &r.routing {
        dests.extend(
            row.expected
                .iter()
                .chain(&row.firing)
                .map(ToString::to_string),
        );
    }
    let rows: Vec<Value> = r
        .routing
        .iter()
        .map(|row| {
            let cells: Vec<Value> = dests
                .iter()
                .map(|d| {
                    let expected = row.expected.iter().any(|x| x.to_string() == *d);
                    let got = row.firing.iter().any(|x| x.to_string() == *d);
                    let resolved = row.resolved.iter().any(|x| x.to_string() == *d);
                    let inhibited = !row.inhibited_by.is_empty();
                    let (class, text) = match (expected, got) {
                        (true, false) if inhibited => ("cell-ok", "– inhibited"),
                        (true, true) if row.fully_inhibited => {
                            ("cell-extra", "! sent while inhibited")
                        }
                        (true, true) => (
                            "cell-ok",
                            if resolved {
                                "✓ resolved"
                            } else {
                                "✓ (no resolve)"
                            },
                        ),
                        (true, false) => ("cell-missed", "✗ missed"),
                        (false, true) => ("cell-extra", "! unexpected"),
                        (false, false) => ("", ""),
                    };
                    json!({"class": class, "text": text})
                })
                .collect();
            let alert = if row.inhibited_by.is_empty() {
                row.instance()
            } else {
                format!(
                    "{} (inhibited by {})",
                    row.instance(),
                    row.inhibited_by.join(", ")
                )
            };
            json!({"alert": alert, "severity": row.severity, "cells": cells})
        })
        .collect();
    (dests, rows)
}

fn dashboards_view(r: &RunResult) -> Option<Value> {
    r.dashboards.as_ref().map(|d| {
        let items: Vec<Value> = d
            .dashboards
            .iter()
            .map(|dash| {
                let panels: Vec<Value> = dash
                    .panels
                    .iter()
                    .map(|p| {
                        let note = if let Some(s) = &p.skipped {
                            format!("not measured: {s}")
                        } else if let Some(e) = p.errors.first() {
                            format!("query failed: {e}")
                        } else if !p.samples_ms.is_empty() && p.no_data_rounds as usize == p.samples_ms.len() {
                            "NO DATA under load".into()
                        } else {
                            String::new()
                        };
                        json!({"name": p.panel, "p50": ms(quantile(&p.samples_ms, 0.5)), "p95": ms(quantile(&p.samples_ms, 0.95)),
                               "max": ms(quantile(&p.samples_ms, 1.0)), "note": note})
                    })
                    .collect();
                json!({"name": dash.dashboard, "p50": ms(quantile(&dash.samples_ms, 0.5)), "p95": ms(quantile(&dash.samples_ms, 0.95)),
                       "max": ms(quantile(&dash.samples_ms, 1.0)), "panels": panels})
            })
            .collect();
        json!({"via": d.via, "rounds": d.rounds, "items": items})
    })
}

fn load_view(r: &RunResult) -> Option<Value> {
    r.load.as_ref().map(|l| {
        let endpoints: Vec<Value> = l
            .endpoints
            .iter()
            .map(|e| {
                json!({"endpoint": e.endpoint, "requests": e.requests, "p50": ms(Some(e.latency.p50_ms)), "p95": ms(Some(e.latency.p95_ms)),
                       "p99": ms(Some(e.latency.p99_ms)),
                       "classes": e.by_class.iter().map(|(c, n)| format!("{c}: {n}")).collect::<Vec<_>>().join(", ")})
            })
            .collect();
        let mut tenants: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for s in &l.trace_samples {
            let t = tenants.entry(s.tenant.as_str()).or_default();
            t.0 += 1;
            if !matches!(s.outcome.as_str(), "2xx" | "3xx" | "4xx") {
                t.1 += 1;
            }
        }
        let mut tenants: Vec<(&str, (u64, u64))> = tenants.into_iter().collect();
        tenants.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        let tenants: Vec<Value> = tenants
            .into_iter()
            .take(20)
            .map(|(t, (n, e))| json!({"tenant": t, "requests": n, "errors": e}))
            .collect();
        json!({"summary": format!("{} requests sent, {} dropped, {} errors", l.total_sent, l.total_dropped, l.total_errors),
               "endpoints": endpoints, "tenants": tenants})
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_run_says_which_component_made_it_so() {
        let notes = vec![
            "not started: grafana".to_string(),
            "INCOMPLETE: alertmanager stopped answering Prometheus' scrapes at 10:00:01.000 (up == 0)\nits last log lines:\n…".to_string(),
        ];
        let why = incomplete_reason(&notes);
        assert!(why.contains("alertmanager stopped answering"), "{why}");
        assert!(!why.contains("last log lines"), "first lines only: {why}");
        assert!(incomplete_reason(&[]).contains("did not complete"));
    }
}
