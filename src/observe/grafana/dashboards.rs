//! Dashboard load time under load, the way a person opening the dashboard
//! experiences it: every panel's queries, with Grafana's variable and
//! interval substitution ([`crate::stackfiles::grafana::vars`]), run in parallel
//! (Grafana loads panels in parallel); a dashboard takes as long as its
//! slowest panel. Without Grafana, queries go to Prometheus'
//! `query_range` (instant targets: `query`) with Grafana's step.
//!
//! Panels whose metrics come from a component this stack does not run
//! (cAdvisor, node-exporter, …) are skipped with that reason: their "no
//! data" says nothing about the stack under test.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::contract::{self, Source};
use crate::stackfiles::grafana::model::{Dashboard, Panel, Variable};
use crate::stackfiles::grafana::provisioning::Datasource;
use crate::stackfiles::grafana::truth::TruthPanel;
use crate::stackfiles::grafana::vars::{
    context, label_values_args, prometheus_query, referenced, substitute,
};
use crate::stackfiles::lint::resolve;
use crate::stackfiles::prometheus::promql::metric_names;

/// What the checks after the load read again: the dashboards (their
/// variables), `truth.yml`, the datasources, and the scrape interval
/// Grafana's `$__rate_interval` derives from.
struct Files {
    dashboards: Vec<Dashboard>,
    truth: Vec<TruthPanel>,
    sources: Vec<Datasource>,
    scrape: Duration,
}

/// One panel's outcome across rounds.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PanelResult {
    pub dashboard: String,
    pub panel: String,
    pub samples_ms: Vec<f64>,
    pub no_data_rounds: u32,
    pub errors: Vec<String>,
    /// Why the panel was not measured, if it was not.
    pub skipped: Option<String>,
    /// Its selectors against the live series, once the load is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::observe::grafana::panel_health::PanelHealth>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DashboardResult {
    pub dashboard: String,
    pub uid: String,
    /// Load time per round: the slowest panel.
    pub samples_ms: Vec<f64>,
    pub panels: Vec<PanelResult>,
    /// Template variables with no value under load (`$name: why`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken_variables: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DashboardReport {
    pub via: String,
    /// The queries went to Prometheus directly, a stand-in for Grafana: their
    /// times are a lower bound on what a person waits for, not a load time.
    #[serde(default)]
    pub stand_in: bool,
    pub rounds: u32,
    pub dashboards: Vec<DashboardResult>,
    /// The truth-checked panels' values once the load was over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truth: Vec<crate::observe::grafana::truth::PanelTruth>,
}

pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((s.len() as f64 - 1.0) * q).round() as usize;
    Some(s[i])
}

/// Components whose metrics a panel needs, from the metric contract.
fn needs(exprs: &[String]) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for e in exprs {
        for name in metric_names(e).unwrap_or_default() {
            if let Some(spec) = contract::lookup(&name) {
                if let Source::External(c) = spec.source {
                    out.insert(c);
                }
            }
        }
    }
    out
}

struct Job {
    dashboard: usize,
    panel: usize,
    queries: Vec<Query>,
    range: Duration,
}

/// One target of a panel, substituted.
struct Query {
    expr: String,
    /// Its legend format (`{{tenant_id}}`), whose labels must exist.
    legend: Option<String>,
    instant: bool,
    step: Duration,
    datasource_uid: String,
}

/// Where panels' queries go.
pub enum Via {
    /// Prometheus' own API, with Grafana's step rules.
    Prometheus(crate::http::endpoint::Endpoint),
    /// Grafana's `/api/ds/query`, as its frontend sends them.
    Grafana(crate::observe::grafana::api::Grafana),
}

pub struct Probe {
    via: Via,
    http: reqwest::Client,
    jobs: Vec<Job>,
    report: Arc<Mutex<DashboardReport>>,
    /// Components this stack runs (the contract's names).
    running: BTreeSet<String>,
    /// What the checks after the load read again.
    files: Files,
}

