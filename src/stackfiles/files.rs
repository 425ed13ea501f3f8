//! The `stack/` directory: the observability stack as code, read once.
//!
//! Holds the raw YAML (so that renderers change only what they must) and a
//! typed view of the alert rules and intervals for planning and evaluation.
//! Problems are input errors with file:line:column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use super::grafana::model::{Dashboard, load_dashboards};
use super::grafana::provisioning::{DATASOURCES_FILE, Datasource, load_datasources};
use super::prometheus::promql;
use crate::input::units::parse_duration;
use crate::input::yaml::{self as spanned, Step};
use crate::input::{Diagnostics, Pos};

pub const PROMETHEUS_CONFIG: &str = "prometheus/prometheus.yml";
pub const ALERTMANAGER_CONFIG: &str = "alertmanager/alertmanager.yml";

/// Prometheus' and Alertmanager's own defaults, which must be made explicit
/// when time-scaling a config that relies on them.
pub mod defaults {
    use std::time::Duration;
    pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
    pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(60);
    pub const LOOKBACK_DELTA: Duration = Duration::from_secs(300);
    pub const RESEND_DELAY: Duration = Duration::from_secs(60);
    pub const GROUP_WAIT: Duration = Duration::from_secs(30);
    pub const GROUP_INTERVAL: Duration = Duration::from_secs(300);
    pub const REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
    pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);
    /// How often Alertmanager's dispatcher removes aggregation groups that
    /// have become empty (a fixed 30 s in `dispatch.go`, not configurable
    /// and not time-scaled). Until then a resolved group stays open: an
    /// alert that joins it is flushed at its next `group_interval` tick,
    /// not after a fresh `group_wait`.
    pub const GROUP_SWEEP: Duration = Duration::from_secs(30);
    /// How long Prometheus keeps an alert after it resolved, re-sending it
    /// to Alertmanager as resolved every resend delay (`resolvedRetention`
    /// in `rules/alerting.go`: a fixed 15 minutes, not configurable and not
    /// time-scaled). Each re-send reaches Alertmanager's dispatcher, which
    /// re-creates the alert's aggregation group if the sweep removed it: a
    /// group so re-opened has flushed already, so the same alert firing
    /// again joins it and is sent at its next `group_interval` tick, not
    /// after a fresh `group_wait`.
    pub const PROMETHEUS_RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);
}

#[derive(Debug, Clone)]
pub struct StackFiles {
    pub dir: PathBuf,
    pub prometheus: Value,
    /// Rule files by their path relative to `prometheus/`, as `rule_files`
    /// names them.
    pub rule_files: BTreeMap<String, Value>,
    pub alertmanager: Value,
    pub rules: Vec<AlertRule>,
    /// Grafana's dashboards and datasources, read with the rest.
    pub grafana: GrafanaFiles,
}

/// Grafana's dashboards and datasources as read from `stack/grafana/`. A
/// file that could not be read is kept as its error, for the checks that
/// need it to report (a stack's Prometheus and Alertmanager files are
/// usable without them).
#[derive(Debug, Clone)]
pub struct GrafanaFiles {
    pub dashboards: Result<Vec<Dashboard>, String>,
    pub datasources: Result<Vec<Datasource>, String>,
    /// `grafana/truth.yml`: the truth-checked panels (none without it).
    pub truth: Result<Vec<super::grafana::truth::TruthPanel>, String>,
}

impl GrafanaFiles {
    pub fn load(dir: &Path) -> GrafanaFiles {
        GrafanaFiles {
            dashboards: load_dashboards(dir).map_err(|e| format!("{e:#}")),
            datasources: load_datasources(&dir.join(DATASOURCES_FILE))
                .map_err(|e| format!("{e:#}")),
            truth: super::grafana::truth::load(dir),
        }
    }

    /// Both, or the first one's error.
    pub fn read(&self) -> anyhow::Result<(&[Dashboard], &[Datasource])> {
        let sources = self
            .datasources
            .as_deref()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let dashboards = self
            .dashboards
            .as_deref()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((dashboards, sources))
    }
}

/// One recording rule: the series it records and from what.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    /// Its rule file, relative to `prometheus/`.
    pub file: String,
    pub name: String,
    pub expr: String,
}

/// One alerting rule, typed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertRule {
    pub name: String,
    pub expr: String,
    #[serde(with = "crate::input::units::serde_duration")]
    pub for_: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub file: String,
    /// Its group's own `interval`, where the group sets one.
    #[serde(skip)]
    pub group_interval: Option<Duration>,
    #[serde(skip)]
    pub pos: Pos,
}

