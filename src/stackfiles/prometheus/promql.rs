//! Time-scaling PromQL: divide every range selector, subquery range and
//! step, and offset by K, through a real PromQL parser.
//!
//! Regexes would also rewrite durations inside label matchers and strings
//! (`{le="5m"}`), and miss subquery steps; walking the AST does neither.

use std::time::Duration;

use promql_parser::parser::{self, Expr, Offset, VectorSelector};

/// promql-parser, with its panics (a huge bare-number range overflows a
/// `Duration` inside it, found by `tests/fuzz.rs`) turned into errors:
/// expressions come from the user's files.
pub fn parse(expr: &str) -> Result<Expr, String> {
    // The lint, the label checks, the hazards and the floors each read
    // every rule's expression, and the parser compiles each `=~` matcher's
    // regex: parsed once per thread, a team's 10,000 rules validate in
    // seconds rather than most of a minute.
    PARSED.with(|memo| {
        if let Some(parsed) = memo.borrow().get(expr) {
            return parsed.clone();
        }
        let parsed = parse_uncached(expr);
        let mut memo = memo.borrow_mut();
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(expr.to_string(), parsed.clone());
        parsed
    })
}

/// How many parsed expressions a thread keeps.
const MEMO_ENTRIES: usize = 50_000;

thread_local! {
    static PARSED: std::cell::RefCell<std::collections::HashMap<String, Result<Expr, String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn parse_uncached(expr: &str) -> Result<Expr, String> {
    crate::input::nesting::check(expr)?;
    crate::input::quiet::catch_quietly(|| parser::parse(expr)).unwrap_or_else(|_| {
        Err(format!(
            "the PromQL parser cannot parse {expr:?} (a number or duration too large?)"
        ))
    })
}

/// Parse `expr` and return it with every duration divided by `k`.
pub fn scale_expr(expr: &str, k: f64) -> Result<String, String> {
    let mut ast = parse(expr)?;
    if k != 1.0 {
        scale(&mut ast, k);
    }
    Ok(ast.to_string())
}

/// `expr` with `matchers` (`label op "value"`, PromQL's four operators)
/// added to every selector, as Grafana adds an ad hoc filter. A filter
/// Prometheus cannot express (Grafana's `<`, `>`) is left out.
pub fn with_matchers(expr: &str, matchers: &[(String, String, String)]) -> Result<String, String> {
    let mut extra = Vec::new();
    for (label, op, value) in matchers {
        if !matches!(op.as_str(), "=" | "!=" | "=~" | "!~") {
            continue;
        }
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        let sel = format!("{{{label}{op}\"{escaped}\"}}");
        match parse(&sel)? {
            Expr::VectorSelector(v) => extra.extend(v.matchers.matchers),
            _ => return Err(format!("the filter {sel} is not a selector")),
        }
    }
    let mut ast = parse(expr)?;
    if !extra.is_empty() {
        add_matchers(&mut ast, &extra);
    }
    Ok(ast.to_string())
}

fn add_matchers(e: &mut Expr, extra: &[promql_parser::label::Matcher]) {
    match e {
        Expr::Aggregate(a) => {
            add_matchers(&mut a.expr, extra);
            if let Some(p) = &mut a.param {
                add_matchers(p, extra);
            }
        }
        Expr::Unary(u) => add_matchers(&mut u.expr, extra),
        Expr::Binary(b) => {
            add_matchers(&mut b.lhs, extra);
            add_matchers(&mut b.rhs, extra);
        }
        Expr::Paren(p) => add_matchers(&mut p.expr, extra),
        Expr::Subquery(s) => add_matchers(&mut s.expr, extra),
        Expr::VectorSelector(v) => v.matchers.matchers.extend(extra.iter().cloned()),
        Expr::MatrixSelector(m) => m.vs.matchers.matchers.extend(extra.iter().cloned()),
        Expr::Call(c) => {
            for arg in c.args.args.iter_mut() {
                add_matchers(arg, extra);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Every range-vector window in `expr` (`rate(x[5m])` → 5m), for the static
/// detection-time floor of a rule.
pub fn range_windows(expr: &str) -> Result<Vec<Duration>, String> {
    let ast = parse(expr)?;
    let mut out = Vec::new();
    collect_windows(&ast, &mut out);
    Ok(out)
}

fn scale_duration(d: Duration, k: f64) -> Duration {
    // Prometheus' resolution is a millisecond; never round a window to 0.
    let ms = (d.as_secs_f64() * 1000.0 / k).round().max(1.0);
    Duration::from_millis(ms as u64)
}

fn scale_offset(o: &mut Option<Offset>, k: f64) {
    if let Some(off) = o {
        *off = match off {
            Offset::Pos(d) => Offset::Pos(scale_duration(*d, k)),
            Offset::Neg(d) => Offset::Neg(scale_duration(*d, k)),
        };
    }
}

fn scale(e: &mut Expr, k: f64) {
    match e {
        Expr::Aggregate(a) => {
            scale(&mut a.expr, k);
            if let Some(p) = &mut a.param {
                scale(p, k);
            }
        }
        Expr::Unary(u) => scale(&mut u.expr, k),
        Expr::Binary(b) => {
            scale(&mut b.lhs, k);
            scale(&mut b.rhs, k);
        }
        Expr::Paren(p) => scale(&mut p.expr, k),
        Expr::Subquery(s) => {
            scale(&mut s.expr, k);
            s.range = scale_duration(s.range, k);
            if let Some(step) = &mut s.step {
                *step = scale_duration(*step, k);
            }
            scale_offset(&mut s.offset, k);
        }
        Expr::VectorSelector(v) => scale_offset(&mut v.offset, k),
        Expr::MatrixSelector(m) => {
            m.range = scale_duration(m.range, k);
            scale_offset(&mut m.vs.offset, k);
        }
        Expr::Call(c) => {
            for arg in c.args.args.iter_mut() {
                scale(arg, k);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn collect_windows(e: &Expr, out: &mut Vec<Duration>) {
    match e {
        Expr::Subquery(s) => out.push(s.range),
        Expr::MatrixSelector(m) => out.push(m.range),
        _ => {}
    }
    children(e)
        .into_iter()
        .for_each(|c| collect_windows(c, out));
}

/// Every metric name selected in `expr` (`rate(x_total[5m]) / y` → x_total,
/// y), for checking rules and dashboards against the metric contract.
pub fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = vector_selectors(expr)?
        .iter()
        .filter_map(selected_name)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The metric a selector names: `x{..}`, or `{__name__="x"}`.
pub fn selected_name(vs: &VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == promql_parser::label::MatchOp::Equal)
            .map(|m| m.value.clone())
    })
}

/// Every vector selector in `expr`, including those under a range
/// (`rate(x[5m])` → `x`), in the order they appear.
pub fn vector_selectors(expr: &str) -> Result<Vec<VectorSelector>, String> {
    let ast = parse(expr)?;
    let mut out = Vec::new();
    collect_selectors(&ast, &mut out);
    Ok(out)
}

fn collect_selectors(e: &Expr, out: &mut Vec<VectorSelector>) {
    match e {
        Expr::VectorSelector(v) => out.push(v.clone()),
        Expr::MatrixSelector(m) => out.push(m.vs.clone()),
        _ => children(e)
            .into_iter()
            .for_each(|c| collect_selectors(c, out)),
    }
}

/// The expressions directly under `e`.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Aggregate(a) => std::iter::once(a.expr.as_ref())
            .chain(a.param.as_deref())
            .collect(),
        Expr::Unary(u) => vec![&u.expr],
        Expr::Binary(b) => vec![&b.lhs, &b.rhs],
        Expr::Paren(p) => vec![&p.expr],
        Expr::Subquery(s) => vec![&s.expr],
        Expr::Call(c) => c.args.args.iter().map(|a| a.as_ref()).collect(),
        Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => Vec::new(),
    }
}

/// The one counter a request-rate or request-count panel counts: the
/// selector of `expr` (`x_total{a="b"}`) when it is the only one and it is
/// the range of a `rate` or `increase`, without `offset` or `@`. None for
/// anything else (ratios, recorded rates, instant selectors), where what a
/// counter's first sample hides cannot be told.
pub fn counted_selector(expr: &str) -> Option<String> {
    fn counted(e: &Expr, out: &mut Vec<VectorSelector>) {
        if let Expr::Call(c) = e
            && matches!(c.func.name, "rate" | "increase")
            && let Some(Expr::MatrixSelector(m)) = c.args.args.first().map(|a| a.as_ref())
        {
            out.push(m.vs.clone());
            return;
        }
        children(e).into_iter().for_each(|c| counted(c, out));
    }
    let all = vector_selectors(expr).ok()?;
    let mut ranged = Vec::new();
    counted(&parse(expr).ok()?, &mut ranged);
    match (all.as_slice(), ranged.as_slice()) {
        ([_], [vs]) if vs.offset.is_none() && vs.at.is_none() => Some(vs.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_subqueries_and_offsets_scale() {
        let out = scale_expr(
            r#"sum(rate(http_requests_total{status=~"5..",le="5m"}[5m] offset 1h)) / max_over_time(up[10m:30s])"#,
            10.0,
        )
        .unwrap();
        assert!(out.contains("[30s] offset 6m"), "{out}");
        assert!(out.contains("[1m:3s]"), "{out}");
        assert!(
            out.contains(r#"le="5m""#),
            "label values are untouched: {out}"
        );
    }

    #[test]
    fn sub_second_windows_keep_millisecond_precision() {
        let out = scale_expr("rate(x[15s])", 10.0).unwrap();
        assert!(out.contains("[1s500ms]"), "{out}");
    }

    #[test]
    fn the_counter_a_rate_panel_counts_is_its_one_ranged_selector() {
        let c = |e: &str| counted_selector(e);
        assert_eq!(
            c(r#"sum by (tenant_id) (increase(api_requests_total{tenant_id=~"t.*"}[1h]))"#)
                .as_deref(),
            Some(r#"api_requests_total{tenant_id=~"t.*"}"#)
        );
        assert_eq!(c("sum(rate(x_total[5m]))").as_deref(), Some("x_total"));
        assert_eq!(c("sum(rate(x_total[5m] offset 1m))"), None);
        assert_eq!(c("sum(rate(x_total[5m])) / sum(rate(y_total[5m]))"), None);
        assert_eq!(c("sum(job:x:rate5m)"), None);
        assert_eq!(c("sum(avg_over_time(job:x:rate5m[5m]))"), None);
        assert_eq!(c("sum(rate("), None);
    }

    #[test]
    fn identity_when_k_is_one() {
        let out = scale_expr("up == 0", 1.0).unwrap();
        assert_eq!(out, "up == 0");
    }

    #[test]
    fn invalid_promql_is_an_error() {
        assert!(scale_expr("rate(x[5m]", 2.0).is_err());
    }

    #[test]
    fn metric_names_include_histogram_series_and_name_matchers() {
        let n = metric_names(r#"sum(rate(a_bucket[5m])) / on() group_left b + {__name__="c"}"#)
            .unwrap();
        assert_eq!(n, vec!["a_bucket", "b", "c"]);
    }

    #[test]
    fn windows_are_listed() {
        let w =
            range_windows("histogram_quantile(0.95, sum(rate(x_bucket[5m])) by (le)) > 1").unwrap();
        assert_eq!(w, vec![Duration::from_secs(300)]);
    }
}

#[cfg(test)]
mod fuzz_findings {
    /// Found by tests/fuzz.rs: promql-parser overflows a Duration (and
    /// panics) on a huge bare-number range. It is an error here.
    #[test]
    fn a_range_too_large_for_the_parser_is_an_error_not_a_panic() {
        let e = "increase(x[176343640879533452711]) > 1";
        let err = super::scale_expr(e, 15.0).unwrap_err();
        assert!(err.contains("cannot parse"), "{err}");
        assert!(super::range_windows(e).is_err());
        assert!(super::metric_names(e).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser_recurses() {
        let deep = format!("{}up{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(super::parse(&deep).unwrap_err().contains("deeper than 64"));
        assert!(super::scale_expr(&deep, 10.0).is_err());
        let at = format!("{}up{}", "(".repeat(64), ")".repeat(64));
        assert!(super::scale_expr(&at, 10.0).is_ok());
        // The longest chain allowed parses, scales and drops on a test
        // thread's stack.
        let chain = "up+".repeat(crate::input::nesting::MAX_OPERATORS) + "up";
        let inner = format!("{}{chain}{}", "(".repeat(64), ")".repeat(64));
        assert!(super::scale_expr(&inner, 10.0).is_ok());
        assert!(super::metric_names(&inner).is_ok());
    }
}