impl Probe {
    /// `running`: components of this stack (by the contract's names:
    /// "prometheus", "postgres-exporter", "redis-exporter", …).
    pub fn new(
        dashboards: &[Dashboard],
        sources: &[Datasource],
        via: Via,
        scrape: Duration,
        running: &BTreeSet<String>,
    ) -> anyhow::Result<Probe> {
        let mut report = DashboardReport {
            via: match &via {
                Via::Prometheus(_) => "Prometheus query_range with Grafana's step and variable rules (Grafana is not running)".into(),
                Via::Grafana(g) => format!("Grafana {} /api/ds/query", g.display()),
            },
            stand_in: matches!(via, Via::Prometheus(_)),
            rounds: 0,
            dashboards: Vec::new(),
            truth: Vec::new(),
        };
        let mut jobs = Vec::new();
        for (di, d) in dashboards.iter().enumerate() {
            let mut panels = Vec::new();
            // Grafana runs the annotation queries with the panels on every
            // load: they count in its load time and are checked alike.
            let shown = d.panels.iter().filter(|p| p.runs_queries());
            for p in shown.chain(&d.annotations) {
                for (title, vars) in repeats(d, p) {
                    let title = if p.kind == "annotation" {
                        format!("annotation {title:?}")
                    } else {
                        title
                    };
                    let pi = panels.len();
                    let mut result = PanelResult {
                        dashboard: d.title.clone(),
                        panel: title,
                        samples_ms: Vec::new(),
                        no_data_rounds: 0,
                        errors: Vec::new(),
                        skipped: None,
                        health: None,
                    };
                    match queries(d, &vars, p, sources, scrape) {
                        Ok(q) if q.is_empty() && p.library.is_some() => {
                            result.skipped = Some(format!(
                                "library panel {:?}: its queries are in Grafana's database, not in the dashboard file",
                                p.library.as_deref().unwrap_or("")
                            ))
                        }
                        Ok(q) if q.is_empty() => {
                            result.skipped = Some("no Prometheus query".into())
                        }
                        Ok(q) => {
                            let exprs: Vec<String> = q.iter().map(|x| x.expr.clone()).collect();
                            let missing: Vec<&str> = needs(&exprs)
                                .into_iter()
                                .filter(|c| !running.contains(*c))
                                .collect();
                            if missing.is_empty() {
                                jobs.push(Job {
                                    dashboard: di,
                                    panel: pi,
                                    queries: q,
                                    range: crate::stackfiles::grafana::vars::range_of(d),
                                });
                            } else {
                                result.skipped = Some(format!(
                                    "needs {}, which this stack does not run",
                                    missing.join(", ")
                                ));
                            }
                        }
                        Err(e) => result.skipped = Some(e),
                    }
                    panels.push(result);
                }
            }
            report.dashboards.push(DashboardResult {
                dashboard: d.title.clone(),
                uid: d.uid.clone().unwrap_or_default(),
                samples_ms: Vec::new(),
                panels,
                broken_variables: Vec::new(),
            });
        }
        Ok(Probe {
            via,
            http: crate::http::tls::client_builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()?,
            jobs,
            report: Arc::new(Mutex::new(report)),
            files: Files {
                dashboards: Vec::new(),
                truth: Vec::new(),
                sources: sources.to_vec(),
                scrape,
            },
            running: running.clone(),
        })
    }

    /// The dashboards whose variables [`Self::check_health`] asks
    /// about, and the panels whose values [`Self::check_truth`] reads.
    pub fn with_truth(mut self, dashboards: &[Dashboard], truth: &[TruthPanel]) -> Probe {
        self.files.dashboards = dashboards.to_vec();
        self.files.truth = truth.to_vec();
        self
    }

