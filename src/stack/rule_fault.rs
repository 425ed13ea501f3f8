//! `rule_evaluation_failing`: Prometheus starts failing to evaluate a rule,
//! as it does when a rule meets a query error at run time (here "found
//! duplicate series for the match group", the error of a join whose
//! right side stopped being unique). The harness adds a rule file with one
//! such rule to the rendered configuration of the Prometheus it started
//! and reloads it (SIGHUP); the revert restores the configuration and
//! reloads again. Prometheus' own `/api/v1/rules` is the evidence both
//! ways: the rule reported with `health: err`, then gone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

/// The rule group the fault adds; nothing else is named so.
pub const GROUP: &str = "zeta-bench-fault-rule-evaluation-failing";
/// Its rule file, beside the rendered `prometheus.yml`.
const FILE: &str = "zeta-bench-fault-rules.yml";

/// A recording rule whose evaluation fails while more than one target is
/// scraped (always, in a stack): `on()` matches every left series with
/// every right one.
const RULES: &str = "groups:
  - name: zeta-bench-fault-rule-evaluation-failing
    rules:
      - record: zeta_bench:fault:failing_join
        expr: up * on() group_left up
";

/// The rendered config with the fault's rule file added to `rule_files`
/// (`on`), or as it was rendered.
pub fn config_with_fault(rendered: &str, on: bool) -> anyhow::Result<String> {
    let mut cfg: serde_yaml::Value =
        serde_yaml::from_str(rendered).context("reading the rendered prometheus.yml")?;
    let map = cfg
        .as_mapping_mut()
        .context("the rendered prometheus.yml is not a mapping")?;
    let files = map
        .entry("rule_files".into())
        .or_insert_with(|| serde_yaml::Value::Sequence(Vec::new()));
    let Some(list) = files.as_sequence_mut() else {
        bail!("rule_files in the rendered prometheus.yml is not a list");
    };
    list.retain(|f| f.as_str() != Some(FILE));
    if on {
        list.push(FILE.into());
    }
    Ok(serde_yaml::to_string(&cfg)?)
}

/// Write (or remove) the fault's rule file and point the config at it.
pub fn write(config: &Path, on: bool) -> anyhow::Result<()> {
    let dir = config
        .parent()
        .context("the rendered prometheus.yml has no directory")?;
    let rules: PathBuf = dir.join(FILE);
    if on {
        std::fs::write(&rules, RULES).with_context(|| rules.display().to_string())?;
    }
    let text = std::fs::read_to_string(config).with_context(|| config.display().to_string())?;
    std::fs::write(config, config_with_fault(&text, on)?)
        .with_context(|| config.display().to_string())?;
    if !on {
        let _ = std::fs::remove_file(&rules);
    }
    Ok(())
}

/// The fault's rule as `/api/v1/rules` reports it: `Some(lastError)` when
/// it is there with `health: err`, `Some("")` when there but not (yet)
/// failing, `None` when absent.
pub fn state(body: &serde_json::Value) -> Option<String> {
    let groups = body["data"]["groups"].as_array()?;
    let g = groups.iter().find(|g| g["name"] == GROUP)?;
    let r = g["rules"].as_array()?.first()?;
    Some(if r["health"] == "err" {
        r["lastError"].as_str().unwrap_or("error").to_string()
    } else {
        String::new()
    })
}

/// Poll `/api/v1/rules` until the fault's rule fails (`on`) or is gone,
/// for at most `timeout`; returns what was seen.
pub async fn wait_for(
    prometheus: &crate::http::Endpoint,
    on: bool,
    timeout: Duration,
) -> anyhow::Result<String> {
    let http = crate::http::endpoint::client(Duration::from_secs(5))?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match crate::http::endpoint::json(
            prometheus.get(&http, "/api/v1/rules"),
            "/api/v1/rules",
        )
        .await
        {
            Ok((s, body)) if s.is_success() => match (state(&body), on) {
                (Some(err), true) if !err.is_empty() => {
                    return Ok(format!(
                        "Prometheus reported rule group {GROUP} failing: {err}"
                    ));
                }
                (None, false) => return Ok(format!("rule group {GROUP} gone from Prometheus")),
                (Some(e), _) if e.is_empty() => "the rule loaded, not failing yet".to_string(),
                (Some(_), _) => "the rule still loaded".to_string(),
                (None, _) => "the rule not loaded".to_string(),
            },
            Ok((s, _)) => format!("HTTP {s}"),
            Err(e) => e,
        };
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "waited {timeout:?} for Prometheus' /api/v1/rules to show rule group {GROUP} {}: last saw {last}",
                if on { "failing" } else { "gone" }
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_adds_its_rule_file_and_the_revert_takes_only_it_away() {
        let rendered = "rule_files:\n- alert-rules.yml\nglobal:\n  scrape_interval: 1s\n";
        let on = config_with_fault(rendered, true).unwrap();
        assert!(on.contains(FILE) && on.contains("alert-rules.yml"), "{on}");
        // Twice on is still once.
        let twice = config_with_fault(&on, true).unwrap();
        assert_eq!(twice.matches(FILE).count(), 1);
        let off = config_with_fault(&on, false).unwrap();
        assert!(
            !off.contains(FILE) && off.contains("alert-rules.yml"),
            "{off}"
        );
        assert!(config_with_fault("- a list", true).is_err());
    }

    #[test]
    fn the_rule_state_is_read_from_prometheus_answer() {
        let body = |health: &str| {
            serde_json::json!({"data": {"groups": [
                {"name": "zeta-critical", "rules": [{"health": "err", "lastError": "other"}]},
                {"name": GROUP, "rules": [{"health": health, "lastError": "found duplicate series for the match group {} on the right hand-side of the operation"}]}
            ]}})
        };
        assert!(
            state(&body("err"))
                .unwrap()
                .starts_with("found duplicate series")
        );
        assert_eq!(state(&body("ok")), Some(String::new()));
        assert_eq!(
            state(
                &serde_json::json!({"data": {"groups": [{"name": "zeta-critical", "rules": []}]}})
            ),
            None
        );
    }

    /// The rule is valid PromQL for the harness's own parser, so the
    /// reload accepts it and only its evaluation fails.
    #[test]
    fn the_rule_parses() {
        crate::stackfiles::prometheus::promql::parse("up * on() group_left up").unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(RULES).unwrap();
        assert_eq!(v["groups"][0]["name"].as_str(), Some(GROUP));
    }
}
