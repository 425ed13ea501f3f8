//! Rendering the log shipper's config for one run: `loki/promtail-config.yml`
//! (Promtail) or `loki/config.alloy` (Grafana Alloy, its successor).
//!
//! In a run the services' logs are files (`logs/services/*.log`), so the
//! file job is kept and pointed at them, and Loki's push URL at this run's
//! Loki. Collection that cannot work here is dropped and reported, not
//! silently kept: Docker discovery (the mocks are not containers, and the
//! socket may not exist) and the syslog listener (a fixed port that two runs
//! would fight over, and nothing here logs to syslog). Everything else
//! (the JSON pipeline, labels, structured metadata) stays as written: it
//! decides whether the seed's LogQL queries find anything, so it is under
//! test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::stackfiles::render::{mapping_mut, write_yaml};

pub const PROMTAIL_CONFIG: &str = "loki/promtail-config.yml";
pub const ALLOY_CONFIG: &str = "loki/config.alloy";

/// A collection job the run leaves out, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct DroppedJob {
    pub job: String,
    pub reason: String,
}

/// A rendered shipper config.
#[derive(Debug, Clone)]
pub struct RenderedShipper {
    pub file: PathBuf,
    /// Collection left out, and why.
    pub dropped: Vec<DroppedJob>,
    /// Environment the config reads.
    pub env: Vec<(String, String)>,
}

/// Where the shipper reads and writes in one run.
pub struct ShipperInput<'a> {
    pub stack_dir: &'a Path,
    pub out_dir: &'a Path,
    /// The directory holding the services' JSON log files.
    pub service_logs: &'a Path,
    /// Loki's push endpoint, `http://…/loki/api/v1/push`.
    pub push_url: &'a str,
    pub data_dir: &'a Path,
    pub http_port: u16,
}

fn drop_reason(job: &Value) -> Option<&'static str> {
    let m = job.as_mapping()?;
    let has = |k: &str| m.contains_key(k);
    if m.keys()
        .filter_map(Value::as_str)
        .any(|k| k.ends_with("_sd_configs"))
    {
        Some("service discovery (the services of a run are processes writing log files)")
    } else if has("syslog") {
        Some(
            "a syslog listener on a fixed port (nothing in a run logs to syslog, and two runs would collide)",
        )
    } else if has("journal") {
        Some("the systemd journal (not a run's logs)")
    } else {
        None
    }
}

/// Render Promtail's config; returns the file and the jobs left out.
pub fn render_promtail(input: &ShipperInput<'_>) -> anyhow::Result<RenderedShipper> {
    let src = input.stack_dir.join(PROMTAIL_CONFIG);
    let mut cfg = crate::stackfiles::render::read_yaml_mapping(&src)?;
    let server = mapping_mut(&mut cfg, "server");
    server.insert("http_listen_address".into(), "127.0.0.1".into());
    server.insert("http_listen_port".into(), input.http_port.into());
    // 0: any free port (Promtail's gRPC server is not used here).
    server.insert("grpc_listen_address".into(), "127.0.0.1".into());
    server.insert("grpc_listen_port".into(), 0.into());
    mapping_mut(&mut cfg, "positions").insert(
        "filename".into(),
        input
            .data_dir
            .join("positions.yaml")
            .display()
            .to_string()
            .into(),
    );
    let mut client = serde_yaml::Mapping::new();
    client.insert("url".into(), input.push_url.into());
    cfg["clients"] = Value::Sequence(vec![Value::Mapping(client)]);

    let mut dropped = Vec::new();
    let mut kept = 0;
    if let Some(jobs) = cfg
        .get_mut("scrape_configs")
        .and_then(Value::as_sequence_mut)
    {
        jobs.retain_mut(|job| {
            let name = job["job_name"].as_str().unwrap_or("?").to_string();
            if let Some(reason) = drop_reason(job) {
                dropped.push(DroppedJob {
                    job: name,
                    reason: reason.into(),
                });
                return false;
            }
            let paths = point_paths_at(job, input.service_logs);
            kept += paths;
            if paths == 0 {
                dropped.push(DroppedJob {
                    job: name,
                    reason: "it reads no files (no __path__ label)".into(),
                });
            }
            paths > 0
        });
    }
    if kept == 0 {
        anyhow::bail!(
            "{}: no scrape job reads log files (a static_configs job with a __path__ label), so the services' logs could not reach Loki",
            src.display()
        );
    }
    let file = input.out_dir.join(PROMTAIL_CONFIG);
    write_yaml(&file, &cfg)?;
    Ok(RenderedShipper {
        file,
        dropped,
        env: Vec::new(),
    })
}