    /// Every Prometheus query variable of every dashboard, asked over
    /// `[start, end]` as Grafana asks when the dashboard opens: one with no
    /// value under load is broken (its drop-down is empty; panels filtered
    /// by it draw nothing, or everything). `live` is the panel check's, so
    /// that what it looked up is not asked again.
    async fn check_variables(
        &self,
        live: &mut crate::observe::grafana::panel_health::Live<'_>,
        prometheus: &crate::http::endpoint::Endpoint,
        (start, end): (f64, f64),
    ) {
        let f = &self.files;
        for d in &f.dashboards {
            let mut broken = Vec::new();
            let prometheus_query = |v: &&Variable| {
                v.kind == "query"
                    && resolve(&v.datasource, d, &f.sources).is_some_and(|s| s.kind == "prometheus")
            };
            for v in d.variables.iter().filter(prometheus_query) {
                let ctx = context(d, &Panel::dashboard_wide(), Some(f.scrape));
                let query = substitute(&v.query, &ctx, &d.variables);
                let missing: Vec<&str> = needs(std::slice::from_ref(&query_expr(&query)))
                    .into_iter()
                    .filter(|c| !self.running.contains(*c))
                    .collect();
                if !missing.is_empty() {
                    continue;
                }
                match variable_values(prometheus, &self.http, &query, start, end).await {
                    Ok(Some(values)) if values.is_empty() => broken.push(format!(
                        "${}: {query} has no value in the Prometheus under test over the run (a misspelled metric or label, or nothing produces it)",
                        v.name
                    )),
                    Ok(Some(values)) if label_values_args(&query).is_some() => {
                        let found = self.expand(live, d, v, &values).await;
                        self.record_expanded(d, found);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {}
                    Err(e) => tracing::warn!("variable ${} of {}: {e}", v.name, d.title),
                }
            }
            let mut r = self.report.lock().expect("dashboard report poisoned");
            if let Some(dr) = r.dashboards.iter_mut().find(|x| x.dashboard == d.title) {
                dr.broken_variables = broken;
            }
        }
    }

    /// Every panel of `d` that uses `$v`, its selectors checked with `v`
    /// set as a person would set it: each of its first values alone, two
    /// at once, and All. A selector can legitimately match nothing for one
    /// value (a tenant with no training job), so one value alone proves
    /// nothing. What is wrong: the panel works with each value alone but
    /// not with several (an `=` where a multi-value needs `=~`): broken;
    /// and no value alone matching (a variable of one label filtering
    /// another): listed, as Grafana would show it empty for every choice.
    /// Returns (panel title, broken?, `with $v=…: selector: why`).
    async fn expand(
        &self,
        live: &mut crate::observe::grafana::panel_health::Live<'_>,
        d: &Dashboard,
        v: &Variable,
        values: &[String],
    ) -> Vec<(String, bool, String)> {
        use crate::observe::grafana::panel_health::{Outcome, Selector};
        let mut out = Vec::new();
        let uses = |p: &Panel| {
            p.targets
                .iter()
                .any(|t| referenced(&t.expr).contains(&v.name))
        };
        for p in d
            .panels
            .iter()
            .filter(|p| p.runs_queries() && p.repeat.is_none() && uses(p))
        {
            let mut singles = Vec::new();
            let mut several = Vec::new();
            for (shown, vars, single) in settings(d, v, values) {
                let Ok(qs) = queries(d, &vars, p, &self.files.sources, self.files.scrape) else {
                    break;
                };
                let exprs: Vec<String> = qs.iter().map(|q| q.expr.clone()).collect();
                if needs(&exprs).iter().any(|c| !self.running.contains(*c)) {
                    break;
                }
                let mut broken = None;
                for e in &exprs {
                    let sels = crate::stackfiles::prometheus::promql::vector_selectors(e)
                        .unwrap_or_default();
                    for sel in sels.iter().map(Selector::of) {
                        if let Ok(Outcome::Broken(why)) = live.check(&sel).await {
                            broken.get_or_insert(format!("with {shown}: {}: {why}", sel.text));
                        }
                    }
                }
                if single {
                    singles.push(broken)
                } else {
                    several.push(broken)
                }
            }
            if singles.is_empty() {
                continue;
            }
            if singles.iter().all(Option::is_none) {
                if let Some(why) = several.into_iter().flatten().next() {
                    out.push((p.title.clone(), true, format!("{why} (each value alone matches: a multi-value or All selection needs =~)")));
                }
            } else if let Some(Some(why)) = singles
                .iter()
                .find(|b| b.is_some())
                .filter(|_| singles.iter().all(Option::is_some))
            {
                out.push((
                    p.title.clone(),
                    false,
                    format!(
                        "{why}; no value of ${} tried alone matches this panel's series",
                        v.name
                    ),
                ));
            }
        }
        out
    }

    fn record_expanded(&self, d: &Dashboard, found: Vec<(String, bool, String)>) {
        let mut r = self.report.lock().expect("dashboard report poisoned");
        let Some(dr) = r.dashboards.iter_mut().find(|x| x.dashboard == d.title) else {
            return;
        };
        for (panel, broken, why) in found {
            if let Some(p) = dr.panels.iter_mut().find(|p| p.panel == panel) {
                let h = p.health.get_or_insert_with(Default::default);
                let list = if broken { &mut h.broken } else { &mut h.empty };
                if !list.contains(&why) {
                    list.push(why);
                }
            }
        }
    }

    /// Every Jaeger search target (service, operation), substituted, looked
    /// up in the Jaeger under test once the load is over: a service with
    /// no spans, or an operation it never had, leaves the panel empty for
    /// good, so the panel is broken.
    pub async fn check_traces(&self, jaeger: &crate::observe::jaeger::api::Jaeger) {
        let services = match jaeger.services().await {
            Ok(s) => s,
            Err(e) => return tracing::warn!("Jaeger searches of the dashboards not checked: {e}"),
        };
        let f = &self.files;
        let mut found = Vec::new();
        for d in &f.dashboards {
            for p in &d.panels {
                let ctx = context(d, p, Some(f.scrape));
                for t in &p.targets {
                    let Some(search) = &t.trace_search else {
                        continue;
                    };
                    let ds = resolve(p.datasource_of(t), d, &f.sources);
                    if ds.is_none_or(|s| s.kind != "jaeger") {
                        continue;
                    }
                    let service = substitute(&search.service, &ctx, &d.variables);
                    let operation = search
                        .operation
                        .as_deref()
                        .map(|o| substitute(o, &ctx, &d.variables));
                    let why = trace_search_problem(jaeger, &services, &service, operation).await;
                    if let Some(why) = why {
                        found.push((
                            d.title.clone(),
                            p.title.clone(),
                            format!("target {}: {why}", t.ref_id),
                        ));
                    }
                }
            }
        }
        let mut r = self.report.lock().expect("dashboard report poisoned");
        for (dash, panel, why) in found {
            let Some(dr) = r.dashboards.iter_mut().find(|x| x.dashboard == dash) else {
                continue;
            };
            if let Some(p) = dr.panels.iter_mut().find(|p| p.panel == panel) {
                p.health
                    .get_or_insert_with(Default::default)
                    .broken
                    .push(why);
            }
        }
    }

    /// What every truth-checked panel shows at `at` (Unix seconds),
    /// recorded in the report.
    pub async fn check_truth(&self, prometheus: &crate::http::endpoint::Endpoint, at: f64) {
        let f = &self.files;
        let seen = crate::observe::grafana::truth::observe(
            &f.truth,
            &f.dashboards,
            f.scrape,
            prometheus,
            &self.http,
            at,
        )
        .await;
        self.report.lock().expect("dashboard report poisoned").truth = seen;
    }

    pub fn report(&self) -> DashboardReport {
        self.report
            .lock()
            .expect("dashboard report poisoned")
            .clone()
    }

    /// One round: each dashboard in turn, its panels in parallel.
    pub async fn round(&self) {
        let n_dash = self.report.lock().expect("poisoned").dashboards.len();
        for di in 0..n_dash {
            let jobs: Vec<&Job> = self.jobs.iter().filter(|j| j.dashboard == di).collect();
            if jobs.is_empty() {
                continue;
            }
            let start = Instant::now();
            let outcomes = futures::future::join_all(jobs.iter().map(|j| self.panel(j))).await;
            let dashboard_ms = start.elapsed().as_secs_f64() * 1000.0;
            let mut r = self.report.lock().expect("poisoned");
            for (job, (ms, no_data, err)) in jobs.iter().zip(outcomes) {
                let p = &mut r.dashboards[di].panels[job.panel];
                p.samples_ms.push(ms);
                if no_data {
                    p.no_data_rounds += 1;
                }
                if let Some(e) = err {
                    if p.errors.len() < 5 {
                        p.errors.push(e);
                    }
                }
            }
            r.dashboards[di].samples_ms.push(dashboard_ms);
        }
        self.report.lock().expect("poisoned").rounds += 1;
    }

    /// One panel: (ms, no data, error).
    async fn panel(&self, job: &Job) -> (f64, bool, Option<String>) {
        let start = Instant::now();
        let results = match &self.via {
            Via::Prometheus(url) => self.panel_via_prometheus(url, job).await,
            Via::Grafana(g) => self.panel_via_grafana(g, job).await,
        };
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let mut any_data = false;
        let mut err = None;
        for r in results {
            match r {
                Ok(d) => any_data |= d,
                Err(e) => err = Some(e),
            }
        }
        (ms, !any_data && err.is_none(), err)
    }

    /// All targets in one request, refIds A, B, … as Grafana names them.
    async fn panel_via_grafana(
        &self,
        g: &crate::observe::grafana::api::Grafana,
        job: &Job,
    ) -> Vec<Result<bool, String>> {
        let to = chrono::Utc::now().timestamp_millis();
        let from = to - job.range.as_millis() as i64;
        let queries: Vec<crate::observe::grafana::api::DsQuery> = job
            .queries
            .iter()
            .enumerate()
            .map(|(i, q)| crate::observe::grafana::api::DsQuery {
                ref_id: ref_id(i),
                datasource_uid: q.datasource_uid.clone(),
                datasource_type: "prometheus".into(),
                expr: q.expr.clone(),
                instant: q.instant,
                interval_ms: q.step.as_millis() as u64,
                max_data_points: (job.range.as_millis() / q.step.as_millis().max(1)) as u32,
            })
            .collect();
        match g.query(&queries, from, to).await {
            Ok(r) => queries
                .iter()
                .map(|q| {
                    r.get(&q.ref_id).cloned().unwrap_or_else(|| {
                        Err(format!("{}: missing from Grafana's answer", q.ref_id))
                    })
                })
                .collect(),
            Err(e) => vec![Err(e)],
        }
    }

    /// Targets in parallel, as Grafana's backend runs them.
    async fn panel_via_prometheus(
        &self,
        prometheus: &crate::http::endpoint::Endpoint,
        job: &Job,
    ) -> Vec<Result<bool, String>> {
        let end = chrono::Utc::now().timestamp() as f64;
        futures::future::join_all(job.queries.iter().map(|q| {
            let step_s = q.step.as_secs_f64().max(1.0);
            // Grafana aligns start and end to the step.
            let end = (end / step_s).floor() * step_s;
            let start = end - job.range.as_secs_f64();
            let req = if q.instant {
                prometheus
                    .post(&self.http, "/api/v1/query")
                    .form(&[("query", q.expr.as_str()), ("time", &end.to_string())])
            } else {
                prometheus.post(&self.http, "/api/v1/query_range").form(&[
                    ("query", q.expr.as_str()),
                    ("start", &start.to_string()),
                    ("end", &end.to_string()),
                    ("step", &step_s.to_string()),
                ])
            };
            async move {
                match req.send().await {
                    Ok(r) => {
                        let status = r.status();
                        match r.json::<serde_json::Value>().await {
                            Ok(v) if status.is_success() && v["status"] == "success" => {
                                Ok(v["data"]["result"]
                                    .as_array()
                                    .is_some_and(|a| !a.is_empty()))
                            }
                            Ok(v) => Err(format!(
                                "HTTP {status}: {}",
                                v["error"].as_str().unwrap_or("no error text")
                            )),
                            Err(e) => Err(format!("unreadable answer: {e}")),
                        }
                    }
                    Err(e) => Err(crate::http::http_error(&e)),
                }
            }
        }))
        .await
    }

    /// Every measured panel's selectors against the live series in
    /// `prometheus` over `[start, now]` (Unix seconds), recorded per panel;
    /// then every query variable's values, and the panels over them.
    pub async fn check_health(&self, prometheus: &crate::http::endpoint::Endpoint, start: f64) {
        use crate::observe::grafana::panel_health::{Live, Outcome, PanelHealth, Selector};
        let end = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let mut live = Live::new(prometheus, &self.http, start, end);
        for job in &self.jobs {
            let mut health = PanelHealth::default();
            let mut seen = BTreeSet::new();
            let selectors = job.queries.iter().flat_map(|q| {
                crate::stackfiles::prometheus::promql::vector_selectors(&q.expr).unwrap_or_default()
            });
            for sel in selectors.map(|vs| Selector::of(&vs)) {
                if !seen.insert(sel.text.clone()) {
                    continue;
                }
                health.selectors += 1;
                match live.check(&sel).await {
                    Ok(Outcome::Matched) => {}
                    Ok(Outcome::Empty(why)) => health.empty.push(format!("{}: {why}", sel.text)),
                    Ok(Outcome::Broken(why)) => health.broken.push(format!("{}: {why}", sel.text)),
                    Err(e) => health.unchecked.push(format!("{}: {e}", sel.text)),
                }
            }
            for q in &job.queries {
                match live_labels(&mut live, q).await {
                    Ok(found) => health.broken.extend(found),
                    Err(e) => health.unchecked.push(format!("labels of {}: {e}", q.expr)),
                }
            }
            health.broken.dedup();
            let mut r = self.report.lock().expect("dashboard report poisoned");
            r.dashboards[job.dashboard].panels[job.panel].health = Some(health);
        }
        self.check_variables(&mut live, prometheus, (start, end))
            .await;
    }

    /// Rounds every `every` until cancelled.
    pub async fn run(
        self: Arc<Self>,
        first_after: Duration,
        every: Duration,
        cancel: CancellationToken,
    ) {
        crate::observe::repeat(first_after, every, cancel, || self.round()).await
    }
}

/// The labels a query names (groupings, `on`/`ignoring`, matchers that
/// also match an absent label, `label_replace` sources, its legend) that
/// no live series it reads has. Queries that read only the mocks' own
/// metrics are left to the static lint, which knows their every label.
async fn live_labels(
    live: &mut crate::observe::grafana::panel_health::Live<'_>,
    q: &Query,
) -> Result<Vec<String>, String> {
    use crate::stackfiles::labels::{check_with, metrics_read, modelled};
    let Some(metrics) = metrics_read(&q.expr) else {
        return Ok(Vec::new());
    };
    if metrics.iter().all(|m| modelled(m).is_some()) {
        return Ok(Vec::new());
    }
    let mut known = std::collections::BTreeMap::new();
    for m in &metrics {
        if let Some(mut labels) = live.labels(m).await? {
            labels.extend(modelled(m).unwrap_or_default());
            known.insert(m.clone(), labels);
        }
    }
    Ok(check_with(
        &q.expr,
        q.legend.as_deref(),
        "in the live series",
        &|m: &str| known.get(m).cloned(),
    ))
}

/// Why a Jaeger search for `service` (and `operation`) can find nothing
/// in this Jaeger, if it cannot. A value still holding a variable, or
/// Grafana's "All", is not judged.
async fn trace_search_problem(
    jaeger: &crate::observe::jaeger::api::Jaeger,
    services: &[String],
    service: &str,
    operation: Option<String>,
) -> Option<String> {
    let unresolved = |s: &str| s.contains('$') || s == "All" || s.contains('|');
    if unresolved(service) {
        return None;
    }
    if !services.iter().any(|s| s == service) {
        return Some(format!(
            "Jaeger has no span from service {service:?} (it has {}){}",
            services.join(", "),
            near(service, services)
        ));
    }
    let op = operation.filter(|o| !unresolved(o))?;
    match jaeger.operations(service).await {
        Ok(ops) if !ops.contains(&op) => Some(format!(
            "service {service:?} has no operation {op:?} in Jaeger{}",
            near(&op, &ops)
        )),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("operations of {service} in Jaeger: {e}");
            None
        }
    }
}

