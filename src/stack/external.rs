//! The external provider: a stack that already runs (staging, a game-day
//! environment), reached by URL. Nothing is started or stopped; faults are
//! limited to the mock services' knobs (`/admin/faults`), which the
//! scenario decoder enforces before anything runs.
//!
//! URLs come from `stack.urls` in the scenario, overridden by
//! `ZETA_<NAME>_URL` (`ZETA_BACKEND_API_URL`, …) so that one scenario serves
//! several environments; credentials only from `ZETA_<NAME>_TOKEN` or
//! `ZETA_<NAME>_USER`/`_PASSWORD` (see [`crate::http::endpoint`]).
//! Prometheus, Alertmanager and backend-api are required; ml-engine,
//! Grafana, Loki and Jaeger are used when given.
//!
//! Each component must answer its readiness check within
//! [`READY_TIMEOUT`]; the run stops with exit 3 naming the first that does
//! not, and what it answered.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;

use super::{ComponentInfo, ProviderDecision, Stack};
use crate::http::endpoint::{self, Endpoint};
use crate::scenario::{EXTERNAL_COMPONENTS, StackRef};

/// How long each component has to answer its readiness check.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

const REQUIRED: &[&str] = &["prometheus", "alertmanager", "backend-api"];

/// Scenario URLs, overridden by the environment.
pub fn resolve_urls(
    stack: &StackRef,
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut urls: BTreeMap<String, String> = stack
        .urls
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    for name in EXTERNAL_COMPONENTS {
        let key = format!("ZETA_{}_URL", name.to_uppercase().replace('-', "_"));
        if let Some(u) = env(&key).filter(|u| !u.is_empty()) {
            urls.insert(name.to_string(), u);
        }
    }
    urls
}

/// The path that says a component is ready, and how to read its version.
fn readiness(name: &str) -> &'static str {
    match name {
        "prometheus" | "alertmanager" => "/-/ready",
        "grafana" => "/api/health",
        "loki" => "/ready",
        "jaeger" => "/",
        _ => "/health",
    }
}

async fn wait_ready(http: &reqwest::Client, name: &str, ep: &Endpoint) -> anyhow::Result<()> {
    let path = readiness(name);
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut last;
    loop {
        last = match ep.get(http, path).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                format!("HTTP {status}: {}", endpoint::snippet(&body))
            }
            Err(e) => crate::http::http_error(&e),
        };
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "{name} at {} was not ready after {READY_TIMEOUT:?} (GET {path}); last answer: {last}",
                ep.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The version a component reports about itself, where it has an API for it.
async fn version(http: &reqwest::Client, name: &str, ep: &Endpoint) -> Option<String> {
    let (path, pick): (&str, fn(&serde_json::Value) -> Option<&str>) = match name {
        "prometheus" => ("/api/v1/status/buildinfo", |v| {
            v["data"]["version"].as_str()
        }),
        "alertmanager" => ("/api/v2/status", |v| v["versionInfo"]["version"].as_str()),
        "grafana" => ("/api/health", |v| v["version"].as_str()),
        _ => return None,
    };
    let (status, body) = endpoint::json(ep.get(http, path), path).await.ok()?;
    status
        .is_success()
        .then(|| pick(&body).map(String::from))
        .flatten()
}

