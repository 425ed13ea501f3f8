//! Static checks of `stack/` that need no running component: every
//! dashboard panel runs at least one query, every PromQL expression parses
//! once Grafana's variables are substituted, every datasource a dashboard
//! names is provisioned, and every metric a rule or dashboard queries is in
//! the metric contract ([`crate::contract`]).

use std::path::PathBuf;

use super::StackFiles;
use super::grafana::model::{Dashboard, DsRef, Panel};
use super::grafana::provisioning::Datasource;
use super::grafana::vars::{context, referenced, substitute, variable_promql};
use super::producers::{Producers, Verdict, Warnings};
use super::prometheus::promql::{metric_names, scale_expr};

/// A problem in one file, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.file.display().to_string();
        if self.what.starts_with(&file) {
            // Already located (`file:line:column: …`).
            return f.write_str(&self.what);
        }
        write!(f, "{file}: {}", self.what)
    }
}

/// The datasource a reference resolves to.
pub fn resolve<'a>(r: &DsRef, d: &Dashboard, sources: &'a [Datasource]) -> Option<&'a Datasource> {
    match r {
        DsRef::Uid { uid, .. } => sources.iter().find(|s| s.uid.as_deref() == Some(uid)),
        DsRef::Name(n) => sources.iter().find(|s| &s.name == n),
        DsRef::Default => sources.iter().find(|s| s.is_default).or(sources.first()),
        DsRef::Variable(v) => {
            let var = d
                .variables
                .iter()
                .find(|x| &x.name == v && x.kind == "datasource")?;
            let current = var.current.first().map(String::as_str).unwrap_or("");
            sources
                .iter()
                .find(|s| s.uid.as_deref() == Some(current) || s.name == current)
                .or_else(|| {
                    sources
                        .iter()
                        .filter(|s| s.kind == var.query)
                        .find(|s| s.is_default)
                        .or_else(|| sources.iter().find(|s| s.kind == var.query))
                })
        }
    }
}

pub fn check_dashboards(dashboards: &[Dashboard], sources: &[Datasource]) -> Vec<Problem> {
    let mut out = Vec::new();
    let scrape = sources
        .iter()
        .find(|s| s.kind == "prometheus")
        .and_then(Datasource::time_interval);
    for d in dashboards {
        let mut problem = |what: String| {
            out.push(Problem {
                file: d.file.clone(),
                what,
            })
        };
        if d.uid.as_deref().unwrap_or("").is_empty() {
            problem(format!("dashboard {:?} has no fixed uid", d.title));
        }
        for v in d.variables.iter().filter(|v| v.kind == "query") {
            if resolve(&v.datasource, d, sources).is_none() {
                problem(format!(
                    "variable ${}: datasource {:?} is not provisioned",
                    v.name, v.datasource
                ));
            }
        }
        for what in undefined_variables(d) {
            problem(what);
        }
        for p in d
            .panels
            .iter()
            .filter(|p| p.runs_queries())
            .chain(&d.annotations)
        {
            let name = place(p);
            if p.targets.is_empty() && p.library.is_none() {
                problem(format!("{name} has no query"));
            }
            let ctx = context(d, p, scrape);
            for t in &p.targets {
                let ds_ref = p.datasource_of(t);
                if ds_ref.is_mixed() {
                    problem(format!(
                        "{name} target {}: no datasource of its own under a mixed panel",
                        t.ref_id
                    ));
                    continue;
                }
                let Some(ds) = resolve(ds_ref, d, sources) else {
                    problem(format!(
                        "{name} target {}: datasource {ds_ref:?} is not provisioned",
                        t.ref_id
                    ));
                    continue;
                };
                if ds.kind == "loki" && !t.expr.is_empty() {
                    let expr = substitute(&t.expr, &ctx, &d.variables);
                    if let Err(e) = super::logql::check(&expr) {
                        problem(format!(
                            "{name} target {}: LogQL does not parse after substitution ({expr:?}): {e}",
                            t.ref_id
                        ));
                    }
                    continue;
                }
                if ds.kind != "prometheus" || t.expr.is_empty() {
                    continue;
                }
                let expr = substitute(&t.expr, &ctx, &d.variables);
                if let Err(e) = scale_expr(&expr, 1.0) {
                    problem(format!(
                        "{name} target {}: PromQL does not parse after substitution ({expr:?}): {e}",
                        t.ref_id
                    ));
                }
            }
        }
    }
    out
}

