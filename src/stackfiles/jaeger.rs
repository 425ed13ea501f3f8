//! Rendering `jaeger/jaeger-config.yml` (Jaeger v2, an OpenTelemetry
//! Collector distribution) for one run.
//!
//! Every listener (`endpoint: host:port` of receivers and extensions, and
//! the Prometheus reader of its own telemetry) moves to a free loopback
//! port, and the sampling-strategies file it names is copied beside the
//! rendered config. Pipelines, storage and sampling stay as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::stackfiles::render::write_yaml;

pub const JAEGER_CONFIG: &str = "jaeger/jaeger-config.yml";

/// The in-memory trace store's size the harness gives a Jaeger v1
/// (`--memory.max-traces`), as the shipped v2 configuration does.
pub const V1_MAX_TRACES: u64 = 100_000;

/// The most traces the stack's Jaeger keeps in memory: the `max_traces`
/// of a memory backend in `jaeger/jaeger-config.yml` (Jaeger v2), else
/// [`V1_MAX_TRACES`]. Older traces are evicted, so a long run's early
/// requests can no longer be found, traced or not.
pub fn memory_max_traces(stack_dir: &Path) -> u64 {
    let cfg = crate::stackfiles::render::read_yaml_mapping(&stack_dir.join(JAEGER_CONFIG)).ok();
    cfg.as_ref()
        .and_then(|c| {
            c.get("extensions")?
                .get("jaeger_storage")?
                .get("backends")?
                .as_mapping()
        })
        .and_then(|b| {
            b.values()
                .find_map(|v| v.get("memory")?.get("max_traces")?.as_u64())
        })
        .filter(|n| *n > 0)
        .unwrap_or(V1_MAX_TRACES)
}

/// The rendered file and where the parts the harness uses listen.
#[derive(Debug, Clone)]
pub struct RenderedJaeger {
    pub file: PathBuf,
    /// `extensions.jaeger_query.http.endpoint`: UI and query API.
    pub query: String,
    /// `receivers.otlp.protocols.http.endpoint`: where the services export.
    pub otlp_http: String,
    /// Jaeger's own metrics (`service.telemetry.metrics`), when configured.
    pub metrics: Option<String>,
    /// Where the remote sampling extension serves strategies over HTTP.
    pub sampling: Option<String>,
    /// The strategies file's default probability, for the services'
    /// `initialSamplingRate`: before their first answer they sample as
    /// Jaeger is about to tell them to.
    pub default_rate: Option<f64>,
}

/// Copies the strategies file `extensions.remote_sampling.file.path` names
/// beside the rendered config and points the path there; returns the
/// file's default probability.
fn copy_strategies(
    cfg: &mut Value,
    stack_dir: &Path,
    dir: &Path,
    src: &Path,
) -> anyhow::Result<Option<f64>> {
    let mut default_rate = None;
    if let Some(path) = cfg
        .get_mut("extensions")
        .and_then(|e| e.get_mut("remote_sampling"))
        .and_then(|r| r.get_mut("file"))
        .and_then(|f| f.get_mut("path"))
    {
        if let Some(file) = path
            .as_str()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().to_string())
        {
            // Only the strategies file the config names is copied.
            crate::stackfiles::render::copy_referenced(
                &stack_dir.join("jaeger"),
                dir,
                std::slice::from_ref(&file),
            )?;
            let name = dir.join(&file);
            if !name.is_file() {
                anyhow::bail!(
                    "{}: extensions.remote_sampling.file.path names {}, which is not in stack/jaeger/",
                    src.display(),
                    name.file_name().unwrap_or_default().to_string_lossy()
                );
            }
            default_rate = crate::input::read_bounded_text(&name, crate::input::limits::STACK_FILE)
                .ok()
                .and_then(|t| default_probability(&t));
            *path = name.display().to_string().into();
        }
    }
    Ok(default_rate)
}

/// `default_strategy` of a Jaeger strategies file, when it is
/// probabilistic with a probability in [0, 1].
pub fn default_probability(strategies: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(strategies).ok()?;
    let d = &v["default_strategy"];
    let rate = d["param"].as_f64()?;
    (d["type"] == "probabilistic" && (0.0..=1.0).contains(&rate)).then_some(rate)
}

