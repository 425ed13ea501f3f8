//! Time-scale hazards: expressions whose meaning changes when the harness
//! divides every window by K ([`super::prometheus::promql::scale_expr`]).
//! Rates and ratios survive that; these do not:
//!
//! - a count threshold over `increase()`, `changes()`, `resets()` or
//!   `count_over_time()`: a window K times shorter holds K times fewer
//!   events at the same rate, so `increase(x[1h]) > 100` fires at a rate K
//!   times higher than it says (a ratio of two counts over the same
//!   window is safe, and is not flagged);
//! - `predict_linear(v, N)`: N is seconds ahead and is not a window, so
//!   it is not divided;
//! - `time()` in arithmetic: wall-clock seconds run at 1×.
//!
//! `validate` and `run` list them for rules and dashboards when K ≠ 1; the
//! run goes on, because the team may have scaled the threshold itself.

use promql_parser::parser::Expr;

use super::StackFiles;
use super::lint::queries;
use super::prometheus::promql::parse;

const COUNTING: &[&str] = &["increase", "changes", "resets", "count_over_time"];

/// Why `expr` changes meaning at a time scale other than 1.
pub fn in_expr(expr: &str) -> Result<Vec<String>, String> {
    let ast = parse(expr)?;
    let mut out = Vec::new();
    walk(&ast, &mut out);
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Binary(b) => {
            if b.op.is_comparison_operator() {
                for (side, other) in [(&b.lhs, &b.rhs), (&b.rhs, &b.lhs)] {
                    // `> 0` asks "any event", which scaling does not change.
                    let threshold = number(other).filter(|n| *n != 0.0);
                    if let (Some(f), Some(n)) = (counts(side), threshold) {
                        out.push(format!(
                            "{f}() compared with {n}: its window is divided by K, so it counts K times fewer events at the same rate; scale the threshold, or compare a rate"
                        ));
                    }
                }
            } else if calls_time(&b.lhs) || calls_time(&b.rhs) {
                out.push(
                    "time() in arithmetic: wall-clock seconds are not divided by K".to_string(),
                );
            }
            walk(&b.lhs, out);
            walk(&b.rhs, out);
        }
        Expr::Call(c) => {
            if c.func.name == "predict_linear" {
                out.push(
                    "predict_linear(v, seconds): the seconds ahead are not a window and are not divided by K"
                        .to_string(),
                );
            }
            c.args.args.iter().for_each(|a| walk(a, out));
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, out);
            if let Some(p) = &a.param {
                walk(p, out);
            }
        }
        Expr::Unary(u) => walk(&u.expr, out),
        Expr::Paren(p) => walk(&p.expr, out),
        Expr::Subquery(s) => walk(&s.expr, out),
        Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => {}
    }
}

/// The counting function `e` is a count of, if it is one: through
/// aggregation, parentheses, sums, and scaling by a number. A ratio of two
/// counts is not a count.
fn counts(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Call(c) if COUNTING.contains(&c.func.name) => Some(c.func.name),
        Expr::Aggregate(a) => counts(&a.expr),
        Expr::Paren(p) => counts(&p.expr),
        Expr::Binary(b) if !b.op.is_comparison_operator() => {
            let (l, r) = (counts(&b.lhs), counts(&b.rhs));
            match b.op.to_string().as_str() {
                "+" | "-" => l.or(r),
                "*" | "/" if number(&b.rhs).is_some() => l,
                "*" if number(&b.lhs).is_some() => r,
                _ => None,
            }
        }
        _ => None,
    }
}

fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => number(&p.expr),
        _ => None,
    }
}

fn calls_time(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => c.func.name == "time",
        Expr::Paren(p) => calls_time(&p.expr),
        Expr::Binary(b) => calls_time(&b.lhs) || calls_time(&b.rhs),
        _ => false,
    }
}

/// Every hazard in the stack's rules and dashboards, as
/// `file: what (expr): why`. Empty at K = 1.
pub fn scan(files: &StackFiles, k: f64) -> Vec<String> {
    if k == 1.0 {
        return Vec::new();
    }
    let (dashboards, sources) = files.grafana.read().unwrap_or((&[], &[]));
    let mut out = Vec::new();
    for q in queries(files, dashboards, sources) {
        let file = q.file.strip_prefix(&files.dir).unwrap_or(&q.file).display();
        for why in in_expr(&q.expr).unwrap_or_default() {
            out.push(format!("{file}: {}: {why}", q.what));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hazards(e: &str) -> Vec<String> {
        in_expr(e).unwrap()
    }

    #[test]
    fn count_thresholds_are_hazards_and_ratios_and_rates_are_not() {
        assert_eq!(hazards("increase(errors_total[1h]) > 100").len(), 1);
        assert_eq!(hazards("sum by (job) (changes(up[10m])) >= 3").len(), 1);
        assert_eq!(hazards("5 < count_over_time(x[5m]) * 2").len(), 1);
        assert!(hazards("increase(a[5m]) / increase(b[5m]) > 0.05").is_empty());
        assert!(hazards("rate(x_total[5m]) > 10").is_empty());
        assert!(hazards("increase(x[1h])").is_empty(), "no threshold");
        assert!(hazards("increase(x[1d]) > 0").is_empty(), "any event");
        let why = &hazards("increase(errors_total[1h]) > 100")[0];
        assert!(why.starts_with("increase() compared with 100"), "{why}");
    }

    #[test]
    fn predict_linear_and_time_arithmetic_are_hazards() {
        let h = hazards("predict_linear(node_filesystem_avail_bytes[6h], 4 * 3600) < 0");
        assert!(h[0].contains("predict_linear"), "{h:?}");
        let h = hazards("time() - process_start_time_seconds > 3600");
        assert!(h[0].contains("time()"), "{h:?}");
    }

    #[test]
    fn the_shipped_rules_and_dashboards_at_fifteen_times() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let files = StackFiles::load(&dir).unwrap();
        assert!(scan(&files, 1.0).is_empty());
        for h in scan(&files, 15.0) {
            // Only dashboards' display counts (increase over $__range, 1h,
            // 1d, and restart counts) may be flagged; no alert rule.
            assert!(h.starts_with("grafana/dashboards/"), "{h}");
        }
    }
}