/// Loki targets whose stream selectors name a label no stream carries:
/// `{servce="backend-api"}` selects nothing, however the query is timed.
/// `labels`: what the stack's log shippers and Loki itself can set.
pub fn check_stream_labels(
    dashboards: &[Dashboard],
    sources: &[Datasource],
    labels: &std::collections::BTreeSet<String>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for d in dashboards {
        for p in d.panels.iter().chain(&d.annotations) {
            let ctx = context(d, p, None);
            for t in p.targets.iter().filter(|t| !t.expr.is_empty()) {
                let loki =
                    resolve(p.datasource_of(t), d, sources).is_some_and(|s| s.kind == "loki");
                if !loki {
                    continue;
                }
                let expr = substitute(&t.expr, &ctx, &d.variables);
                let mut unknown: Vec<String> = super::logql::stream_labels(&expr)
                    .into_iter()
                    .filter(|l| !labels.contains(l))
                    .collect();
                unknown.dedup();
                for l in unknown {
                    out.push(Problem {
                        file: d.file.clone(),
                        what: format!(
                            "{} target {}: stream selector label {l:?}: no log stream carries it{}",
                            place(p),
                            t.ref_id,
                            super::labels::did_you_mean(&l, labels)
                        ),
                    });
                }
            }
        }
    }
    out
}