impl AlertRule {
    /// A heartbeat: an alert whose expression reads no series (Watchdog's
    /// `vector(1)`), so it always fires, with `severity: none` (the
    /// convention of the mixins' Watchdog: no human reads it). It tells a
    /// dead man's switch the pipeline works; it is never an incident, a
    /// false alarm or a repeat. A constant alert at a real severity is
    /// noise, and judged as any other.
    pub fn is_heartbeat(&self) -> bool {
        self.severity() == "none"
            && crate::stackfiles::labels::metrics_read(&self.expr).is_some_and(|m| m.is_empty())
    }

    pub fn severity(&self) -> &str {
        self.labels
            .get("severity")
            .map(String::as_str)
            .unwrap_or("")
    }
}

struct Source {
    path: PathBuf,
    tree: spanned::Node,
}

impl Source {
    fn read(path: PathBuf, diags: &mut Diagnostics) -> Option<(Source, Value)> {
        let text = match crate::input::read_bounded_text(&path, crate::input::limits::STACK_FILE) {
            Ok(t) => t,
            Err(e) => {
                diags.push(&path, Pos::default(), "", format!("cannot read: {e}"));
                return None;
            }
        };
        let tree = match spanned::parse(&text) {
            Ok(t) => t,
            Err((pos, msg)) => {
                diags.push(&path, pos, "", format!("invalid YAML: {msg}"));
                return None;
            }
        };
        match serde_yaml::from_str::<Value>(&text) {
            Ok(v) => Some((Source { path, tree }, v)),
            Err(e) => {
                let pos = e
                    .location()
                    .map(|l| Pos {
                        line: l.line(),
                        column: l.column(),
                    })
                    .unwrap_or_default();
                diags.push(&path, pos, "", format!("invalid YAML: {e}"));
                None
            }
        }
    }

    fn error(&self, diags: &mut Diagnostics, path: &[Step<'_>], field: &str, msg: String) {
        diags.push(&self.path, self.tree.locate(path), field, msg);
    }
}

impl StackFiles {
    pub fn load(dir: &Path) -> Result<StackFiles, Diagnostics> {
        let mut diags = Diagnostics::default();
        if !dir.is_dir() {
            diags.push(
                dir,
                Pos::default(),
                "stack.dir",
                "expected a stack directory (with prometheus/ and alertmanager/), found none",
            );
            return Err(diags);
        }
        let prom = Source::read(dir.join(PROMETHEUS_CONFIG), &mut diags);
        let am = Source::read(dir.join(ALERTMANAGER_CONFIG), &mut diags);
        let (Some((prom_src, prometheus)), Some((_am_src, alertmanager))) = (prom, am) else {
            return Err(diags);
        };
        let mut rule_files = BTreeMap::new();
        let mut rules = Vec::new();
        let names: Vec<String> = prometheus
            .get("rule_files")
            .and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for (i, name) in names.iter().enumerate() {
            if name.starts_with('/') || name.contains('*') || name.contains("..") {
                prom_src.error(
                    &mut diags,
                    &[Step::Key("rule_files"), Step::Index(i)],
                    &format!("rule_files[{i}]"),
                    format!("expected a file path relative to prometheus/ (so the same file works in Docker and natively), found {name:?}"),
                );
                continue;
            }
            if let Some((src, value)) = Source::read(dir.join("prometheus").join(name), &mut diags)
            {
                rules.extend(typed_rules(&src, &value, name, &mut diags));
                rule_files.insert(name.clone(), value);
            }
        }
        check_intervals(&prom_src, &prometheus, &mut diags);
        if diags.is_empty() {
            Ok(StackFiles {
                dir: dir.to_path_buf(),
                prometheus,
                rule_files,
                alertmanager,
                rules,
                grafana: GrafanaFiles::load(dir),
            })
        } else {
            Err(diags.sorted())
        }
    }

    /// Every recording rule of the stack's rule files, in file order.
    pub fn recording_rules(&self) -> impl Iterator<Item = RecordingRule> + '_ {
        self.rule_files.iter().flat_map(|(file, value)| {
            groups(value)
                .filter_map(|g| g.get("rules").and_then(Value::as_sequence))
                .flatten()
                .filter_map(move |r| {
                    Some(RecordingRule {
                        file: file.clone(),
                        name: r.get("record")?.as_str()?.to_string(),
                        expr: r.get("expr").and_then(Value::as_str)?.to_string(),
                    })
                })
        })
    }

