//! The native provider: Prometheus, Alertmanager and the mock services as
//! child processes on free loopback ports, data and logs in the run
//! directory. Binaries come from the Debian/Ubuntu packages `prometheus` and
//! `prometheus-alertmanager` (`scripts/install.sh` installs them).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use nix::sys::signal::Signal;

use super::process::{self, Ready, Spec, Supervised, Unit, free_port, which};
use super::render::{self, AddressMap, RenderInput};
use super::{ComponentInfo, ProviderDecision, Stack, StackOptions};
use crate::observe::endpoint::Endpoint;
use crate::scenario::plan::scale;

/// The mock services this provider runs, by their seed name and compose
/// address (what `stack/prometheus/prometheus.yml` scrapes).
const MOCKS: &[(&str, &str)] = &[
    ("ml-engine", "ml-engine:8001"),
    ("backend-api", "backend-api:8000"),
];

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct Native {
    /// In start order; torn down in reverse.
    procs: Vec<Unit>,
    /// The docker provider: the pinned images, and the run directory the
    /// containers mount. `None`: every component is a process.
    docker: Option<(super::docker::Images, PathBuf)>,
    http: reqwest::Client,
    /// PostgreSQL's data directory, removed after PostgreSQL stops.
    pg_data: Option<super::datastores::PgData>,
    /// The filesystem disk_pressure fills; unmounted at teardown.
    disk: Option<super::disk::Disk>,
    /// Between backend-api and PostgreSQL: high_latency on postgresql.
    pg_proxy: Option<super::proxy::DelayProxy>,
}

/// The memory limit each mock reports (cAdvisor-style), which
/// memory_pressure fills.
pub const MOCK_MEMORY_LIMIT_MB: u64 = 256;

impl Native {
    fn get(&mut self, name: &str) -> anyhow::Result<&mut Unit> {
        self.procs
            .iter_mut()
            .find(|p| p.spec().name == name)
            .with_context(|| format!("{name} is not a component of this stack"))
    }

    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let p = self.get(name)?;
        if !p.is_running().await {
            bail!("{name} is not running");
        }
        p.kill().await;
        if p.is_running().await {
            bail!("{name} survived SIGKILL");
        }
        Ok(())
    }

    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let http = self.http.clone();
        let p = self.get(name)?;
        p.start(&http).await?;
        Ok(())
    }

    pub async fn teardown(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        for p in self.procs.iter_mut().rev() {
            if !p.shut_down(STOP_GRACE).await {
                notes.push(format!(
                    "{} did not stop within {STOP_GRACE:?} of {} and was killed",
                    p.spec().name,
                    p.spec().stop_signal
                ));
            }
        }
        // PostgreSQL is stopped: its data directory can go.
        self.pg_data = None;
        if let Some(p) = self.pg_proxy.take() {
            p.stop();
        }
        if let Some(mut d) = self.disk.take() {
            if let Err(e) = d.unmount() {
                notes.push(format!("unmounting {}: {e:#}", d.mountpoint.display()));
            }
        }
        notes
    }

    pub fn set_latency(&self, name: &str, delay: Duration, jitter: Duration) -> anyhow::Result<()> {
        match (name, &self.pg_proxy) {
            ("postgresql", Some(p)) => {
                p.set_delay(delay, jitter);
                Ok(())
            }
            _ => bail!("{name} has no latency proxy in this stack"),
        }
    }

    pub fn disk(&self) -> anyhow::Result<&super::disk::Disk> {
        self.disk
            .as_ref()
            .context("this stack has no disk to fill (disk_pressure needs it mounted at start)")
    }

    pub async fn freeze(&mut self, name: &str) -> anyhow::Result<()> {
        if !self.get(name)?.freeze().await {
            bail!("{name} is not running");
        }
        Ok(())
    }

    pub async fn thaw(&mut self, name: &str) -> anyhow::Result<()> {
        self.get(name)?.thaw().await;
        Ok(())
    }

    /// Stop gracefully (its stop signal) and return once it is gone.
    pub async fn stop(&mut self, name: &str) -> anyhow::Result<()> {
        let p = self.get(name)?;
        if !p.is_running().await {
            bail!("{name} is not running");
        }
        p.stop(STOP_GRACE).await;
        if p.is_running().await {
            bail!("{name} is still running after its stop signal and SIGKILL");
        }
        Ok(())
    }
}

