//! Dashboard load time under load, the way a person opening the dashboard
//! experiences it: every panel's queries, with Grafana's variable and
//! interval substitution ([`crate::stack::grafana::vars`]), run in parallel
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
use crate::stack::grafana::model::{Dashboard, Panel};
use crate::stack::grafana::provisioning::Datasource;
use crate::stack::grafana::vars::{context, substitute};
use crate::stack::lint::resolve;
use crate::stack::render::promql::metric_names;

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
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DashboardResult {
    pub dashboard: String,
    pub uid: String,
    /// Load time per round: the slowest panel.
    pub samples_ms: Vec<f64>,
    pub panels: Vec<PanelResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DashboardReport {
    pub via: String,
    pub rounds: u32,
    pub dashboards: Vec<DashboardResult>,
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
    /// (expr, instant, step)
    queries: Vec<(String, bool, Duration)>,
    range: Duration,
}

pub struct Probe {
    prometheus: String,
    http: reqwest::Client,
    jobs: Vec<Job>,
    report: Arc<Mutex<DashboardReport>>,
}

impl Probe {
    /// `running`: components of this stack (by the contract's names:
    /// "prometheus", "postgres-exporter", "redis-exporter", …).
    pub fn new(
        dashboards: &[Dashboard],
        sources: &[Datasource],
        prometheus: String,
        scrape: Duration,
        running: &BTreeSet<String>,
    ) -> anyhow::Result<Probe> {
        let mut report = DashboardReport {
            via: "Prometheus query_range with Grafana's step and variable rules (Grafana is not running)".into(),
            rounds: 0,
            dashboards: Vec::new(),
        };
        let mut jobs = Vec::new();
        for (di, d) in dashboards.iter().enumerate() {
            let mut panels = Vec::new();
            for p in d.panels.iter().filter(|p| p.runs_queries()) {
                let pi = panels.len();
                let mut result = PanelResult {
                    dashboard: d.title.clone(),
                    panel: p.title.clone(),
                    samples_ms: Vec::new(),
                    no_data_rounds: 0,
                    errors: Vec::new(),
                    skipped: None,
                };
                match queries(d, p, sources, scrape) {
                    Ok(q) if q.is_empty() => result.skipped = Some("no Prometheus query".into()),
                    Ok(q) => {
                        let exprs: Vec<String> = q.iter().map(|x| x.0.clone()).collect();
                        let missing: Vec<&str> = needs(&exprs)
                            .into_iter()
                            .filter(|c| !running.contains(*c))
                            .collect();
                        if missing.is_empty() {
                            jobs.push(Job {
                                dashboard: di,
                                panel: pi,
                                queries: q,
                                range: crate::stack::grafana::vars::range_of(d),
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
            report.dashboards.push(DashboardResult {
                dashboard: d.title.clone(),
                uid: d.uid.clone().unwrap_or_default(),
                samples_ms: Vec::new(),
                panels,
            });
        }
        Ok(Probe {
            prometheus,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()?,
            jobs,
            report: Arc::new(Mutex::new(report)),
        })
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

    /// One panel: its targets in parallel; (ms, no data, error).
    async fn panel(&self, job: &Job) -> (f64, bool, Option<String>) {
        let start = Instant::now();
        let end = chrono::Utc::now().timestamp() as f64;
        let results = futures::future::join_all(job.queries.iter().map(|(expr, instant, step)| {
            let step_s = step.as_secs_f64().max(1.0);
            // Grafana aligns start and end to the step.
            let end = (end / step_s).floor() * step_s;
            let start = end - job.range.as_secs_f64();
            let req = if *instant {
                self.http
                    .post(format!("{}/api/v1/query", self.prometheus))
                    .form(&[("query", expr.as_str()), ("time", &end.to_string())])
            } else {
                self.http
                    .post(format!("{}/api/v1/query_range", self.prometheus))
                    .form(&[
                        ("query", expr.as_str()),
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
                    Err(e) => Err(crate::observe::http_error(&e)),
                }
            }
        }))
        .await;
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

    /// Rounds every `every` until cancelled.
    pub async fn run(
        self: Arc<Self>,
        first_after: Duration,
        every: Duration,
        cancel: CancellationToken,
    ) {
        tokio::select! {
            _ = tokio::time::sleep(first_after) => {}
            _ = cancel.cancelled() => return,
        }
        loop {
            tokio::select! {
                _ = self.round() => {}
                _ = cancel.cancelled() => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }
}

/// The Prometheus queries of a panel, substituted, with their step.
fn queries(
    d: &Dashboard,
    p: &Panel,
    sources: &[Datasource],
    scrape: Duration,
) -> Result<Vec<(String, bool, Duration)>, String> {
    let ctx = context(d, p, Some(scrape));
    let mut out = Vec::new();
    for t in p.targets.iter().filter(|t| !t.hidden && !t.expr.is_empty()) {
        let ds = resolve(p.datasource_of(t), d, sources)
            .ok_or_else(|| "its datasource is not provisioned".to_string())?;
        if ds.kind != "prometheus" {
            continue;
        }
        out.push((
            substitute(&t.expr, &ctx, &d.variables),
            t.instant,
            ctx.interval,
        ));
    }
    Ok(out)
}
