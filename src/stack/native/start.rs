//! Bringing the stack up, in dependency order:
//!
//! 1. the filesystem for disk faults and its node-exporter, PostgreSQL and
//!    Redis with their exporters ([`super::backing`]): the mocks connect to
//!    them at start-up;
//! 2. Loki and Jaeger ([`super::observability`]): the mocks export traces
//!    to Jaeger from their first request;
//! 3. the mock services, ml-engine before backend-api, which calls it;
//! 4. the log shipper and Grafana;
//! 5. Alertmanager, then Prometheus, whose first scrapes must find every
//!    target up.
//!
//! Every unit is registered before it starts, so that teardown covers a
//! start that fails or is interrupted half-way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use tokio_util::sync::CancellationToken;

use super::launch::{Launcher, Mode};
use super::{MOCK_MEMORY_LIMIT_MB, MOCK_TRAIN_DURATION, Native, READY_TIMEOUT};
use crate::http::endpoint::Endpoint;
use crate::scenario::plan::scale;
use crate::stack::process::{Ready, Spec, free_port};
use crate::stack::render::{self, AddressMap, RenderInput};
use crate::stack::{ComponentInfo, ProviderDecision, Stack, StackOptions};

/// The mock services this provider runs, by their seed name and compose
/// address (what `stack/prometheus/prometheus.yml` scrapes).
const MOCKS: &[(&str, &str)] = &[
    ("ml-engine", "ml-engine:8001"),
    ("backend-api", "backend-api:8000"),
];

/// Where the mock services write their JSON log lines (what a log shipper
/// tails), relative to the run directory.
pub const SERVICE_LOGS: &str = "logs/services";

/// What the stages have brought up so far, and what they hand on.
pub(super) struct Build<'a> {
    pub(super) native: Native,
    pub(super) launcher: Launcher,
    pub(super) opts: &'a StackOptions,
    pub(super) cancel: &'a CancellationToken,
    pub(super) components: Vec<ComponentInfo>,
    /// Compose `host:port` → where it really listens (for the renderers).
    pub(super) addresses: AddressMap,
    pub(super) not_started: Vec<String>,
    /// Components this provider needs that could not start here, and why.
    pub(super) missing: BTreeMap<String, String>,
    /// Grafana, Loki or Jaeger that this stack does not have, and why.
    pub(super) absent: BTreeMap<String, String>,
    pub(super) dropped: Vec<render::DroppedTarget>,
    /// Environment of both mocks, and of backend-api alone.
    pub(super) mock_env: Vec<(String, String)>,
    pub(super) backend_env: Vec<(String, String)>,
    pub(super) grafana: Option<Endpoint>,
    pub(super) loki: Option<Endpoint>,
    pub(super) jaeger: Option<Endpoint>,
}

impl Build<'_> {
    pub(super) fn log(&self, name: &str) -> PathBuf {
        self.opts.run_dir.join("logs").join(format!("{name}.log"))
    }

    pub(super) fn pid_file(&self) -> Option<PathBuf> {
        Some(self.opts.run_dir.join("pids.txt"))
    }

    pub(super) fn data(&self, name: &str) -> PathBuf {
        self.opts.run_dir.join("data").join(name)
    }

    pub(super) fn config_dir(&self) -> PathBuf {
        self.opts.run_dir.join("config")
    }

    /// How to start `name`: no extra environment, its log in the run
    /// directory, SIGTERM to stop, the usual readiness timeout.
    pub(super) fn spec(
        &self,
        name: &str,
        program: PathBuf,
        args: Vec<String>,
        ready: Ready,
    ) -> Spec {
        Spec {
            name: name.into(),
            program,
            args,
            env: vec![],
            log: self.log(name),
            ready,
            ready_timeout: READY_TIMEOUT,
            stop_signal: Signal::SIGTERM,
            pid_file: self.pid_file(),
        }
    }

    /// Start one unit and wait until it is ready (or the run is cancelled).
    pub(super) async fn start(&mut self, spec: Spec) -> anyhow::Result<()> {
        let mut unit = self.launcher.unit(spec);
        let name = unit.spec().name.clone();
        let result = tokio::select! {
            r = unit.start(&self.native.http) => r.map_err(anyhow::Error::from),
            _ = self.cancel.cancelled() => Err(anyhow::anyhow!("interrupted while starting {name}")),
        };
        if result.is_ok() {
            tracing::info!("started {name} ({})", unit.describe());
        }
        self.native.procs.push(unit);
        result
    }

    /// Record a running component for the result and the access table.
    pub(super) async fn record(&mut self, name: &str, program: &Path, url: String) {
        let version = self.launcher.version(name, program).await;
        self.record_version(name, version, url);
    }

    pub(super) fn record_version(&mut self, name: &str, version: Option<String>, url: String) {
        self.components.push(ComponentInfo {
            name: name.to_string(),
            version,
            url,
            log: self.log(name).display().to_string(),
        });
    }
}