/// `; did you mean X?` for a name one or two edits from one of `names`.
fn near(name: &str, names: &[String]) -> String {
    crate::stackfiles::producers::nearest(name, names.iter())
        .map(|n| format!("; did you mean {n}?"))
        .unwrap_or_default()
}

/// The PromQL inside a variable's query, for the components it needs.
fn query_expr(query: &str) -> String {
    crate::stackfiles::grafana::vars::variable_promql(query).unwrap_or_default()
}

/// How many values of a variable a panel is checked with.
const EXPANDED_VALUES: usize = 10;

/// The settings of `v` a person would choose, with the dashboard's
/// variables for each: each of its first [`EXPANDED_VALUES`] values
/// alone, the first two at once, and All (its options being `values`).
fn settings(d: &Dashboard, v: &Variable, values: &[String]) -> Vec<(String, Vec<Variable>, bool)> {
    let mut picks: Vec<Vec<String>> = values
        .iter()
        .take(EXPANDED_VALUES)
        .map(|x| vec![x.clone()])
        .collect();
    if values.len() >= 2 {
        picks.push(values[..2].to_vec());
    }
    picks.push(vec!["$__all".into()]);
    picks
        .into_iter()
        .map(|pick| {
            let (shown, single) = match pick.as_slice() {
                [a] if a == "$__all" => (format!("${}=All", v.name), values.len() == 1),
                [a] => (format!("${}={a}", v.name), true),
                many => (format!("${}={}", v.name, many.join("+")), false),
            };
            let vars = d
                .variables
                .iter()
                .map(|x| {
                    let mut x = x.clone();
                    if x.name == v.name {
                        x.current = pick.clone();
                        x.options = values.to_vec();
                    }
                    x
                })
                .collect();
            (shown, vars, single)
        })
        .collect()
}

