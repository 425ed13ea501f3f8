//! Labels a query names that no series it reads has. A misspelled label
//! where an absent label still matches (`by (tenant_idd)`, `{x=~".*"}`, a
//! `{{tenant_idd}}` legend, `on (…)`) leaves the panel with data, but one
//! unlabelled line instead of one per tenant: no error anywhere, so it is
//! found here, from the labels each series is known to carry.
//!
//! Only where every series a query reads is fully known: the mocks'
//! metrics (the metric contract lists each one's labels, and the mocks'
//! own tests hold them to it) and Prometheus' `up`, plus the target labels
//! every scrape adds (`job`, `instance`, the scrape configs' own labels and
//! relabelling targets). A query that also reads an exporter's series, a
//! recording rule or anything else is not judged: its labels are not all
//! known, and a false alarm is as bad as a miss.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};
use serde_yaml::Value;

use super::StackFiles;
use super::prometheus::promql;

/// The labels every scraped series carries, from the stack's scrape
/// configs.
pub struct TargetLabels(BTreeSet<String>);

impl TargetLabels {
    pub fn of(files: &StackFiles) -> TargetLabels {
        let mut out: BTreeSet<String> = ["job", "instance"].iter().map(|s| s.to_string()).collect();
        collect_target_labels(files.prometheus.get("scrape_configs"), &mut out);
        TargetLabels(out)
    }
}

/// Keys of every `labels:` mapping and every `target_label:` under the
/// scrape configs.
fn collect_target_labels(v: Option<&Value>, out: &mut BTreeSet<String>) {
    let Some(v) = v else { return };
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    (Some("labels"), Value::Mapping(labels)) => {
                        out.extend(labels.keys().filter_map(|k| k.as_str().map(String::from)));
                    }
                    (Some("target_label"), Value::String(t)) => {
                        out.insert(t.clone());
                    }
                    _ => collect_target_labels(Some(x), out),
                }
            }
        }
        Value::Sequence(items) => items
            .iter()
            .for_each(|x| collect_target_labels(Some(x), out)),
        _ => {}
    }
}

/// The labels the metric contract gives one of the mocks' own metrics
/// (or `up`), without the scrape's target labels; `None` for any other.
pub fn modelled(metric: &str) -> Option<BTreeSet<String>> {
    labels_of(metric, &TargetLabels(BTreeSet::new()))
}

/// Every label `metric` can carry, when that is fully known.
fn labels_of(metric: &str, targets: &TargetLabels) -> Option<BTreeSet<String>> {
    let spec = crate::contract::lookup(metric)?;
    let modelled = matches!(
        spec.source,
        crate::contract::Source::BackendApi
            | crate::contract::Source::MlEngine
            | crate::contract::Source::Services
    ) || spec.name == "up";
    if !modelled {
        return None;
    }
    let mut out: BTreeSet<String> = spec.labels.iter().map(|s| s.to_string()).collect();
    out.extend(targets.0.iter().cloned());
    out.insert("__name__".into());
    if metric.ends_with("_bucket") {
        out.insert("le".into());
    }
    Some(out)
}

