//! The stack under test: one [`Stack`] handle (endpoints, lifecycle, fault
//! hooks) whatever provider brought it up.
//!
//! - [`components`]: one module per component, everything zeta-bench
//!   knows about it, and the catalogue the providers iterate;
//! - [`native`]: the native and docker providers, which start the
//!   catalogue as child processes ([`process`]) or containers ([`docker`]),
//!   as [`launch`] decides;
//! - [`external`]: a stack that already runs, by URL;
//! - the stack's files, read, checked and rendered, are
//!   [`crate::stackfiles`]: this module only runs what they describe;
//! - [`binaries`], [`tools`]: which program runs a component, and its own
//!   config check;
//! - [`toxiproxy`]: backend-api's dependency links through Toxiproxy, the
//!   harness's own or a team's, where network faults are injected.

pub mod binaries;
pub mod components;
pub mod docker;
pub mod external;
pub mod launch;
pub mod native;
pub mod process;
pub mod rule_fault;
pub mod tools;
pub mod toxiproxy;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::scenario::ProviderChoice;

use crate::stackfiles::StackFiles;

/// One running component, as reported.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ComponentInfo {
    pub name: String,
    pub version: Option<String>,
    pub url: String,
    pub log: String,
}

/// What a provider needs to bring the stack up.
/// How long a reloaded Prometheus may take to show the failing rule (or its
/// absence): a reload and one evaluation, at any time scale.
const RULE_FAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub struct StackOptions {
    pub files: StackFiles,
    pub time_scale: f64,
    pub run_dir: PathBuf,
    /// The `zeta-bench` executable, which runs the mock services.
    pub self_exe: PathBuf,
    /// Base URL of the harness's notification receivers.
    pub receiver_base: String,
    /// Where the mock services export their traces (OTLP/HTTP).
    pub otlp_endpoint: Option<String>,
    /// Mount a size-limited filesystem for `disk_pressure` and watch it
    /// with node-exporter.
    pub disk: bool,
    /// Send Prometheus' alerts to Alertmanager through a Toxiproxy link
    /// (for `prometheus_to_alertmanager_cut`); otherwise directly.
    pub alerting_link: bool,
    /// The scenario's `stack:` (URLs for the external provider).
    pub stack_ref: Option<crate::scenario::StackRef>,
    /// Users per tenant the load draws from; ml-engine precomputes their
    /// embeddings when a model version is deployed (0: none).
    pub mock_users: u32,
    /// Chosen component binaries (`--bin`, `stack.binaries`).
    pub binaries: binaries::Binaries,
}

/// The chosen provider and why, as printed and recorded.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ProviderDecision {
    pub name: Provider,
    pub reason: String,
}

/// Who runs the stack: the harness as local processes, the harness
/// through a Docker engine, or nobody (an external stack already runs).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Native,
    Docker,
    External,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Native => "native",
            Provider::Docker => "docker",
            Provider::External => "external",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// auto: docker when an engine answers, else native. docker without an
/// engine is an error naming what was tried.
pub async fn choose_provider(choice: ProviderChoice) -> Result<ProviderDecision, String> {
    match choice {
        ProviderChoice::Native => Ok(ProviderDecision {
            name: Provider::Native,
            reason: "asked for by the scenario or --provider".into(),
        }),
        ProviderChoice::External => Ok(ProviderDecision {
            name: Provider::External,
            reason: "asked for by the scenario or --provider: the stack already runs".into(),
        }),
        ProviderChoice::Docker => match docker::engine().await {
            Ok(socket) => Ok(ProviderDecision {
                name: Provider::Docker,
                reason: format!("asked for by the scenario or --provider; engine at {socket}"),
            }),
            Err(why) => Err(format!(
                "the docker provider needs a Docker engine: {why}; use provider: native (or auto)"
            )),
        },
        ProviderChoice::Auto => Ok(match docker::engine().await {
            Ok(socket) => ProviderDecision {
                name: Provider::Docker,
                reason: format!("auto: a Docker engine answers at {socket}"),
            },
            Err(why) => ProviderDecision {
                name: Provider::Native,
                reason: format!("auto: {why}, so the stack runs as local processes"),
            },
        }),
    }
}

