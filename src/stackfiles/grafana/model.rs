//! Dashboard JSON → panels and their targets, for every schema in use:
//! the old `rows: [{panels}]` layout (schemaVersion < 16), the flat
//! `panels` list with `type: "row"` panels, and collapsed rows that keep
//! their children in the row's own `panels`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Which datasource a panel or target names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsRef {
    /// `{"type": …, "uid": …}` (current schema).
    Uid { uid: String, kind: Option<String> },
    /// A datasource name (old schema), or `"-- Mixed --"`.
    Name(String),
    /// A template variable such as `${datasource}`.
    Variable(String),
    /// Not given: the default datasource (or the panel's).
    Default,
}

impl DsRef {
    fn from_json(v: Option<&Value>) -> DsRef {
        match v {
            None | Some(Value::Null) => DsRef::Default,
            Some(Value::String(s)) if s.starts_with('$') => DsRef::Variable(var_name(s)),
            Some(Value::String(s)) => DsRef::Name(s.clone()),
            Some(Value::Object(o)) => {
                let uid = o.get("uid").and_then(Value::as_str).unwrap_or("");
                let kind = o.get("type").and_then(Value::as_str).map(String::from);
                if uid.starts_with('$') {
                    DsRef::Variable(var_name(uid))
                } else if uid.is_empty() {
                    DsRef::Default
                } else {
                    DsRef::Uid {
                        uid: uid.to_string(),
                        kind,
                    }
                }
            }
            Some(_) => DsRef::Default,
        }
    }

    pub fn is_mixed(&self) -> bool {
        matches!(self, DsRef::Name(n) if n == "-- Mixed --")
            || matches!(self, DsRef::Uid { uid, .. } if uid == "-- Mixed --")
    }
}

fn var_name(s: &str) -> String {
    s.trim_start_matches('$')
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(':')
        .next()
        .unwrap_or("")
        .to_string()
}

#[derive(Debug, Clone)]
pub struct Target {
    pub ref_id: String,
    /// PromQL or LogQL; empty for targets of other datasources.
    pub expr: String,
    pub datasource: DsRef,
    pub hidden: bool,
    pub instant: bool,
    /// Per-target minimum interval (`interval`), e.g. "30s".
    pub interval: Option<String>,
    /// The legend format (`legendFormat`), e.g. "{{tenant_id}}".
    pub legend: Option<String>,
    /// A Jaeger search target's service and operation (`service`,
    /// `operation`), where the target has them.
    pub trace_search: Option<TraceSearch>,
}

/// What a Jaeger datasource's search target asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSearch {
    pub service: String,
    pub operation: Option<String>,
}