/// The values a query variable takes, asked as Grafana asks (for
/// `query_result(…)`, one per series); `None` for the kinds that name no
/// series (`label_names()`, `metrics(…)`, a bare `label_values(label)`).
async fn variable_values(
    prometheus: &crate::http::endpoint::Endpoint,
    http: &reqwest::Client,
    query: &str,
    start: f64,
    end: f64,
) -> Result<Option<Vec<String>>, String> {
    use crate::stackfiles::grafana::vars::{label_values_args, variable_promql};
    let window = [
        ("start", format!("{start:.3}")),
        ("end", format!("{end:.3}")),
    ];
    if let Some((selector, label)) = label_values_args(query) {
        let path = format!("/api/v1/label/{label}/values");
        let mut form: Vec<(&str, &str)> = window.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("match[]", &selector));
        let req = prometheus.get(http, &path).query(&form);
        let data = crate::http::endpoint::api_data(req, &path).await?;
        let values = data.as_array().into_iter().flatten();
        return Ok(Some(
            values
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        ));
    }
    let Some(expr) = variable_promql(query) else {
        return Ok(None);
    };
    let req = prometheus
        .post(http, "/api/v1/query")
        .form(&[("query", expr.as_str()), ("time", &format!("{end:.3}"))]);
    let data = crate::http::endpoint::api_data(req, "/api/v1/query").await?;
    let series = data["result"].as_array().into_iter().flatten();
    Ok(Some(series.map(|s| s["metric"].to_string()).collect()))
}

