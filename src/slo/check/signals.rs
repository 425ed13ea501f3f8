//! The SLOs about what people see: dashboard load time, trace coverage, and
//! (without Loki) the logs' schema and trace correlation.

use super::{SloKind, SloResult, Status};
use crate::input::units::human_duration;
use crate::observe::grafana::dashboards::{DashboardReport, quantile};
use crate::observe::jaeger::traces::TraceReport;
use crate::observe::loki::logs::LogReport;
use crate::slo::spec::{DashboardSlo, LogSearchSlo, TraceSlo};

fn not_measured(name: SloKind, required: bool, target: String, why: String) -> SloResult {
    SloResult {
        name,
        status: Status::NotMeasured,
        required,
        target,
        measured: None,
        details: vec![why],
    }
}

/// A dashboard the static check finds broken (a query that does not parse,
/// a datasource nobody provisions, a metric nothing exports) fails the
/// check, whatever was measured.
pub(super) fn broken_dashboards(r: SloResult, problems: &[String]) -> SloResult {
    r.failed_by("broken dashboard", problems)
}

/// Panels whose selectors can match nothing the stack produces, or that
/// name labels no live series has, and variables with no value under
/// load, from the live series check (`dashboard / panel: selector: why`,
/// `dashboard / variable $name: why`).
pub(super) fn broken_panels(report: Option<&DashboardReport>) -> Vec<String> {
    let mut out = Vec::new();
    for dash in report.map(|r| r.dashboards.as_slice()).unwrap_or(&[]) {
        for v in &dash.broken_variables {
            out.push(format!("{} / variable {v}", dash.dashboard));
        }
        for p in &dash.panels {
            for b in p.health.iter().flat_map(|h| &h.broken) {
                out.push(format!("{} / {}: {b}", dash.dashboard, p.panel));
            }
        }
    }
    out
}

/// How many selectors the live series check looked at, and what it found.
fn health_summary(r: &DashboardReport) -> Option<String> {
    let checked: Vec<_> = r
        .dashboards
        .iter()
        .flat_map(|d| &d.panels)
        .filter_map(|p| p.health.as_ref())
        .collect();
    if checked.is_empty() {
        return None;
    }
    let count = |f: fn(&crate::observe::grafana::panel_health::PanelHealth) -> usize| {
        checked.iter().map(|h| f(h)).sum::<usize>()
    };
    Some(format!(
        "panel health: {} selectors of {} panels looked up in the live series: {} broken, {} legitimately empty, {} could not be asked",
        count(|h| h.selectors as usize),
        checked.len(),
        count(|h| h.broken.len()),
        count(|h| h.empty.len()),
        count(|h| h.unchecked.len()),
    ))
}

/// What a panel's live check adds to its no-data line: why it is empty,
/// or that it could not be asked.
fn health_note(p: &crate::observe::grafana::dashboards::PanelResult) -> String {
    match &p.health {
        Some(h) if !h.empty.is_empty() => format!(
            "; its selectors match the stack's series, so it is a legitimately empty panel ({})",
            h.empty.join("; ")
        ),
        Some(h) if !h.unchecked.is_empty() => {
            format!("; its selectors could not be checked: {}", h.unchecked[0])
        }
        _ => String::new(),
    }
}

pub(super) fn dashboards(
    d: &DashboardSlo,
    report: Option<&DashboardReport>,
    fallback: String,
) -> SloResult {
    let target = format!("every dashboard p95 ≤ {}", human_duration(d.max));
    let Some(r) = report.filter(|r| r.rounds > 0) else {
        return not_measured(SloKind::DashboardLatency, d.required, target, fallback);
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
                    "{} / {}: no data in any of {} loads under load{}{}",
                    dash.dashboard,
                    p.panel,
                    p.samples_ms.len(),
                    if d.no_data_fails {
                        ""
                    } else {
                        " (no_data: warn)"
                    },
                    health_note(p)
                ));
            }
        }
    }
    let Some((p95, max, name)) = worst else {
        return not_measured(
            SloKind::DashboardLatency,
            d.required,
            target,
            format!("no panel could be measured here: {}", skipped.join("; ")),
        );
    };
    if let Some(line) = health_summary(r) {
        details.push(line);
    }
    if !skipped.is_empty() {
        details.push(format!(
            "{} panel(s) not measured: {}",
            skipped.len(),
            skipped.join("; ")
        ));
    }
    let result = SloResult {
        name: SloKind::DashboardLatency,
        status: if failed { Status::Fail } else { Status::Pass },
        required: d.required,
        target,
        measured: Some(format!(
            "slowest dashboard {name}: p95 {p95:.0} ms, max {max:.0} ms over {} loads, via {}",
            r.rounds, r.via
        )),
        details,
    };
    stand_in_never_passes(
        result,
        r.stand_in,
        "Grafana not running: these are Prometheus query times, a lower bound on the dashboards' load time, which was not measured",
    )
}