/// The chosen versions' own promtool and amtool on the rendered configs
/// (rules included): a config one version accepts and another refuses is
/// found before anything starts.
fn check_rendered(
    b: &Build,
    prometheus: &std::path::Path,
    alertmanager: &std::path::Path,
    rendered: &render::Rendered,
) -> anyhow::Result<()> {
    let tools = crate::stack::tools::validator;
    for (tool, args, file) in [
        (
            tools(&b.opts.binaries, "promtool", prometheus),
            &["check", "config"][..],
            &rendered.prometheus_config,
        ),
        (
            tools(&b.opts.binaries, "amtool", alertmanager),
            &["check-config"][..],
            &rendered.alertmanager_config,
        ),
    ] {
        let Some(tool) = tool else { continue };
        match crate::stack::tools::run_check(&tool, args, file) {
            Ok(line) => tracing::info!("{line}"),
            Err(e) => {
                anyhow::bail!("the rendered config does not pass this version's own check: {e}")
            }
        }
    }
    Ok(())
}

pub async fn start(
    decision: ProviderDecision,
    opts: StackOptions,
    cancel: &CancellationToken,
) -> anyhow::Result<Stack> {
    let mode = if decision.name == crate::stack::Provider::Docker {
        Mode::Docker {
            images: crate::stack::docker::Images::from_compose(&opts.files.dir)?,
            run_dir: opts.run_dir.clone(),
        }
    } else {
        Mode::Process
    };
    let launcher = Launcher::new(mode, opts.binaries.clone());
    let prometheus_bin = launcher.require("prometheus", &["prometheus"], "prometheus")?;
    let alertmanager_bin = launcher.require(
        "alertmanager",
        &["prometheus-alertmanager", "alertmanager"],
        "prometheus-alertmanager",
    )?;
    let http = crate::http::tls::client_builder()
        .no_proxy()
        .build()
        .context("building an HTTP client")?;
    let admin_token = crate::secret::random();
    let mut b = Build {
        native: Native {
            procs: Vec::new(),
            http: http.clone(),
            pg_data: None,
            disk: None,
            pg_proxy: None,
        },
        launcher,
        opts: &opts,
        cancel,
        components: Vec::new(),
        addresses: AddressMap::new(),
        not_started: Vec::new(),
        missing: BTreeMap::new(),
        absent: BTreeMap::new(),
        dropped: Vec::new(),
        mock_env: vec![("ZETA_ADMIN_TOKEN".to_string(), admin_token.clone())],
        backend_env: Vec::new(),
        grafana: None,
        loki: None,
        jaeger: None,
    };
    // Whatever goes wrong from here, `b.native` is dropped with every unit
    // started so far, and each unit stops itself on drop.
    let result = bring_up(&mut b, prometheus_bin, alertmanager_bin, &http).await;
    let (prometheus_url, alertmanager_url, services, rendered) = match result {
        Ok(r) => r,
        Err(e) => {
            b.native.teardown().await;
            return Err(e);
        }
    };
    let Build {
        native,
        components,
        not_started,
        missing,
        absent,
        dropped,
        grafana,
        loki,
        jaeger,
        ..
    } = b;
    let mut rendered = rendered;
    rendered.dropped_targets.extend(dropped);
    Ok(Stack {
        provider: decision,
        components,
        prometheus: Endpoint::new(&prometheus_url),
        alertmanager: Endpoint::new(&alertmanager_url),
        prometheus_url,
        alertmanager_url,
        services,
        rendered,
        not_started,
        missing,
        absent,
        grafana,
        loki,
        jaeger,
        backend: Some(native),
        admin_token: Some(admin_token),
    })
}

