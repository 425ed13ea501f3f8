//! Panel health against the live series: every selector a dashboard panel
//! queries is looked up in the Prometheus under test (series, label-names
//! and label-values APIs, over the run). The static lint knows only that
//! a metric name is in the contract; this finds what it cannot, a
//! misspelled label or a label value the services never produce.
//!
//! A selector is judged by what it asks for:
//! - series match it: healthy;
//! - its metric has no series at all: broken (a misspelled metric, or
//!   nothing exports it);
//! - no series of its metric carries a label it requires: broken (a
//!   misspelled label);
//! - an exact value (`l="v"`, or a regex that is only literal alternatives,
//!   `l=~"a|b"`) that no series ever had: broken (a misspelled value);
//! - a pattern (`status=~"5.."`) that no value matches yet, or matchers that
//!   each match but not together: a legitimately empty panel. The seed's
//!   "Error Rate by Endpoint" is one while there are no 5xx. It is listed,
//!   and does not fail.
//!
//! [`judge`] is pure; [`Live`] asks Prometheus and caches per metric.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::MatchOp;
use promql_parser::parser::VectorSelector;
use serde::{Deserialize, Serialize};

use crate::contract::{self, Source};
use crate::http::endpoint::Endpoint;
use crate::stackfiles::prometheus::promql::selected_name;

/// How many values of a label a message shows.
const SHOWN_VALUES: usize = 8;

/// One panel's selectors, as the live series judged them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PanelHealth {
    /// Distinct selectors checked.
    pub selectors: u32,
    /// `selector: why it can match nothing`: the panel is broken.
    pub broken: Vec<String>,
    /// `selector: why it is empty now`: a legitimate empty panel.
    pub empty: Vec<String>,
    /// Selectors Prometheus could not be asked about, with the error.
    pub unchecked: Vec<String>,
}

/// What a selector requires of a label: a value that must have occurred.
#[derive(Debug, Clone)]
enum Want {
    /// `l="v"`, or `l=~"a|b"` (literal alternatives): one of these values.
    Values(Vec<String>),
    /// A real pattern (`5..`); the parser anchors it as Prometheus does.
    Pattern(promql_parser::label::Matcher),
}

/// A selector reduced to what the live check needs.
#[derive(Debug, Clone)]
pub struct Selector {
    /// As PromQL, without offset or `@`.
    pub text: String,
    pub metric: Option<String>,
    /// Labels that must be present, with what they must match. Matchers
    /// that also match a missing label (`!=`, `!~`, `=""`, `=~".*"`) are left
    /// out: they cannot make a selector empty by a typo.
    required: Vec<(String, Want, String)>,
}

impl Selector {
    pub fn of(vs: &VectorSelector) -> Selector {
        let mut required = Vec::new();
        let mut shown_all = Vec::new();
        for m in &vs.matchers.matchers {
            let shown = format!("{}{}{}", m.name, m.op, quote(&m.value));
            if m.name == "__name__" {
                // The name is written in front when the selector has one.
                if vs.name.is_none() {
                    shown_all.push(shown);
                }
                continue;
            }
            shown_all.push(shown.clone());
            let want = match &m.op {
                MatchOp::Equal if !m.value.is_empty() => Want::Values(vec![m.value.clone()]),
                MatchOp::Re(_) if !m.is_match("") => match literal_alternatives(&m.value) {
                    Some(values) => Want::Values(values),
                    None => Want::Pattern(m.clone()),
                },
                _ => continue,
            };
            required.push((m.name.clone(), want, shown));
        }
        let name = vs.name.clone().unwrap_or_default();
        let text = if shown_all.is_empty() {
            name
        } else {
            format!("{name}{{{}}}", shown_all.join(","))
        };
        Selector {
            text,
            metric: selected_name(vs),
            required,
        }
    }
}

/// A PromQL string literal.
fn quote(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
}

/// `a|b|c` when the regex is nothing but literal alternatives (escaped
/// metacharacters allowed), as Grafana writes a multi-value variable.
fn literal_alternatives(re: &str) -> Option<Vec<String>> {
    let inner = re
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(re);
    let mut out = vec![String::new()];
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next()?;
                if next.is_ascii_alphanumeric() {
                    return None; // \d, \w, \s …: a class, not a literal
                }
                out.last_mut()?.push(next);
            }
            '|' => out.push(String::new()),
            '.' | '*' | '+' | '?' | '[' | ']' | '(' | ')' | '{' | '}' | '^' | '$' => return None,
            c => out.last_mut()?.push(c),
        }
    }
    (!out.iter().any(String::is_empty)).then_some(out)
}