/// What was measured on a stand-in (the harness's receiver for Jaeger,
/// Prometheus for Grafana) is reported, but never as a PASS: a would-be
/// pass is NOT MEASURED, with what was seen and what was not. A failure
/// stays a failure: the stand-in already shows something broken.
fn stand_in_never_passes(mut r: SloResult, stand_in: bool, unmeasured: &str) -> SloResult {
    if stand_in && r.status == Status::Pass {
        r.status = Status::NotMeasured;
        r.measured = r.measured.map(|m| format!("{m}; {unmeasured}"));
        r.details.insert(0, unmeasured.to_string());
    }
    r
}

/// The load happened as planned: few arrivals were dropped, and requests
/// left on schedule. Every other check
/// assumed it, so a shortfall fails the run whatever they say.
pub(super) fn load(
    l: &crate::slo::spec::LoadSlo,
    report: Option<&crate::load::LoadReport>,
    outages: &[(f64, f64)],
) -> SloResult {
    let target = format!(
        "the planned load was sent: ≤ {}% of arrivals dropped or short, send lateness p99 ≤ {}",
        l.max_dropped * 100.0,
        human_duration(l.max_lateness)
    );
    let Some(r) = report else {
        return SloResult {
            name: SloKind::Load,
            status: Status::Fail,
            required: l.required,
            target,
            measured: None,
            details: vec![
                "the load did not happen: the load engine did not run (see the notes)".into(),
            ],
        };
    };
    let mut details = Vec::new();
    let arrivals = r.total_sent + r.total_dropped;
    // Drops during an outage the scenario caused are its effect; every
    // other drop counts.
    let in_outage: u64 = r
        .dropped_by_second
        .iter()
        .filter(|(s, _)| {
            outages
                .iter()
                .any(|(a, b)| (*s as f64) + 1.0 > *a && (*s as f64) < *b)
        })
        .map(|(_, n)| n)
        .sum();
    let counted = r.total_dropped.saturating_sub(in_outage);
    let dropped = counted as f64 / arrivals.max(1) as f64;
    if dropped > l.max_dropped {
        details.push(format!(
            "{counted} of {arrivals} arrivals ({:.1}%) were dropped: max_in_flight was reached (the target answered too slowly for the schedule)",
            dropped * 100.0
        ));
    }
    // A generator that cannot keep the planned rate falls behind its
    // schedule, which the send lateness shows (the phases' nominal rates
    // are not compared: Poisson counts, ramps and surges differ from them
    // by design).
    let late_ms = r.send_lateness.p99_ms;
    if late_ms > l.max_lateness.as_secs_f64() * 1000.0 {
        details.push(format!(
            "requests left late: send lateness p99 {late_ms:.1} ms, max {:.1} ms (the load engine fell behind its schedule)",
            r.send_lateness.max_ms
        ));
    }
    if r.interrupted {
        details.push("the load was interrupted before its schedule ended".into());
    }
    let failed = !details.is_empty();
    if failed {
        details.insert(
            0,
            "the load did not happen as planned, and every other check assumed it did".into(),
        );
    }
    SloResult {
        name: SloKind::Load,
        status: if failed { Status::Fail } else { Status::Pass },
        required: l.required,
        target,
        measured: Some(format!(
            "{} sent, {} dropped ({:.2}%{}), send lateness p99 {late_ms:.2} ms",
            r.total_sent,
            r.total_dropped,
            dropped * 100.0,
            if in_outage > 0 {
                format!("; {in_outage} more during an outage the scenario caused, not counted")
            } else {
                String::new()
            }
        )),
        details,
    }
}

