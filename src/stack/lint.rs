//! Static checks of `stack/` that need no running component: every
//! dashboard panel runs at least one query, every PromQL expression parses
//! once Grafana's variables are substituted, every datasource a dashboard
//! names is provisioned, and every metric a rule or dashboard queries is in
//! the metric contract ([`crate::contract`]).

use std::path::{Path, PathBuf};

use super::StackFiles;
use super::components::grafana::model::{Dashboard, DsRef, load_dashboard};
use super::components::grafana::provisioning::{Datasource, load_datasources};
use super::components::grafana::vars::{context, substitute};
use super::components::prometheus::promql::{metric_names, scale_expr};

pub const DASHBOARDS_DIR: &str = "grafana/dashboards";
pub const DATASOURCES_FILE: &str = "grafana/provisioning/datasources.yml";

/// A problem in one file, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.what)
    }
}

/// Every dashboard in `stack/grafana/dashboards`, sorted by file name.
pub fn load_dashboards(stack: &Path) -> anyhow::Result<Vec<Dashboard>> {
    let dir = stack.join(DASHBOARDS_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.iter().map(|f| load_dashboard(f)).collect()
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
        for p in d.panels.iter().filter(|p| p.runs_queries()) {
            let name = format!("panel {:?} (id {})", p.title, p.id.unwrap_or(0));
            if p.targets.is_empty() {
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

/// One PromQL expression the stack runs, and where it is written.
pub struct Query {
    pub file: PathBuf,
    /// `alert NAME` or `panel "TITLE"`.
    pub what: String,
    pub expr: String,
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
        })
        .collect();
    for d in dashboards {
        for (p, t) in d.targets() {
            let is_prom =
                resolve(p.datasource_of(t), d, sources).is_some_and(|s| s.kind == "prometheus");
            if is_prom && !t.expr.is_empty() {
                let ctx = context(d, p, None);
                out.push(Query {
                    file: d.file.clone(),
                    what: format!("panel {:?}", p.title),
                    expr: substitute(&t.expr, &ctx, &d.variables),
                });
            }
        }
    }
    out
}

/// Metric names queried by rules and dashboards that the contract lacks.
pub fn check_contract(
    files: &StackFiles,
    dashboards: &[Dashboard],
    sources: &[Datasource],
) -> Vec<Problem> {
    let mut out = Vec::new();
    for q in queries(files, dashboards, sources) {
        for n in metric_names(&q.expr).unwrap_or_default() {
            if crate::contract::lookup(&n).is_none() {
                out.push(Problem {
                    file: q.file.clone(),
                    what: format!(
                        "{} queries {n}, which is not in the metric contract (src/contract.rs)",
                        q.what
                    ),
                });
            }
        }
    }
    out
}

/// All static checks of a stack directory.
pub fn lint(files: &StackFiles) -> anyhow::Result<Vec<Problem>> {
    let sources = load_datasources(&files.dir.join(DATASOURCES_FILE))?;
    let dashboards = load_dashboards(&files.dir)?;
    let mut problems = check_dashboards(&dashboards, &sources);
    problems.extend(check_contract(files, &dashboards, &sources));
    Ok(problems)
}