pub struct Stack {
    pub provider: ProviderDecision,
    pub components: Vec<ComponentInfo>,
    pub prometheus_url: String,
    pub alertmanager_url: String,
    /// Mock service name → base URL.
    pub services: BTreeMap<String, String>,
    pub rendered: crate::stackfiles::render::Rendered,
    /// Components this provider could not start here, and why.
    pub not_started: Vec<String>,
    /// Components the provider needs and could not start here (not
    /// installed, a failed initdb), and why: the stack is not the stack
    /// under test unless the scenario allows them to be absent.
    pub missing: BTreeMap<String, String>,
    /// Grafana, Loki or Jaeger that this stack does not have, and why:
    /// what the SLO checks that need them report as "not measured".
    pub absent: BTreeMap<String, String>,
    /// Grafana, Loki and Jaeger, where this stack has them.
    pub grafana: Option<crate::http::endpoint::Endpoint>,
    pub loki: Option<crate::http::endpoint::Endpoint>,
    pub jaeger: Option<crate::http::endpoint::Endpoint>,
    /// Prometheus and Alertmanager with their credentials.
    pub prometheus: crate::http::endpoint::Endpoint,
    pub alertmanager: crate::http::endpoint::Endpoint,
    /// The processes, when the harness started them; `None` for an
    /// external stack, whose faults are the mocks' knobs only.
    backend: Option<native::Native>,
    /// The bearer token the mocks' `/admin/faults` requires: made per run
    /// for the mocks the harness starts, `ZETA_ADMIN_TOKEN` for an external
    /// stack's. Never written or printed.
    admin_token: Option<String>,
    /// A team's Toxiproxy (`stack.toxiproxy`) on an external stack: the
    /// links its network faults go through. The harness's own Toxiproxy
    /// is part of `backend`.
    links: Option<toxiproxy::Links>,
    /// The switch the harness's notification receivers obey
    /// (`receiver_failing`, `receiver_slow`); the session gives the stack
    /// the receivers' own.
    pub receiver_switch: crate::mock::receivers::ReceiverSwitch,
}