/// What a query names: labels in matchers (with their metric), in
/// groupings, in `label_replace`'s source, and the labels it makes.
#[derive(Default)]
struct Named {
    selectors: Vec<VectorSelector>,
    grouped: Vec<(&'static str, String)>,
    made: BTreeSet<String>,
}

fn modifier_labels(m: &LabelModifier) -> Vec<String> {
    m.labels().labels.clone()
}

fn walk(e: &Expr, n: &mut Named) {
    match e {
        Expr::Aggregate(a) => {
            if let Some(m) = &a.modifier {
                let kind = match m {
                    LabelModifier::Include(_) => "by",
                    LabelModifier::Exclude(_) => "without",
                };
                n.grouped
                    .extend(modifier_labels(m).into_iter().map(|l| (kind, l)));
            }
            walk(&a.expr, n);
            if let Some(p) = &a.param {
                walk(p, n);
            }
        }
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if let Some(matching) = &m.matching {
                    let kind = match matching {
                        LabelModifier::Include(_) => "on",
                        LabelModifier::Exclude(_) => "ignoring",
                    };
                    n.grouped
                        .extend(modifier_labels(matching).into_iter().map(|l| (kind, l)));
                }
                if let Some(extra) = m.card.labels() {
                    n.grouped.extend(
                        extra
                            .labels
                            .iter()
                            .map(|l| ("group_left/group_right", l.clone())),
                    );
                }
            }
            walk(&b.lhs, n);
            walk(&b.rhs, n);
        }
        Expr::Call(c) => {
            let string_arg = |i: usize| match c.args.args.get(i).map(|a| a.as_ref()) {
                Some(Expr::StringLiteral(s)) => Some(s.val.clone()),
                _ => None,
            };
            match c.func.name {
                "label_replace" => {
                    n.made.extend(string_arg(1));
                    if let Some(src) = string_arg(3) {
                        n.grouped.push(("label_replace source", src));
                    }
                }
                "label_join" => n.made.extend(string_arg(1)),
                _ => {}
            }
            c.args.args.iter().for_each(|a| walk(a, n));
        }
        Expr::Unary(u) => walk(&u.expr, n),
        Expr::Paren(p) => walk(&p.expr, n),
        Expr::Subquery(s) => walk(&s.expr, n),
        Expr::VectorSelector(v) => n.selectors.push(v.clone()),
        Expr::MatrixSelector(m) => n.selectors.push(m.vs.clone()),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The labels of every series `expr` reads, when all are fully known,
/// with the labels the query itself makes; `None` otherwise.
fn available(
    n: &Named,
    labels_of: &dyn Fn(&str) -> Option<BTreeSet<String>>,
) -> Option<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    for s in &n.selectors {
        all.extend(labels_of(&promql::selected_name(s)?)?);
    }
    all.extend(n.made.iter().cloned());
    Some(all)
}

/// Problems with the labels `expr` names, for `what` ("panel \"X\"").
/// `legend` is a Grafana legend format (`{{tenant_id}}`), if any.
pub fn check(expr: &str, legend: Option<&str>, what: &str, targets: &TargetLabels) -> Vec<String> {
    check_with(expr, legend, what, &|m: &str| labels_of(m, targets))
}

/// The metrics `expr` reads (by name), for a caller that looks their
/// labels up elsewhere; `None` when a selector has no name or it does not
/// parse.
pub fn metrics_read(expr: &str) -> Option<Vec<String>> {
    let ast = promql::parse(expr).ok()?;
    let mut n = Named::default();
    walk(&ast, &mut n);
    n.selectors.iter().map(promql::selected_name).collect()
}

/// [`check`] with every metric's labels from `labels_of` (the contract
/// statically, the Prometheus under test live); a metric it returns
/// `None` for leaves the query unjudged.
pub fn check_with(
    expr: &str,
    legend: Option<&str>,
    what: &str,
    labels_of: &dyn Fn(&str) -> Option<BTreeSet<String>>,
) -> Vec<String> {
    let Ok(ast) = promql::parse(expr) else {
        return Vec::new(); // the parse error is reported elsewhere
    };
    let mut n = Named::default();
    walk(&ast, &mut n);
    let Some(all) = available(&n, labels_of) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut missing = |kind: &str, label: &str, on: &BTreeSet<String>| {
        if !on.contains(label) && !n.made.contains(label) {
            out.push(format!(
                "{what}: {kind} {label}, a label no series it reads has{}",
                did_you_mean(label, on)
            ));
        }
    };
    for s in &n.selectors {
        let name = promql::selected_name(s).unwrap_or_default();
        let own = labels_of(&name).unwrap_or_default();
        for m in &s.matchers.matchers {
            if m.name != "__name__" && !(m.op == MatchOp::Equal && m.value.is_empty()) {
                missing("matches on", &m.name, &own);
            }
        }
    }
    for (kind, label) in &n.grouped {
        missing(kind, label, &all);
    }
    for label in legend.map(legend_labels).unwrap_or_default() {
        missing("shows in its legend", &label, &all);
    }
    out.sort();
    out.dedup();
    out
}

/// ` (did you mean tenant_id?)` for a label a letter or two from one the
/// series have, or the labels they have.
pub(super) fn did_you_mean(label: &str, on: &BTreeSet<String>) -> String {
    let near = super::producers::nearest(label, on.iter().filter(|l| !l.starts_with("__")))
        .or_else(|| {
            // `tenant` for `tenant_id`: one a prefix of the other.
            on.iter().find(|l| {
                label.len() >= 3 && (l.starts_with(label) || label.starts_with(l.as_str()))
            })
        });
    match near {
        Some(l) => format!("; did you mean {l}?"),
        None => {
            let shown: Vec<&str> = on
                .iter()
                .filter(|l| !l.starts_with("__"))
                .map(String::as_str)
                .collect();
            format!(" (they have {})", shown.join(", "))
        }
    }
}

