//! Rendering `loki/loki-config.yml` for one run.
//!
//! Only what ties the file to one machine changes: the HTTP and gRPC
//! listeners move to free loopback ports, memberlist (which Loki binds even
//! with an in-memory ring) to a free port of its own so that two runs never
//! gossip with each other, and every path under the file's `/loki` prefix
//! into the run's data directory. Retention, limits and the schema stay as
//! written: they are what is under test.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::stackfiles::render::{mapping_mut, write_yaml};

pub const LOKI_CONFIG: &str = "loki/loki-config.yml";

/// Where one run's Loki listens.
#[derive(Debug, Clone, Copy)]
pub struct LokiPorts {
    pub http: u16,
    pub grpc: u16,
    pub memberlist: u16,
}

/// Render `stack/loki/loki-config.yml` into `out_dir/loki/loki-config.yml`
/// with its data under `data_dir`; returns the rendered file.
pub fn render(
    stack_dir: &Path,
    out_dir: &Path,
    data_dir: &Path,
    ports: LokiPorts,
) -> anyhow::Result<PathBuf> {
    let src = stack_dir.join(LOKI_CONFIG);
    let text = crate::input::read_bounded_text(&src, crate::input::limits::STACK_FILE)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", src.display()))?;
    let mut cfg: Value =
        serde_yaml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", src.display()))?;
    if !cfg.is_mapping() {
        anyhow::bail!("{}: expected a mapping at the top", src.display());
    }
    let prefix = cfg
        .get("common")
        .and_then(|c| c.get("path_prefix"))
        .and_then(Value::as_str)
        .unwrap_or("/loki")
        .trim_end_matches('/')
        .to_string();
    relocate_paths(&mut cfg, &prefix, data_dir);
    let common = mapping_mut(&mut cfg, "common");
    common.insert("path_prefix".into(), data_dir.display().to_string().into());
    common.insert("instance_addr".into(), "127.0.0.1".into());

    let server = mapping_mut(&mut cfg, "server");
    set(server, "http_listen_address", "127.0.0.1");
    set(server, "http_listen_port", ports.http);
    set(server, "grpc_listen_address", "127.0.0.1");
    set(server, "grpc_listen_port", ports.grpc);

    let memberlist = mapping_mut(&mut cfg, "memberlist");
    memberlist.insert(
        "bind_addr".into(),
        Value::Sequence(vec!["127.0.0.1".into()]),
    );
    set(memberlist, "bind_port", ports.memberlist);

    let out = out_dir.join(LOKI_CONFIG);
    write_yaml(&out, &cfg)?;
    Ok(out)
}

fn set(map: &mut Mapping, key: &str, value: impl Into<Value>) {
    map.insert(key.into(), value.into());
}

/// Every string that is `prefix` or starts with `prefix/` → the same path
/// under `data_dir`.
fn relocate_paths(v: &mut Value, prefix: &str, data_dir: &Path) {
    match v {
        Value::String(s) => {
            if s == prefix {
                *s = data_dir.display().to_string();
            } else if let Some(rest) = s.strip_prefix(&format!("{prefix}/")) {
                *s = data_dir.join(rest).display().to_string();
            }
        }
        Value::Mapping(m) => m
            .iter_mut()
            .for_each(|(_, v)| relocate_paths(v, prefix, data_dir)),
        Value::Sequence(s) => s
            .iter_mut()
            .for_each(|v| relocate_paths(v, prefix, data_dir)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_moves_to_free_ports_and_the_run_directory() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let out = tempfile::tempdir().unwrap();
        let data = out.path().join("data/loki");
        let file = render(
            &stack,
            out.path(),
            &data,
            LokiPorts {
                http: 41001,
                grpc: 41002,
                memberlist: 41003,
            },
        )
        .unwrap();
        let v: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(v["server"]["http_listen_port"], 41001);
        assert_eq!(v["server"]["grpc_listen_port"], 41002);
        assert_eq!(v["server"]["http_listen_address"], "127.0.0.1");
        assert_eq!(v["memberlist"]["bind_port"], 41003);
        let d = data.display().to_string();
        assert_eq!(v["common"]["path_prefix"], d.as_str());
        assert_eq!(
            v["common"]["storage"]["filesystem"]["chunks_directory"],
            format!("{d}/chunks").as_str()
        );
        assert_eq!(
            v["compactor"]["working_directory"],
            format!("{d}/compactor").as_str()
        );
        // What is under test stays as written.
        assert_eq!(v["limits_config"]["retention_period"], "168h");
        assert_eq!(v["schema_config"]["configs"][0]["schema"], "v13");
        // No path is left outside the run directory.
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(": /loki"), "{text}");
    }
}