/// What Prometheus knows about one metric over the run.
#[derive(Debug, Clone, Default)]
pub struct MetricFacts {
    pub labels: BTreeSet<String>,
    /// Values seen per label (only the labels asked about).
    pub values: BTreeMap<String, Vec<String>>,
}

/// How a selector fared against the live series.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Matched,
    /// Legitimately empty, with why.
    Empty(String),
    /// Can match nothing this stack produces, with why.
    Broken(String),
}

/// Judge one selector that matched `matched` series. `names`: every metric
/// name with series in the run; `facts`: its metric's labels and values.
/// The metric contract tells "not produced in this run" from "never
/// produced" for the mocks' own metrics: what it lists, the services
/// produce (their tests check it); a third party's metric is judged by the
/// live series alone.
pub fn judge(
    sel: &Selector,
    matched: usize,
    names: &BTreeSet<String>,
    facts: &MetricFacts,
) -> Outcome {
    if matched > 0 {
        return Outcome::Matched;
    }
    let Some(metric) = &sel.metric else {
        return Outcome::Empty("no series matches it in this run".into());
    };
    let ours = contract::lookup(metric).filter(|s| !matches!(s.source, Source::External(_)));
    if !names.contains(metric) {
        return match ours {
            Some(_) => Outcome::Empty(format!(
                "the services expose {metric} (metric contract), but no series of it exists in this run yet"
            )),
            None => Outcome::Broken(format!(
                "no series of metric {metric} exists in this run (a misspelled metric, or nothing exports it)"
            )),
        };
    }
    let mut pending = Vec::new();
    for (label, want, shown) in &sel.required {
        let domain = contract::values_of(metric, label);
        if !facts.labels.contains(label) {
            let listed = ours.is_some_and(|s| s.labels.contains(&label.as_str()));
            if listed {
                pending.push(format!("no series of {metric} has {label} yet"));
                continue;
            }
            return Outcome::Broken(format!(
                "no series of {metric} has a label {label:?} (labels: {})",
                shown_list(facts.labels.iter().filter(|l| *l != "__name__"))
            ));
        }
        let seen = facts.values.get(label).map(Vec::as_slice).unwrap_or(&[]);
        let live = |x: &str| match want {
            Want::Values(v) => v.iter().any(|w| w == x),
            Want::Pattern(m) => m.is_match(x),
        };
        if seen.iter().any(|x| live(x)) {
            continue;
        }
        match domain {
            Some(d) if d.iter().any(|x| live(x)) => pending.push(format!(
                "{shown}: the services produce it (metric contract), but not in this run yet"
            )),
            Some(d) => {
                return Outcome::Broken(format!(
                    "{shown}: the services never produce that {label}; they produce {}",
                    d.join(", ")
                ));
            }
            None if matches!(want, Want::Values(_)) => {
                return Outcome::Broken(format!(
                    "{shown}: {metric} never had that {label} in this run (values: {})",
                    shown_list(seen.iter())
                ));
            }
            None => pending.push(format!(
                "{shown} matches none of {label}'s values yet ({})",
                shown_list(seen.iter())
            )),
        }
    }
    Outcome::Empty(if pending.is_empty() {
        "each matcher matches some series, but no series matches them all".into()
    } else {
        pending.join("; ")
    })
}

fn shown_list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&String> = items.collect();
    let mut out: Vec<String> = all
        .iter()
        .take(SHOWN_VALUES)
        .map(|s| s.to_string())
        .collect();
    if all.len() > SHOWN_VALUES {
        out.push(format!("… {} more", all.len() - SHOWN_VALUES));
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(", ")
    }
}

/// Prometheus' series APIs over one window, with a cache per metric.
pub struct Live<'a> {
    prometheus: &'a Endpoint,
    http: &'a reqwest::Client,
    window: [(String, String); 2],
    names: Option<BTreeSet<String>>,
    facts: BTreeMap<String, MetricFacts>,
    /// Selector text → outcome: panels repeated per variable value, and
    /// dashboards, share selectors.
    outcomes: BTreeMap<String, Outcome>,
}

impl<'a> Live<'a> {
    /// `start`, `end`: Unix seconds.
    pub fn new(prometheus: &'a Endpoint, http: &'a reqwest::Client, start: f64, end: f64) -> Self {
        Live {
            prometheus,
            http,
            window: [
                ("start".into(), format!("{start:.3}")),
                ("end".into(), format!("{end:.3}")),
            ],
            names: None,
            facts: BTreeMap::new(),
            outcomes: BTreeMap::new(),
        }
    }