pub async fn start(
    decision: ProviderDecision,
    stack: &StackRef,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> anyhow::Result<Stack> {
    let urls = resolve_urls(stack, env);
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|n| !urls.contains_key(*n))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the external provider needs the URLs of {}: set stack.urls.{} in the scenario or {}",
            missing.join(", "),
            missing[0],
            missing
                .iter()
                .map(|n| format!("ZETA_{}_URL", n.to_uppercase().replace('-', "_")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let http = endpoint::client(Duration::from_secs(5))?;
    let mut endpoints: BTreeMap<String, Endpoint> = BTreeMap::new();
    let mut components = Vec::new();
    for (name, url) in &urls {
        let ep = Endpoint::with_env_auth(url, name, env);
        wait_ready(&http, name, &ep).await?;
        components.push(ComponentInfo {
            name: name.clone(),
            version: version(&http, name, &ep).await,
            url: ep.display(),
            log: "(external: not collected)".into(),
        });
        endpoints.insert(name.clone(), ep);
    }
    let services: BTreeMap<String, String> = ["backend-api", "ml-engine"]
        .into_iter()
        .filter_map(|n| {
            urls.get(n)
                .map(|u| (n.to_string(), u.trim_end_matches('/').to_string()))
        })
        .collect();
    let not_started = ["ml-engine", "grafana", "loki", "jaeger"]
        .into_iter()
        .filter(|n| !urls.contains_key(*n))
        .map(|n| {
            format!(
                "{n}: no URL given (stack.urls.{n} or ZETA_{}_URL)",
                n.to_uppercase().replace('-', "_")
            )
        })
        .collect();
    let absent = [
        ("grafana", "Grafana", "grafana"),
        ("loki", "Loki", "loki"),
        ("jaeger", "Jaeger", "jaeger"),
    ]
    .into_iter()
    .filter(|(n, _, _)| !urls.contains_key(*n))
    .map(|(n, title, key)| {
        (
            n.to_string(),
            format!(
                "the external stack has no {title} URL (stack.urls.{key} or ZETA_{}_URL)",
                key.to_uppercase()
            ),
        )
    })
    .collect();
    let take = |n: &str| endpoints.get(n).cloned();
    Ok(Stack {
        provider: decision,
        components,
        prometheus_url: urls["prometheus"].trim_end_matches('/').to_string(),
        alertmanager_url: urls["alertmanager"].trim_end_matches('/').to_string(),
        prometheus: take("prometheus").expect("required"),
        alertmanager: take("alertmanager").expect("required"),
        grafana: take("grafana"),
        loki: take("loki"),
        jaeger: take("jaeger"),
        services,
        rendered: Default::default(),
        not_started,
        missing: BTreeMap::new(),
        absent,
        backend: None,
        admin_token: std::env::var("ZETA_ADMIN_TOKEN").ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Located;

    fn stack(urls: &[(&str, &str)]) -> StackRef {
        StackRef {
            dir: Located::new("stack".into(), Default::default(), "stack.dir"),
            provider: Located::new(
                crate::scenario::ProviderChoice::External,
                Default::default(),
                "stack.provider",
            ),
            time_scale: Located::new(1.0, Default::default(), "stack.time_scale"),
            urls: urls
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        Located::new(v.to_string(), Default::default(), "u"),
                    )
                })
                .collect(),
            receivers: None,
            binaries: Vec::new(),
            allow_absent: Vec::new(),
        }
    }

    #[test]
    fn the_environment_overrides_the_scenario() {
        let s = stack(&[("prometheus", "http://a:9090"), ("loki", "http://l:3100")]);
        let urls = resolve_urls(&s, |k| {
            (k == "ZETA_PROMETHEUS_URL").then(|| "http://b:9090".into())
        });
        assert_eq!(urls["prometheus"], "http://b:9090");
        assert_eq!(urls["loki"], "http://l:3100");
        let urls = resolve_urls(&s, |k| {
            (k == "ZETA_BACKEND_API_URL").then(|| "http://api".into())
        });
        assert_eq!(urls["backend-api"], "http://api");
    }

    #[tokio::test]
    async fn missing_required_urls_are_named_with_their_variables() {
        let e = start(
            ProviderDecision {
                name: crate::stack::Provider::External,
                reason: "test".into(),
            },
            &stack(&[("prometheus", "http://127.0.0.1:1")]),
            |_| None,
        )
        .await
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("alertmanager, backend-api"), "{e}");
        assert!(
            e.contains("ZETA_ALERTMANAGER_URL, ZETA_BACKEND_API_URL"),
            "{e}"
        );
    }
}

/// The timers a running stack is configured with, read from its own
/// APIs: what an external stack's time scale must match.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTimers {
    pub scrape: Duration,
    pub evaluation: Duration,
    /// The root route's (group_wait, group_interval), where Alertmanager
    /// showed its config.
    pub route: Option<(Duration, Duration)>,
}

/// The largest config either API may return (a real one is a few KB).
const MAX_CONFIG: usize = 4 << 20;

/// Prometheus' `/api/v1/status/config` and Alertmanager's `/api/v2/status`.
pub async fn live_timers(
    prometheus: &Endpoint,
    alertmanager: &Endpoint,
) -> Result<LiveTimers, String> {
    let http = endpoint::client(Duration::from_secs(10)).map_err(|e| format!("{e:#}"))?;
    let path = "/api/v1/status/config";
    let (_, body) = endpoint::json(prometheus.get(&http, path), path)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let prom = config_yaml(body["data"]["yaml"].as_str(), "Prometheus", path)?;
    let path = "/api/v2/status";
    let route = match endpoint::json(alertmanager.get(&http, path), path).await {
        Ok((_, body)) => config_yaml(body["config"]["original"].as_str(), "Alertmanager", path)
            .ok()
            .map(|am| crate::stack::files::root_route_timers_of(&am)),
        Err(_) => None,
    };
    Ok(LiveTimers {
        scrape: crate::stack::files::scrape_interval_of(&prom),
        evaluation: crate::stack::files::evaluation_interval_of(&prom),
        route,
    })
}