type Up = (String, String, BTreeMap<String, String>, render::Rendered);

async fn bring_up(
    b: &mut Build<'_>,
    prometheus_bin: PathBuf,
    alertmanager_bin: PathBuf,
    http: &reqwest::Client,
) -> anyhow::Result<Up> {
    if b.opts.disk {
        super::backing::disk(b).await?;
    }
    super::backing::postgres(b).await?;
    super::backing::redis(b).await?;

    // Prometheus' and Alertmanager's addresses are chosen now: Grafana's
    // datasource points at Prometheus before Prometheus starts.
    let am_addr = format!("127.0.0.1:{}", free_port()?);
    let prom_addr = format!("127.0.0.1:{}", free_port()?);
    b.addresses
        .insert("alertmanager:9093".into(), am_addr.clone());
    b.addresses
        .insert("localhost:9090".into(), prom_addr.clone());
    b.addresses
        .insert("prometheus:9090".into(), prom_addr.clone());

    super::observability::loki(b).await?;
    super::observability::jaeger(b).await?;
    if b.jaeger.is_none() {
        if let Some(otlp) = &b.opts.otlp_endpoint {
            b.mock_env
                .push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), otlp.clone()));
        }
    }
    let services = mocks(b).await?;
    super::observability::shipper(b).await?;
    super::observability::grafana(b).await?;

    let rendered = render::render(&RenderInput {
        files: &b.opts.files,
        time_scale: b.opts.time_scale,
        addresses: &b.addresses,
        receiver_base: &b.opts.receiver_base,
        out_dir: &b.config_dir(),
    })
    .context("rendering stack/ into the run directory")?;
    if !b.launcher.containerised("prometheus") {
        check_rendered(b, &prometheus_bin, &alertmanager_bin, &rendered)?;
    }

    let data = b.opts.run_dir.join("data");
    let am_spec = b.spec(
        "alertmanager",
        alertmanager_bin.clone(),
        vec![
            format!("--config.file={}", rendered.alertmanager_config.display()),
            format!("--storage.path={}", data.join("alertmanager").display()),
            format!("--web.listen-address={am_addr}"),
            // No gossip: it would bind 9094 and join other runs' instances.
            "--cluster.listen-address=".into(),
        ],
        Ready::Http(format!("http://{am_addr}/-/ready")),
    );
    b.start(am_spec).await?;

    let mut prom_args = vec![
        format!("--config.file={}", rendered.prometheus_config.display()),
        format!("--storage.tsdb.path={}", data.join("prometheus").display()),
        format!("--web.listen-address={prom_addr}"),
    ];
    prom_args.extend(rendered.prometheus_flags.iter().cloned());
    let prom_spec = b.spec(
        "prometheus",
        prometheus_bin.clone(),
        prom_args,
        Ready::Http(format!("http://{prom_addr}/-/ready")),
    );
    b.start(prom_spec).await?;
    b.record(
        "alertmanager",
        &alertmanager_bin,
        format!("http://{am_addr}"),
    )
    .await;
    b.record("prometheus", &prometheus_bin, format!("http://{prom_addr}"))
        .await;

    let prometheus_url = format!("http://{prom_addr}");
    let scrape = scale(b.opts.files.scrape_interval(), b.opts.time_scale);
    wait_for_targets(
        http,
        &prometheus_url,
        scrape * 3 + Duration::from_secs(10),
        b.cancel,
    )
    .await?;
    Ok((
        prometheus_url,
        format!("http://{am_addr}"),
        services,
        rendered,
    ))
}

