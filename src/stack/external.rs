//! The external provider: a stack that already runs (staging, a game-day
//! environment), reached by URL. Nothing is started or stopped; faults are
//! the mock services' knobs (`/admin/faults`), the scenario's own `exec`
//! commands, and `network` toxics through the team's Toxiproxy
//! (`stack.toxiproxy`), which the scenario decoder enforces before
//! anything runs.
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

use super::components::{self, Component};
use super::{ComponentInfo, ProviderDecision, Stack};
use crate::http::endpoint::{self, Endpoint};
use crate::names::ComponentName;
use crate::scenario::StackRef;

/// How long each component has to answer its readiness check.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

const REQUIRED: &[ComponentName] = &[
    ComponentName::Prometheus,
    ComponentName::Alertmanager,
    ComponentName::BackendApi,
];

/// The components an external stack can name: those the catalogue can
/// probe by URL.
fn reachable() -> impl Iterator<Item = &'static Component> {
    components::ALL
        .iter()
        .copied()
        .filter(|c| c.probe.is_some())
}

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
    for c in reachable() {
        if let Some(u) = env(&c.name.env_key("URL")).filter(|u| !u.is_empty()) {
            urls.insert(c.name.name().to_string(), u);
        }
    }
    urls
}

async fn wait_ready(http: &reqwest::Client, c: &Component, ep: &Endpoint) -> anyhow::Result<()> {
    let path = c.probe.as_ref().map_or("/health", |p| p.ready);
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
                "{} at {} was not ready after {READY_TIMEOUT:?} (GET {path}); last answer: {last}",
                c.name,
                ep.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The version a component reports about itself, where it has an API for it.
async fn version(http: &reqwest::Client, c: &Component, ep: &Endpoint) -> Option<String> {
    let (path, pick) = c.probe.as_ref()?.version?;
    let (status, body) = endpoint::json(ep.get(http, path), path).await.ok()?;
    status
        .is_success()
        .then(|| pick(&body).map(String::from))
        .flatten()
}

/// Why each optional component the scenario gives no URL for is not there.
fn without_url(urls: &BTreeMap<String, String>) -> Vec<String> {
    reachable()
        .filter(|c| !REQUIRED.contains(&c.name) && !urls.contains_key(c.name.name()))
        .map(|c| {
            format!(
                "{}: no URL given (stack.urls.{} or {})",
                c.name,
                c.name,
                c.name.env_key("URL")
            )
        })
        .collect()
}

/// The components whose absence leaves SLOs unmeasured, and why they are
/// absent: the scenario gave no URL.
fn absent(urls: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    reachable()
        .filter(|c| !c.needed_by.is_empty() && !urls.contains_key(c.name.name()))
        .map(|c| {
            let title = title(c.name.name());
            (
                c.name.name().to_string(),
                format!(
                    "the external stack has no {title} URL (stack.urls.{} or {})",
                    c.name,
                    c.name.env_key("URL")
                ),
            )
        })
        .collect()
}

/// `grafana` → `Grafana`.
fn title(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub async fn start(
    decision: ProviderDecision,
    stack: &StackRef,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> anyhow::Result<Stack> {
    let urls = resolve_urls(stack, env);
    let missing: Vec<ComponentName> = REQUIRED
        .iter()
        .copied()
        .filter(|n| !urls.contains_key(n.name()))
        .collect();
    if let Some(first) = missing.first() {
        bail!(
            "the external provider needs the URLs of {}: set stack.urls.{first} in the scenario or {}",
            missing
                .iter()
                .map(|n| n.name())
                .collect::<Vec<_>>()
                .join(", "),
            missing
                .iter()
                .map(|n| n.env_key("URL"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let http = endpoint::client(Duration::from_secs(5))?;
    let mut endpoints: BTreeMap<String, Endpoint> = BTreeMap::new();
    let mut infos = Vec::new();
    for (name, url) in &urls {
        let c = ComponentName::from_name(name).map(components::get);
        let ep = Endpoint::with_env_auth(url, name, env);
        if let Some(c) = c {
            wait_ready(&http, c, &ep).await?;
        }
        infos.push(ComponentInfo {
            name: name.clone(),
            version: match c {
                Some(c) => version(&http, c, &ep).await,
                None => None,
            },
            url: ep.display(),
            log: "(external: not collected)".into(),
        });
        endpoints.insert(name.clone(), ep);
    }
    let services: BTreeMap<String, String> = [ComponentName::BackendApi, ComponentName::MlEngine]
        .into_iter()
        .filter_map(|n| {
            urls.get(n.name())
                .map(|u| (n.name().to_string(), u.trim_end_matches('/').to_string()))
        })
        .collect();
    let take = |n: ComponentName| endpoints.get(n.name()).cloned();
    Ok(Stack {
        provider: decision,
        components: infos,
        prometheus_url: urls["prometheus"].trim_end_matches('/').to_string(),
        alertmanager_url: urls["alertmanager"].trim_end_matches('/').to_string(),
        prometheus: take(ComponentName::Prometheus).expect("required"),
        alertmanager: take(ComponentName::Alertmanager).expect("required"),
        grafana: take(ComponentName::Grafana),
        loki: take(ComponentName::Loki),
        jaeger: take(ComponentName::Jaeger),
        services,
        rendered: Default::default(),
        not_started: without_url(&urls),
        missing: BTreeMap::new(),
        absent: absent(&urls),
        backend: None,
        admin_token: std::env::var("ZETA_ADMIN_TOKEN").ok(),
        links: toxiproxy_links(stack, env).await?,
        receiver_switch: Default::default(),
    })
}

/// The team's Toxiproxy named in `stack.toxiproxy` (its URL overridden by
/// `ZETA_TOXIPROXY_URL`, credentials from `ZETA_TOXIPROXY_TOKEN` or
/// `_USER`/`_PASSWORD`), with every named proxy read from its API.
async fn toxiproxy_links(
    stack: &StackRef,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> anyhow::Result<Option<super::toxiproxy::Links>> {
    let Some(t) = &stack.toxiproxy else {
        return Ok(None);
    };
    let url = env("ZETA_TOXIPROXY_URL")
        .filter(|u| !u.is_empty())
        .or_else(|| t.url.as_ref().map(|u| u.value.clone()));
    let Some(url) = url else {
        bail!(
            "stack.toxiproxy has no URL: set stack.toxiproxy.url in the scenario or ZETA_TOXIPROXY_URL"
        );
    };
    let api = super::toxiproxy::Toxiproxy::with_endpoint(Endpoint::with_env_auth(
        &url,
        "toxiproxy",
        env,
    ))?;
    let names = t
        .proxies
        .iter()
        .map(|(target, p)| (target.clone(), p.value.clone()))
        .collect();
    super::toxiproxy::Links::external(api, &names)
        .await
        .map(Some)
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
            toxiproxy: None,
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

    #[test]
    fn what_an_external_stack_can_name_is_what_the_decoder_accepts() {
        let names: Vec<&str> = reachable().map(|c| c.name.name()).collect();
        let mut decoder = crate::scenario::EXTERNAL_COMPONENTS.to_vec();
        let mut ours = names.clone();
        decoder.sort();
        ours.sort();
        assert_eq!(ours, decoder);
    }

    #[test]
    fn optional_components_without_urls_are_named_and_the_measuring_ones_absent() {
        let urls: BTreeMap<String, String> = [
            ("prometheus", "p"),
            ("alertmanager", "a"),
            ("backend-api", "b"),
            ("loki", "l"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let not = without_url(&urls);
        assert_eq!(
            not,
            vec![
                "jaeger: no URL given (stack.urls.jaeger or ZETA_JAEGER_URL)",
                "ml-engine: no URL given (stack.urls.ml-engine or ZETA_ML_ENGINE_URL)",
                "grafana: no URL given (stack.urls.grafana or ZETA_GRAFANA_URL)",
            ]
        );
        let absent = absent(&urls);
        assert_eq!(absent.keys().collect::<Vec<_>>(), ["grafana", "jaeger"]);
        assert_eq!(
            absent["grafana"],
            "the external stack has no Grafana URL (stack.urls.grafana or ZETA_GRAFANA_URL)"
        );
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
            .map(|am| crate::stackfiles::files::root_route_timers_of(&am)),
        Err(_) => None,
    };
    Ok(LiveTimers {
        scrape: crate::stackfiles::files::scrape_interval_of(&prom),
        evaluation: crate::stackfiles::files::evaluation_interval_of(&prom),
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
    files: &crate::stackfiles::StackFiles,
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
                    human_duration(crate::input::units::saturating_secs(want)),
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

    fn files() -> crate::stackfiles::StackFiles {
        crate::stackfiles::StackFiles::load(
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
