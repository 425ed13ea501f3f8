//! What every component's renderer shares (each renderer lives with its
//! component, `stack/components/*/render.rs`).
//!
//! zeta-bench never keeps a second copy of the stack's configuration. The
//! renderers copy it and change only:
//! - addresses: scrape targets and the Alertmanager target → where each
//!   component really listens ([`AddressMap`]); Slack/PagerDuty/webhook
//!   URLs → the harness's receivers (secret files and keys are dropped,
//!   never copied);
//! - with time scale K ≠ 1, durations: Prometheus intervals, rule `for`,
//!   PromQL windows, Alertmanager timers, and the Prometheus flags
//!   `--query.lookback-delta` and `--rules.alert.resend-delay`.
//!
//! Defaults that the files leave implicit are written out scaled, since an
//! unscaled default (Alertmanager's 5 min `group_interval`) would dominate an
//! accelerated run ([`scale_field`]). Only files a config refers to are
//! copied beside it ([`copy_referenced`]).
//!
//! [`render`] renders Prometheus' and Alertmanager's configs together, for
//! the tests and tools that want both without starting anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::input::units::{format_duration, parse_duration};
use crate::scenario::plan::scale;

/// `host:port` as written in `stack/` (compose service names) → the
/// address the component really listens on in this run.
pub type AddressMap = BTreeMap<String, String>;

/// The address map's key for where Prometheus' `alerting` section sends,
/// when that is not where Alertmanager listens (a Toxiproxy link a fault
/// can cut). Absent, alerts go to `alertmanager:9093`'s address.
pub const ALERTING_ADDRESS: &str = "alertmanager:9093#alerting";

pub struct RenderInput<'a> {
    pub files: &'a super::files::StackFiles,
    pub time_scale: f64,
    pub addresses: &'a AddressMap,
    /// Base URL of the harness's notification receivers.
    pub receiver_base: &'a str,
    pub out_dir: &'a Path,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Rendered {
    #[serde(skip)]
    pub prometheus_config: PathBuf,
    #[serde(skip)]
    pub alertmanager_config: PathBuf,
    #[serde(skip)]
    pub prometheus_flags: Vec<String>,
    /// Scrape targets this run does not have, and why.
    pub dropped_targets: Vec<DroppedTarget>,
    /// Scrape targets kept, as (job, address).
    pub scrape_targets: Vec<(String, String)>,
    /// Notification integrations the harness cannot observe (email, …).
    pub unobserved_integrations: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct DroppedTarget {
    pub job: String,
    pub target: String,
    pub reason: String,
}

/// Prometheus' and Alertmanager's configs, rendered into `input.out_dir`.
pub fn render(input: &RenderInput<'_>) -> anyhow::Result<Rendered> {
    let mut out = Rendered::default();
    crate::stackfiles::prometheus::render::render(input, &mut out)?;
    crate::stackfiles::alertmanager::render(input, &mut out)?;
    Ok(out)
}

/// Scale the duration at `map[key]`, or write `default` scaled when the key
/// is absent and a default is given.
pub(crate) fn scale_field(map: &mut Mapping, key: &str, k: f64, default: Option<Duration>) {
    let current = map
        .get(key)
        .and_then(Value::as_str)
        .and_then(parse_duration)
        .or(default);
    if let Some(d) = current {
        map.insert(key.into(), Value::String(format_duration(scale(d, k))));
    }
}

pub(crate) fn mapping_mut<'v>(v: &'v mut Value, key: &str) -> &'v mut Mapping {
    let map = v.as_mapping_mut().expect("caller checked a mapping");
    let entry = map
        .entry(key.into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !entry.is_mapping() {
        *entry = Value::Mapping(Mapping::new());
    }
    entry.as_mapping_mut().expect("just made a mapping")
}

/// A YAML file of `stack/`, parsed; errors name the file.
pub(crate) fn read_yaml(path: &Path) -> anyhow::Result<Value> {
    let text = crate::input::read_bounded_text(path, crate::input::limits::STACK_FILE)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// [`read_yaml`], for a file whose top level must be a mapping.
pub(crate) fn read_yaml_mapping(path: &Path) -> anyhow::Result<Value> {
    let v = read_yaml(path)?;
    if !v.is_mapping() {
        anyhow::bail!("{}: expected a mapping at the top", path.display());
    }
    Ok(v)
}

pub(crate) fn write_yaml(path: &Path, value: &Value) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = format!(
        "# Rendered by zeta-bench from stack/ for one run. Do not edit: edit stack/.\n{}",
        serde_yaml::to_string(value)?
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Copy into `to` only the files of `from` that a rendered config refers
/// to: names relative to `from`, each either a plain path or a file-name
/// glob (`templates/*.tmpl`). Nothing else is copied, so a secret or a
/// `.env` that lies beside the configs never reaches a run directory (which
/// CI uploads as an artefact).
pub(crate) fn copy_referenced(from: &Path, to: &Path, names: &[String]) -> anyhow::Result<()> {
    use anyhow::Context;
    for name in names {
        let rel = Path::new(name);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            anyhow::bail!(
                "{}: {name:?} points outside {}; configs may refer only to files inside it",
                from.display(),
                from.display()
            );
        }
        let dir = rel.parent().unwrap_or(Path::new(""));
        let pattern = rel
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Ok(entries) = std::fs::read_dir(from.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            if !entry.file_type()?.is_file() || !glob_match(&pattern, &file) {
                continue;
            }
            let dest = to.join(dir).join(&file);
            std::fs::create_dir_all(dest.parent().unwrap_or(to))?;
            std::fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A file-name glob: `*` matches any run of characters, `?` one.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    #[test]
    fn only_referenced_files_are_copied() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("templates")).unwrap();
        for f in [
            "templates/a.tmpl",
            "templates/b.tmpl",
            "templates/key.pem",
            ".env",
            "secret.txt",
        ] {
            std::fs::write(from.path().join(f), "TOPSECRET").unwrap();
        }
        copy_referenced(from.path(), to.path(), &["templates/*.tmpl".into()]).unwrap();
        assert!(to.path().join("templates/a.tmpl").is_file());
        assert!(to.path().join("templates/b.tmpl").is_file());
        assert!(!to.path().join("templates/key.pem").exists());
        assert!(!to.path().join(".env").exists());
        assert!(!to.path().join("secret.txt").exists());
        let outside = copy_referenced(from.path(), to.path(), &["../x".into()]);
        assert!(outside.unwrap_err().to_string().contains("points outside"));
        assert!(glob_match("*.json", "a.json"));
        assert!(!glob_match("*.json", "a.json.bak"));
        assert!(glob_match("a?c*", "abcdef"));
    }
}
