//! The SLO file (`slo/*.yml`), decoded with the same located diagnostics as
//! scenarios.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::input::{Decoder, Diagnostics, MapReader, Node, yaml};

#[derive(Debug, Clone, Default)]
pub struct SloSpec {
    pub file: PathBuf,
    pub mttd: Option<MttdSlo>,
    pub alert_delivery: Option<DeliverySlo>,
    pub dashboard_latency: Option<DashboardSlo>,
    pub dashboard_correctness: Option<CorrectnessSlo>,
    pub log_search: Option<LogSearchSlo>,
    pub trace_coverage: Option<TraceSlo>,
    /// Whether the load happened as planned: judged on every run, with
    /// these tolerances unless the file's `load:` sets others.
    pub load: LoadSlo,
}

/// The tolerances of the `load` check: every other check assumes the
/// planned load reached the stack.
#[derive(Debug, Clone)]
pub struct LoadSlo {
    /// Largest share of arrivals dropped (at `max_in_flight`) or not sent.
    pub max_dropped: f64,
    /// Largest p99 of send lateness (how late a request left versus its
    /// schedule).
    pub max_lateness: Duration,
    pub required: bool,
}

impl Default for LoadSlo {
    fn default() -> LoadSlo {
        LoadSlo {
            max_dropped: 0.01,
            max_lateness: Duration::from_millis(100),
            required: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MttdSlo {
    /// Target in real time (compared with wall time × time scale).
    pub max: Duration,
    pub severities: Vec<String>,
    pub required: bool,
    /// Over several trials, the percentile judged (nearest rank, a trial
    /// that never paged counting as infinitely late); `None` is the worst
    /// trial, as `100` is.
    pub percentile: Option<u8>,
}

#[derive(Debug, Clone)]
pub struct DeliverySlo {
    pub missed_critical: u64,
    /// Severity → where its notifications must land. A severity not listed
    /// must reach nobody.
    pub routing: Vec<(String, Vec<Destination>)>,
    pub required: bool,
}

impl DeliverySlo {
    /// The routing policy names this severity (an empty list included:
    /// "stored only, reaches nobody" is a policy too).
    pub fn covers(&self, severity: &str) -> bool {
        self.routing.iter().any(|(s, _)| s == severity)
    }

    pub fn destinations(&self, severity: &str) -> &[Destination] {
        self.routing
            .iter()
            .find(|(s, _)| s == severity)
            .map(|(_, d)| d.as_slice())
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone)]
pub struct DashboardSlo {
    pub max: Duration,
    pub no_data_fails: bool,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct LogSearchSlo {
    pub max: Duration,
    pub queries: Vec<String>,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct TraceSlo {
    /// Fraction, 1.0 = 100 %.
    pub min: f64,
    pub required: bool,
}

/// Truth-checked panels against the load (`grafana/truth.yml`).
#[derive(Debug, Clone)]
pub struct CorrectnessSlo {
    /// Relative tolerance on counts and rates, beyond the statistical and
    /// scrape slack the check always allows (fraction, 0.1 = 10 %).
    pub tolerance: f64,
    pub required: bool,
}

pub use crate::observe::alertmanager::destination::Destination;

pub fn load_slo(path: &Path) -> Result<SloSpec, Diagnostics> {
    let text = crate::input::read_capped(path, crate::input::MAX_INPUT_BYTES).map_err(|e| {
        let mut d = Diagnostics::default();
        d.push(
            path,
            Default::default(),
            "",
            format!("cannot read the SLO file: {e}"),
        );
        d
    })?;
    parse_slo(path, &text)
}

pub fn parse_slo(file: &Path, text: &str) -> Result<SloSpec, Diagnostics> {
    let root = yaml::parse(text).map_err(|(pos, msg)| {
        let mut d = Diagnostics::default();
        d.push(file, pos, "", format!("invalid YAML: {msg}"));
        d
    })?;
    let mut dec = Decoder::new(file);
    let spec = decode(&mut dec, &root);
    match spec {
        Some(s) if !dec.has_errors() => Ok(SloSpec {
            file: file.to_path_buf(),
            ..s
        }),
        _ => Err(dec.into_diagnostics().sorted()),
    }
}

fn required_flag(dec: &mut Decoder, m: &mut MapReader<'_>) -> Option<bool> {
    match m.get("required") {
        Some(n) => dec.bool(n, &m.path("required")),
        None => Some(true),
    }
}

fn max_duration(dec: &mut Decoder, m: &mut MapReader<'_>) -> Option<Duration> {
    m.required(dec, "max")
        .and_then(|n| dec.duration(n, &m.path("max")))
        .map(|d| d.value)
}

fn decode(dec: &mut Decoder, root: &Node) -> Option<SloSpec> {
    let mut m = dec.map(root, "")?;
    let mut spec = SloSpec::default();
    let mut ok = true;
    if let Some(n) = m.get("mttd") {
        spec.mttd = decode_mttd(dec, n);
        ok &= spec.mttd.is_some();
    }
    if let Some(n) = m.get("alert_delivery") {
        spec.alert_delivery = decode_delivery(dec, n);
        ok &= spec.alert_delivery.is_some();
    }
    if let Some(n) = m.get("dashboard_latency") {
        spec.dashboard_latency = decode_dashboard(dec, n);
        ok &= spec.dashboard_latency.is_some();
    }
    if let Some(n) = m.get("dashboard_correctness") {
        spec.dashboard_correctness = decode_correctness(dec, n);
        ok &= spec.dashboard_correctness.is_some();
    }
    if let Some(n) = m.get("log_search") {
        spec.log_search = decode_log_search(dec, n);
        ok &= spec.log_search.is_some();
    }
    if let Some(n) = m.get("trace_coverage") {
        spec.trace_coverage = decode_trace(dec, n);
        ok &= spec.trace_coverage.is_some();
    }
    if let Some(n) = m.get("load") {
        match decode_load(dec, n) {
            Some(l) => spec.load = l,
            None => ok = false,
        }
    }
    m.finish(dec);
    ok.then_some(spec)
}

fn decode_mttd(dec: &mut Decoder, node: &Node) -> Option<MttdSlo> {
    let mut m = dec.map(node, "mttd")?;
    let max = max_duration(dec, &mut m);
    let severities = match m.get("severities") {
        Some(n) => dec.strings(n, "mttd.severities"),
        None => Some(vec!["critical".to_string()]),
    };
    let required = required_flag(dec, &mut m);
    let percentile = match m.get("percentile") {
        Some(n) => dec
            .u64_in(n, "mttd.percentile", 1..=100, |p| {
                format!("expected a percentile from 1 to 100, found {p}")
            })
            .map(|p| Some(p as u8)),
        None => Some(None),
    };
    m.finish(dec);
    Some(MttdSlo {
        max: max?,
        severities: severities?,
        required: required?,
        percentile: percentile?,
    })
}

fn decode_delivery(dec: &mut Decoder, node: &Node) -> Option<DeliverySlo> {
    let mut m = dec.map(node, "alert_delivery")?;
    let missed = match m.get("missed_critical") {
        Some(n) => dec.u64(n, "alert_delivery.missed_critical"),
        None => Some(0),
    };
    let routing = m.required(dec, "routing").and_then(|n| {
        let mut r = dec.map(n, "alert_delivery.routing")?;
        let mut out = Vec::new();
        let mut ok = true;
        for sev in ["critical", "warning", "info"] {
            let Some(list) = r.get(sev) else {
                // An empty or missing list: that severity reaches nobody.
                out.push((sev.to_string(), Vec::new()));
                continue;
            };
            let field = r.path(sev);
            let Some(items) = dec.seq(list, &field) else {
                ok = false;
                continue;
            };
            let mut dests = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}[{i}]");
                match dec.string(item, &f).map(|s| Destination::parse(&s)) {
                    Some(Ok(d)) => dests.push(d),
                    Some(Err(e)) => {
                        dec.error(item.pos, &f, e);
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            out.push((sev.to_string(), dests));
        }
        r.finish(dec);
        ok.then_some(out)
    });
    let required = required_flag(dec, &mut m);
    m.finish(dec);
    Some(DeliverySlo {
        missed_critical: missed?,
        routing: routing?,
        required: required?,
    })
}

fn decode_dashboard(dec: &mut Decoder, node: &Node) -> Option<DashboardSlo> {
    let mut m = dec.map(node, "dashboard_latency")?;
    let max = max_duration(dec, &mut m);
    let no_data = match m.get("no_data") {
        Some(n) => dec.one_of(n, "dashboard_latency.no_data", &["fail", "warn"]),
        None => Some("fail".to_string()),
    };
    let required = required_flag(dec, &mut m);
    m.finish(dec);
    Some(DashboardSlo {
        max: max?,
        no_data_fails: no_data? == "fail",
        required: required?,
    })
}

/// Each query is LogQL Loki would accept, else an error at its line.
fn check_logql(dec: &mut Decoder, n: &Node) {
    let crate::input::NodeKind::Seq(items) = &n.kind else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        if let crate::input::NodeKind::Scalar { text, .. } = &item.kind {
            if let Err(e) = crate::stackfiles::logql::check(text) {
                dec.error(
                    item.pos,
                    &format!("log_search.queries[{i}]"),
                    format!("invalid LogQL {text:?} {e}"),
                );
            }
        }
    }
}

fn decode_log_search(dec: &mut Decoder, node: &Node) -> Option<LogSearchSlo> {
    let mut m = dec.map(node, "log_search")?;
    let max = max_duration(dec, &mut m);
    let queries = match m.get("queries") {
        Some(n) => dec
            .strings(n, "log_search.queries")
            .inspect(|_| check_logql(dec, n)),
        None => Some(vec![
            r#"{service="backend-api", level="ERROR"}"#.to_string(),
            r#"{tenant_id="tenant_001"} | json"#.to_string(),
        ]),
    };
    let required = required_flag(dec, &mut m);
    m.finish(dec);
    Some(LogSearchSlo {
        max: max?,
        queries: queries?,
        required: required?,
    })
}

fn decode_load(dec: &mut Decoder, node: &Node) -> Option<LoadSlo> {
    let mut m = dec.map(node, "load")?;
    let d = LoadSlo::default();
    let max_dropped = match m.get("max_dropped") {
        Some(n) => dec.percent(n, "load.max_dropped"),
        None => Some(d.max_dropped),
    };
    let max_lateness = match m.get("max_send_lateness") {
        Some(n) => dec.duration(n, "load.max_send_lateness").map(|l| l.value),
        None => Some(d.max_lateness),
    };
    let required = required_flag(dec, &mut m);
    m.finish(dec);
    Some(LoadSlo {
        max_dropped: max_dropped?,
        max_lateness: max_lateness?,
        required: required?,
    })
}

fn decode_correctness(dec: &mut Decoder, node: &Node) -> Option<CorrectnessSlo> {
    let mut m = dec.map(node, "dashboard_correctness")?;
    let tolerance = match m.get("tolerance") {
        Some(n) => dec.percent(n, "dashboard_correctness.tolerance"),
        None => Some(0.1),
    };
    let required = required_flag(dec, &mut m);
    m.finish(dec);
    Some(CorrectnessSlo {
        tolerance: tolerance?,
        required: required?,
    })
}

fn decode_trace(dec: &mut Decoder, node: &Node) -> Option<TraceSlo> {
    let mut m = dec.map(node, "trace_coverage")?;
    let min = m
        .required(dec, "min")
        .and_then(|n| dec.percent(n, "trace_coverage.min"));
    let required = required_flag(dec, &mut m);
    m.finish(dec);
    Some(TraceSlo {
        min: min?,
        required: required?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHASE1: &str = r##"
mttd:              { max: 5m, severities: [critical] }
alert_delivery:    { missed_critical: 0, routing: { critical: [pagerduty, "slack:#zeta-critical-alerts"], warning: ["slack:#engineering-alerts"], info: [] } }
dashboard_latency: { max: 3s, no_data: fail }
log_search:        { max: 5s, queries: ['{service="backend-api", level="ERROR"}', '{tenant_id="tenant_001"} | json'] }
trace_coverage:    { min: 100% }
"##;

    #[test]
    fn the_design_draft_decodes() {
        let s = parse_slo(Path::new("slo.yml"), PHASE1).unwrap();
        let mttd = s.mttd.unwrap();
        assert_eq!(mttd.max, Duration::from_secs(300));
        assert!(mttd.required);
        let d = s.alert_delivery.unwrap();
        assert_eq!(
            d.destinations("critical"),
            &[
                Destination::PagerDuty,
                Destination::Slack("#zeta-critical-alerts".into())
            ]
        );
        assert!(d.destinations("info").is_empty());
        assert_eq!(s.trace_coverage.unwrap().min, 1.0);
        assert_eq!(s.log_search.unwrap().queries.len(), 2);
    }

    #[test]
    fn bad_destinations_and_fields_are_located() {
        let bad = PHASE1
            .replace("\"slack:#zeta-critical-alerts\"", "\"slack:zeta\"")
            .replace("min: 100%", "min: 1.0, minimum: 1");
        let err = parse_slo(Path::new("slo.yml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "slo.yml:3:75: alert_delivery.routing.critical[1]: expected a destination"
            ),
            "{err}"
        );
        assert!(
            err.contains("trace_coverage.min: expected a percentage"),
            "{err}"
        );
        assert!(
            err.contains("trace_coverage.minimum: unknown field"),
            "{err}"
        );
    }

    #[test]
    fn the_mttd_percentile_is_1_to_100_and_defaults_to_the_worst_trial() {
        let p95 = PHASE1.replace(
            "severities: [critical] }",
            "severities: [critical], percentile: 95 }",
        );
        let spec = parse_slo(Path::new("slo.yml"), &p95).unwrap();
        assert_eq!(spec.mttd.unwrap().percentile, Some(95));
        let spec = parse_slo(Path::new("slo.yml"), PHASE1).unwrap();
        assert_eq!(spec.mttd.unwrap().percentile, None);
        for bad in ["0", "101", "-3", "ninety"] {
            let text = PHASE1.replace(
                "severities: [critical] }",
                &format!("severities: [critical], percentile: {bad} }}"),
            );
            let err = parse_slo(Path::new("slo.yml"), &text)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("slo.yml:2:"), "{err}");
            assert!(err.contains("mttd.percentile: expected"), "{err}");
        }
        let err = parse_slo(
            Path::new("slo.yml"),
            &PHASE1.replace(
                "severities: [critical] }",
                "severities: [critical], percentile: 0 }",
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("expected a percentile from 1 to 100, found 0"),
            "{err}"
        );
    }
}
