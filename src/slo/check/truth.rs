//! `dashboard_correctness`: do the truth-checked panels (`grafana/truth.yml`)
//! show what the load engine sent? A pure judge of what Prometheus answered
//! for each panel ([`PanelTruth`]) against the load's own record
//! ([`LoadReport`]): requests per endpoint, tenant and status, and each
//! endpoint's latencies.
//!
//! The expected value of a count over a window is an interval, since the
//! services count some requests the load cannot place: a request answered
//! 5xx after the tenant was counted, one that timed out after the service
//! counted it. So `lo` counts the requests answered 2xx and `hi` every
//! request that may have been counted. Around it the check allows:
//! - the relative `tolerance` of the SLO (10 % by default);
//! - three standard deviations of a Poisson count (`3·√n`) where the
//!   panel's window holds only part of the load, which is then assumed
//!   spread over groups as over the whole run;
//! - what scraping loses or adds at the window's edges: the requests of
//!   two scrape intervals, and one more per fault (a restarted service
//!   loses the counts since its last scrape).
//!
//! Rates are per second of real time: the load is never time-scaled.
//! A latency quantile is expected where `histogram_quantile` would put it
//! with the load's own latencies in the histogram's buckets. The services
//! see each request end sooner than the client does (the client's time
//! includes connecting, queueing and its own scheduling, several
//! milliseconds on a busy machine), so the low end of the interval buckets
//! the client's latencies as if each were [`server_side`] of it; then the
//! relative tolerance. In a run with faults the client's latencies hold
//! waits the services never saw (reconnecting after a restart), so latency
//! panels are then listed as not checked.
//!
//! A service creates a labelled series at its first request, so the
//! increments before that series' first scrape are invisible to `rate`
//! and `increase` (the series was not there to start from 0). The low end
//! allows the larger of one lost request per underlying series the group
//! can have (one per endpoint, tenant and status of it that the load sent)
//! and what Prometheus says the group's series held at their first sample
//! in the window. The second is more after a freeze: the service answers
//! its backlog before the first scrape, and a series born in that burst
//! starts at several requests.

use std::collections::{BTreeMap, BTreeSet};

use crate::load::LoadReport;
use crate::names::SloKind;
use crate::observe::grafana::truth::{PanelTruth, TruthSeries};
use crate::slo::spec::CorrectnessSlo;

use super::{SloResult, Status};

/// The largest client-side latency a server-side `le` bound may hold:
/// the services may see a request end up to 5 ms plus a third sooner
/// (measured on a busy 2-core machine: client p95 48.5 ms where the
/// service's histogram said 42 ms, p99 129 ms where it said 96 ms).
pub fn server_side(le: f64) -> f64 {
    le * 1.5 + 0.005
}

/// What the judge needs besides the panels' answers.
pub struct Ground<'a> {
    pub load: Option<&'a LoadReport>,
    /// The real (time-scaled) scrape interval, in seconds.
    pub scrape_s: f64,
    /// Faults injected during the run.
    pub faults: usize,
    /// How many panel targets `truth.yml` lists (0: no file).
    pub declared: usize,
}

/// The expected value of one series, and how it was derived.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    lo: f64,
    hi: f64,
    how: String,
}