    /// One selector's outcome; `Err` when Prometheus could not be asked
    /// (not cached: the next panel asks again).
    pub async fn check(&mut self, sel: &Selector) -> Result<Outcome, String> {
        if let Some(o) = self.outcomes.get(&sel.text) {
            return Ok(o.clone());
        }
        let o = self.look_up(sel).await?;
        self.outcomes.insert(sel.text.clone(), o.clone());
        Ok(o)
    }

    async fn look_up(&mut self, sel: &Selector) -> Result<Outcome, String> {
        let matched = self
            .data(&[("match[]", &sel.text), ("limit", "1")], "/api/v1/series")
            .await?;
        let matched = matched.as_array().map_or(0, Vec::len);
        if matched > 0 {
            return Ok(Outcome::Matched);
        }
        if self.names.is_none() {
            let names = self.strings("/api/v1/label/__name__/values", &[]).await?;
            self.names = Some(names.into_iter().collect());
        }
        let facts = match &sel.metric {
            Some(m) => self.facts(m, sel).await?,
            None => MetricFacts::default(),
        };
        Ok(judge(
            sel,
            0,
            self.names.as_ref().expect("set above"),
            &facts,
        ))
    }

    /// Every label the series of `metric` carried over the window; `None`
    /// when it had no series (the selector check says why).
    pub async fn labels(&mut self, metric: &str) -> Result<Option<BTreeSet<String>>, String> {
        if !self.facts.contains_key(metric) {
            let by_name = format!("{{__name__={}}}", quote(metric));
            let labels = self
                .strings("/api/v1/labels", &[("match[]", &by_name)])
                .await?;
            self.facts.insert(
                metric.to_string(),
                MetricFacts {
                    labels: labels.into_iter().collect(),
                    values: BTreeMap::new(),
                },
            );
        }
        let labels = &self.facts[metric].labels;
        Ok((!labels.is_empty()).then(|| labels.clone()))
    }

    async fn facts(&mut self, metric: &str, sel: &Selector) -> Result<MetricFacts, String> {
        let by_name = format!("{{__name__={}}}", quote(metric));
        self.labels(metric).await?;
        for (label, _, _) in &sel.required {
            let known = &self.facts[metric];
            if !known.labels.contains(label) || known.values.contains_key(label) {
                continue;
            }
            let path = format!("/api/v1/label/{label}/values");
            let values = self.strings(&path, &[("match[]", &by_name)]).await?;
            let f = self.facts.get_mut(metric).expect("inserted above");
            f.values.insert(label.clone(), values);
        }
        Ok(self.facts[metric].clone())
    }

    async fn strings(&self, path: &str, extra: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let data = self.data(extra, path).await?;
        Ok(data
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect())
    }

