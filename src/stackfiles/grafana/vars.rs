//! The query text Grafana really sends: template variables and the
//! built-ins `$__interval`, `$__rate_interval`, `$__range` substituted the
//! way Grafana does for a dashboard's time range and a panel's width.
//!
//! Grafana's rules, as implemented here:
//! - `$__interval` = time range ÷ max data points (the panel's width in
//!   pixels unless `maxDataPoints` is set), rounded to Grafana's "nice"
//!   intervals, and never under the minimum interval (the panel's
//!   `interval`, else the datasource's `timeInterval`);
//! - `$__rate_interval` = max(`$__interval` + scrape interval,
//!   4 × scrape interval), the scrape interval being `timeInterval`
//!   (Grafana's default: 15s);
//! - `$__range` = the range in whole seconds, `3600s`;
//! - a multi-value or "All" variable becomes a regex alternation
//!   `(a|b)`, or its `allValue`.

use std::time::Duration;

use super::model::{Dashboard, Panel, Variable};
use crate::input::units::{format_duration, parse_duration};

/// Grafana's default dashboard width in pixels, used to turn a panel's grid
/// width into max data points when the panel does not set them.
pub const DASHBOARD_WIDTH_PX: u32 = 1920;
/// Grafana's default scrape interval for `$__rate_interval`.
pub const DEFAULT_SCRAPE: Duration = Duration::from_secs(15);

/// What one panel's queries are evaluated with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryContext {
    pub range: Duration,
    pub interval: Duration,
    pub rate_interval: Duration,
}

/// `now-1h` → 1 h. Relative ranges only (`now-6h` to `now`); absolute
/// timestamps fall back to 6 hours, Grafana's default.
pub fn range_of(d: &Dashboard) -> Duration {
    let from = d.time_from.strip_prefix("now-").and_then(|s| {
        // Grafana also accepts `/d` rounding suffixes: drop them.
        parse_duration(s.split('/').next().unwrap_or(s))
    });
    let to = match d.time_to.as_str() {
        "now" => Some(Duration::ZERO),
        t => t.strip_prefix("now-").and_then(parse_duration),
    };
    match (from, to) {
        (Some(f), Some(t)) if f > t => f - t,
        _ => Duration::from_secs(6 * 3600),
    }
}

/// Grafana's `roundInterval` (rangeutil.ts).
pub fn round_interval(ms: u64) -> Duration {
    const S: u64 = 1000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    const D: u64 = 24 * H;
    let table: &[(u64, u64)] = &[
        (10, 1),
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1_500, S),
        (3_500, 2 * S),
        (7_500, 5 * S),
        (12_500, 10 * S),
        (17_500, 15 * S),
        (25_000, 20 * S),
        (45_000, 30 * S),
        (90_000, M),
        (210_000, 2 * M),
        (450_000, 5 * M),
        (750_000, 10 * M),
        (1_050_000, 15 * M),
        (1_500_000, 20 * M),
        (2_700_000, 30 * M),
        (5_400_000, H),
        (9_000_000, 2 * H),
        (16_200_000, 3 * H),
        (32_400_000, 6 * H),
        (86_400_000, 12 * H),
        (604_800_000, D),
        (1_814_400_000, 7 * D),
        (3_628_800_000, 30 * D),
    ];
    let out = table
        .iter()
        .find(|(limit, _)| ms <= *limit)
        .map(|(_, v)| *v)
        .unwrap_or(365 * D);
    Duration::from_millis(out)
}

/// The interval context for one panel.
pub fn context(d: &Dashboard, p: &Panel, scrape: Option<Duration>) -> QueryContext {
    let range = range_of(d);
    let scrape = scrape.unwrap_or(DEFAULT_SCRAPE);
    let max_points = p
        .max_data_points
        .unwrap_or(DASHBOARD_WIDTH_PX * p.width.clamp(1, 24) / 24)
        .max(1);
    let raw = round_interval(range.as_millis() as u64 / max_points as u64);
    let min = p
        .interval
        .as_deref()
        .map(|s| s.trim_start_matches('>'))
        .and_then(parse_duration)
        .unwrap_or(scrape);
    let interval = raw.max(min);
    QueryContext {
        range,
        interval,
        rate_interval: (interval + scrape).max(scrape * 4),
    }
}

