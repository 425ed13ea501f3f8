//! Rendering `prometheus/prometheus.yml` and its rule files for one run:
//! scrape targets and the Alertmanager target go to where each component
//! really listens (a target this run does not have is dropped and
//! reported); with time scale K, intervals, rule `for` and PromQL windows
//! are divided by K, and the flags a scaled run needs are returned.

use serde_yaml::{Mapping, Value};

use super::promql;
use crate::input::units::format_duration;
use crate::scenario::plan::scale;
use crate::stackfiles::files::{defaults, groups};
use crate::stackfiles::render::{
    DroppedTarget, RenderInput, Rendered, mapping_mut, scale_field, write_yaml,
};

pub fn render(input: &RenderInput<'_>, out: &mut Rendered) -> anyhow::Result<()> {
    let k = input.time_scale;
    // Only the config and its rule files are written (below): nothing else
    // beside them, such as the targets of `*_file` settings, is copied.
    let dir = input.out_dir.join("prometheus");

    let mut cfg = input.files.prometheus.clone();
    if !cfg.is_mapping() {
        cfg = Value::Mapping(Mapping::new());
    }
    let global = mapping_mut(&mut cfg, "global");
    scale_field(
        global,
        "scrape_interval",
        k,
        Some(defaults::SCRAPE_INTERVAL),
    );
    scale_field(global, "scrape_timeout", k, Some(defaults::SCRAPE_TIMEOUT));
    scale_field(
        global,
        "evaluation_interval",
        k,
        Some(defaults::EVALUATION_INTERVAL),
    );

    if let Some(jobs) = cfg
        .get_mut("scrape_configs")
        .and_then(Value::as_sequence_mut)
    {
        jobs.retain_mut(|job| render_job(job, input, out));
    }
    if let Some(ams) = cfg
        .get_mut("alerting")
        .and_then(|a| a.get_mut("alertmanagers"))
        .and_then(Value::as_sequence_mut)
    {
        for am in ams.iter_mut() {
            rewrite_static_targets(am, input, ("alertmanager", true), out);
        }
    }
    out.prometheus_config = dir.join("prometheus.yml");
    write_yaml(&out.prometheus_config, &cfg)?;

    for (name, file) in &input.files.rule_files {
        let mut file = file.clone();
        scale_rules(&mut file, k)?;
        write_yaml(&dir.join(name), &file)?;
    }

    let flag = |name: &str, d| format!("--{name}={}", format_duration(scale(d, k)));
    out.prometheus_flags = vec![
        flag("query.lookback-delta", defaults::LOOKBACK_DELTA),
        flag("rules.alert.resend-delay", defaults::RESEND_DELAY),
    ];
    Ok(())
}

/// Rewrite one scrape job; `false` drops it (no target of it runs here).
fn render_job(job: &mut Value, input: &RenderInput<'_>, out: &mut Rendered) -> bool {
    let k = input.time_scale;
    let name = job
        .get("job_name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    if let Some(m) = job.as_mapping_mut() {
        scale_field(m, "scrape_interval", k, None);
        scale_field(m, "scrape_timeout", k, None);
        let discovery: Vec<String> = m
            .keys()
            .filter_map(Value::as_str)
            .filter(|key| key.ends_with("_sd_configs"))
            .map(String::from)
            .collect();
        for key in discovery {
            m.remove(key.as_str());
            out.dropped_targets.push(DroppedTarget {
                job: name.clone(),
                target: key.clone(),
                reason: "service discovery is not available to this provider".into(),
            });
        }
    }
    rewrite_static_targets(job, input, (&name, false), out)
}

/// Where alerts for the Alertmanager at `addr` go when they take a path of
/// their own (see [`crate::stackfiles::render::ALERTING_ADDRESS`]).
fn alerting_address<'a>(input: &'a RenderInput<'_>, addr: &str) -> Option<&'a String> {
    (addr == "alertmanager:9093")
        .then(|| {
            input
                .addresses
                .get(crate::stackfiles::render::ALERTING_ADDRESS)
        })
        .flatten()
}