pub fn judge(slo: &CorrectnessSlo, panels: &[PanelTruth], g: &Ground<'_>) -> SloResult {
    let target = format!(
        "every truth-checked panel within {}% of the load sent (plus 3√n and two scrape intervals)",
        crate::input::units::show_number(slo.tolerance * 100.0)
    );
    let not_measured = |why: String| SloResult {
        name: SloKind::DashboardCorrectness,
        status: Status::NotMeasured,
        required: slo.required,
        target: target.clone(),
        measured: None,
        details: vec![why],
    };
    if g.declared == 0 {
        return not_measured(
            "the stack declares no truth-checked panel (grafana/truth.yml), so no panel's values were compared with the load".into(),
        );
    }
    let Some(load) = g.load.filter(|l| l.total_sent > 0) else {
        return not_measured(
            "no load was sent, so there is nothing to compare the panels with".into(),
        );
    };
    if panels.is_empty() {
        return not_measured(
            "the panels were not read from Prometheus (the run ended before the load did, or the dashboards could not be loaded)".into(),
        );
    }
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let (mut compared, mut series) = (0usize, 0usize);
    for p in panels {
        let name = panel_name(p);
        if let Some(e) = &p.error {
            notes.push(format!("{name}: not checked: {e}"));
            continue;
        }
        match check_panel(slo, p, load, g) {
            Ok(outcome) => {
                compared += 1;
                series += outcome.compared;
                findings.extend(outcome.wrong.into_iter().map(|w| format!("{name}: {w}")));
                notes.extend(outcome.notes.into_iter().map(|n| format!("{name}: {n}")));
            }
            Err(why) => notes.push(format!("{name}: not checked: {why}")),
        }
    }
    if compared == 0 {
        return SloResult {
            details: notes,
            ..not_measured(String::new())
        };
    }
    let result = SloResult {
        name: SloKind::DashboardCorrectness,
        status: Status::Pass,
        required: slo.required,
        target,
        measured: Some(format!(
            "{compared} of {} panel queries compared with the {} requests the load sent, {series} series, on Prometheus",
            panels.len(),
            load.total_sent
        )),
        details: notes,
    };
    result.failed_by("wrong panel", &findings)
}

fn panel_name(p: &PanelTruth) -> String {
    match &p.legend {
        Some(l) => format!("{} / {} ({l})", p.dashboard, p.panel),
        None => format!("{} / {}", p.dashboard, p.panel),
    }
}

#[derive(Default)]
struct Outcome {
    compared: usize,
    wrong: Vec<String>,
    notes: Vec<String>,
}

fn check_panel(
    slo: &CorrectnessSlo,
    p: &PanelTruth,
    load: &LoadReport,
    g: &Ground<'_>,
) -> Result<Outcome, String> {
    let window = Window::of(p, load)?;
    match p.shows.as_str() {
        "request_rate" | "request_count" => Ok(check_groups(
            p,
            &count_expectations(slo, p, load, g, &window)?,
        )),
        "active_tenants" => Ok(check_tenants(p, load)),
        "latency_quantile" => check_latency(slo, p, load, g, &window),
        other => Err(format!("unknown meaning {other:?}")),
    }
}

/// The part of the load a panel's window saw.
struct Window {
    /// Its length in seconds (none: an instant selector).
    length: Option<f64>,
    /// Where it starts, in seconds since the load started (0 for none).
    from: f64,
    /// Share of the load's requests inside it.
    share: f64,
    /// Whether it holds the whole load.
    whole: bool,
    /// The load's length in seconds.
    load_s: f64,
}

impl Window {
    fn of(p: &PanelTruth, load: &LoadReport) -> Result<Window, String> {
        let start = load
            .started_at
            .ok_or("the load report has no start time")?
            .timestamp_millis() as f64
            / 1000.0;
        let total: u64 = load.timeline.iter().map(|s| s.requests).sum();
        let last = load.timeline.iter().map(|s| s.t + 1).max().unwrap_or(0) as f64;
        let Some(w) = p.window_s else {
            return Ok(Window {
                length: None,
                from: 0.0,
                share: 1.0,
                whole: true,
                load_s: last,
            });
        };
        let (from, to) = (p.at - w - start, p.at - start);
        let inside: u64 = load
            .timeline
            .iter()
            .filter(|s| (s.t as f64) >= from.floor() && (s.t as f64) < to)
            .map(|s| s.requests)
            .sum();
        Ok(Window {
            length: Some(w),
            from,
            share: if total == 0 {
                0.0
            } else {
                inside as f64 / total as f64
            },
            whole: from <= 0.0 && to >= last,
            load_s: last,
        })
    }
}

/// The request path of a load endpoint (`GET /a/b?x=1` → `/a/b`).
pub fn path_of(endpoint: &str) -> &str {
    let path = endpoint.split_once(' ').map_or(endpoint, |(_, p)| p);
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// Whether a service's route label (`/v1/jobs/{job_id}`, `/v1/jobs/:id`)
/// names the load's path.
fn route_matches(route: &str, path: &str) -> bool {
    let wild = |s: &str| s.starts_with('{') || s.starts_with(':') || s.contains('{');
    let (a, b): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || wild(x) || wild(y))
}