pub(super) fn traces(t: &TraceSlo, report: Option<&TraceReport>, no_store: String) -> SloResult {
    let target = format!(
        "≥ {}% of requests traced, backend-api → ml-engine linked",
        t.min * 100.0
    );
    let Some(r) = report else {
        return not_measured(SloKind::TraceCoverage, t.required, target, no_store);
    };
    let Some(coverage) = r.coverage() else {
        if r.lookup_errors > 0 {
            return SloResult {
                name: SloKind::TraceCoverage,
                status: Status::Fail,
                required: t.required,
                target,
                measured: None,
                details: vec![format!(
                    "every lookup in {} failed: {}",
                    r.store,
                    r.lookup_error_examples.join("; ")
                )],
            };
        }
        return not_measured(
            SloKind::TraceCoverage,
            t.required,
            target,
            "no sampled request reached a server".into(),
        );
    };
    let mut failed = coverage < t.min;
    let mut details = Vec::new();
    if r.lookup_errors > 0 {
        // A trace store that errors is a store people cannot use.
        failed = true;
        details.push(format!(
            "{} lookup(s) in the trace store failed; those traces are not counted: {}",
            r.lookup_errors,
            r.lookup_error_examples.join("; ")
        ));
    }
    if let Some(services) = &r.services {
        let missing: Vec<&str> = crate::observe::jaeger::traces::TRACED_SERVICES
            .iter()
            .copied()
            .filter(|s| !services.iter().any(|x| x == s))
            .collect();
        if !missing.is_empty() {
            failed = true;
            details.push(format!(
                "the trace store has no spans from {} (it lists: {})",
                missing.join(", "),
                services.join(", ")
            ));
        }
    }
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
                "; {} lost to a fault (answered in the second before their service was killed, or while the tracing backend was down or before its restart emptied its in-memory store; not counted)",
                e.lost_to_faults
            ));
        }
        if e.beyond_retention > 0 {
            line.push_str(&format!(
                "; {} sent before the last traces the store keeps (its in-memory max_traces) and not found: evicted, not untraced; not counted",
                e.beyond_retention
            ));
        }
        details.push(line);
    }
    let result = SloResult {
        name: SloKind::TraceCoverage,
        status: if failed { Status::Fail } else { Status::Pass },
        required: t.required,
        target,
        measured: Some(if r.stand_in {
            format!(
                "instrumentation: spans exported for {:.2}% of sampled requests",
                coverage * 100.0
            )
        } else {
            format!("{:.2}% in {}", coverage * 100.0, r.store)
        }),
        details,
    };
    stand_in_never_passes(
        result,
        r.stand_in,
        "Jaeger not running, so storage and query were not measured",
    )
}

/// Trace correlation, judged on the logs that were read: its line (a
/// measurement, or why it was not measured) and whether requests were
/// missing. With no log read (an external stack's logs are reached through
/// Loki only), nothing was looked up, which is not a miss.
fn correlation(r: &LogReport) -> (Option<Result<String, String>>, bool) {
    if r.correlatable == 0 {
        return (None, false);
    }
    if r.files.is_empty() {
        let why = format!(
            "trace correlation: no service log file was read here, so the {} sampled requests were not looked up",
            r.correlatable
        );
        return (Some(Err(why)), false);
    }
    let seen = format!(
        "trace correlation: {}/{} sampled requests found in backend-api's log by trace_id",
        r.correlated, r.correlatable
    );
    (Some(Ok(seen)), r.correlated < r.correlatable)
}