/// The labels a legend format names: `{{ tenant_id }}` → `tenant_id`.
fn legend_labels(legend: &str) -> Vec<String> {
    legend
        .split("{{")
        .skip(1)
        .filter_map(|rest| rest.split("}}").next())
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> TargetLabels {
        TargetLabels(
            ["job", "instance", "service"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }

    fn problems(expr: &str, legend: Option<&str>) -> Vec<String> {
        check(expr, legend, "panel \"P\"", &targets())
    }

    #[test]
    fn live_labels_judge_what_the_contract_does_not_know() {
        // An exporter's metric, with the labels its live series carried.
        let live = |m: &str| {
            (m == "pg_stat_database_numbackends").then(|| {
                ["__name__", "datname", "instance", "job"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<BTreeSet<String>>()
            })
        };
        let found = check_with(
            "sum by (datnam) (pg_stat_database_numbackends)",
            Some("{{datname}}"),
            "in the live series",
            &live,
        );
        assert_eq!(
            found,
            vec![
                "in the live series: by datnam, a label no series it reads has; did you mean datname?"
            ]
        );
        // A label the query makes itself is there.
        assert!(
            check_with(
                r#"sum by (db) (label_replace(pg_stat_database_numbackends, "db", "$1", "datname", "(.*)"))"#,
                Some("{{db}}"),
                "q",
                &live
            )
            .is_empty()
        );
        // A metric with no live series is not judged here.
        assert!(check_with("sum by (x) (other_metric)", None, "q", &live).is_empty());
        assert_eq!(
            metrics_read("rate(a[5m]) / on (job) b"),
            Some(vec!["a".to_string(), "b".to_string()])
        );
    }

    #[test]
    fn a_misspelled_grouping_label_is_named_with_the_one_meant() {
        let p = problems("sum by (tenant_idd) (rate(api_requests_total[5m]))", None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("by tenant_idd") && p[0].contains("did you mean tenant_id?"),
            "{p:?}"
        );
        assert!(problems("sum by (tenant_id) (rate(api_requests_total[5m]))", None).is_empty());
        assert!(problems("count(count by (tenant_id) (api_requests_total))", None).is_empty());
    }

    #[test]
    fn matchers_on_ignoring_legends_and_label_replace_sources_are_checked() {
        assert_eq!(
            problems(r#"api_requests_total{tenant=~".*"}"#, None).len(),
            1
        );
        assert_eq!(
            problems(r#"api_requests_total{tenant_idd!=""}"#, None).len(),
            1
        );
        assert!(
            problems(r#"api_requests_total{nothing=""}"#, None).is_empty(),
            "absent by design"
        );
        assert_eq!(problems("up * on (instanse) group_left up", None).len(), 1);
        assert_eq!(
            problems(
                "sum by (tenant_id) (rate(api_requests_total[5m]))",
                Some("{{ tenant }}")
            )
            .len(),
            1
        );
        assert!(
            problems(
                "sum by (tenant_id) (rate(api_requests_total[5m]))",
                Some("{{tenant_id}} {{job}}")
            )
            .is_empty()
        );
        let made =
            r#"sum by (t) (label_replace(api_requests_total, "t", "$1", "tenant_id", "(.*)"))"#;
        assert!(
            problems(made, Some("{{t}}")).is_empty(),
            "{:?}",
            problems(made, None)
        );
        let bad_src = r#"label_replace(api_requests_total, "t", "$1", "tenantid", "(.*)")"#;
        assert_eq!(problems(bad_src, None).len(), 1);
        assert!(problems("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", None).is_empty());
    }

    #[test]
    fn queries_reading_series_not_fully_known_are_not_judged() {
        assert!(problems("sum by (anything) (node_load1)", None).is_empty());
        assert!(problems("sum by (anything) (job:up:min)", None).is_empty());
        assert!(
            problems(
                "sum by (anything) (rate(api_requests_total[5m])) / on (x) node_load1",
                None
            )
            .is_empty()
        );
    }
}
