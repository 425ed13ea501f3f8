//! `grafana/truth.yml`: what a panel means, in terms of the load zeta-bench
//! sends. A dashboard can render, have data, and still be wrong (a `sum`
//! turned into `avg`, a quantile read off the wrong bucket, a grouping
//! label no series has). The panel's query cannot say what it was meant
//! to show, since the query is what may be wrong; this file says it, and
//! the `dashboard_correctness` SLO compares what the panel shows with the
//! load engine's own record.
//!
//! ```yaml
//! panels:
//!   - dashboard: api-performance        # the dashboard's uid (or title)
//!     panel: Request Rate by Endpoint   # the panel's title
//!     legend: "p95 {{endpoint}}"        # which target, when it has several
//!     shows: request_rate               # see [`Shows`]
//!     by: [endpoint]                    # the series it splits into
//!     quantile: 0.95                    # latency_quantile only
//! ```
//!
//! A stack without the file has no truth-checked panel, and the SLO says
//! so (not measured, never a pass).

use std::path::Path;

use super::model::{Dashboard, Panel, Target};
use crate::input::{Decoder, Diagnostics, Node, yaml};

/// Where the file sits in a stack directory.
pub const TRUTH_FILE: &str = "grafana/truth.yml";

/// What a panel shows, as the load engine can count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shows {
    /// Requests per second over the query's window (`rate`).
    RequestRate,
    /// Requests over the query's window (`increase`).
    RequestCount,
    /// How many tenants sent requests.
    ActiveTenants,
    /// A latency quantile of the endpoint's responses, in seconds.
    LatencyQuantile,
}

impl Shows {
    const NAMES: [&'static str; 4] = [
        "request_rate",
        "request_count",
        "active_tenants",
        "latency_quantile",
    ];

    fn parse(s: &str) -> Option<Shows> {
        Some(match s {
            "request_rate" => Shows::RequestRate,
            "request_count" => Shows::RequestCount,
            "active_tenants" => Shows::ActiveTenants,
            "latency_quantile" => Shows::LatencyQuantile,
            _ => return None,
        })
    }
}

/// The labels a truth-checked panel may split by: the load knows each
/// request's endpoint, tenant and status.
pub const GROUPS: [&str; 3] = ["endpoint", "tenant_id", "status"];

/// One truth-checked panel target.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TruthPanel {
    /// The dashboard's uid or title.
    pub dashboard: String,
    /// The panel's title.
    pub panel: String,
    /// The target's legend format, when the panel has several targets.
    pub legend: Option<String>,
    pub shows: Shows,
    /// Labels the panel splits its series by (a subset of [`GROUPS`]).
    pub by: Vec<String>,
    /// For [`Shows::LatencyQuantile`].
    pub quantile: Option<f64>,
    /// `file:line:column` of the entry, for messages.
    pub at: String,
}

/// The truth file of a stack directory: none when it has none.
pub fn load(stack: &Path) -> Result<Vec<TruthPanel>, String> {
    let path = stack.join(TRUTH_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = crate::input::read_capped(&path, crate::input::MAX_INPUT_BYTES)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&path, &text).map_err(|d| d.to_string().trim_end().to_string())
}

pub fn parse(file: &Path, text: &str) -> Result<Vec<TruthPanel>, Diagnostics> {
    let root = yaml::parse(text).map_err(|(pos, msg)| {
        let mut d = Diagnostics::default();
        d.push(file, pos, "", format!("invalid YAML: {msg}"));
        d
    })?;
    let mut dec = Decoder::new(file);
    let panels = decode(&mut dec, &root);
    match panels {
        Some(p) if !dec.has_errors() => Ok(p),
        _ => Err(dec.into_diagnostics().sorted()),
    }
}

fn decode(dec: &mut Decoder, root: &Node) -> Option<Vec<TruthPanel>> {
    let mut m = dec.map(root, "")?;
    let list = m.required(dec, "panels");
    m.finish(dec);
    let items = dec.seq(list?, "panels")?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(p) = decode_panel(dec, item, &format!("panels[{i}]")) {
            out.push(p);
        }
    }
    Some(out)
}

fn decode_panel(dec: &mut Decoder, node: &Node, field: &str) -> Option<TruthPanel> {
    let mut m = dec.map(node, field)?;
    let dashboard = m
        .required(dec, "dashboard")
        .and_then(|n| dec.string(n, &m.path("dashboard")));
    let panel = m
        .required(dec, "panel")
        .and_then(|n| dec.string(n, &m.path("panel")));
    let legend = m
        .get("legend")
        .and_then(|n| dec.string(n, &m.path("legend")));
    let shows = m
        .required(dec, "shows")
        .and_then(|n| dec.one_of(n, &m.path("shows"), &Shows::NAMES))
        .and_then(|s| Shows::parse(&s));
    let by = match m.get("by") {
        Some(n) => by_labels(dec, n, &m.path("by")),
        None => Some(Vec::new()),
    };
    let quantile = match m.get("quantile") {
        Some(n) => quantile(dec, n, &m.path("quantile")),
        None => None,
    };
    let pos = m.pos();
    let shows = shows?;
    if shows == Shows::LatencyQuantile && quantile.is_none() {
        dec.error(
            pos,
            &m.path("quantile"),
            "latency_quantile needs `quantile`: expected a number in (0, 1), found nothing",
        );
    }
    m.finish(dec);
    Some(TruthPanel {
        dashboard: dashboard?,
        panel: panel?,
        legend,
        shows,
        by: by?,
        quantile,
        at: format!("{}:{}:{}", dec.file().display(), pos.line, pos.column),
    })
}