    /// The `job_name` of every scrape config.
    pub fn scrape_jobs(&self) -> Vec<String> {
        self.prometheus
            .get("scrape_configs")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("job_name")?.as_str().map(String::from))
            .collect()
    }

    pub fn scrape_interval(&self) -> Duration {
        scrape_interval_of(&self.prometheus)
    }

    pub fn evaluation_interval(&self) -> Duration {
        evaluation_interval_of(&self.prometheus)
    }

    /// The shortest scrape or evaluation interval anywhere in the config
    /// (global, per job, per rule group): the time-scale limit.
    pub fn min_interval(&self) -> Duration {
        let mut min = self.scrape_interval().min(self.evaluation_interval());
        if let Some(jobs) = self
            .prometheus
            .get("scrape_configs")
            .and_then(Value::as_sequence)
        {
            for j in jobs {
                if let Some(d) = j
                    .get("scrape_interval")
                    .and_then(Value::as_str)
                    .and_then(parse_duration)
                {
                    min = min.min(d);
                }
            }
        }
        for file in self.rule_files.values() {
            for g in groups(file) {
                if let Some(d) = g
                    .get("interval")
                    .and_then(Value::as_str)
                    .and_then(parse_duration)
                {
                    min = min.min(d);
                }
            }
        }
        min
    }

    /// The global scrape timeout, with Prometheus' default (never over
    /// the scrape interval).
    pub fn scrape_timeout(&self) -> Duration {
        global_duration(&self.prometheus, "scrape_timeout")
            .unwrap_or(defaults::SCRAPE_TIMEOUT)
            .min(self.scrape_interval())
    }

    /// The scrape config whose `job_name` is `job`.
    fn scrape_config(&self, job: &str) -> Option<&Value> {
        self.prometheus
            .get("scrape_configs")?
            .as_sequence()?
            .iter()
            .find(|c| c.get("job_name").and_then(Value::as_str) == Some(job))
    }

    /// `job`'s scrape timeout as configured (unscaled): its own, or the
    /// global one, never over its scrape interval. None: no such job.
    pub fn scrape_timeout_of(&self, job: &str) -> Option<Duration> {
        let c = self.scrape_config(job)?;
        let own = |key: &str| c.get(key).and_then(Value::as_str).and_then(parse_duration);
        let interval = own("scrape_interval").unwrap_or_else(|| self.scrape_interval());
        let timeout = own("scrape_timeout").unwrap_or_else(|| self.scrape_timeout());
        Some(timeout.min(interval))
    }

    /// A stack of these three files, for tests: `prometheus.yml`,
    /// `prometheus/rules.yml` and `alertmanager.yml`.
    #[cfg(test)]
    pub fn from_texts(prometheus: &str, rules: &str, alertmanager: &str) -> StackFiles {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("prometheus")).unwrap();
        std::fs::create_dir_all(p.join("alertmanager")).unwrap();
        std::fs::write(p.join("prometheus/prometheus.yml"), prometheus).unwrap();
        std::fs::write(p.join("prometheus/rules.yml"), rules).unwrap();
        std::fs::write(p.join("alertmanager/alertmanager.yml"), alertmanager).unwrap();
        StackFiles::load(p).unwrap()
    }

    /// How often `rule`'s group is evaluated.
    pub fn evaluation_interval_of(&self, rule: &AlertRule) -> Duration {
        rule.group_interval
            .unwrap_or_else(|| self.evaluation_interval())
    }

    /// Whether an alert can join an Alertmanager group that other alerts
    /// already opened (and so wait for its `group_interval` rather than a
    /// `group_wait`): the root route does not group by `alertname` (nor by
    /// every label, `...`), so alerts of other rules share groups.
    pub fn alerts_share_groups(&self) -> bool {
        let by: Vec<&str> = self
            .alertmanager
            .get("route")
            .and_then(|r| r.get("group_by"))
            .and_then(Value::as_sequence)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        !by.iter().any(|l| *l == "alertname" || *l == "...")
    }

    /// Whether an inhibit rule of `alertmanager.yml` can take an alert
    /// named `alert` as its source (and so mute others while it fires).
    pub fn may_inhibit(&self, alert: &str) -> bool {
        super::inhibit::may_be_source(&self.alertmanager, alert)
    }

    /// The names of the stack's heartbeat rules.
    pub fn heartbeats(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.is_heartbeat())
            .map(|r| r.name.clone())
            .collect()
    }

    /// Whether `alert` names a heartbeat rule of the stack.
    pub fn is_heartbeat(&self, alert: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.name == alert && r.is_heartbeat())
    }

    pub fn rule(&self, name: &str) -> Option<&AlertRule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Alertmanager route timers of the root route (group_wait,
    /// group_interval), with Alertmanager's defaults.
    pub fn root_route_timers(&self) -> (Duration, Duration) {
        root_route_timers_of(&self.alertmanager)
    }

    /// The shortest and longest `group_wait` of the routes this rule's
    /// alerts can take (see [`crate::stackfiles::routes`]).
    pub fn group_wait_range(&self, rule: &AlertRule) -> (Duration, Duration) {
        let known = crate::stackfiles::routes::known_labels(&rule.name, &rule.labels);
        let waits = crate::stackfiles::routes::group_waits(
            self.alertmanager.get("route"),
            &known,
            defaults::GROUP_WAIT,
        );
        let min = waits.iter().min().copied().unwrap_or(defaults::GROUP_WAIT);
        let max = waits.iter().max().copied().unwrap_or(defaults::GROUP_WAIT);
        (min, max)
    }

    /// The longest `group_wait` of any route in the tree: the longest an
    /// alert can wait, unnotified, in a group of its own.
    pub fn max_group_wait(&self) -> Duration {
        let mut all = Vec::new();
        route_durations(self.alertmanager.get("route"), "group_wait", &mut all);
        all.into_iter()
            .max()
            .unwrap_or_default()
            .max(self.root_route_timers().0)
    }
}

