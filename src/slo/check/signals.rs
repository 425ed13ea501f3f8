//! The SLOs about what people see: dashboard load time, trace coverage, and
//! (without Loki) the logs' schema and trace correlation.

use super::{SloResult, Status};
use crate::input::units::human_duration;
use crate::observe::dashboards::{DashboardReport, quantile};
use crate::observe::logs::LogReport;
use crate::observe::traces::TraceReport;
use crate::slo::spec::{DashboardSlo, LogSearchSlo, TraceSlo};

fn not_measured(name: &str, required: bool, target: String, why: String) -> SloResult {
    SloResult {
        name: name.into(),
        status: Status::NotMeasured,
        required,
        target,
        measured: None,
        details: vec![why],
    }
}

pub(super) fn dashboards(
    d: &DashboardSlo,
    report: Option<&DashboardReport>,
    fallback: String,
) -> SloResult {
    let target = format!("every dashboard p95 ≤ {}", human_duration(d.max));
    let Some(r) = report.filter(|r| r.rounds > 0) else {
        return not_measured("dashboard_latency", d.required, target, fallback);
    };
    let max_ms = d.max.as_secs_f64() * 1000.0;
    let mut details = Vec::new();
    let mut failed = false;
    let mut worst: Option<(f64, f64, &str)> = None;
    let mut skipped = Vec::new();
    for dash in &r.dashboards {
        let (Some(p95), Some(max)) = (
            quantile(&dash.samples_ms, 0.95),
            quantile(&dash.samples_ms, 1.0),
        ) else {
            continue;
        };
        if worst.is_none_or(|w| p95 > w.0) {
            worst = Some((p95, max, &dash.dashboard));
        }
        if p95 > max_ms {
            failed = true;
            details.push(format!(
                "{}: p95 load {:.0} ms is over {}",
                dash.dashboard,
                p95,
                human_duration(d.max)
            ));
        }
        for p in &dash.panels {
            if let Some(why) = &p.skipped {
                skipped.push(format!("{} / {} ({why})", dash.dashboard, p.panel));
                continue;
            }
            if let Some(e) = p.errors.first() {
                failed = true;
                details.push(format!(
                    "{} / {}: query failed: {e}",
                    dash.dashboard, p.panel
                ));
            }
            if !p.samples_ms.is_empty() && p.no_data_rounds as usize == p.samples_ms.len() {
                failed |= d.no_data_fails;
                details.push(format!(
                    "{} / {}: no data in any of {} loads under load{}",
                    dash.dashboard,
                    p.panel,
                    p.samples_ms.len(),
                    if d.no_data_fails {
                        ""
                    } else {
                        " (no_data: warn)"
                    }
                ));
            }
        }
    }
    let Some((p95, max, name)) = worst else {
        return not_measured(
            "dashboard_latency",
            d.required,
            target,
            format!("no panel could be measured here: {}", skipped.join("; ")),
        );
    };
    if !skipped.is_empty() {
        details.push(format!(
            "{} panel(s) not measured: {}",
            skipped.len(),
            skipped.join("; ")
        ));
    }
    SloResult {
        name: "dashboard_latency".into(),
        status: if failed { Status::Fail } else { Status::Pass },
        required: d.required,
        target,
        measured: Some(format!(
            "slowest dashboard {name}: p95 {p95:.0} ms, max {max:.0} ms over {} loads, via {}",
            r.rounds, r.via
        )),
        details,
    }
}

pub(super) fn traces(t: &TraceSlo, report: Option<&TraceReport>) -> SloResult {
    let target = format!(
        "≥ {}% of requests traced, backend-api → ml-engine linked",
        t.min * 100.0
    );
    let Some(r) = report else {
        return not_measured(
            "trace_coverage",
            t.required,
            target,
            "no trace store".into(),
        );
    };
    let Some(coverage) = r.coverage() else {
        return not_measured(
            "trace_coverage",
            t.required,
            target,
            "no sampled request reached a server".into(),
        );
    };
    let mut failed = coverage < t.min;
    let mut details = Vec::new();
    for e in &r.endpoints {
        let mut line = format!("{}: {}/{} traced", e.endpoint, e.found, e.sent);
        if e.chain_checked > 0 {
            line.push_str(&format!(
                ", {}/{} linked backend-api → ml-engine",
                e.linked, e.chain_checked
            ));
            if e.linked < e.chain_checked {
                failed = true;
                line.push_str(&format!(
                    " (broken, e.g. trace {})",
                    e.broken_examples.first().cloned().unwrap_or_default()
                ));
            }
        }
        if let Some(m) = e.missing_examples.first() {
            line.push_str(&format!("; missing, e.g. trace {m}"));
        }
        if e.lost_to_faults > 0 {
            line.push_str(&format!(
                "; {} answered in the second before the service was killed lost their spans with it (not counted)",
                e.lost_to_faults
            ));
        }
        details.push(line);
    }
    SloResult {
        name: "trace_coverage".into(),
        status: if failed { Status::Fail } else { Status::Pass },
        required: t.required,
        target,
        measured: Some(format!("{:.2}% in {}", coverage * 100.0, r.store)),
        details,
    }
}

pub(super) fn logs(
    l: &LogSearchSlo,
    report: Option<&LogReport>,
    loki_missing: String,
) -> SloResult {
    let target = format!("{} queries ≤ {}", l.queries.len(), human_duration(l.max));
    let mut details = vec![loki_missing];
    let mut status = Status::NotMeasured;
    if let Some(r) = report {
        details.push(format!(
            "log schema: {} lines in {} file(s), {} not in the seed's format",
            r.lines,
            r.files.len(),
            r.nonconforming
        ));
        details.extend(r.examples.iter().cloned());
        if r.correlatable > 0 {
            details.push(format!(
                "trace correlation: {}/{} sampled requests found in backend-api's log by trace_id",
                r.correlated, r.correlatable
            ));
        }
        // Broken log lines break every search, measured or not.
        if r.nonconforming > 0 || r.correlated < r.correlatable {
            status = Status::Fail;
        }
    }
    SloResult {
        name: "log_search".into(),
        status,
        required: l.required,
        target,
        measured: None,
        details,
    }
}