fn trace_search(t: &Value) -> Option<TraceSearch> {
    let text = |k: &str| {
        t.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    Some(TraceSearch {
        service: text("service")?,
        operation: text("operation"),
    })
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub id: Option<i64>,
    pub title: String,
    pub kind: String,
    /// Width in grid columns (of 24).
    pub width: u32,
    pub datasource: DsRef,
    pub targets: Vec<Target>,
    /// Template variable the panel repeats over.
    pub repeat: Option<String>,
    /// Panel minimum interval (`interval`).
    pub interval: Option<String>,
    pub max_data_points: Option<u32>,
    /// Title of the row the panel sits in.
    pub row: Option<String>,
    /// The name of the library panel this refers to, when its queries are
    /// not in the file (they live in Grafana's database).
    pub library: Option<String>,
}

impl Panel {
    /// A full-width panel with nothing of its own: where a variable's
    /// query runs (Grafana gives it the dashboard's time range).
    pub fn dashboard_wide() -> Panel {
        Panel {
            id: None,
            title: String::new(),
            kind: String::new(),
            width: 24,
            datasource: DsRef::Default,
            targets: Vec::new(),
            repeat: None,
            interval: None,
            max_data_points: None,
            row: None,
            library: None,
        }
    }

    /// Panels that only arrange or show text run no query.
    pub fn runs_queries(&self) -> bool {
        !matches!(
            self.kind.as_str(),
            "row" | "text" | "dashlist" | "news" | "alertlist" | "annolist" | "welcome"
        )
    }

    /// The datasource a target really uses: its own, else the panel's.
    pub fn datasource_of<'a>(&'a self, t: &'a Target) -> &'a DsRef {
        match (&t.datasource, &self.datasource) {
            (DsRef::Default, p) => p,
            (t, _) => t,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub kind: String,
    /// Selected values (`$__all` when "All" is selected).
    pub current: Vec<String>,
    pub all_value: Option<String>,
    pub options: Vec<String>,
    /// For `datasource` variables: the plugin type they select from.
    pub query: String,
    /// For `query` variables: where the query runs.
    pub datasource: DsRef,
    /// For `adhoc` variables: the filters Grafana adds to every query of
    /// its datasource, as (label, operator, value).
    pub filters: Vec<(String, String, String)>,
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub file: PathBuf,
    pub uid: Option<String>,
    pub title: String,
    pub schema_version: u64,
    pub time_from: String,
    pub time_to: String,
    pub variables: Vec<Variable>,
    pub panels: Vec<Panel>,
    /// The enabled annotation queries (Grafana runs them with the panels
    /// on every load), each as a full-width panel of kind `annotation`
    /// with one target; Grafana's built-in annotations are not queries.
    pub annotations: Vec<Panel>,
}

impl Dashboard {
    pub fn targets(&self) -> impl Iterator<Item = (&Panel, &Target)> {
        self.panels
            .iter()
            .flat_map(|p| p.targets.iter().map(move |t| (p, t)))
    }
}

/// Where the dashboards are, in a stack directory.
pub const DASHBOARDS_DIR: &str = "grafana/dashboards";

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

pub fn load_dashboard(path: &Path) -> anyhow::Result<Dashboard> {
    let text = crate::input::read_bounded_text(path, crate::input::limits::DASHBOARD)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: invalid JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    parse_dashboard(path, &json)
}

pub fn parse_dashboard(path: &Path, root: &Value) -> anyhow::Result<Dashboard> {
    // Some exports wrap the model: {"dashboard": {...}, "meta": {...}}.
    let d = match root.get("dashboard") {
        Some(inner) if inner.is_object() => inner,
        _ => root,
    };
    if !d.is_object() {
        anyhow::bail!("{}: expected a dashboard object", path.display());
    }
    let mut panels = Vec::new();
    // An export "for sharing externally" carries its library panels here.
    let elements = d.get("__elements").filter(|e| e.is_object());
    if let Some(rows) = d.get("rows").and_then(Value::as_array) {
        for row in rows {
            let title = row.get("title").and_then(Value::as_str).map(String::from);
            for p in row
                .get("panels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                panels.push(panel(p, title.clone(), elements));
            }
        }
    }
    let mut current_row: Option<String> = None;
    for p in d
        .get("panels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if p.get("type").and_then(Value::as_str) == Some("row") {
            current_row = p.get("title").and_then(Value::as_str).map(String::from);
            for child in p
                .get("panels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                panels.push(panel(child, current_row.clone(), elements));
            }
        } else {
            panels.push(panel(p, current_row.clone(), elements));
        }
    }
    let variables = d
        .get("templating")
        .and_then(|t| t.get("list"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(variable)
        .collect();
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Dashboard {
        file: path.to_path_buf(),
        uid: d.get("uid").and_then(Value::as_str).map(String::from),
        title: s(d.get("title")),
        schema_version: d.get("schemaVersion").and_then(Value::as_u64).unwrap_or(0),
        time_from: d
            .pointer("/time/from")
            .and_then(Value::as_str)
            .unwrap_or("now-6h")
            .to_string(),
        time_to: d
            .pointer("/time/to")
            .and_then(Value::as_str)
            .unwrap_or("now")
            .to_string(),
        variables,
        panels,
        annotations: annotations(d),
    })
}

/// A panel as Grafana runs it. A library panel reference
/// (`libraryPanel: {uid, name}`) takes its queries from the export's
/// `__elements` when the file carries them; otherwise they live in
/// Grafana's database, and the panel is kept with no target and its name
/// in `library`.
fn panel(p: &Value, row: Option<String>, elements: Option<&Value>) -> Panel {
    let library = p.get("libraryPanel");
    let model = library
        .and_then(|l| l.get("uid"))
        .and_then(Value::as_str)
        .and_then(|uid| elements?.get(uid)?.get("model"))
        .filter(|m| m.is_object());
    // Where the queries, type and datasource are; the placement and
    // title are the reference's.
    let q = model.unwrap_or(p);
    let targets = q
        .get("targets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| Target {
            ref_id: t
                .get("refId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            // Prometheus and Loki both use `expr`.
            expr: t
                .get("expr")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            datasource: DsRef::from_json(t.get("datasource")),
            hidden: t.get("hide").and_then(Value::as_bool).unwrap_or(false),
            instant: t.get("instant").and_then(Value::as_bool).unwrap_or(false)
                && !t.get("range").and_then(Value::as_bool).unwrap_or(false),
            interval: t
                .get("interval")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            legend: t
                .get("legendFormat")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            trace_search: trace_search(t),
        })
        .collect();
    Panel {
        id: p.get("id").and_then(Value::as_i64),
        title: p
            .get("title")
            .or_else(|| q.get("title"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        kind: q
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        width: p
            .pointer("/gridPos/w")
            .and_then(Value::as_u64)
            .or_else(|| p.get("span").and_then(Value::as_u64).map(|s| s * 2))
            .unwrap_or(12) as u32,
        datasource: DsRef::from_json(q.get("datasource")),
        targets,
        repeat: q
            .get("repeat")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from),
        interval: q
            .get("interval")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from),
        max_data_points: q
            .get("maxDataPoints")
            .and_then(Value::as_u64)
            .map(|n| n as u32),
        row,
        library: match (library, model) {
            (Some(l), None) => Some(
                l.get("name")
                    .or_else(|| l.get("uid"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            _ => None,
        },
    }
}

/// The dashboard's annotation queries: `annotations.list` entries that are
/// enabled, not Grafana's built-in one, and carry a query (`expr`, or
/// `target.expr` as newer Grafana writes it). Their title and text
/// formats and tag keys name labels, as a legend does.
fn annotations(d: &Value) -> Vec<Panel> {
    let list = d.pointer("/annotations/list").and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter(|a| a.get("builtIn").and_then(Value::as_u64).unwrap_or(0) == 0)
        .filter(|a| a.get("enable").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|a| {
            let expr = a
                .get("expr")
                .or_else(|| a.pointer("/target/expr"))
                .and_then(Value::as_str)
                .filter(|e| !e.trim().is_empty())?;
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let tags: String = text("tagKeys")
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| format!("{{{{{k}}}}}"))
                .collect();
            let legend = [text("titleFormat"), text("textFormat"), tags].join(" ");
            let datasource = DsRef::from_json(a.get("datasource"));
            Some(Panel {
                title: text("name"),
                kind: "annotation".into(),
                datasource: datasource.clone(),
                interval: a
                    .get("step")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
                targets: vec![Target {
                    ref_id: "Anno".into(),
                    expr: expr.to_string(),
                    datasource,
                    hidden: false,
                    instant: false,
                    interval: None,
                    legend: Some(legend.trim().to_string()).filter(|l| !l.is_empty()),
                    trace_search: None,
                }],
                ..Panel::dashboard_wide()
            })
        })
        .collect()
}

fn variable(v: &Value) -> Variable {
    let strings = |x: Option<&Value>| -> Vec<String> {
        match x {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            _ => Vec::new(),
        }
    };
    let query = match v.get("query") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    };
    Variable {
        name: v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        kind: v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        current: strings(v.pointer("/current/value")),
        all_value: v
            .get("allValue")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from),
        options: v
            .get("options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("value").and_then(Value::as_str))
            .filter(|s| *s != "$__all")
            .map(String::from)
            .collect(),
        query,
        datasource: DsRef::from_json(v.get("datasource")),
        filters: v
            .get("filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let text = |k: &str| f.get(k).and_then(Value::as_str).map(String::from);
                Some((text("key")?, text("operator")?, text("value")?))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(d: Value) -> Dashboard {
        parse_dashboard(Path::new("d.json"), &d).unwrap()
    }

    #[test]
    fn a_library_panel_takes_its_queries_from_the_exports_elements() {
        let reference = json!({"id": 7, "title": "Errors (shared)", "gridPos": {"w": 8},
                               "libraryPanel": {"uid": "lib-errors", "name": "Errors"}});
        let model = json!({"type": "timeseries", "title": "Errors",
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "targets": [{"refId": "A", "expr": "sum(rate(http_requests_total[5m]))"}]});
        let exported = parse(json!({"title": "d", "panels": [reference.clone()],
            "__elements": {"lib-errors": {"uid": "lib-errors", "name": "Errors", "kind": 1, "model": model}}}));
        let p = &exported.panels[0];
        assert_eq!(p.title, "Errors (shared)");
        assert_eq!(p.kind, "timeseries");
        assert_eq!(p.width, 8);
        assert_eq!(p.targets[0].expr, "sum(rate(http_requests_total[5m]))");
        assert_eq!(p.library, None);
        // Provisioned from a file, the model is in Grafana's database.
        let provisioned = parse(json!({"title": "d", "panels": [reference]}));
        let p = &provisioned.panels[0];
        assert!(p.targets.is_empty());
        assert_eq!(p.library.as_deref(), Some("Errors"));
    }

    #[test]
    fn annotation_queries_are_the_enabled_ones_with_a_query() {
        let d = parse(json!({"title": "d", "annotations": {"list": [
            {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": true, "name": "Annotations & Alerts"},
            {"datasource": {"uid": "prometheus"}, "enable": true, "name": "Deploys", "expr": "changes(x[5m]) > 0",
             "titleFormat": "{{service}}", "tagKeys": "service, tenant_id", "step": "60s"},
            {"datasource": {"uid": "prometheus"}, "name": "New style", "target": {"expr": "up == 0", "refId": "Anno"}},
            {"datasource": {"uid": "prometheus"}, "enable": false, "name": "Off", "expr": "y > 0"},
            {"datasource": {"uid": "loki"}, "enable": true, "name": "Blank", "expr": " "}
        ]}}));
        let names: Vec<&str> = d.annotations.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(names, ["Deploys", "New style"]);
        let a = &d.annotations[0];
        assert_eq!(a.kind, "annotation");
        assert_eq!(a.interval.as_deref(), Some("60s"));
        assert_eq!(a.targets[0].expr, "changes(x[5m]) > 0");
        assert_eq!(
            a.targets[0].legend.as_deref(),
            Some("{{service}}  {{service}}{{tenant_id}}")
        );
        assert_eq!(d.annotations[1].targets[0].expr, "up == 0");
    }
}