/// Substitute built-ins and template variables in `expr`.
pub fn substitute(expr: &str, ctx: &QueryContext, vars: &[Variable]) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find(['$', '[']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, len) = reference_at(tail);
        match (len, value(name, ctx, vars)) {
            (n, Some(v)) if n > 0 => {
                out.push_str(&v);
                rest = &tail[n..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The variable reference `tail` starts with (`${x:fmt}`, `[[x]]`, `$x`):
/// its name and length, or `("", 0)` when it starts none.
fn reference_at(tail: &str) -> (&str, usize) {
    if let Some(inner) = tail.strip_prefix("${") {
        match inner.find('}') {
            Some(end) => (inner[..end].split(':').next().unwrap_or(""), end + 3),
            None => ("", 0),
        }
    } else if let Some(inner) = tail.strip_prefix("[[") {
        match inner.find("]]") {
            Some(end) => (inner[..end].split(':').next().unwrap_or(""), end + 4),
            None => ("", 0),
        }
    } else if let Some(inner) = tail.strip_prefix('$') {
        let end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        (&inner[..end], end + 1)
    } else {
        ("", 0)
    }
}

/// The names of the dashboard variables `text` refers to (`$x`, `${x}`,
/// `${x:csv}`, `[[x]]`), Grafana's own (`$__interval`, `$__from`, …) left
/// out.
pub fn referenced(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(['$', '[']) {
        let tail = &rest[i..];
        let (name, len) = reference_at(tail);
        let n = name.trim();
        let starts_well = n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if len > 0 && starts_well && !n.starts_with("__") && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
        rest = &tail[1..];
    }
    out
}

/// The PromQL a Prometheus query variable runs, in a form the checks of
/// rules and panels understand: `label_values(expr, label)` as `count by
/// (label) (expr)`, `query_result(expr)` as `expr`. `None` for the
/// queries that name no series (`label_values(label)`, `label_names()`,
/// `metrics(…)`).
pub fn variable_promql(query: &str) -> Option<String> {
    let q = query.trim();
    let call = |name: &str| -> Option<&str> {
        q.strip_prefix(name)?
            .trim_start()
            .strip_prefix('(')?
            .strip_suffix(')')
            .map(str::trim)
    };
    if let Some(inner) = call("query_result") {
        return Some(inner.to_string());
    }
    let (expr, label) = label_values_args(q)?;
    Some(format!("count by ({label}) ({expr})"))
}

/// A Prometheus query as Grafana sends it: variables substituted, then
/// every ad hoc filter of the dashboard added to each selector. A query
/// that does not parse is returned substituted only (the lint reports it).
pub fn prometheus_query(expr: &str, ctx: &QueryContext, vars: &[Variable]) -> String {
    let text = substitute(expr, ctx, vars);
    let filters: Vec<(String, String, String)> = vars
        .iter()
        .filter(|v| v.kind == "adhoc")
        .flat_map(|v| v.filters.iter().cloned())
        .collect();
    if filters.is_empty() {
        return text;
    }
    crate::stackfiles::prometheus::promql::with_matchers(&text, &filters).unwrap_or(text)
}

/// `(selector, label)` of `label_values(selector, label)`.
pub fn label_values_args(query: &str) -> Option<(String, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values")?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?
        .trim();
    let comma = last_top_level_comma(inner)?;
    let (expr, label) = (inner[..comma].trim(), inner[comma + 1..].trim());
    let label_ok =
        !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (label_ok && !expr.is_empty()).then(|| (expr.to_string(), label.to_string()))
}

/// The byte offset of the last comma outside brackets and quotes.
fn last_top_level_comma(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut found = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => found = Some(i),
            _ => {}
        }
    }
    found
}

fn value(name: &str, ctx: &QueryContext, vars: &[Variable]) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let secs = ctx.range.as_secs();
    Some(match name {
        // `$__auto`: Grafana's Loki step for metric queries (11+).
        "__interval" | "__auto" => format_duration(ctx.interval),
        "__interval_ms" => ctx.interval.as_millis().to_string(),
        "__rate_interval" => format_duration(ctx.rate_interval),
        "__rate_interval_ms" => ctx.rate_interval.as_millis().to_string(),
        "__range" => format!("{secs}s"),
        "__range_s" => secs.to_string(),
        "__range_ms" => ctx.range.as_millis().to_string(),
        _ => {
            let v = vars.iter().find(|v| v.name == name)?;
            variable_value(v)
        }
    })
}