pub fn render(
    stack_dir: &Path,
    out_dir: &Path,
    mut free_port: impl FnMut() -> std::io::Result<u16>,
) -> anyhow::Result<RenderedJaeger> {
    let src = stack_dir.join(JAEGER_CONFIG);
    let mut cfg = crate::stackfiles::render::read_yaml_mapping(&src)?;
    let dir = out_dir.join("jaeger");
    std::fs::create_dir_all(&dir)?;

    // One new port per original port, so that two listeners that shared
    // one still do.
    let mut moved: BTreeMap<u16, u16> = BTreeMap::new();
    let mut new_port = |orig: u16| -> std::io::Result<u16> {
        if let Some(p) = moved.get(&orig) {
            return Ok(*p);
        }
        let p = free_port()?;
        moved.insert(orig, p);
        Ok(p)
    };
    add_default_listeners(&mut cfg);
    move_endpoints(&mut cfg, &mut new_port)?;

    let mut metrics = None;
    if let Some(readers) = cfg
        .get_mut("service")
        .and_then(|s| s.get_mut("telemetry"))
        .and_then(|t| t.get_mut("metrics"))
        .and_then(|m| m.get_mut("readers"))
        .and_then(Value::as_sequence_mut)
    {
        for r in readers {
            if let Some(prom) = r
                .get_mut("pull")
                .and_then(|p| p.get_mut("exporter"))
                .and_then(|e| e.get_mut("prometheus"))
                .and_then(Value::as_mapping_mut)
            {
                let orig = prom
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(8888);
                let p = new_port(orig)?;
                prom.insert("host".into(), "127.0.0.1".into());
                prom.insert("port".into(), p.into());
                metrics = Some(format!("127.0.0.1:{p}"));
            }
        }
    }

    let default_rate = copy_strategies(&mut cfg, stack_dir, &dir, &src)?;

    // The query service traces itself by default, to an OTLP endpoint on
    // localhost:4317 that is not this run's (every listener moved): it
    // would retry there and hold shutdown up by seconds. Off, unless the
    // config says otherwise.
    if let Some(q) = cfg
        .get_mut("extensions")
        .and_then(|e| e.get_mut("jaeger_query"))
        .and_then(Value::as_mapping_mut)
    {
        q.entry("enable_tracing".into()).or_insert(false.into());
    }
    let endpoint = |path: &[&str]| -> Option<String> {
        let mut v = &cfg;
        for p in path {
            v = v.get(*p)?;
        }
        v.as_str().map(String::from)
    };
    let query = endpoint(&["extensions", "jaeger_query", "http", "endpoint"]).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: extensions.jaeger_query.http.endpoint is missing, so traces could not be looked up",
            src.display()
        )
    })?;
    let otlp_http = endpoint(&["receivers", "otlp", "protocols", "http", "endpoint"]).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: receivers.otlp.protocols.http.endpoint is missing, so the services (OTLP/HTTP) could not export to it",
            src.display()
        )
    })?;
    let sampling = endpoint(&["extensions", "remote_sampling", "http", "endpoint"]);
    let file = dir.join("jaeger-config.yml");
    write_yaml(&file, &cfg)?;
    Ok(RenderedJaeger {
        file,
        query,
        otlp_http,
        metrics,
        sampling,
        default_rate,
    })
}

/// Listeners Jaeger opens on a fixed default port when the config does not
/// name them (the query service's gRPC on 16685, remote sampling's gRPC on
/// 5779): written out here, so that they move to free ports too and two
/// runs at once do not collide on them.
fn add_default_listeners(cfg: &mut Value) {
    for (ext, port) in [("jaeger_query", 16685u16), ("remote_sampling", 5779)] {
        let Some(e) = cfg
            .get_mut("extensions")
            .and_then(|e| e.get_mut(ext))
            .and_then(Value::as_mapping_mut)
        else {
            continue;
        };
        let grpc = e
            .entry("grpc".into())
            .or_insert_with(|| Value::Mapping(Default::default()));
        if let Some(g) = grpc.as_mapping_mut() {
            g.entry("endpoint".into())
                .or_insert_with(|| format!("0.0.0.0:{port}").into());
        }
    }
}

