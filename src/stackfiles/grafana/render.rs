//! Rendering Grafana's provisioning (`grafana/provisioning/*.yml`) and
//! dashboards for one run.
//!
//! Grafana reads provisioning from a directory with one subdirectory per
//! kind (`datasources/`, `dashboards/`); the files are copied there with
//! only addresses changed: datasource URLs go to where Prometheus, Loki and
//! Jaeger really listen, and the dashboard provider's path to the run's
//! copy of `grafana/dashboards`. A Prometheus datasource's `timeInterval`
//! (which must equal the scrape interval, since `$__rate_interval` derives
//! from it) is time-scaled with the scrape interval.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::input::units::{format_duration, parse_duration};
use crate::scenario::plan::scale;
use crate::stackfiles::render::{AddressMap, write_yaml};

pub const DASHBOARD_PROVIDERS_FILE: &str = "grafana/provisioning/dashboards.yml";

#[derive(Debug, Clone)]
pub struct RenderedGrafana {
    /// `GF_PATHS_PROVISIONING`.
    pub provisioning: PathBuf,
    pub dashboards: PathBuf,
    /// Datasources whose component does not run here (name, address), so
    /// that their panels fail visibly rather than mysteriously.
    pub unreachable: Vec<(String, String)>,
}

pub fn render(
    stack_dir: &Path,
    out_dir: &Path,
    addresses: &AddressMap,
    time_scale: f64,
) -> anyhow::Result<RenderedGrafana> {
    let base = out_dir.join("grafana");
    let dashboards = base.join("dashboards");
    // Dashboards only: JSON files, the provider's own format.
    crate::stackfiles::render::copy_referenced(
        &stack_dir.join(super::model::DASHBOARDS_DIR),
        &dashboards,
        &["*.json".to_string()],
    )?;
    let provisioning = base.join("provisioning");
    // Grafana warns about, but tolerates, missing kinds; create them all.
    for kind in ["datasources", "dashboards", "plugins", "alerting"] {
        std::fs::create_dir_all(provisioning.join(kind))?;
    }

    let read = |rel: &str| crate::stackfiles::render::read_yaml_mapping(&stack_dir.join(rel));

    let mut unreachable = Vec::new();
    let mut sources = read(super::provisioning::DATASOURCES_FILE)?;
    if let Some(list) = sources
        .get_mut("datasources")
        .and_then(Value::as_sequence_mut)
    {
        for ds in list {
            let name = ds["name"].as_str().unwrap_or("?").to_string();
            if let Some(url) = ds.get_mut("url") {
                if let Some(u) = url.as_str() {
                    match rewrite_url(u, addresses) {
                        Ok(new) => *url = new.into(),
                        Err(addr) => unreachable.push((name.clone(), addr)),
                    }
                }
            }
            if ds["type"] == "prometheus" {
                if let Some(interval) = ds
                    .get_mut("jsonData")
                    .and_then(|j| j.get_mut("timeInterval"))
                {
                    if let Some(d) = interval.as_str().and_then(parse_duration) {
                        *interval = format_duration(scale(d, time_scale)).into();
                    }
                }
            }
        }
    }
    write_yaml(&provisioning.join("datasources/datasources.yml"), &sources)?;

    let mut providers = read(DASHBOARD_PROVIDERS_FILE)?;
    if let Some(list) = providers
        .get_mut("providers")
        .and_then(Value::as_sequence_mut)
    {
        for p in list {
            if let Some(path) = p.get_mut("options").and_then(|o| o.get_mut("path")) {
                *path = dashboards.display().to_string().into();
            }
        }
    }
    write_yaml(&provisioning.join("dashboards/dashboards.yml"), &providers)?;
    Ok(RenderedGrafana {
        provisioning,
        dashboards,
        unreachable,
    })
}

/// `http://prometheus:9090/x` → `http://127.0.0.1:40123/x` through the
/// address map; `Err(host:port)` when that address does not run here.
fn rewrite_url(url: &str, addresses: &AddressMap) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(url.to_string());
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match addresses.get(hostport) {
        Some(real) => Ok(format!("{scheme}://{real}{path}")),
        None => Err(hostport.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasources_follow_the_address_map_and_the_time_scale() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let out = tempfile::tempdir().unwrap();
        let mut addresses = AddressMap::new();
        addresses.insert("prometheus:9090".into(), "127.0.0.1:41090".into());
        addresses.insert("loki:3100".into(), "127.0.0.1:41100".into());
        let r = render(&stack, out.path(), &addresses, 15.0).unwrap();
        let ds: Value = serde_yaml::from_str(
            &std::fs::read_to_string(r.provisioning.join("datasources/datasources.yml")).unwrap(),
        )
        .unwrap();
        let by_uid = |uid: &str| {
            ds["datasources"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|d| d["uid"] == uid)
                .unwrap()
                .clone()
        };
        assert_eq!(by_uid("prometheus")["url"], "http://127.0.0.1:41090");
        assert_eq!(by_uid("loki")["url"], "http://127.0.0.1:41100");
        // 15 s scrape interval at 15x: 1 s.
        assert_eq!(by_uid("prometheus")["jsonData"]["timeInterval"], "1s");
        // Jaeger does not run: named, left as written.
        assert_eq!(
            r.unreachable,
            vec![("Jaeger".to_string(), "jaeger:16686".to_string())]
        );
        let providers: Value = serde_yaml::from_str(
            &std::fs::read_to_string(r.provisioning.join("dashboards/dashboards.yml")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            providers["providers"][0]["options"]["path"],
            r.dashboards.display().to_string().as_str()
        );
        assert!(r.dashboards.join("api-performance.json").is_file());
        assert!(r.provisioning.join("plugins").is_dir());
    }

    #[test]
    fn urls_keep_their_scheme_and_path() {
        let mut m = AddressMap::new();
        m.insert("a:1".into(), "127.0.0.1:9".into());
        assert_eq!(
            rewrite_url("https://a:1/p/q", &m).unwrap(),
            "https://127.0.0.1:9/p/q"
        );
        assert_eq!(rewrite_url("http://b:2", &m).unwrap_err(), "b:2");
    }
}