    async fn data(&self, extra: &[(&str, &str)], path: &str) -> Result<serde_json::Value, String> {
        let mut form: Vec<(&str, &str)> = self
            .window
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.extend_from_slice(extra);
        let req = self.prometheus.get(self.http, path).query(&form);
        crate::http::endpoint::api_data(req, path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfiles::prometheus::promql::vector_selectors;

    fn sel(expr: &str) -> Selector {
        Selector::of(&vector_selectors(expr).unwrap()[0])
    }

    fn facts() -> (BTreeSet<String>, MetricFacts) {
        let names = ["http_requests_total", "up"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let facts = MetricFacts {
            labels: ["__name__", "endpoint", "job", "service", "status"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            values: [
                ("status", vec!["200", "404"]),
                ("service", vec!["backend-api", "ml-engine"]),
                (
                    "endpoint",
                    vec!["/api/v1/events", "/api/v1/recommendations"],
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
            .collect(),
        };
        (names, facts)
    }

    fn outcome(expr: &str) -> Outcome {
        let (names, f) = facts();
        judge(&sel(expr), 0, &names, &f)
    }

    fn broken(expr: &str) -> String {
        match outcome(expr) {
            Outcome::Broken(why) => why,
            other => panic!("{expr}: expected broken, got {other:?}"),
        }
    }

    #[test]
    fn the_seed_error_rate_selector_is_empty_not_broken_without_5xx() {
        let o = outcome(r#"rate(http_requests_total{status=~"5.."}[5m])"#);
        let Outcome::Empty(why) = o else {
            panic!("{o:?}")
        };
        assert!(
            why.contains(r#"status=~"5..""#) && why.contains("200, 404"),
            "{why}"
        );
    }

    #[test]
    fn a_misspelled_metric_is_broken() {
        let why = broken(r#"rate(http_request_total{service=~".*"}[5m])"#);
        assert!(
            why.contains("no series of metric http_request_total"),
            "{why}"
        );
    }

    #[test]
    fn a_misspelled_label_is_broken_and_the_real_labels_are_named() {
        let why = broken(r#"http_requests_total{servce="backend-api"}"#);
        assert!(why.contains(r#"label "servce""#), "{why}");
        assert!(why.contains("service, status"), "{why}");
    }

    #[test]
    fn a_value_never_produced_is_broken_exact_or_as_literal_alternatives() {
        let why = broken(r#"http_requests_total{endpoint="/api/v1/predcit"}"#);
        assert!(why.contains("/api/v1/events"), "{why}");
        broken(r#"http_requests_total{service=~"(backend_api|ml_engine)"}"#);
        // One alternative that exists is enough: Grafana's "All" lists values.
        assert!(matches!(
            outcome(r#"http_requests_total{service=~"backend-api|gone",status="500"}"#),
            Outcome::Broken(_)
        ));
        assert!(matches!(
            outcome(r#"http_requests_total{service=~"backend-api|gone",status=~"5.."}"#),
            Outcome::Empty(_)
        ));
    }

    #[test]
    fn the_contract_tells_not_yet_from_never_for_the_mocks_metrics() {
        let names: BTreeSet<String> = ["ml_model_inference_duration_seconds_bucket".to_string()]
            .into_iter()
            .collect();
        let f = MetricFacts {
            labels: ["__name__", "operation", "tenant_id"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            values: [("operation".to_string(), vec!["search".to_string()])]
                .into_iter()
                .collect(),
        };
        let judge_one = |e: &str| judge(&sel(e), 0, &names, &f);
        // Every embedding was warm: "embed" is produced on a miss only.
        let e = r#"ml_model_inference_duration_seconds_bucket{operation="embed"}"#;
        assert!(
            matches!(judge_one(e), Outcome::Empty(_)),
            "{:?}",
            judge_one(e)
        );
        let e = r#"ml_model_inference_duration_seconds_bucket{operation="embedd"}"#;
        let Outcome::Broken(why) = judge_one(e) else {
            panic!("{:?}", judge_one(e))
        };
        assert!(why.contains("produce embed, search"), "{why}");
        let e = r#"ml_model_inference_duration_seconds_bucket{operation=~"emd.*"}"#;
        assert!(matches!(judge_one(e), Outcome::Broken(_)));
        // A metric of the services' with no series yet (no training job).
        assert!(matches!(
            judge(&sel("training_job_status"), 0, &names, &f),
            Outcome::Empty(_)
        ));
        // A third party's metric is judged by the live series alone.
        assert!(matches!(
            judge(&sel("node_filesystem_avail_bytes"), 0, &names, &f),
            Outcome::Broken(_)
        ));
    }

    #[test]
    fn matchers_that_also_match_a_missing_label_are_not_required() {
        // `.*`, `!=` and `=""` cannot make a selector empty by a typo.
        let s = sel(r#"http_requests_total{servce=~".*", statsu!="500", x=""}"#);
        assert!(s.required.is_empty(), "{:?}", s.required);
    }

    #[test]
    fn series_that_match_are_healthy_whatever_the_facts() {
        let (names, f) = facts();
        assert_eq!(
            judge(&sel("nothing_like_it{a=\"b\"}"), 3, &names, &f),
            Outcome::Matched
        );
    }

    #[test]
    fn selector_text_is_promql_the_series_api_accepts() {
        let s = sel(r#"rate(http_requests_total{status=~"5..",service="a\"b"}[5m] offset 1m)"#);
        assert_eq!(
            s.text,
            r#"http_requests_total{status=~"5..",service="a\"b"}"#
        );
        assert_eq!(sel("up").text, "up");
        assert_eq!(
            sel(r#"{__name__="up",job="x"}"#).text,
            r#"{__name__="up",job="x"}"#
        );
    }

    #[test]
    fn literal_alternatives_are_told_from_patterns() {
        assert_eq!(
            literal_alternatives("(a|b\\.c)"),
            Some(vec!["a".to_string(), "b.c".to_string()])
        );
        assert_eq!(literal_alternatives("5.."), None);
        assert_eq!(literal_alternatives("\\d+"), None);
        assert_eq!(literal_alternatives("a||b"), None);
    }
}