/// A panel as Grafana shows it: once, or, when it repeats over a
/// variable, once per selected value (all options when "All" is selected)
/// with the variable set to that value alone. Returns (title, variables).
fn repeats(d: &Dashboard, p: &Panel) -> Vec<(String, Vec<Variable>)> {
    let once = || vec![(p.title.clone(), d.variables.clone())];
    let Some(var) = p.repeat.as_deref().filter(|r| !r.is_empty()) else {
        return once();
    };
    let Some(v) = d.variables.iter().find(|v| v.name == var) else {
        return once();
    };
    let all = v.current.is_empty() || v.current.iter().any(|c| c == "$__all" || c == "All");
    let values: Vec<String> = if all {
        v.options
            .iter()
            .filter(|o| *o != "$__all" && *o != "All")
            .cloned()
            .collect()
    } else {
        v.current.clone()
    };
    if values.len() < 2 {
        return once();
    }
    values
        .into_iter()
        .map(|value| {
            let vars = d
                .variables
                .iter()
                .map(|x| {
                    let mut x = x.clone();
                    if x.name == var {
                        x.current = vec![value.clone()];
                    }
                    x
                })
                .collect();
            (format!("{} ({var}={value})", p.title), vars)
        })
        .collect()
}

/// The Prometheus queries of a panel, substituted, with their step.
fn queries(
    d: &Dashboard,
    vars: &[Variable],
    p: &Panel,
    sources: &[Datasource],
    scrape: Duration,
) -> Result<Vec<Query>, String> {
    let ctx = context(d, p, Some(scrape));
    let mut out = Vec::new();
    for t in p.targets.iter().filter(|t| !t.hidden && !t.expr.is_empty()) {
        let ds = resolve(p.datasource_of(t), d, sources)
            .ok_or_else(|| "its datasource is not provisioned".to_string())?;
        if ds.kind != "prometheus" {
            continue;
        }
        out.push(Query {
            expr: prometheus_query(&t.expr, &ctx, vars),
            legend: t.legend.clone(),
            instant: t.instant,
            step: ctx.interval,
            datasource_uid: ds.uid.clone().unwrap_or_else(|| ds.name.clone()),
        });
    }
    Ok(out)
}