/// A load request's value of a grouping label.
fn group_value(label: &str, rc: &crate::load::record::RequestCount) -> Option<String> {
    match label {
        "endpoint" => Some(path_of(&rc.endpoint).to_string()),
        "tenant_id" => Some(rc.tenant.clone()),
        "status" => rc.status.map(|s| s.to_string()),
        _ => None,
    }
}

type Key = Vec<String>;

/// Per group (values of `by`, in order): the expected value.
fn count_expectations(
    slo: &CorrectnessSlo,
    p: &PanelTruth,
    load: &LoadReport,
    g: &Ground<'_>,
    w: &Window,
) -> Result<BTreeMap<Key, Expected>, String> {
    if load.requests.is_empty() {
        return Err(
            "the load report has no per-request counts (written by an older zeta-bench)".into(),
        );
    }
    // (2xx, every request, underlying series)
    let mut counts: BTreeMap<Key, (u64, u64, u64)> = BTreeMap::new();
    for rc in &load.requests {
        let key: Option<Key> = p.by.iter().map(|l| group_value(l, rc)).collect();
        let Some(key) = key else { continue };
        let c = counts.entry(key).or_default();
        if rc.status.is_some_and(|s| (200..300).contains(&s)) {
            c.0 += rc.count;
        }
        c.1 += rc.count;
        c.2 += 1;
    }
    let per = match (p.shows.as_str(), w.length) {
        ("request_rate", Some(len)) if len > 0.0 => len,
        ("request_rate", _) => return Err("a rate panel whose query has no range".into()),
        _ => 1.0,
    };
    let unit = if per == 1.0 { "requests" } else { "req/s" };
    Ok(counts
        .into_iter()
        .map(|(k, (lo, hi, cells))| {
            let (lo, hi) = (lo as f64 * w.share, hi as f64 * w.share);
            let per_s = hi / w.load_s.max(1.0);
            let edges = per_s * g.scrape_s * (2 + g.faults) as f64;
            let noise = if w.whole { 0.0 } else { 3.0 * hi.sqrt() };
            let slack = edges + noise + 2.0;
            let how = format!(
                "{} of the load's requests in the panel's {}window{}",
                show(hi),
                w.length
                    .map(|l| format!("{} ", human_secs(l)))
                    .unwrap_or_default(),
                if per == 1.0 {
                    String::new()
                } else {
                    format!(", / {}", human_secs(per))
                }
            );
            // The larger of: one per series the group can have, and what
            // Prometheus says its series had counted when first scraped.
            let first = before_first_scrape(p, &k);
            let unseen = (cells as f64).max(first);
            let burst = if first > cells as f64 {
                format!(
                    "; {} counted before their series' first scrape",
                    show(first)
                )
            } else {
                String::new()
            };
            let e = Expected {
                lo: ((lo * (1.0 - slo.tolerance) - slack - unseen) / per).max(0.0),
                hi: (hi * (1.0 + slo.tolerance) + slack) / per,
                how: format!("{} {unit}: {how}{burst}", show(hi / per)),
            };
            (k, e)
        })
        .collect())
}

fn show(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn human_secs(s: f64) -> String {
    crate::input::units::format_duration(std::time::Duration::from_secs_f64(s.max(0.0)))
}

/// Each expected group is one series of the panel, inside its interval.
fn check_groups(p: &PanelTruth, expected: &BTreeMap<Key, Expected>) -> Outcome {
    let mut out = Outcome::default();
    let by = p.by.join(", ");
    let lacking: Vec<&TruthSeries> = p
        .series
        .iter()
        .filter(|s| p.by.iter().any(|l| !s.labels.contains_key(l)))
        .collect();
    let wanted = expected.values().filter(|e| e.lo > 0.0).count();
    if !lacking.is_empty() {
        out.wrong.push(format!(
            "expected {} series by ({by}), one per {} the load sent to, found {} series, {} of them without {}; the query groups by other labels ({})",
            expected.len(),
            p.by.join("/"),
            p.series.len(),
            lacking.len(),
            p.by.iter()
                .filter(|l| lacking.iter().any(|s| !s.labels.contains_key(*l)))
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            shown_labels(&lacking)
        ));
        return out;
    }
    let mut found: BTreeSet<Key> = BTreeSet::new();
    let mut others = 0;
    for s in &p.series {
        let key = find_key(p, s, expected);
        let Some((key, e)) = key else {
            others += 1;
            continue;
        };
        found.insert(key.clone());
        out.compared += 1;
        if !(s.value >= e.lo && s.value <= e.hi) {
            out.wrong.push(format!(
                "{}: expected {} (allowed {}..{}), found {}",
                show_key(&p.by, key),
                e.how,
                show(e.lo),
                show(e.hi),
                show(s.value)
            ));
        }
    }
    let missing: Vec<String> = expected
        .iter()
        .filter(|(k, e)| e.lo > 0.0 && !found.contains(*k))
        .map(|(k, _)| show_key(&p.by, k))
        .collect();
    if !missing.is_empty() {
        out.wrong.push(format!(
            "expected {wanted} series by ({by}), found {}; none for {}",
            found.len(),
            shown_list(&missing)
        ));
    }
    if others > 0 {
        out.notes.push(format!(
            "{others} series for traffic the load did not send (another service's routes, health checks) not compared"
        ));
    }
    out
}

fn find_key<'e>(
    p: &PanelTruth,
    s: &TruthSeries,
    expected: &'e BTreeMap<Key, Expected>,
) -> Option<(&'e Key, &'e Expected)> {
    expected.iter().find(|(k, _)| of_group(&p.by, s, k))
}