pub(super) fn logs(
    l: &LogSearchSlo,
    report: Option<&LogReport>,
    loki_missing: String,
) -> SloResult {
    let target = format!("{} queries ≤ {}", l.queries.len(), human_duration(l.max));
    let mut details = Vec::new();
    let mut failed = false;
    let mut measured = None;
    let mut unmeasured: Vec<String> = Vec::new();
    match report
        .and_then(|r| r.search.as_ref())
        .filter(|s| s.rounds > 0)
    {
        Some(s) => {
            let max_ms = l.max.as_secs_f64() * 1000.0;
            let mut worst: Option<(f64, f64, &str)> = None;
            for q in &s.queries {
                if let Some(e) = q.errors.first() {
                    failed = true;
                    details.push(format!("{}: {} failed: {e}", q.query, q.errors.len()));
                }
                let (Some(p95), Some(max)) =
                    (quantile(&q.samples_ms, 0.95), quantile(&q.samples_ms, 1.0))
                else {
                    continue;
                };
                if worst.is_none_or(|w| p95 > w.0) {
                    worst = Some((p95, max, &q.query));
                }
                if p95 > max_ms {
                    failed = true;
                    details.push(format!(
                        "{}: p95 {p95:.0} ms is over {}",
                        q.query,
                        human_duration(l.max)
                    ));
                }
                if q.empty_rounds as usize == q.samples_ms.len() {
                    details.push(format!(
                        "{}: no line in any of {} searches",
                        q.query,
                        q.samples_ms.len()
                    ));
                }
            }
            match worst {
                Some((p95, max, q)) => {
                    measured = Some(format!(
                        "slowest query {q}: p95 {p95:.0} ms, max {max:.0} ms over {} rounds, via {}",
                        s.rounds, s.via
                    ))
                }
                None => unmeasured.push("no search succeeded".into()),
            }
            if s.completeness.is_empty() {
                unmeasured.push("completeness was not checked (no log files)".into());
            }
            for c in &s.completeness {
                if let Some(why) = &c.incomplete {
                    unmeasured.push(format!("completeness of {}: {why}", c.selector));
                } else if c.found < c.written {
                    failed = true;
                    details.push(format!(
                        "completeness: {} of {} lines the services wrote are in Loki ({}); missing, e.g. {}",
                        c.found,
                        c.written,
                        c.selector,
                        c.missing_examples.first().cloned().unwrap_or_default()
                    ));
                } else {
                    details.push(format!(
                        "completeness: all {} lines of {} are in Loki",
                        c.written, c.selector
                    ));
                }
            }
        }
        None => unmeasured.push(loki_missing),
    }
    if let Some(r) = report {
        details.push(format!(
            "log schema: {} lines in {} file(s), {} not in the seed's format",
            r.lines,
            r.files.len(),
            r.nonconforming
        ));
        details.extend(r.examples.iter().cloned());
        let (line, missed) = correlation(r);
        match line {
            Some(Ok(seen)) => details.push(seen),
            Some(Err(unread)) => unmeasured.push(unread),
            None => {}
        }
        // Broken log lines break every search, measured or not.
        if r.nonconforming > 0 || missed {
            failed = true;
        }
    }
    let status = if failed {
        Status::Fail
    } else if !unmeasured.is_empty() {
        Status::NotMeasured
    } else {
        Status::Pass
    };
    let mut all = unmeasured;
    all.extend(details);
    SloResult {
        name: SloKind::LogSearch,
        status,
        required: l.required,
        target,
        measured,
        details: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::jaeger::traces::EndpointCoverage;
    use crate::observe::loki::api::Completeness;
    use crate::observe::loki::logsearch::{LogSearchReport, QueryTiming};
    use crate::slo::spec::parse_slo;
    use std::path::Path;

    fn spec() -> crate::slo::spec::SloSpec {
        parse_slo(
            Path::new("slo.yml"),
            "log_search: { max: 5s, queries: ['{service=\"backend-api\"}'] }\ntrace_coverage: { min: 100% }\n",
        )
        .unwrap()
    }

    fn search(samples: &[f64], errors: &[&str], written: u64, found: u64) -> LogReport {
        LogReport {
            search: Some(LogSearchReport {
                via: "Loki".into(),
                rounds: samples.len().max(errors.len()) as u32,
                queries: vec![QueryTiming {
                    query: "{service=\"backend-api\"}".into(),
                    samples_ms: samples.to_vec(),
                    empty_rounds: 0,
                    errors: errors.iter().map(|e| e.to_string()).collect(),
                }],
                completeness: vec![Completeness {
                    selector: "{service=\"backend-api\"}".into(),
                    written,
                    found,
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn log_search_passes_only_when_timed_complete_and_error_free() {
        let s = spec();
        let l = s.log_search.as_ref().unwrap();
        let r = logs(
            l,
            Some(&search(&[120.0, 300.0], &[], 10, 10)),
            "no Loki".into(),
        );
        assert_eq!(r.status, Status::Pass, "{:?}", r.details);
        assert!(r.measured.unwrap().contains("p95 300 ms"));
        let slow = logs(
            l,
            Some(&search(&[120.0, 6000.0], &[], 10, 10)),
            String::new(),
        );
        assert_eq!(slow.status, Status::Fail);
        let lost = logs(l, Some(&search(&[120.0], &[], 10, 9)), String::new());
        assert_eq!(lost.status, Status::Fail);
        assert!(lost.details.iter().any(|d| d.contains("9 of 10")));
        let erroring = logs(
            l,
            Some(&search(&[120.0], &["HTTP 503"], 10, 10)),
            String::new(),
        );
        assert_eq!(erroring.status, Status::Fail);
        // Every search failed: never a pass.
        let none = logs(l, Some(&search(&[], &["timed out"], 10, 10)), String::new());
        assert_eq!(none.status, Status::Fail);
        // Without Loki: not measured, with the reason first.
        let absent = logs(
            l,
            Some(&LogReport::default()),
            "Loki is not installed".into(),
        );
        assert_eq!(absent.status, Status::NotMeasured);
        assert_eq!(absent.details[0], "Loki is not installed");
        // Completeness cut short: the search alone cannot pass the SLO.
        let mut capped = search(&[100.0], &[], 10, 3);
        capped.search.as_mut().unwrap().completeness[0].incomplete =
            Some("stopped after 3 lines".into());
        assert_eq!(
            logs(l, Some(&capped), String::new()).status,
            Status::NotMeasured
        );
    }

    #[test]
    fn trace_correlation_is_judged_only_on_logs_that_were_read() {
        let s = spec();
        let l = s.log_search.as_ref().unwrap();
        // An external stack without Loki: no log file read here, so the
        // sampled requests were not looked up; not measured, not a miss.
        let unread = LogReport {
            correlatable: 152,
            ..Default::default()
        };
        let r = logs(l, Some(&unread), "no Loki URL".into());
        assert_eq!(r.status, Status::NotMeasured, "{:?}", r.details);
        assert!(
            r.details
                .iter()
                .any(|d| d.contains("152 sampled requests were not looked up"))
        );
        // The same requests missing from a log that was read: a failure.
        let read = LogReport {
            files: vec!["backend-api.log".into()],
            lines: 300,
            correlatable: 152,
            correlated: 150,
            ..Default::default()
        };
        let r = logs(l, Some(&read), "no Loki URL".into());
        assert_eq!(r.status, Status::Fail);
        assert!(r.details.iter().any(|d| d.contains("150/152")));
    }

    #[test]
    fn trace_lookups_that_fail_never_pass() {
        let s = spec();
        let t = s.trace_coverage.as_ref().unwrap();
        let mut r = TraceReport {
            store: "Jaeger".into(),
            endpoints: vec![EndpointCoverage {
                endpoint: "/api/v1/recommendations".into(),
                sent: 4,
                found: 4,
                ..Default::default()
            }],
            services: Some(vec!["backend-api".into(), "ml-engine".into()]),
            ..Default::default()
        };
        assert_eq!(traces(t, Some(&r), String::new()).status, Status::Pass);
        r.services = Some(vec!["backend-api".into()]);
        let missing = traces(t, Some(&r), String::new());
        assert_eq!(missing.status, Status::Fail);
        assert!(
            missing
                .details
                .iter()
                .any(|d| d.contains("no spans from ml-engine"))
        );
        r.services = None;
        r.lookup_errors = 1;
        r.lookup_error_examples = vec!["trace x: HTTP 500".into()];
        assert_eq!(traces(t, Some(&r), String::new()).status, Status::Fail);
        r.endpoints[0].sent = 0;
        r.endpoints[0].found = 0;
        assert_eq!(traces(t, Some(&r), String::new()).status, Status::Fail);
    }
}