/// Every `key` duration set on a route of the tree below `route`.
fn route_durations(route: Option<&Value>, key: &str, out: &mut Vec<Duration>) {
    let Some(route) = route else { return };
    out.extend(
        route
            .get(key)
            .and_then(Value::as_str)
            .and_then(parse_duration),
    );
    for child in route
        .get("routes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        route_durations(Some(child), key, out);
    }
}

/// A Prometheus config's global scrape interval, with Prometheus' default.
pub fn scrape_interval_of(prometheus: &Value) -> Duration {
    global_duration(prometheus, "scrape_interval").unwrap_or(defaults::SCRAPE_INTERVAL)
}

/// A Prometheus config's global evaluation interval, with the default.
pub fn evaluation_interval_of(prometheus: &Value) -> Duration {
    global_duration(prometheus, "evaluation_interval").unwrap_or(defaults::EVALUATION_INTERVAL)
}

/// An Alertmanager config's root route (group_wait, group_interval), with
/// Alertmanager's defaults.
pub fn root_route_timers_of(alertmanager: &Value) -> (Duration, Duration) {
    let route = alertmanager.get("route");
    let get = |k: &str, d: Duration| {
        route
            .and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .and_then(parse_duration)
            .unwrap_or(d)
    };
    (
        get("group_wait", defaults::GROUP_WAIT),
        get("group_interval", defaults::GROUP_INTERVAL),
    )
}

fn global_duration(v: &Value, key: &str) -> Option<Duration> {
    v.get("global")?.get(key)?.as_str().and_then(parse_duration)
}

pub(crate) fn groups(file: &Value) -> impl Iterator<Item = &Value> {
    file.get("groups")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
}

fn check_intervals(src: &Source, prom: &Value, diags: &mut Diagnostics) {
    for key in ["scrape_interval", "evaluation_interval", "scrape_timeout"] {
        if let Some(v) = prom.get("global").and_then(|g| g.get(key)) {
            if v.as_str().and_then(parse_duration).is_none() {
                src.error(
                    diags,
                    &[Step::Key("global"), Step::Key(key)],
                    &format!("global.{key}"),
                    format!("expected a duration like \"15s\", found {v:?}"),
                );
            }
        }
    }
}

fn typed_rules(src: &Source, file: &Value, name: &str, diags: &mut Diagnostics) -> Vec<AlertRule> {
    let mut out = Vec::new();
    for (gi, g) in groups(file).enumerate() {
        let Some(rules) = g.get("rules").and_then(Value::as_sequence) else {
            continue;
        };
        for (ri, r) in rules.iter().enumerate() {
            let path = |k: &'static str| {
                [
                    Step::Key("groups"),
                    Step::Index(gi),
                    Step::Key("rules"),
                    Step::Index(ri),
                    Step::Key(k),
                ]
            };
            let field = |k: &str| format!("groups[{gi}].rules[{ri}].{k}");
            let expr = r.get("expr").and_then(Value::as_str).unwrap_or_default();
            if let Err(e) = promql::scale_expr(expr, 1.0) {
                src.error(
                    diags,
                    &path("expr"),
                    &field("expr"),
                    format!("invalid PromQL: {e}"),
                );
            }
            let Some(alert) = r.get("alert").and_then(Value::as_str) else {
                continue; // a recording rule
            };
            let for_ = match r.get("for") {
                None => Duration::ZERO,
                Some(v) => match v.as_str().and_then(parse_duration) {
                    Some(d) => d,
                    None => {
                        src.error(
                            diags,
                            &path("for"),
                            &field("for"),
                            format!("expected a duration like \"1m\", found {v:?}"),
                        );
                        Duration::ZERO
                    }
                },
            };
            let strings = |k: &str| -> BTreeMap<String, String> {
                r.get(k)
                    .and_then(Value::as_mapping)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar_string(v)?)))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            out.push(AlertRule {
                name: alert.to_string(),
                expr: expr.to_string(),
                for_,
                labels: strings("labels"),
                annotations: strings("annotations"),
                file: name.to_string(),
                group_interval: g
                    .get("interval")
                    .and_then(Value::as_str)
                    .and_then(parse_duration),
                pos: src.tree.locate(&path("alert")),
            });
        }
    }
    out
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