/// The mock services, each a `zeta-bench mock` process; returns name →
/// base URL.
async fn mocks(b: &mut Build<'_>) -> anyhow::Result<BTreeMap<String, String>> {
    let service_logs = b.opts.run_dir.join(SERVICE_LOGS);
    std::fs::create_dir_all(&service_logs)
        .with_context(|| format!("creating {}", service_logs.display()))?;
    let ml_addr = format!("127.0.0.1:{}", free_port()?);
    let backend_addr = format!("127.0.0.1:{}", free_port()?);
    let mut services = BTreeMap::new();
    for (name, compose_addr) in MOCKS {
        let addr = if *name == "ml-engine" {
            &ml_addr
        } else {
            &backend_addr
        };
        let mut args = vec![
            "mock".to_string(),
            name.to_string(),
            "--listen".into(),
            addr.clone(),
            // Request log lines go to their own file (what a log shipper
            // tails), not into the process log.
            "--quiet".into(),
            "--log-file".into(),
            service_logs
                .join(format!("{name}.log"))
                .display()
                .to_string(),
            "--memory-limit-mb".into(),
            MOCK_MEMORY_LIMIT_MB.to_string(),
        ];
        if *name == "backend-api" {
            args.extend(["--ml-engine".to_string(), format!("http://{ml_addr}")]);
        }
        if *name == "ml-engine" && b.opts.mock_users > 0 {
            args.extend(["--warm-users".to_string(), b.opts.mock_users.to_string()]);
        }
        if *name == "ml-engine" {
            // A training job's length is a duration: divided by K like the
            // rest (the cache TTLs are not; see README "Time scale").
            let train = scale(MOCK_TRAIN_DURATION, b.opts.time_scale);
            args.extend([
                "--train-duration".to_string(),
                format!("{}ms", train.as_millis().max(1)),
            ]);
        }
        let mut env = vec![("RUST_LOG".to_string(), "warn".to_string())];
        env.extend(b.mock_env.iter().cloned());
        if *name == "backend-api" {
            env.extend(b.backend_env.iter().cloned());
        }
        let mut spec = b.spec(
            name,
            b.opts.self_exe.clone(),
            args,
            Ready::Http(format!("http://{addr}/health")),
        );
        spec.env = env;
        b.start(spec).await?;
        b.addresses.insert(compose_addr.to_string(), addr.clone());
        services.insert(name.to_string(), format!("http://{addr}"));
        b.record_version(
            name,
            Some(format!("zeta-bench {}", env!("CARGO_PKG_VERSION"))),
            format!("http://{addr}"),
        );
    }
    Ok(services)
}

/// Wait until Prometheus has scraped every target successfully once.
async fn wait_for_targets(
    http: &reqwest::Client,
    prometheus: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let url = format!("{prometheus}/api/v1/targets?state=active");
    let mut last;
    loop {
        if cancel.is_cancelled() {
            bail!("interrupted while waiting for Prometheus' first scrapes");
        }
        match http.get(&url).timeout(Duration::from_secs(2)).send().await {
            Ok(resp) => match resp.json::<serde_json::Value>().await {
                Ok(body) => {
                    let targets = body["data"]["activeTargets"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let down: Vec<String> = targets
                        .iter()
                        .filter(|t| t["health"] != "up")
                        .map(|t| {
                            format!(
                                "{} ({}): health {}, {}",
                                t["labels"]["job"].as_str().unwrap_or("?"),
                                t["scrapeUrl"].as_str().unwrap_or("?"),
                                t["health"].as_str().unwrap_or("?"),
                                t["lastError"]
                                    .as_str()
                                    .filter(|e| !e.is_empty())
                                    .unwrap_or("no error yet")
                            )
                        })
                        .collect();
                    if !targets.is_empty() && down.is_empty() {
                        return Ok(());
                    }
                    last = if targets.is_empty() {
                        "Prometheus lists no targets yet".into()
                    } else {
                        down.join("; ")
                    };
                }
                Err(e) => last = format!("unreadable answer: {e}"),
            },
            Err(e) => last = crate::http::http_error(&e),
        }
        if Instant::now() >= deadline {
            bail!(
                "prometheus: timed out after {:.0?} waiting for every scrape target to be up: {last}",
                timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