fn variable_value(v: &Variable) -> String {
    let all = v.current.is_empty() || v.current.iter().any(|c| c == "$__all" || c == "All");
    if v.kind == "datasource" {
        // Resolved to the default datasource of that type by the caller's
        // datasource lookup; keep a recognisable placeholder.
        return v.current.first().cloned().unwrap_or_default();
    }
    let values: Vec<String> = if all {
        if let Some(a) = &v.all_value {
            return a.clone();
        }
        if v.options.is_empty() {
            return ".*".into();
        }
        v.options.clone()
    } else {
        v.current.clone()
    };
    match values.as_slice() {
        [one] => one.clone(),
        many => format!(
            "({})",
            many.iter()
                .map(|s| regex_escape(s))
                .collect::<Vec<_>>()
                .join("|")
        ),
    }
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfiles::grafana::model::{DsRef, Panel};

    fn dash(from: &str) -> Dashboard {
        Dashboard {
            file: "d.json".into(),
            uid: None,
            title: "d".into(),
            schema_version: 39,
            time_from: from.into(),
            time_to: "now".into(),
            variables: vec![
                Variable {
                    name: "tenant".into(),
                    kind: "query".into(),
                    current: vec!["$__all".into()],
                    all_value: Some(".*".into()),
                    options: vec![],
                    query: String::new(),
                    datasource: DsRef::Default,
                    filters: Vec::new(),
                },
                Variable {
                    name: "job".into(),
                    kind: "custom".into(),
                    current: vec!["a.b".into(), "c".into()],
                    all_value: None,
                    options: vec![],
                    query: String::new(),
                    datasource: DsRef::Default,
                    filters: Vec::new(),
                },
            ],
            panels: vec![],
            annotations: vec![],
        }
    }

    fn panel(width: u32) -> Panel {
        Panel {
            id: Some(1),
            title: "p".into(),
            kind: "timeseries".into(),
            width,
            datasource: DsRef::Default,
            targets: vec![],
            repeat: None,
            interval: None,
            max_data_points: None,
            row: None,
            library: None,
        }
    }

    #[test]
    fn grafana_interval_rules() {
        let d = dash("now-1h");
        // Half-width panel: 960 points over 1h = 3.75s → rounds to 5s → under
        // the 15s scrape interval, so 15s; rate interval 4 × 15s = 1m.
        let c = context(&d, &panel(12), Some(Duration::from_secs(15)));
        assert_eq!(c.range, Duration::from_secs(3600));
        assert_eq!(c.interval, Duration::from_secs(15));
        assert_eq!(c.rate_interval, Duration::from_secs(60));
        // Over 7 days, 1920 points: 315s → 5m; rate interval 5m15s.
        let c = context(&dash("now-7d"), &panel(24), Some(Duration::from_secs(15)));
        assert_eq!(c.interval, Duration::from_secs(300));
        assert_eq!(c.rate_interval, Duration::from_secs(315));
    }

    #[test]
    fn substitution() {
        let d = dash("now-1h");
        let c = context(&d, &panel(12), Some(Duration::from_secs(15)));
        let s = substitute(
            r#"sum(rate(x{tenant_id=~"$tenant",job=~"${job}"}[$__rate_interval])) / increase(y[$__range]) and z[[job]] $unknown"#,
            &c,
            &d.variables,
        );
        assert_eq!(
            s,
            r#"sum(rate(x{tenant_id=~".*",job=~"(a\.b|c)"}[1m])) / increase(y[3600s]) and z(a\.b|c) $unknown"#
        );
    }

    #[test]
    fn rounding_table() {
        assert_eq!(round_interval(3_750), Duration::from_secs(5));
        assert_eq!(round_interval(16_000), Duration::from_secs(15));
        assert_eq!(round_interval(100_000), Duration::from_secs(120));
    }

    #[test]
    fn references_and_the_promql_of_a_query_variable() {
        assert_eq!(
            referenced("sum(x{a=~\"$tenant\", b=\"${job:csv}\"}[$__rate_interval]) [[env]] $1"),
            vec!["tenant", "job", "env"]
        );
        assert_eq!(
            variable_promql("label_values(api_requests_total{job=\"a,b\"}, tenant_id)").as_deref(),
            Some("count by (tenant_id) (api_requests_total{job=\"a,b\"})")
        );
        assert_eq!(
            variable_promql(" query_result(topk(5, up)) ").as_deref(),
            Some("topk(5, up)")
        );
        assert_eq!(variable_promql("label_values(job)"), None);
        assert_eq!(variable_promql("metrics(http_.*)"), None);
        assert_eq!(
            label_values_args(r#"label_values(up{job=~"a,b"}, instance)"#),
            Some((r#"up{job=~"a,b"}"#.to_string(), "instance".to_string()))
        );
        assert_eq!(label_values_args("label_values(instance)"), None);
    }

    #[test]
    fn ad_hoc_filters_are_added_to_every_selector() {
        let adhoc = Variable {
            name: "Filters".into(),
            kind: "adhoc".into(),
            current: Vec::new(),
            all_value: None,
            options: Vec::new(),
            query: String::new(),
            datasource: DsRef::Default,
            filters: vec![
                ("tenant_id".into(), "=".into(), "tenant_001".into()),
                ("status".into(), "=~".into(), "5..".into()),
                ("latency".into(), ">".into(), "3".into()),
            ],
        };
        let ctx = QueryContext {
            range: Duration::from_secs(3600),
            interval: Duration::from_secs(15),
            rate_interval: Duration::from_secs(60),
        };
        let q = prometheus_query("sum(rate(a[5m])) / sum(b)", &ctx, &[adhoc]);
        assert_eq!(
            q,
            r#"sum(rate(a{status=~"5..",tenant_id="tenant_001"}[5m])) / sum(b{status=~"5..",tenant_id="tenant_001"})"#
        );
    }
}