async fn pg_version() -> Option<String> {
    let bin = super::datastores::pg_bin("postgres")?;
    process::version(&bin).await
}

/// The fault targets this provider can run on this machine, and why the
/// others are missing.
pub fn available_targets() -> Vec<(&'static str, Result<(), String>)> {
    let pg = if super::datastores::pg_bin("initdb").is_none() {
        Err("PostgreSQL is not installed (package postgresql)".to_string())
    } else if super::datastores::postgres_exporter_spec(0, 0, "/dev/null".into(), None, false)
        .is_none()
    {
        Err(
            "prometheus-postgres-exporter is not installed, so DatabaseDown could not fire"
                .to_string(),
        )
    } else {
        Ok(())
    };
    vec![
        ("backend-api", Ok(())),
        ("ml-engine", Ok(())),
        ("postgresql", pg),
    ]
}

fn binary(candidates: &[&str], package: &str) -> anyhow::Result<PathBuf> {
    candidates.iter().find_map(|c| which(c)).with_context(|| {
        format!(
            "{} not found on PATH; install the Debian/Ubuntu package `{package}` (scripts/install.sh does)",
            candidates.join(" or ")
        )
    })
}

pub async fn start(
    decision: ProviderDecision,
    opts: StackOptions,
    cancel: &CancellationToken,
) -> anyhow::Result<Stack> {
    // The docker provider runs the same graph with the components
    // stack/docker-compose.yml pins as containers (see super::docker).
    let docker = if decision.name == "docker" {
        Some((
            super::docker::Images::from_compose(&opts.files.dir)?,
            opts.run_dir.clone(),
        ))
    } else {
        None
    };
    let in_docker = docker.is_some();
    let (prometheus_bin, alertmanager_bin) = if in_docker {
        (PathBuf::from("prometheus"), PathBuf::from("alertmanager"))
    } else {
        (
            binary(&["prometheus"], "prometheus")?,
            binary(
                &["prometheus-alertmanager", "alertmanager"],
                "prometheus-alertmanager",
            )?,
        )
    };
    // A component's version: its image in docker, `--version` natively.
    let images = docker.as_ref().map(|(i, _)| i.clone());
    let version = |component: &'static str, program: PathBuf| {
        let image = images
            .as_ref()
            .and_then(|i| i.get(component))
            .map(|i| format!("image {i}"));
        async move {
            match image {
                Some(i) => Some(i),
                None => process::version(&program).await,
            }
        }
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building an HTTP client")?;
    let mut native = Native {
        docker,
        procs: Vec::new(),
        http: http.clone(),
        pg_data: None,
        disk: None,
        pg_proxy: None,
    };
    let mut components = Vec::new();
    let mut addresses = AddressMap::new();
    let mut services = BTreeMap::new();
    let mut not_started = Vec::new();
    let logs = opts.run_dir.join("logs");
    let pid_file = Some(opts.run_dir.join("pids.txt"));

    if opts.disk {
        let disk = super::disk::Disk::mount(&opts.run_dir.join("disk"))?;
        let port = free_port()?;
        let program = if in_docker {
            PathBuf::from("node_exporter")
        } else {
            which("prometheus-node-exporter")
                .or_else(|| which("node_exporter"))
                .context("node-exporter not found (install the Debian/Ubuntu package `prometheus-node-exporter`)")?
        };
        let spec = Spec {
            name: "node-exporter".into(),
            program: program.clone(),
            args: vec![
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Only the harness's filesystem: host disks neither trigger
                // nor hide DiskSpaceLow.
                "--collector.disable-defaults".into(),
                "--collector.filesystem".into(),
                format!("--collector.filesystem.mount-points-exclude={}", super::disk::all_but(&disk.mountpoint.display().to_string())),
                "--collector.filesystem.fs-types-exclude=^(?:[^t].*|t[^m].*|tm[^p].*|tmp[^f].*|tmpf[^s].*|tmpfs.+|t|tm|tmp|tmpf)$".into(),
            ],
            env: vec![],
            log: logs.join("node-exporter.log"),
            ready: Ready::Http(format!("http://127.0.0.1:{port}/metrics")),
            ready_timeout: READY_TIMEOUT,
            stop_signal: Signal::SIGTERM,
            pid_file: pid_file.clone(),
        };
        native.disk = Some(disk);
        start_one(&mut native, spec, cancel).await?;
        addresses.insert("node-exporter:9100".into(), format!("127.0.0.1:{port}"));
        components.push(ComponentInfo {
            name: "node-exporter".into(),
            version: version("node-exporter", program.clone()).await,
            url: format!("http://127.0.0.1:{port}"),
            log: logs.join("node-exporter.log").display().to_string(),
        });
    }

    // Datastores first: the mocks connect to them at start-up.
    let mut mock_env: Vec<(String, String)> = Vec::new();
    if let Some(otlp) = &opts.otlp_endpoint {
        mock_env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), otlp.clone()));
    }
    let mut backend_env: Vec<(String, String)> = Vec::new();
    let pg = if in_docker {
        Ok(None)
    } else {
        super::datastores::init_postgres(&logs.join("initdb.log"), cancel)
            .await
            .map(Some)
    };
    match pg {
        Ok(data) => {
            let port = free_port()?;
            let spec = match &data {
                Some(data) => data.spec(port, logs.join("postgresql.log"), pid_file.clone())?,
                None => super::datastores::docker_postgres_spec(
                    port,
                    logs.join("postgresql.log"),
                    pid_file.clone(),
                ),
            };
            native.pg_data = data;
            start_one(&mut native, spec, cancel).await?;
            // backend-api reaches PostgreSQL through a delay proxy (the
            // high_latency fault on postgresql); the exporter does not.
            let proxy = super::proxy::DelayProxy::start(format!("127.0.0.1:{port}"))
                .await
                .context("starting the PostgreSQL latency proxy")?;
            let proxy_port: u16 = proxy
                .listen
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(port);
            backend_env.push((
                "ZETA_DATABASE_URL".into(),
                super::datastores::url(proxy_port),
            ));
            native.pg_proxy = Some(proxy);
            components.push(ComponentInfo {
                name: "postgresql".into(),
                version: match images.as_ref().and_then(|i| i.get("postgresql")) {
                    Some(i) => Some(format!("image {i}")),
                    None => pg_version().await,
                },
                url: format!("postgresql://127.0.0.1:{port}"),
                log: logs.join("postgresql.log").display().to_string(),
            });
            let exporter_port = free_port()?;
            match super::datastores::postgres_exporter_spec(exporter_port, port, logs.join("postgres-exporter.log"), pid_file.clone(), in_docker) {
                Some(spec) => {
                    let program = spec.program.clone();
                    start_one(&mut native, spec, cancel).await?;
                    addresses.insert("postgres-exporter:9187".into(), format!("127.0.0.1:{exporter_port}"));
                    components.push(ComponentInfo {
                        name: "postgres-exporter".into(),
                        version: version("postgres-exporter", program).await,
                        url: format!("http://127.0.0.1:{exporter_port}"),
                        log: logs.join("postgres-exporter.log").display().to_string(),
                    });
                }
                None => not_started.push("postgres-exporter: not installed (package prometheus-postgres-exporter); DatabaseDown cannot fire".to_string()),
            }
        }
        Err(e) => not_started.push(format!(
            "postgresql: {e:#}; backend-api keeps its data in memory"
        )),
    }
    if in_docker || which("redis-server").is_some() {
        let port = free_port()?;
        let spec = super::datastores::redis_spec(
            port,
            &opts.run_dir.join("data/redis"),
            logs.join("redis.log"),
            pid_file.clone(),
            in_docker,
        )?;
        let program = spec.program.clone();
        start_one(&mut native, spec, cancel).await?;
        mock_env.push(("ZETA_REDIS_URL".into(), format!("redis://127.0.0.1:{port}")));
        components.push(ComponentInfo {
            name: "redis".into(),
            version: version("redis", program).await,
            url: format!("redis://127.0.0.1:{port}"),
            log: logs.join("redis.log").display().to_string(),
        });
        let exporter_port = free_port()?;
        match super::datastores::redis_exporter_spec(
            exporter_port,
            port,
            logs.join("redis-exporter.log"),
            pid_file.clone(),
            in_docker,
        ) {
            Some(spec) => {
                let program = spec.program.clone();
                start_one(&mut native, spec, cancel).await?;
                addresses.insert(
                    "redis-exporter:9121".into(),
                    format!("127.0.0.1:{exporter_port}"),
                );
                components.push(ComponentInfo {
                    name: "redis-exporter".into(),
                    version: version("redis-exporter", program).await,
                    url: format!("http://127.0.0.1:{exporter_port}"),
                    log: logs.join("redis-exporter.log").display().to_string(),
                });
            }
            None => not_started.push(
                "redis-exporter: not installed (package prometheus-redis-exporter)".to_string(),
            ),
        }
    } else {
        not_started.push(
            "redis: not installed (package redis-server); the caches live in memory".to_string(),
        );
    }

    // Mock services first: Prometheus should find them up on its first
    // scrape. ml-engine before backend-api, which calls it.
    let ml_addr = format!("127.0.0.1:{}", free_port()?);
    let backend_addr = format!("127.0.0.1:{}", free_port()?);
    for (name, compose_addr, addr) in MOCKS.iter().map(|(n, c)| {
        let a = if *n == "ml-engine" {
            &ml_addr
        } else {
            &backend_addr
        };
        (*n, *c, a.clone())
    }) {
        let log_file = logs.join(format!("{name}.jsonl"));
        let mut args = vec![
            "mock".to_string(),
            name.to_string(),
            "--listen".into(),
            addr.clone(),
            // Request log lines go to the .jsonl file (what a log shipper
            // would tail), not into the process log.
            "--quiet".into(),
            "--log-file".into(),
            log_file.display().to_string(),
            "--memory-limit-mb".into(),
            MOCK_MEMORY_LIMIT_MB.to_string(),
        ];
        if name == "backend-api" {
            args.extend(["--ml-engine".to_string(), format!("http://{ml_addr}")]);
        }
        let spec = Spec {
            name: name.to_string(),
            program: opts.self_exe.clone(),
            args,
            env: {
                let mut env = vec![("RUST_LOG".to_string(), "warn".to_string())];
                env.extend(mock_env.iter().cloned());
                if name == "backend-api" {
                    env.extend(backend_env.iter().cloned());
                }
                env
            },
            log: logs.join(format!("{name}.log")),
            ready: Ready::Http(format!("http://{addr}/health")),
            ready_timeout: READY_TIMEOUT,
            stop_signal: Signal::SIGTERM,
            pid_file: pid_file.clone(),
        };
        start_one(&mut native, spec, cancel).await?;
        addresses.insert(compose_addr.to_string(), addr.clone());
        services.insert(name.to_string(), format!("http://{addr}"));
        components.push(ComponentInfo {
            name: name.to_string(),
            version: Some(format!("zeta-bench {}", env!("CARGO_PKG_VERSION"))),
            url: format!("http://{addr}"),
            log: logs.join(format!("{name}.log")).display().to_string(),
        });
    }

    let am_addr = format!("127.0.0.1:{}", free_port()?);
    let prom_addr = format!("127.0.0.1:{}", free_port()?);
    addresses.insert("alertmanager:9093".into(), am_addr.clone());
    addresses.insert("localhost:9090".into(), prom_addr.clone());
    addresses.insert("prometheus:9090".into(), prom_addr.clone());

    let rendered = render::render(&RenderInput {
        files: &opts.files,
        time_scale: opts.time_scale,
        addresses: &addresses,
        receiver_base: &opts.receiver_base,
        out_dir: &opts.run_dir.join("config"),
    })
    .context("rendering stack/ into the run directory")?;

    let data = opts.run_dir.join("data");
    let am_spec = Spec {
        name: "alertmanager".into(),
        program: alertmanager_bin.clone(),
        args: vec![
            format!("--config.file={}", rendered.alertmanager_config.display()),
            format!("--storage.path={}", data.join("alertmanager").display()),
            format!("--web.listen-address={am_addr}"),
            // No gossip: it would bind 9094 and join other runs' instances.
            "--cluster.listen-address=".into(),
        ],
        env: vec![],
        log: logs.join("alertmanager.log"),
        ready: Ready::Http(format!("http://{am_addr}/-/ready")),
        ready_timeout: READY_TIMEOUT,
        stop_signal: Signal::SIGTERM,
        pid_file: Some(opts.run_dir.join("pids.txt")),
    };
    start_one(&mut native, am_spec, cancel).await?;

    let mut prom_args = vec![
        format!("--config.file={}", rendered.prometheus_config.display()),
        format!("--storage.tsdb.path={}", data.join("prometheus").display()),
        format!("--web.listen-address={prom_addr}"),
    ];
    prom_args.extend(rendered.prometheus_flags.iter().cloned());
    let prom_spec = Spec {
        name: "prometheus".into(),
        program: prometheus_bin.clone(),
        args: prom_args,
        env: vec![],
        log: logs.join("prometheus.log"),
        ready: Ready::Http(format!("http://{prom_addr}/-/ready")),
        ready_timeout: READY_TIMEOUT,
        stop_signal: Signal::SIGTERM,
        pid_file: Some(opts.run_dir.join("pids.txt")),
    };
    start_one(&mut native, prom_spec, cancel).await?;

    for (name, bin, addr) in [
        ("alertmanager", &alertmanager_bin, &am_addr),
        ("prometheus", &prometheus_bin, &prom_addr),
    ] {
        components.push(ComponentInfo {
            name: name.into(),
            version: version(name, bin.clone()).await,
            url: format!("http://{addr}"),
            log: logs.join(format!("{name}.log")).display().to_string(),
        });
    }

    let prometheus_url = format!("http://{prom_addr}");
    let scrape = scale(opts.files.scrape_interval(), opts.time_scale);
    wait_for_targets(
        &http,
        &prometheus_url,
        scrape * 3 + Duration::from_secs(10),
        cancel,
    )
    .await?;

    let alertmanager_url = format!("http://{am_addr}");
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
        grafana: None,
        loki: None,
        jaeger: None,
        backend: Some(native),
    })
}

async fn start_one(
    native: &mut Native,
    spec: Spec,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut p = match &native.docker {
        Some((images, run_dir)) => match images.get(&spec.name) {
            Some(image) => Unit::Container(super::docker::Container::new(spec, image, run_dir)),
            None => Unit::Process(Supervised::new(spec)),
        },
        None => Unit::Process(Supervised::new(spec)),
    };
    let name = p.spec().name.clone();
    // Registered before it starts, so that teardown covers a start that is
    // interrupted half-way.
    let result = tokio::select! {
        r = p.start(&native.http) => r.map_err(anyhow::Error::from),
        _ = cancel.cancelled() => Err(anyhow::anyhow!("interrupted while starting {name}")),
    };
    if result.is_ok() {
        tracing::info!("started {name} ({})", p.describe());
    }
    native.procs.push(p);
    result
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
            Err(e) => last = crate::observe::http_error(&e),
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
