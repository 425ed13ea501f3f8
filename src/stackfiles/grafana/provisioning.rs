//! Grafana datasource provisioning (`provisioning/datasources.yml`): the
//! datasources dashboards may refer to.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Datasource {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, rename = "isDefault")]
    pub is_default: bool,
    #[serde(default, rename = "jsonData")]
    pub json_data: serde_yaml::Value,
}

impl Datasource {
    /// Grafana's `timeInterval`: the minimum step and scrape interval used
    /// for `$__interval` and `$__rate_interval`.
    pub fn time_interval(&self) -> Option<std::time::Duration> {
        self.json_data
            .get("timeInterval")
            .and_then(serde_yaml::Value::as_str)
            .and_then(crate::input::units::parse_duration)
    }
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    datasources: Vec<Datasource>,
}

/// Where the datasources are provisioned, in a stack directory.
pub const DATASOURCES_FILE: &str = "grafana/provisioning/datasources.yml";

pub fn load_datasources(path: &Path) -> anyhow::Result<Vec<Datasource>> {
    let text = crate::input::read_bounded_text(path, crate::input::limits::STACK_FILE)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let f: File =
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(f.datasources)
}