fn by_labels(dec: &mut Decoder, n: &Node, field: &str) -> Option<Vec<String>> {
    let labels = dec.strings(n, field)?;
    for l in &labels {
        if !GROUPS.contains(&l.as_str()) {
            dec.error(
                n.pos,
                field,
                format!(
                    "expected labels the load knows ({}), found {l:?}",
                    GROUPS.join(", ")
                ),
            );
            return None;
        }
    }
    Some(labels)
}

fn quantile(dec: &mut Decoder, n: &Node, field: &str) -> Option<f64> {
    let q = dec.f64(n, field)?;
    if q > 0.0 && q < 1.0 {
        Some(q)
    } else {
        dec.error(
            n.pos,
            field,
            format!("expected a number in (0, 1), found {q}"),
        );
        None
    }
}

/// The dashboard, panel and target an entry names, or why none matches.
pub fn find<'a>(
    t: &TruthPanel,
    dashboards: &'a [Dashboard],
) -> Result<(&'a Dashboard, &'a Panel, &'a Target), String> {
    let d = dashboards
        .iter()
        .find(|d| d.uid.as_deref() == Some(t.dashboard.as_str()))
        .or_else(|| dashboards.iter().find(|d| d.title == t.dashboard))
        .ok_or_else(|| format!("no dashboard has the uid or title {:?}", t.dashboard))?;
    let p = d
        .panels
        .iter()
        .find(|p| p.title == t.panel)
        .ok_or_else(|| format!("dashboard {:?} has no panel {:?}", d.title, t.panel))?;
    let targets: Vec<&Target> = p
        .targets
        .iter()
        .filter(|x| !x.hidden && !x.expr.is_empty())
        .collect();
    let target = match &t.legend {
        Some(l) => targets
            .iter()
            .find(|x| x.legend.as_deref() == Some(l.as_str()))
            .copied(),
        None if targets.len() == 1 => targets.first().copied(),
        None => {
            return Err(format!(
                "panel {:?} has {} queries: name one with `legend`",
                t.panel,
                targets.len()
            ));
        }
    };
    let target = target.ok_or_else(|| {
        format!(
            "panel {:?} has no query with the legend {:?}",
            t.panel,
            t.legend.as_deref().unwrap_or("")
        )
    })?;
    Ok((d, p, target))
}

/// Entries of the truth file that name no panel: each is checked by
/// nothing, which `validate` says.
pub fn dangling(truth: &[TruthPanel], dashboards: &[Dashboard]) -> Vec<String> {
    truth
        .iter()
        .filter_map(|t| {
            find(t, dashboards)
                .err()
                .map(|e| format!("{}: {TRUTH_FILE}: not truth-checked: {e}", t.at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<TruthPanel>, String> {
        parse(Path::new("truth.yml"), text).map_err(|d| d.to_string())
    }

    #[test]
    fn the_shipped_truth_file_reads() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let panels = load(&stack).unwrap();
        assert!(panels.len() >= 5, "{panels:?}");
        assert!(panels.iter().any(|p| p.shows == Shows::LatencyQuantile));
        let dashboards = super::super::model::load_dashboards(&stack).unwrap();
        assert_eq!(dangling(&panels, &dashboards), Vec::<String>::new());
        let mut renamed = panels[0].clone();
        renamed.panel = "Requests".into();
        let d = dangling(&[renamed], &dashboards);
        assert!(d[0].contains("has no panel \"Requests\""), "{d:?}");
    }

    #[test]
    fn hostile_truth_files_are_refused_not_read_whole() {
        let dir = std::env::temp_dir().join(format!("zeta-truth-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("grafana")).unwrap();
        let file = dir.join(TRUTH_FILE);
        for (body, why) in [
            ("a".repeat(2 << 20), "larger than"),
            ("[".repeat(5000), "recursion limit"),
            ("a: &a [*a]".to_string(), "invalid YAML"),
            (
                "panels: [{dashboard: d, panel: p, shows: latency_quantile, quantile: .nan}]"
                    .to_string(),
                "quantile",
            ),
        ] {
            std::fs::write(&file, body).unwrap();
            let e = load(&dir).unwrap_err();
            assert!(e.contains(why), "{e}");
            // Located at its file, which the lint does not repeat.
            let p = crate::stackfiles::lint::Problem {
                file: file.clone(),
                what: e.clone(),
            };
            assert_eq!(p.to_string(), e);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_is_no_truth_checked_panel() {
        assert_eq!(load(Path::new("/nonexistent")).unwrap(), Vec::new());
    }

    #[test]
    fn errors_name_the_field_with_expected_and_found() {
        let e = parse_text(
            "panels:\n  - dashboard: d\n    panel: p\n    shows: request_rate\n    by: [instance]\n",
        )
        .unwrap_err();
        assert!(
            e.contains("truth.yml:5:") && e.contains("\"instance\""),
            "{e}"
        );
        let e =
            parse_text("panels:\n  - dashboard: d\n    panel: p\n    shows: latency_quantile\n")
                .unwrap_err();
        assert!(e.contains("quantile"), "{e}");
        let e = parse_text(
            "panels:\n  - dashboard: d\n    panel: p\n    shows: latency_quantile\n    quantile: 95\n",
        )
        .unwrap_err();
        assert!(e.contains("found 95"), "{e}");
        let e =
            parse_text("panels:\n  - dashboard: d\n    panel: p\n    shows: sum\n").unwrap_err();
        assert!(e.contains("request_rate"), "{e}");
    }
}