/// Point every `__path__` label of a job at the service logs, keeping the
/// file pattern (`*.log`); returns how many there were.
fn point_paths_at(job: &mut Value, dir: &Path) -> usize {
    let mut n = 0;
    if let Some(statics) = job
        .get_mut("static_configs")
        .and_then(Value::as_sequence_mut)
    {
        for sc in statics {
            if let Some(path) = sc.get_mut("labels").and_then(|l| l.get_mut("__path__")) {
                let pattern = path
                    .as_str()
                    .and_then(|p| p.rsplit('/').next())
                    .filter(|p| !p.is_empty())
                    .unwrap_or("*.log")
                    .to_string();
                *path = dir.join(pattern).display().to_string().into();
                n += 1;
            }
        }
    }
    n
}

/// Render Alloy's config; returns the file, the blocks left out, and the
/// environment it reads (`ZETA_LOG_DIR`, `LOKI_PUSH_URL`, which the shipped
/// file takes its paths and URL from).
pub fn render_alloy(input: &ShipperInput<'_>) -> anyhow::Result<RenderedShipper> {
    let src = input.stack_dir.join(ALLOY_CONFIG);
    let text = crate::input::read_bounded_text(&src, crate::input::limits::STACK_FILE)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", src.display()))?;
    let blocks = alloy::split(&text).map_err(|e| anyhow::anyhow!("{}: {e}", src.display()))?;
    let mut dropped: Vec<(String, &'static str)> = Vec::new();
    for b in &blocks {
        let reason = if b.body.contains("docker.sock") {
            Some("Docker discovery (the services of a run are processes writing log files)")
        } else if b.kind == "loki.source.syslog" {
            Some(
                "a syslog listener on a fixed port (nothing in a run logs to syslog, and two runs would collide)",
            )
        } else {
            None
        };
        if let Some(r) = reason {
            dropped.push((b.id(), r));
        }
    }
    // Blocks that read a dropped block's exports go too, transitively.
    loop {
        let before = dropped.len();
        for b in &blocks {
            let id = b.id();
            if dropped.iter().any(|(d, _)| *d == id) {
                continue;
            }
            if let Some((d, _)) = dropped
                .iter()
                .find(|(d, _)| b.body.contains(&format!("{d}.")))
            {
                let reason = if d.starts_with("discovery.docker") {
                    "Docker discovery (the services of a run are processes writing log files)"
                } else {
                    "it reads a block left out"
                };
                dropped.push((id, reason));
            }
        }
        if dropped.len() == before {
            break;
        }
    }
    let kept: String = blocks
        .iter()
        .filter(|b| !dropped.iter().any(|(d, _)| *d == b.id()))
        .map(|b| b.text.as_str())
        .collect();
    if !kept.contains("loki.source.file") {
        anyhow::bail!(
            "{}: no loki.source.file block, so the services' logs could not reach Loki",
            src.display()
        );
    }
    let out = input.out_dir.join(ALLOY_CONFIG);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        &out,
        format!(
            "// Rendered by zeta-bench from stack/ for one run. Do not edit: edit stack/.\n{kept}"
        ),
    )?;
    let env = vec![
        (
            "ZETA_LOG_DIR".to_string(),
            input.service_logs.display().to_string(),
        ),
        ("LOKI_PUSH_URL".to_string(), input.push_url.to_string()),
    ];
    Ok(RenderedShipper {
        file: out,
        dropped: dropped
            .into_iter()
            .map(|(job, reason)| DroppedJob {
                job,
                reason: reason.into(),
            })
            .collect(),
        env,
    })
}