/// Whether series `s` is the group `key` (values of `by`, in order).
fn of_group(by: &[String], s: &TruthSeries, key: &Key) -> bool {
    by.iter().zip(key.iter()).all(|(l, v)| {
        let got = s.labels.get(l).map(String::as_str).unwrap_or("");
        if l == "endpoint" {
            route_matches(got, v)
        } else {
            got == v
        }
    })
}

/// What the group's counter series had counted at their first scrape in
/// the window, as Prometheus said (`PanelTruth::before_first_scrape`).
fn before_first_scrape(p: &PanelTruth, key: &Key) -> f64 {
    p.before_first_scrape
        .iter()
        .filter(|s| of_group(&p.by, s, key))
        .map(|s| s.value)
        .sum()
}

fn show_key(by: &[String], key: &Key) -> String {
    by.iter()
        .zip(key)
        .map(|(l, v)| format!("{l}={v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn shown_list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

fn shown_labels(series: &[&TruthSeries]) -> String {
    let names: BTreeSet<&str> = series
        .iter()
        .flat_map(|s| s.labels.keys().map(String::as_str))
        .collect();
    if names.is_empty() {
        "no label at all".into()
    } else {
        names.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// One series whose value is the number of tenants that sent requests.
fn check_tenants(p: &PanelTruth, load: &LoadReport) -> Outcome {
    let mut out = Outcome::default();
    let answered: BTreeSet<&str> = load
        .requests
        .iter()
        .filter(|r| r.status.is_some())
        .map(|r| r.tenant.as_str())
        .collect();
    let ok: BTreeSet<&str> = load
        .requests
        .iter()
        .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
        .map(|r| r.tenant.as_str())
        .collect();
    let (lo, hi) = (ok.len() as f64, answered.len() as f64);
    let expected = if lo == hi {
        format!("{lo}")
    } else {
        format!("{lo}..{hi}")
    };
    match p.series.as_slice() {
        [] => out.wrong.push(format!(
            "expected {expected} (tenants the load's requests were answered for), found no data"
        )),
        [s] => {
            out.compared = 1;
            if !(s.value >= lo && s.value <= hi) {
                out.wrong.push(format!(
                    "expected {expected} (tenants the load's requests were answered for), found {}",
                    show(s.value)
                ));
            }
        }
        many => out.wrong.push(format!(
            "expected one series (a count of tenants, {expected}), found {}",
            many.len()
        )),
    }
    out
}

/// Prometheus' `histogram_quantile` over cumulative counts at `bounds`
/// (finite, ascending), `total` in the +Inf bucket.
pub fn histogram_quantile(q: f64, bounds: &[f64], cumulative: &[u64], total: u64) -> Option<f64> {
    if total == 0 || bounds.is_empty() || bounds.len() != cumulative.len() {
        return None;
    }
    let rank = q * total as f64;
    let b = cumulative.iter().position(|&c| c as f64 >= rank);
    let Some(b) = b else {
        // The +Inf bucket: the highest finite bound.
        return bounds.last().copied();
    };
    let (start, below) = if b == 0 {
        (if bounds[0] > 0.0 { 0.0 } else { bounds[0] }, 0)
    } else {
        (bounds[b - 1], cumulative[b - 1])
    };
    let in_bucket = cumulative[b] - below;
    if in_bucket == 0 {
        return Some(bounds[b]);
    }
    Some(start + (bounds[b] - start) * ((rank - below as f64) / in_bucket as f64))
}

fn check_latency(
    slo: &CorrectnessSlo,
    p: &PanelTruth,
    load: &LoadReport,
    g: &Ground<'_>,
    w: &Window,
) -> Result<Outcome, String> {
    let q = p.quantile.ok_or("latency_quantile without a quantile")?;
    if p.buckets.is_empty() {
        return Err("the histogram it reads has no buckets in Prometheus".into());
    }
    if g.faults > 0 {
        // Measured: after a restart the client's p99 was 0.163 s where the
        // service's own histogram said 0.095 s (reconnects, piled-up
        // requests the service had not yet accepted).
        return Err(format!(
            "the run injected {} fault(s): the load's latencies then include client-side waits (reconnecting after a restart, requests held by an outage) that the services never saw, so they are not the reference for the panel's {}window",
            g.faults,
            w.length
                .map(|l| format!("{} ", human_secs(l)))
                .unwrap_or_default()
        ));
    }
    if let Some(why) = unsteady(load, w) {
        return Err(why);
    }
    if p.by.iter().any(|l| l != "endpoint") {
        return Err("latency is known per endpoint only".into());
    }
    if p.by.is_empty() {
        return Err(
            "a latency panel over every endpoint at once: the load knows each endpoint's".into(),
        );
    }
    let mut expected: BTreeMap<Key, Expected> = BTreeMap::new();
    for e in &load.endpoints {
        let at = |server: bool| -> Option<(Vec<u64>, u64)> {
            let mut c = Vec::new();
            let mut total = 0;
            for b in &p.buckets {
                let le = if server { server_side(*b) } else { *b };
                let (n, all) = e.answered_within(le)?;
                c.push(n);
                total = all;
            }
            Some((c, total))
        };
        let (Some((client, total)), Some((server, _))) = (at(false), at(true)) else {
            continue;
        };
        let (Some(hi), Some(lo)) = (
            histogram_quantile(q, &p.buckets, &client, total),
            histogram_quantile(q, &p.buckets, &server, total),
        ) else {
            continue;
        };
        expected.insert(
            vec![path_of(&e.endpoint).to_string()],
            Expected {
                lo: lo * (1.0 - slo.tolerance),
                hi: hi * (1.0 + slo.tolerance),
                how: format!(
                    "{} s: histogram_quantile({q}) of the load's {total} latencies in the histogram's buckets",
                    show_secs(hi)
                ),
            },
        );
    }
    Ok(check_groups(p, &expected))
}

/// Why the whole run's latencies are not the reference for a panel whose
/// window holds only part of the load, when they are not: the load's
/// slowest second (its per-second p95) inside the window and outside it
/// are more than half again plus 5 ms apart. The load keeps its latency
/// histograms for the whole run, so a stall outside the window (or only
/// inside it) would move the expected quantile away from what the panel
/// rightly shows. Steady long runs stay checked.
fn unsteady(load: &LoadReport, w: &Window) -> Option<String> {
    let length = w.length.filter(|_| !w.whole)?;
    let (mut inside, mut outside) = (0.0_f64, 0.0_f64);
    for s in load.timeline.iter().filter(|s| s.requests > 0) {
        let slowest = if s.t as f64 >= w.from.floor() {
            &mut inside
        } else {
            &mut outside
        };
        *slowest = slowest.max(s.p95_ms);
    }
    let apart = |a: f64, b: f64| a > b * 1.5 + 5.0;
    (apart(inside, outside) || apart(outside, inside)).then(|| {
        format!(
            "not steady: the panel's {} window holds {:.0} % of the load, whose slowest second had a p95 of {} ms inside the window and {} ms outside it; the load's latencies are kept for the whole run only, so they are not the reference for the window",
            human_secs(length),
            w.share * 100.0,
            show(inside),
            show(outside)
        )
    })
}

fn show_secs(v: f64) -> String {
    format!("{v:.4}")
}

#[cfg(test)]
#[path = "truth_tests.rs"]
mod tests;