/// Grafana's refIds: A … Z, then AA, AB, …
fn ref_id(i: usize) -> String {
    let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
    if i < 26 {
        letter(i).to_string()
    } else {
        format!("{}{}", letter(i / 26 - 1), letter(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::endpoint::Endpoint;
    use crate::observe::fake::{Canned, serve};
    use crate::observe::grafana::api::Grafana;
    use crate::stackfiles::grafana::model::load_dashboards;
    use crate::stackfiles::grafana::provisioning::DATASOURCES_FILE;
    use std::path::Path;

    #[test]
    fn ref_ids_follow_grafana() {
        assert_eq!(ref_id(0), "A");
        assert_eq!(ref_id(25), "Z");
        assert_eq!(ref_id(26), "AA");
        assert_eq!(ref_id(27), "AB");
    }

    #[test]
    fn a_repeated_panel_is_one_panel_per_value_as_grafana_shows_it() {
        let json = serde_json::json!({
            "title": "R", "schemaVersion": 39, "time": {"from": "now-1h", "to": "now"},
            "templating": {"list": [{
                "name": "svc", "type": "custom",
                "current": {"text": "All", "value": ["$__all"]},
                "options": [
                    {"text": "All", "value": "$__all"},
                    {"text": "backend-api", "value": "backend-api"},
                    {"text": "ml-engine", "value": "ml-engine"}
                ]
            }]},
            "panels": [
                {"type": "timeseries", "title": "Up", "repeat": "svc",
                 "datasource": {"type": "prometheus", "uid": "prometheus"},
                 "targets": [{"refId": "A", "expr": "up{job=~\"$svc\"}"}]},
                {"type": "timeseries", "title": "All up",
                 "datasource": {"type": "prometheus", "uid": "prometheus"},
                 "targets": [{"refId": "A", "expr": "up{job=~\"$svc\"}"}]}
            ]
        });
        let d =
            crate::stackfiles::grafana::model::parse_dashboard(Path::new("r.json"), &json).unwrap();
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let sources = crate::stackfiles::grafana::provisioning::load_datasources(
            &stack.join(DATASOURCES_FILE),
        )
        .unwrap();
        let mut got: Vec<(String, String)> = Vec::new();
        for p in &d.panels {
            for (title, vars) in repeats(&d, p) {
                let q = queries(&d, &vars, p, &sources, Duration::from_secs(15)).unwrap();
                got.push((title, q[0].expr.clone()));
            }
        }
        assert_eq!(
            got,
            vec![
                (
                    "Up (svc=backend-api)".into(),
                    "up{job=~\"backend-api\"}".into()
                ),
                ("Up (svc=ml-engine)".into(), "up{job=~\"ml-engine\"}".into()),
                (
                    "All up".into(),
                    "up{job=~\"(backend-api|ml-engine)\"}".into()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn annotation_queries_are_run_and_timed_with_the_panels() {
        let json = serde_json::json!({
            "title": "A", "uid": "a", "time": {"from": "now-1h", "to": "now"},
            "annotations": {"list": [
                {"builtIn": 1, "name": "Annotations & Alerts", "enable": true},
                {"name": "Restarts", "enable": true, "expr": "changes(up[5m]) > 0",
                 "datasource": {"type": "prometheus", "uid": "prometheus"}}
            ]},
            "panels": [{"type": "stat", "title": "Up",
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "targets": [{"refId": "A", "expr": "up"}]}]
        });
        let d =
            crate::stackfiles::grafana::model::parse_dashboard(Path::new("a.json"), &json).unwrap();
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let sources = crate::stackfiles::grafana::provisioning::load_datasources(
            &stack.join(DATASOURCES_FILE),
        )
        .unwrap();
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}"#;
        let fake = serve(vec![
            Canned::new("/api/v1/query_range", 200, body),
            Canned::new("/api/v1/query", 200, body),
        ])
        .await;
        let running: BTreeSet<String> = ["prometheus".to_string()].into_iter().collect();
        let probe = Probe::new(
            &[d],
            &sources,
            Via::Prometheus(Endpoint::new(&fake.url)),
            Duration::from_secs(15),
            &running,
        )
        .unwrap();
        probe.round().await;
        let r = probe.report();
        let titles: Vec<&str> = r.dashboards[0]
            .panels
            .iter()
            .map(|p| p.panel.as_str())
            .collect();
        assert_eq!(titles, ["Up", "annotation \"Restarts\""]);
        assert!(
            r.dashboards[0]
                .panels
                .iter()
                .all(|p| p.samples_ms.len() == 1)
        );
        let seen = fake.seen.lock().unwrap().clone();
        assert!(seen.iter().any(|s| s.body.contains("changes")), "{seen:?}");
    }

    #[tokio::test]
    async fn jaeger_searches_for_a_service_or_operation_jaeger_lacks_are_broken() {
        let json = serde_json::json!({
            "title": "T", "uid": "t",
            "panels": [
                {"type": "table", "title": "Traces",
                 "datasource": {"type": "jaeger", "uid": "jaeger"},
                 "targets": [
                    {"refId": "A", "queryType": "search", "service": "backend-apii"},
                    {"refId": "B", "queryType": "search", "service": "backend-api",
                     "operation": "GET /api/v1/recomendations"},
                    {"refId": "C", "queryType": "search", "service": "backend-api",
                     "operation": "GET /api/v1/recommendations"},
                    {"refId": "D", "queryType": "search", "service": "$service"}
                 ]}
            ]
        });
        let d =
            crate::stackfiles::grafana::model::parse_dashboard(Path::new("t.json"), &json).unwrap();
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let sources = crate::stackfiles::grafana::provisioning::load_datasources(
            &stack.join(DATASOURCES_FILE),
        )
        .unwrap();
        let fake = serve(vec![
            Canned::new(
                "/api/v3/services",
                200,
                r#"{"services":["backend-api","ml-engine"]}"#,
            ),
            Canned::new(
                "/api/v3/operations",
                200,
                r#"{"operations":[{"name":"GET /api/v1/recommendations","spanKind":"server"}]}"#,
            ),
        ])
        .await;
        let running: BTreeSet<String> = ["prometheus".to_string()].into_iter().collect();
        let probe = Probe::new(
            std::slice::from_ref(&d),
            &sources,
            Via::Prometheus(Endpoint::new(&fake.url)),
            Duration::from_secs(15),
            &running,
        )
        .unwrap()
        .with_truth(std::slice::from_ref(&d), &[]);
        let jaeger = crate::observe::jaeger::api::Jaeger::detect(
            Endpoint::new(&fake.url),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        probe.check_traces(&jaeger).await;
        let r = probe.report();
        let broken = &r.dashboards[0].panels[0].health.as_ref().unwrap().broken;
        assert_eq!(
            broken,
            &vec![
                "target A: Jaeger has no span from service \"backend-apii\" (it has backend-api, ml-engine); did you mean backend-api?".to_string(),
                "target B: service \"backend-api\" has no operation \"GET /api/v1/recomendations\" in Jaeger; did you mean GET /api/v1/recommendations?".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn the_shipped_dashboards_through_grafana_ds_query() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let dashboards = load_dashboards(&stack).unwrap();
        let sources = crate::stackfiles::grafana::provisioning::load_datasources(
            &stack.join(DATASOURCES_FILE),
        )
        .unwrap();
        let fake = serve(vec![Canned::new(
            "/api/ds/query",
            200,
            include_str!("../../../tests/fixtures/grafana/ds_query_prometheus_response.json"),
        )])
        .await;
        let g = Grafana::new(Endpoint::new(&fake.url), Duration::from_secs(5)).unwrap();
        let running: BTreeSet<String> = [
            "prometheus",
            "postgres-exporter",
            "redis-exporter",
            "node-exporter",
            "backend-api",
            "ml-engine",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let probe = Probe::new(
            &dashboards,
            &sources,
            Via::Grafana(g),
            Duration::from_secs(15),
            &running,
        )
        .unwrap();
        probe.round().await;
        let r = probe.report();
        assert!(r.via.contains("/api/ds/query"), "{}", r.via);
        let measured: Vec<&PanelResult> = r
            .dashboards
            .iter()
            .flat_map(|d| &d.panels)
            .filter(|p| p.skipped.is_none())
            .collect();
        assert!(measured.len() >= 10, "{} panels measured", measured.len());
        assert!(measured.iter().all(|p| p.samples_ms.len() == 1));
        // The canned answer has data for A, none for B and an error for C:
        // single-target panels have data, three-target panels fail.
        assert!(
            measured
                .iter()
                .any(|p| p.errors.is_empty() && p.no_data_rounds == 0)
        );
        let seen = fake.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), measured.len(), "one request per panel");
        let prom_uid = sources
            .iter()
            .find(|s| s.kind == "prometheus")
            .and_then(|s| s.uid.clone())
            .unwrap();
        for s in &seen {
            let body: serde_json::Value = serde_json::from_str(&s.body).unwrap();
            for q in body["queries"].as_array().unwrap() {
                assert_eq!(q["datasource"]["uid"], prom_uid.as_str());
                let expr = q["expr"].as_str().unwrap();
                assert!(!expr.contains("$__"), "unsubstituted: {expr}");
            }
        }
    }
}