impl Stack {
    pub async fn start(
        decision: ProviderDecision,
        opts: StackOptions,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<Stack> {
        if decision.name == Provider::External {
            let stack_ref = opts.stack_ref.as_ref().ok_or_else(|| {
                anyhow::anyhow!("the external provider needs a scenario's stack.urls")
            })?;
            return external::start(decision, stack_ref, |k| std::env::var(k).ok()).await;
        }
        native::start(decision, opts, cancel).await
    }

    /// The harness's own processes, or why there are none to act on.
    fn native(&mut self, what: &str) -> anyhow::Result<&mut native::Native> {
        let provider = self.provider.name;
        self.backend.as_mut().ok_or_else(|| {
            anyhow::anyhow!(
                "the {provider} provider cannot {what}: the harness did not start this stack"
            )
        })
    }

    /// The harness's components that are not running (a failed start is
    /// an error of its own; this finds the ones that died later), with
    /// their last log lines. Empty for a stack the harness did not start.
    pub async fn dead_components(&mut self) -> Vec<(String, String)> {
        match self.backend.as_mut() {
            Some(n) => n.dead().await,
            None => Vec::new(),
        }
    }

    /// Stop a service abruptly (SIGKILL) and return once it is gone.
    pub async fn kill_service(&mut self, name: &str) -> anyhow::Result<()> {
        self.native("kill a service")?.kill(name).await
    }

    /// Fill the watched filesystem to `level` (0 to 1); returns the level
    /// reached.
    pub fn fill_disk(&mut self, level: f64) -> anyhow::Result<f64> {
        self.native("fill a disk")?.disk()?.fill_to(level)
    }

    /// Empty the watched filesystem; returns the level afterwards.
    pub fn drain_disk(&mut self) -> anyhow::Result<f64> {
        self.native("drain a disk")?.disk()?.drain()
    }

    /// Add latency in front of a real component (PostgreSQL): a latency
    /// toxic on backend-api's Toxiproxy link to it.
    pub async fn set_latency(
        &mut self,
        name: &str,
        delay: std::time::Duration,
        jitter: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.native("delay a component")?
            .set_latency(name, delay, jitter)
            .await
    }

    /// A network fault on backend-api's link to `name`: on, or off; through
    /// the team's Toxiproxy on an external stack.
    pub async fn network(
        &mut self,
        name: &str,
        toxic: &crate::scenario::Toxic,
        on: bool,
    ) -> anyhow::Result<()> {
        if let Some(links) = &self.links {
            return links.network(name, toxic, on).await;
        }
        self.native("fault a network link")?
            .network(name, toxic, on)
            .await
    }

    /// The Toxiproxy proxy on backend-api's link to `target`, if it has
    /// one: the team's on an external stack, else the harness's.
    pub fn link(&self, target: &str) -> Option<&toxiproxy::Proxy> {
        let links = match &self.links {
            Some(links) => links,
            None => self.backend.as_ref()?.links()?,
        };
        links.proxies.get(target)
    }

    /// Freeze a service (SIGSTOP): up but unresponsive.
    pub async fn freeze_service(&mut self, name: &str) -> anyhow::Result<()> {
        self.native("freeze a service")?.freeze(name).await
    }

    /// Resume a frozen service (SIGCONT).
    pub async fn thaw_service(&mut self, name: &str) -> anyhow::Result<()> {
        self.native("resume a service")?.thaw(name).await
    }

    /// Stop a component gracefully (PostgreSQL: fast shutdown) and return
    /// once it is gone.
    pub async fn stop_service(&mut self, name: &str) -> anyhow::Result<()> {
        self.native("stop a service")?.stop(name).await
    }

    /// The bearer token the mocks' `/admin/faults` requires, for the
    /// owner-only `up.json` of a game day.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// Set a mock service's fault knobs and verify they took effect.
    pub async fn set_knobs(
        &self,
        service: &str,
        knobs: &crate::mock::faults::Knobs,
    ) -> anyhow::Result<()> {
        use anyhow::Context;
        let base = self
            .services
            .get(service)
            .with_context(|| format!("{service} is not a mock service of this stack"))?;
        let client = crate::http::tls::client_builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(5))
            .build()?;
        let url = format!("{base}/admin/faults");
        let auth = |r: reqwest::RequestBuilder| match &self.admin_token {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        let resp = auth(client.put(&url))
            .json(knobs)
            .send()
            .await
            .with_context(|| format!("setting {service}'s fault knobs"))?;
        if !resp.status().is_success() {
            anyhow::bail!(
                "{service} refused the fault knobs: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        let now: crate::mock::faults::Knobs = auth(client.get(&url)).send().await?.json().await?;
        if &now != knobs {
            anyhow::bail!("{service}'s fault knobs read back as {now:?}, not {knobs:?}");
        }
        Ok(())
    }

    /// Start a stopped service again and return once it answers.
    /// `rule_evaluation_failing`: add (or take away) a rule whose
    /// evaluation fails, reload Prometheus, and wait until its rules API
    /// shows it failing (or gone); returns what was seen.
    pub async fn rule_failing(&mut self, on: bool) -> anyhow::Result<String> {
        let config = self.rendered.prometheus_config.clone();
        rule_fault::write(&config, on)?;
        self.native("reload Prometheus")?.reload("prometheus")?;
        rule_fault::wait_for(&self.prometheus, on, RULE_FAULT_WAIT).await
    }

    pub async fn restart_service(&mut self, name: &str) -> anyhow::Result<()> {
        self.native("restart a service")?.restart(name).await
    }

    /// Stop everything. Safe to call more than once.
    pub async fn teardown(&mut self) -> Vec<String> {
        match &mut self.backend {
            Some(n) => n.teardown().await,
            None => Vec::new(),
        }
    }
}
