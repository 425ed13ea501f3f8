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
            provider: crate::scenario::ProviderChoice::External,
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