fn config_yaml(text: Option<&str>, who: &str, path: &str) -> Result<serde_yaml::Value, String> {
    let text = text.ok_or_else(|| format!("{who}'s {path} has no config in its answer"))?;
    if text.len() > MAX_CONFIG {
        return Err(format!("{who}'s config is over {MAX_CONFIG} bytes"));
    }
    serde_yaml::from_str(text)
        .map_err(|e| format!("{who}'s config from {path} does not parse: {e}"))
}

/// Each timer of the live stack that is not the stack files' value ÷ K
/// (10 % or 50 ms either way), in words. A run would otherwise multiply
/// wall time by K for a stack that does not run K times faster.
pub fn time_scale_mismatches(
    files: &crate::stack::StackFiles,
    k: f64,
    live: &LiveTimers,
) -> Vec<String> {
    use crate::input::units::human_duration;
    let (gw, gi) = files.root_route_timers();
    let mut checks = vec![
        (
            "Prometheus",
            "global.scrape_interval",
            files.scrape_interval(),
            live.scrape,
            "prometheus/prometheus.yml",
        ),
        (
            "Prometheus",
            "global.evaluation_interval",
            files.evaluation_interval(),
            live.evaluation,
            "prometheus/prometheus.yml",
        ),
    ];
    if let Some((lgw, lgi)) = live.route {
        checks.push((
            "Alertmanager",
            "route.group_wait",
            gw,
            lgw,
            "alertmanager/alertmanager.yml",
        ));
        checks.push((
            "Alertmanager",
            "route.group_interval",
            gi,
            lgi,
            "alertmanager/alertmanager.yml",
        ));
    }
    checks
        .into_iter()
        .filter_map(|(who, key, file, live, src)| {
            let want = file.as_secs_f64() / k;
            let off = (live.as_secs_f64() - want).abs();
            (off > (want * 0.1).max(0.05)).then(|| {
                format!(
                    "time scale {k} expects the external {who}'s {key} to be {} ({} in stack/{src} ÷ {k}), but it is {}, which is time scale {:.3}; run at the time scale the external stack was configured for",
                    human_duration(Duration::from_secs_f64(want)),
                    human_duration(file),
                    human_duration(live),
                    file.as_secs_f64() / live.as_secs_f64().max(1e-3),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod timer_tests {
    use super::*;

    fn files() -> crate::stack::StackFiles {
        crate::stack::StackFiles::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stack"),
        )
        .expect("the shipped stack loads")
    }

    fn live(scrape: u64, eval: u64, route: Option<(u64, u64)>) -> LiveTimers {
        let ms = Duration::from_millis;
        LiveTimers {
            scrape: ms(scrape),
            evaluation: ms(eval),
            route: route.map(|(a, b)| (ms(a), ms(b))),
        }
    }

    #[test]
    fn a_stack_configured_for_the_time_scale_matches() {
        let f = files();
        // The shipped 15 s intervals, 30 s group_wait and 1 m group_interval at 15×.
        assert!(time_scale_mismatches(&f, 15.0, &live(1000, 1000, Some((2000, 4000)))).is_empty());
        assert!(time_scale_mismatches(&f, 1.0, &live(15_000, 15_000, None)).is_empty());
    }

    #[test]
    fn a_real_time_stack_run_at_fifteen_times_is_refused_naming_each_timer() {
        let m = time_scale_mismatches(
            &files(),
            15.0,
            &live(15_000, 15_000, Some((30_000, 60_000))),
        );
        assert_eq!(m.len(), 4, "{m:#?}");
        assert!(m[0].contains("Prometheus's global.scrape_interval to be 1.0s (15.0s in stack/prometheus/prometheus.yml ÷ 15), but it is 15.0s, which is time scale 1.000"), "{}", m[0]);
        assert!(m[2].contains("Alertmanager's route.group_wait"), "{}", m[2]);
    }
}