/// Every place a dashboard refers to a variable it does not define: a
/// deleted or renamed variable leaves `$tenant` in the query, which
/// Grafana sends as it is (the panel silently shows nothing, or everything
/// when it sits in a regex).
fn undefined_variables(d: &Dashboard) -> Vec<String> {
    let defined = |n: &str| d.variables.iter().any(|v| v.name == n);
    let mut out = Vec::new();
    let mut check = |place: String, text: &str| {
        for n in referenced(text) {
            if !defined(&n) {
                let known: Vec<String> =
                    d.variables.iter().map(|v| format!("${}", v.name)).collect();
                out.push(format!(
                    "{place} uses ${n}, which no variable of the dashboard defines (it has {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
    };
    for v in &d.variables {
        check(format!("variable ${}", v.name), &v.query);
    }
    for p in d.panels.iter().chain(&d.annotations) {
        let name = place(p);
        if let Some(r) = &p.repeat {
            check(format!("{name} repeat"), &format!("${r}"));
        }
        for t in &p.targets {
            check(format!("{name} target {}", t.ref_id), &t.expr);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Where a panel (or an annotation query) is, as a problem names it.
fn place(p: &Panel) -> String {
    if p.kind == "annotation" {
        format!("annotation {:?}", p.title)
    } else {
        format!("panel {:?} (id {})", p.title, p.id.unwrap_or(0))
    }
}

/// One PromQL expression the stack runs, and where it is written.
pub struct Query {
    pub file: PathBuf,
    /// `alert NAME` or `panel "TITLE"`.
    pub what: String,
    pub expr: String,
    /// A panel target's legend format.
    pub legend: Option<String>,
}

/// Every rule's expression and every Prometheus panel target (Grafana's
/// variables substituted), in file order.
pub fn queries(files: &StackFiles, dashboards: &[Dashboard], sources: &[Datasource]) -> Vec<Query> {
    let mut out: Vec<Query> = files
        .rules
        .iter()
        .map(|r| Query {
            file: files.dir.join("prometheus").join(&r.file),
            what: format!("alert {}", r.name),
            expr: r.expr.clone(),
            legend: None,
        })
        .collect();
    out.extend(files.recording_rules().map(|r| Query {
        file: files.dir.join("prometheus").join(&r.file),
        what: format!("recording rule {}", r.name),
        expr: r.expr,
        legend: None,
    }));
    for d in dashboards {
        for v in d.variables.iter().filter(|v| v.kind == "query") {
            let is_prom =
                resolve(&v.datasource, d, sources).is_some_and(|s| s.kind == "prometheus");
            if let Some(expr) = variable_promql(&v.query).filter(|_| is_prom) {
                let ctx = context(d, &Panel::dashboard_wide(), None);
                out.push(Query {
                    file: d.file.clone(),
                    what: format!("variable ${}", v.name),
                    expr: substitute(&expr, &ctx, &d.variables),
                    legend: None,
                });
            }
        }
        let annotations = d
            .annotations
            .iter()
            .flat_map(|p| p.targets.iter().map(move |t| (p, t)));
        for (p, t) in d.targets().chain(annotations) {
            let is_prom =
                resolve(p.datasource_of(t), d, sources).is_some_and(|s| s.kind == "prometheus");
            if is_prom && !t.expr.is_empty() {
                let ctx = context(d, p, None);
                let what = match p.kind.as_str() {
                    "annotation" => format!("annotation {:?}", p.title),
                    _ => format!("panel {:?}", p.title),
                };
                out.push(Query {
                    file: d.file.clone(),
                    what,
                    expr: substitute(&t.expr, &ctx, &d.variables),
                    legend: t.legend.clone(),
                });
            }
        }
    }
    out
}

/// Metric names queried by rules and dashboards that nothing in the stack
/// produces (problems), and those it may produce but zeta-bench cannot
/// check (warnings, gathered).
pub fn check_contract(
    files: &StackFiles,
    dashboards: &[Dashboard],
    sources: &[Datasource],
) -> (Vec<Problem>, Vec<String>) {
    let producers = Producers::of(files);
    let targets = super::labels::TargetLabels::of(files);
    let mut problems = Vec::new();
    let mut warnings = Warnings::default();
    for q in queries(files, dashboards, sources) {
        for what in super::labels::check(&q.expr, q.legend.as_deref(), &q.what, &targets) {
            problems.push(Problem {
                file: q.file.clone(),
                what,
            });
        }
        for n in metric_names(&q.expr).unwrap_or_default() {
            let verdict = producers.judge(&n);
            if let Verdict::Missing { did_you_mean } = &verdict {
                let hint = did_you_mean
                    .as_ref()
                    .map(|m| format!("; did you mean {m}?"))
                    .unwrap_or_default();
                problems.push(Problem {
                    file: q.file.clone(),
                    what: format!(
                        "{} queries {n}, which nothing in this stack produces: not in the metric contract (src/contract.rs), recorded by no rule, exposed by no declared scrape job{hint}",
                        q.what
                    ),
                });
            } else {
                warnings.add(&verdict, &n);
            }
        }
    }
    (problems, warnings.lines())
}

/// All static checks of a stack directory's dashboards and rules.
pub fn lint(files: &StackFiles) -> anyhow::Result<Vec<Problem>> {
    Ok(lint_with_warnings(files)?.0)
}

/// [`lint`], with the warnings of [`check_contract`].
pub fn lint_with_warnings(files: &StackFiles) -> anyhow::Result<(Vec<Problem>, Vec<String>)> {
    let (dashboards, sources) = files.grafana.read()?;
    let mut problems = check_dashboards(dashboards, sources);
    let (contract, mut warnings) = check_contract(files, dashboards, sources);
    problems.extend(contract);
    if let Some(labels) = super::shipper::stream_labels(&files.dir) {
        problems.extend(check_stream_labels(dashboards, sources, &labels));
    }
    match &files.grafana.truth {
        Ok(truth) => warnings.extend(super::grafana::truth::dangling(truth, dashboards)),
        Err(e) => problems.push(Problem {
            file: files.dir.join(super::grafana::truth::TRUTH_FILE),
            what: e.clone(),
        }),
    }
    Ok((problems, warnings))
}

/// What `validate` and `run` both learn from the stack's files before
/// anything starts, computed once: the lint's problems (a file that could
/// not be read is one) and the expressions whose meaning the time scale
/// changes.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub problems: Vec<String>,
    /// Series the stack may produce but zeta-bench cannot check.
    pub warnings: Vec<String>,
    pub hazards: Vec<String>,
}

/// Lint the stack's files and scan them for time-scale hazards at `k`.
pub fn check(files: &StackFiles, k: f64) -> Checked {
    let (problems, warnings) = match lint_with_warnings(files) {
        Ok((problems, warnings)) => (problems.iter().map(ToString::to_string).collect(), warnings),
        Err(e) => (vec![format!("{e:#}")], Vec::new()),
    };
    Checked {
        problems,
        warnings,
        hazards: [
            super::hazards::scan(files, k),
            super::wall_waits::scan(files, k),
        ]
        .concat(),
    }
}