/// Map `static_configs[].targets` through the address map, dropping targets
/// that do not run here, for a scrape job or (`alerting`) the Alertmanagers
/// alerts go to. Returns whether any target is left.
fn rewrite_static_targets(
    v: &mut Value,
    input: &RenderInput<'_>,
    (job, alerting): (&str, bool),
    out: &mut Rendered,
) -> bool {
    let mut kept = 0;
    if let Some(statics) = v.get_mut("static_configs").and_then(Value::as_sequence_mut) {
        for sc in statics.iter_mut() {
            if let Some(targets) = sc.get_mut("targets").and_then(Value::as_sequence_mut) {
                targets.retain_mut(|t| {
                    let Some(addr) = t.as_str().map(String::from) else {
                        return false;
                    };
                    let own_path = alerting.then(|| alerting_address(input, &addr)).flatten();
                    match own_path.or_else(|| input.addresses.get(&addr)) {
                        Some(real) => {
                            *t = Value::String(real.clone());
                            if job != "alertmanager" {
                                out.scrape_targets.push((job.to_string(), real.clone()));
                            }
                            kept += 1;
                            true
                        }
                        None => {
                            out.dropped_targets.push(DroppedTarget {
                                job: job.to_string(),
                                target: addr,
                                reason: "not started by this provider".into(),
                            });
                            false
                        }
                    }
                });
            }
        }
        statics.retain(|sc| {
            sc.get("targets")
                .and_then(Value::as_sequence)
                .is_some_and(|t| !t.is_empty())
        });
    }
    kept > 0
}

/// Time-scale a rule file in place: group `interval`, rule `for` and
/// `keep_firing_for`, and every PromQL expression.
pub fn scale_rules(file: &mut Value, k: f64) -> anyhow::Result<()> {
    let n_groups = groups(file).count();
    for gi in 0..n_groups {
        let g = &mut file["groups"][gi];
        if let Some(m) = g.as_mapping_mut() {
            scale_field(m, "interval", k, None);
        }
        let Some(rules) = g.get_mut("rules").and_then(Value::as_sequence_mut) else {
            continue;
        };
        for r in rules.iter_mut() {
            let Some(m) = r.as_mapping_mut() else {
                continue;
            };
            scale_field(m, "for", k, None);
            scale_field(m, "keep_firing_for", k, None);
            if let Some(expr) = m.get("expr").and_then(Value::as_str) {
                let scaled = promql::scale_expr(expr, k)
                    .map_err(|e| anyhow::anyhow!("rule expression {expr:?}: {e}"))?;
                if k != 1.0 {
                    m.insert("expr".into(), Value::String(scaled));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stackfiles::render::{ALERTING_ADDRESS, AddressMap};

    fn rendered(addresses: &AddressMap) -> Value {
        let stack = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let files = crate::stackfiles::StackFiles::load(&stack).unwrap();
        let out_dir = tempfile::tempdir().unwrap();
        let input = RenderInput {
            files: &files,
            time_scale: 1.0,
            addresses,
            receiver_base: "http://127.0.0.1:1",
            out_dir: out_dir.path(),
        };
        let mut out = Rendered::default();
        render(&input, &mut out).unwrap();
        serde_yaml::from_str(&std::fs::read_to_string(&out.prometheus_config).unwrap()).unwrap()
    }

    fn targets(section: &Value) -> Vec<&str> {
        section["static_configs"][0]["targets"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect()
    }

    /// With a link of their own, alerts take it; Alertmanager is still
    /// scraped directly (a cut between Prometheus and Alertmanager is of
    /// the alerts' path only). Without one, both go direct.
    #[test]
    fn alerts_take_their_own_path_only_when_there_is_one() {
        let mut addresses = AddressMap::from([
            (
                "alertmanager:9093".to_string(),
                "127.0.0.1:9001".to_string(),
            ),
            ("localhost:9090".to_string(), "127.0.0.1:9002".to_string()),
        ]);
        let direct = rendered(&addresses);
        assert_eq!(
            targets(&direct["alerting"]["alertmanagers"][0]),
            ["127.0.0.1:9001"]
        );
        addresses.insert(ALERTING_ADDRESS.into(), "127.0.0.1:9003".into());
        let linked = rendered(&addresses);
        assert_eq!(
            targets(&linked["alerting"]["alertmanagers"][0]),
            ["127.0.0.1:9003"]
        );
        let scrape = linked["scrape_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == "alertmanager")
            .unwrap();
        assert_eq!(targets(scrape), ["127.0.0.1:9001"]);
    }
}