/// Every `endpoint: host:port` → `127.0.0.1:<new port>`.
fn move_endpoints(
    v: &mut Value,
    new_port: &mut impl FnMut(u16) -> std::io::Result<u16>,
) -> std::io::Result<()> {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                let port = (k.as_str() == Some("endpoint"))
                    .then(|| v.as_str())
                    .flatten()
                    .and_then(|e| e.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse::<u16>().ok());
                match port {
                    Some(p) => *v = format!("127.0.0.1:{}", new_port(p)?).into(),
                    None => move_endpoints(v, new_port)?,
                }
            }
        }
        Value::Sequence(s) => {
            for v in s {
                move_endpoints(v, new_port)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_size_is_the_memory_backends_max_traces() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(memory_max_traces(dir.path()), V1_MAX_TRACES);
        std::fs::create_dir_all(dir.path().join("jaeger")).unwrap();
        let cfg = "extensions:\n  jaeger_storage:\n    backends:\n      some_store:\n        memory:\n          max_traces: 5000\n";
        std::fs::write(dir.path().join(JAEGER_CONFIG), cfg).unwrap();
        assert_eq!(memory_max_traces(dir.path()), 5000);
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        assert_eq!(memory_max_traces(&shipped), 100_000);
    }

    #[test]
    fn the_default_probability_of_a_strategies_file() {
        let production = r#"{ "default_strategy": { "type": "probabilistic", "param": 0.1 } }"#;
        assert_eq!(default_probability(production), Some(0.1));
        let limited = r#"{ "default_strategy": { "type": "ratelimiting", "param": 5 } }"#;
        assert_eq!(default_probability(limited), None);
        assert_eq!(default_probability(r#"{ "service_strategies": [] }"#), None);
        assert_eq!(default_probability("not json"), None);
    }

    #[test]
    fn every_listener_moves_and_the_sampling_file_comes_along() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let out = tempfile::tempdir().unwrap();
        let mut next = 42000;
        let r = render(&stack, out.path(), || {
            next += 1;
            Ok(next)
        })
        .unwrap();
        let text = std::fs::read_to_string(&r.file).unwrap();
        for fixed in [
            "16686", "16685", "4317", "4318", "6831", "6832", "14268", "13133", "5778", "5779",
            "8888", "0.0.0.0",
        ] {
            assert!(!text.contains(fixed), "{fixed} left in:\n{text}");
        }
        assert!(r.query.starts_with("127.0.0.1:420"), "{}", r.query);
        assert!(r.otlp_http.starts_with("127.0.0.1:420"));
        assert_ne!(r.query, r.otlp_http);
        assert!(r.metrics.is_some());
        let v: Value = serde_yaml::from_str(&text).unwrap();
        // Listeners Jaeger would open on default ports are written out
        // and moved; its self-tracing is off.
        for ext in ["jaeger_query", "remote_sampling"] {
            let e = v["extensions"][ext]["grpc"]["endpoint"].as_str().unwrap();
            assert!(e.starts_with("127.0.0.1:420"), "{ext}: {e}");
        }
        assert_eq!(v["extensions"]["jaeger_query"]["enable_tracing"], false);
        assert!(r.sampling.as_deref().unwrap().starts_with("127.0.0.1:420"));
        let sampling = v["extensions"]["remote_sampling"]["file"]["path"]
            .as_str()
            .unwrap();
        assert!(Path::new(sampling).is_file(), "{sampling}");
        assert!(sampling.starts_with(&out.path().display().to_string()));
        // Storage and pipelines as written.
        assert_eq!(
            v["service"]["pipelines"]["traces"]["exporters"][0],
            "jaeger_storage_exporter"
        );
        assert_eq!(
            v["extensions"]["jaeger_storage"]["backends"]["memstore"]["memory"]["max_traces"],
            100000
        );
    }
}