/// Just enough of Alloy's configuration syntax to take a file apart into
/// its top-level blocks (with the comments before each), respecting
/// strings and comments, so that blocks can be left out whole.
mod alloy {
    #[derive(Debug)]
    pub(super) struct Block {
        /// `loki.source.file`
        pub(super) kind: String,
        /// `files` (the label, without quotes), or empty.
        pub(super) label: String,
        pub(super) body: String,
        /// Everything from the end of the previous block to the end of
        /// this one, comments included.
        pub(super) text: String,
    }

    impl Block {
        /// How other blocks refer to it: `loki.source.file.files`.
        pub(super) fn id(&self) -> String {
            if self.label.is_empty() {
                self.kind.clone()
            } else {
                format!("{}.{}", self.kind, self.label)
            }
        }
    }

    pub(super) fn split(text: &str) -> Result<Vec<Block>, String> {
        let bytes: Vec<char> = text.chars().collect();
        let mut blocks = Vec::new();
        let (mut depth, mut start, mut body_start) = (0usize, 0usize, None::<usize>);
        let mut i = 0;
        let mut line = 1;
        while i < bytes.len() {
            let c = bytes[i];
            match c {
                '\n' => line += 1,
                '/' if bytes.get(i + 1) == Some(&'/') => {
                    while i < bytes.len() && bytes[i] != '\n' {
                        i += 1;
                    }
                    continue;
                }
                '/' if bytes.get(i + 1) == Some(&'*') => {
                    i += 2;
                    while i + 1 < bytes.len() && !(bytes[i] == '*' && bytes[i + 1] == '/') {
                        if bytes[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    i += 2;
                    continue;
                }
                '"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != '"' {
                        if bytes[i] == '\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                // A raw string: no escapes, and it may span lines.
                '`' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != '`' {
                        if bytes[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
                '{' => {
                    if depth == 0 {
                        body_start = Some(i);
                    }
                    depth += 1;
                }
                '}' => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| format!("line {line}: unmatched '}}'"))?;
                    if depth == 0 {
                        let open = body_start.take().unwrap_or(i);
                        let chunk: String = bytes[start..=i].iter().collect();
                        let header: String = bytes[start..open].iter().collect();
                        let header = header
                            .lines()
                            .map(str::trim)
                            .rfind(|l| !l.is_empty() && !l.starts_with("//"))
                            .unwrap_or("")
                            .to_string();
                        let (kind, label) = match header.split_once('"') {
                            Some((k, rest)) => {
                                (k.trim().to_string(), rest.trim_end_matches('"').to_string())
                            }
                            None => (header.trim().to_string(), String::new()),
                        };
                        blocks.push(Block {
                            kind,
                            label,
                            body: bytes[open..=i].iter().collect(),
                            text: chunk,
                        });
                        start = i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if depth != 0 {
            return Err(format!("unclosed block at the end (depth {depth})"));
        }
        Ok(blocks)
    }
}

/// Labels Loki or every shipper adds to a stream by itself: the file a
/// line came from, and Loki 3's discovered service name and level.
const AUTOMATIC_LABELS: [&str; 3] = ["filename", "service_name", "detected_level"];

/// Every stream label the stack's log shippers (Promtail, Alloy) can give
/// a stream, with those Loki adds itself; `None` when that is not fully
/// known: no shipper config, one that does not read, or a `labelmap`
/// (labels made from other labels' names).
pub fn stream_labels(dir: &Path) -> Option<BTreeSet<String>> {
    let promtail = std::fs::read_to_string(dir.join(PROMTAIL_CONFIG)).ok();
    let alloy = std::fs::read_to_string(dir.join(ALLOY_CONFIG)).ok();
    if promtail.is_none() && alloy.is_none() {
        return None;
    }
    let mut out: BTreeSet<String> = AUTOMATIC_LABELS.iter().map(|s| s.to_string()).collect();
    if let Some(text) = promtail {
        let v: Value = serde_yaml::from_str(&text).ok()?;
        promtail_labels(&v, &mut out)?;
    }
    if let Some(text) = alloy {
        alloy_labels(&text, &mut out)?;
    }
    out.retain(|l| !l.starts_with("__"));
    Some(out)
}

/// Keys of `labels:` mappings (pipeline stages, static and listener
/// labels, `static_labels`) and every `target_label`; `None` at a
/// `labelmap`.
fn promtail_labels(v: &Value, out: &mut BTreeSet<String>) -> Option<()> {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    (Some("action"), Value::String(a)) if a == "labelmap" => return None,
                    (Some("labels" | "static_labels"), Value::Mapping(labels)) => {
                        out.extend(labels.keys().filter_map(|k| k.as_str().map(String::from)));
                    }
                    (Some("target_label"), Value::String(t)) => {
                        out.insert(t.clone());
                    }
                    _ => promtail_labels(x, out)?,
                }
            }
        }
        Value::Sequence(items) => {
            for x in items {
                promtail_labels(x, out)?;
            }
        }
        _ => {}
    }
    Some(())
}

/// The same from Alloy's syntax, read loosely: `target_label = "x"`, the
/// keys of `stage.labels`/`stage.static_labels` `values = {…}` and of
/// `labels = {…}`, and the non-internal keys of `path_targets`; `None` at a
/// `labelmap` or a `stage.label_*` it cannot follow.
fn alloy_labels(text: &str, out: &mut BTreeSet<String>) -> Option<()> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    if code.contains("\"labelmap\"") {
        return None;
    }
    let quoted = |rest: &str| -> Option<String> {
        let rest = rest
            .trim_start()
            .strip_prefix('=')?
            .trim_start()
            .strip_prefix('"')?;
        Some(rest.split('"').next()?.to_string())
    };
    for (i, _) in code.match_indices("target_label") {
        out.extend(quoted(&code[i + "target_label".len()..]));
    }
    // The maps whose keys are labels: `values = {…}` inside `stage.labels`
    // and `stage.static_labels`, `labels = {…}`, `path_targets = [{…}]`.
    let maps = regex::Regex::new(
        r#"(?s)(?:stage\.(?:static_)?labels\s*\{\s*values|\blabels|path_targets)\s*=\s*\[?\s*\{([^}]*)\}"#,
    )
    .expect("a valid pattern");
    for m in maps.captures_iter(&code) {
        for entry in m[1].split(',') {
            let key = entry
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.insert(key.to_string());
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod stream_label_tests {
    use super::*;

    #[test]
    fn the_shipped_shippers_give_the_seed_labels_and_no_others() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack/");
        let labels = stream_labels(&stack).unwrap();
        let want = [
            "compose_service",
            "container",
            "detected_level",
            "endpoint",
            "filename",
            "host",
            "job",
            "level",
            "service",
            "service_name",
            "tenant_id",
        ];
        assert_eq!(labels.iter().map(String::as_str).collect::<Vec<_>>(), want);
        // Alloy alone gives the same.
        let mut alloy = BTreeSet::new();
        alloy_labels(
            &std::fs::read_to_string(stack.join(ALLOY_CONFIG)).unwrap(),
            &mut alloy,
        )
        .unwrap();
        alloy.extend(AUTOMATIC_LABELS.iter().map(|s| s.to_string()));
        alloy.retain(|l| !l.starts_with("__"));
        assert_eq!(alloy, labels);
    }

    #[test]
    fn a_labelmap_makes_the_labels_unknown() {
        let v: Value = serde_yaml::from_str(
            "scrape_configs: [{relabel_configs: [{action: labelmap, regex: '__meta_(.*)'}]}]",
        )
        .unwrap();
        assert_eq!(promtail_labels(&v, &mut BTreeSet::new()), None);
        let alloy = r#"rule { action = "labelmap" regex = "x" }"#;
        assert_eq!(alloy_labels(alloy, &mut BTreeSet::new()), None);
        assert_eq!(stream_labels(Path::new("/nonexistent")), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(stack: &'a Path, out: &'a Path) -> ShipperInput<'a> {
        ShipperInput {
            stack_dir: stack,
            out_dir: out,
            service_logs: Path::new("/run/x/logs/services"),
            push_url: "http://127.0.0.1:41001/loki/api/v1/push",
            data_dir: Path::new("/run/x/data/promtail"),
            http_port: 41005,
        }
    }

    #[test]
    fn promtail_keeps_the_file_job_and_points_it_at_the_run() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let out = tempfile::tempdir().unwrap();
        let r = render_promtail(&input(&stack, out.path())).unwrap();
        let (file, dropped) = (r.file, r.dropped);
        let v: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(v["server"]["http_listen_port"], 41005);
        assert_eq!(
            v["clients"][0]["url"],
            "http://127.0.0.1:41001/loki/api/v1/push"
        );
        assert_eq!(
            v["positions"]["filename"],
            "/run/x/data/promtail/positions.yaml"
        );
        let jobs = v["scrape_configs"].as_sequence().unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0]["job_name"], "files");
        assert_eq!(
            jobs[0]["static_configs"][0]["labels"]["__path__"],
            "/run/x/logs/services/*.log"
        );
        // The pipeline that makes the seed's queries work is untouched.
        let stages = jobs[0]["pipeline_stages"].as_sequence().unwrap();
        assert!(stages.iter().any(|s| s.get("labels").is_some()));
        let names: Vec<&str> = dropped.iter().map(|d| d.job.as_str()).collect();
        assert_eq!(names, ["docker", "syslog"]);
        // No environment expansion is left for Promtail to do.
        assert!(!std::fs::read_to_string(&file).unwrap().contains("${"));
    }

    #[test]
    fn alloy_loses_docker_and_syslog_whole_and_keeps_the_file_pipeline() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let out = tempfile::tempdir().unwrap();
        let r = render_alloy(&input(&stack, out.path())).unwrap();
        let (file, dropped, env) = (r.file, r.dropped, r.env);
        let text = std::fs::read_to_string(&file).unwrap();
        for gone in [
            "discovery.docker",
            "loki.source.docker",
            "loki.source.syslog",
            "docker.sock",
            "1514",
        ] {
            assert!(!text.contains(gone), "{gone} left in:\n{text}");
        }
        for kept in [
            "local.file_match \"files\"",
            "loki.source.file \"files\"",
            "loki.process \"zeta\"",
            "loki.write \"loki\"",
            "stage.structured_metadata",
        ] {
            assert!(text.contains(kept), "{kept} missing:\n{text}");
        }
        let ids: Vec<&str> = dropped.iter().map(|d| d.job.as_str()).collect();
        assert!(ids.contains(&"discovery.docker.containers"), "{ids:?}");
        assert!(ids.contains(&"discovery.relabel.containers"), "{ids:?}");
        assert!(ids.contains(&"loki.source.docker.containers"), "{ids:?}");
        assert!(ids.contains(&"loki.source.syslog.syslog"), "{ids:?}");
        assert!(env.contains(&("ZETA_LOG_DIR".into(), "/run/x/logs/services".into())));
        // Balanced: what is left splits again into whole blocks.
        assert_eq!(alloy::split(&text).unwrap().len(), 5);
    }

    #[test]
    fn alloy_split_respects_strings_and_comments() {
        let text =
            "// a { comment\nx.y \"a\" {\n  s = \"}{\"\n  /* } */\n  inner { }\n}\nz.w { }\n";
        let b = alloy::split(text).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].id(), "x.y.a");
        assert_eq!(b[1].id(), "z.w");
        assert!(alloy::split("a {").unwrap_err().contains("unclosed"));
        // Backtick raw strings hold braces, quotes and backslashes as they are.
        let raw = "a.b {\n  re = `^\\d+{2}\"}`\n  t = `line\n}\nmore`\n}\nc.d { }\n";
        let b = alloy::split(raw).unwrap();
        assert_eq!(b.len(), 2, "{raw}");
        assert_eq!(b[1].id(), "c.d");
        assert!(alloy::split("}").unwrap_err().contains("line 1"));
    }
}
