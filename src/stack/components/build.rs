//! The bring-up context each component's start receives ([`Build`]): the
//! launcher, the run's options, what has started so far ([`Running`]), and
//! what one start hands on to the next (the addresses the renderers map
//! compose names to, the mocks' environment, the rendered configs, the
//! endpoints the observers will use).
//!
//! Every unit is registered in [`Running`] before it starts, so that
//! [`Running::teardown`] covers a start that fails or is interrupted
//! half-way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use tokio_util::sync::CancellationToken;

use super::node_exporter::disk::Disk;
use super::postgresql::server::PgData;
use crate::http::endpoint::Endpoint;
use crate::names::ComponentName;
use crate::stack::launch::Launcher;
use crate::stack::process::{Ready, Spec, Unit};
use crate::stack::tools::Validator;
use crate::stack::toxiproxy::{self, Links, Proxy, Toxiproxy};
use crate::stack::{ComponentInfo, StackOptions};
use crate::stackfiles::render::{AddressMap, DroppedTarget, RenderInput, Rendered};

/// How long a component has to become ready, unless its module says.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a component has to stop after its stop signal.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the harness started, with what it must undo at teardown.
pub struct Running {
    /// In start order; torn down in reverse.
    pub(crate) procs: Vec<Unit>,
    pub(crate) http: reqwest::Client,
    /// PostgreSQL's data directory, removed after PostgreSQL stops.
    pub(crate) pg_data: Option<PgData>,
    /// The filesystem disk_pressure fills; unmounted at teardown.
    pub(crate) disk: Option<Disk>,
    /// Toxiproxy, when the harness runs it: backend-api's links to
    /// PostgreSQL, Redis and ml-engine, by the proxy's name, and where each
    /// listens.
    pub(crate) links: Option<Links>,
}

impl Running {
    pub fn new(http: reqwest::Client) -> Running {
        Running {
            procs: Vec::new(),
            http,
            pg_data: None,
            disk: None,
            links: None,
        }
    }

    /// Stop everything, in reverse start order, and undo what the starts
    /// mounted and made; returns what did not go cleanly. Safe to call
    /// more than once.
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
        if let Some(mut d) = self.disk.take() {
            if let Err(e) = d.unmount() {
                notes.push(format!("unmounting {}: {e:#}", d.mountpoint.display()));
            }
        }
        // Every component is stopped: its ports are free for other runs.
        crate::stack::process::release_ports();
        notes
    }
}

/// An exporter the stack runs beside what it watches.
pub struct Exporter {
    pub name: ComponentName,
    /// Its program names (Debian's, upstream's), and the package with them.
    pub programs: &'static [&'static str],
    pub package: &'static str,
    /// Where Prometheus scrapes it (`host:port` in the compose file).
    pub compose: &'static str,
    /// The alert that fires on what it reports.
    pub alert: &'static str,
}

/// What the starts have brought up so far, and what they hand on.
pub struct Build<'a> {
    pub running: Running,
    pub launcher: Launcher,
    pub opts: &'a StackOptions,
    pub cancel: &'a CancellationToken,
    pub components: Vec<ComponentInfo>,
    /// Compose `host:port` → where it really listens (for the renderers).
    pub addresses: AddressMap,
    /// Programs a reservation found before anything started.
    pub programs: BTreeMap<ComponentName, PathBuf>,
    pub not_started: Vec<String>,
    /// Components this provider needs that could not start here, and why.
    pub missing: BTreeMap<String, String>,
    /// Grafana, Loki or Jaeger that this stack does not have, and why.
    pub absent: BTreeMap<String, String>,
    /// Log collection jobs the shipper's renderer dropped.
    pub dropped: Vec<DroppedTarget>,
    /// Environment of both mocks, and of backend-api alone.
    pub mock_env: Vec<(String, String)>,
    pub backend_env: Vec<(String, String)>,
    /// PostgreSQL's port and the harness user's password, for its exporter.
    pub postgres: Option<(u16, String)>,
    /// Mock service name → base URL.
    pub services: BTreeMap<String, String>,
    /// Prometheus' and Alertmanager's rendered configs.
    pub rendered: Rendered,
    pub grafana: Option<Endpoint>,
    pub loki: Option<Endpoint>,
    pub jaeger: Option<Endpoint>,
}

impl<'a> Build<'a> {
    pub fn new(
        running: Running,
        launcher: Launcher,
        opts: &'a StackOptions,
        cancel: &'a CancellationToken,
        admin_token: &str,
    ) -> Build<'a> {
        Build {
            running,
            launcher,
            opts,
            cancel,
            components: Vec::new(),
            addresses: AddressMap::new(),
            programs: BTreeMap::new(),
            not_started: Vec::new(),
            missing: BTreeMap::new(),
            absent: BTreeMap::new(),
            dropped: Vec::new(),
            mock_env: vec![("ZETA_ADMIN_TOKEN".to_string(), admin_token.to_string())],
            backend_env: Vec::new(),
            postgres: None,
            services: BTreeMap::new(),
            rendered: Rendered::default(),
            grafana: None,
            loki: None,
            jaeger: None,
        }
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.opts.run_dir.join("logs").join(format!("{name}.log"))
    }

    pub fn pid_file(&self) -> Option<PathBuf> {
        Some(self.opts.run_dir.join("pids.txt"))
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.opts.run_dir.join("data").join(name)
    }

    pub fn config_dir(&self) -> PathBuf {
        self.opts.run_dir.join("config")
    }

    /// A Toxiproxy proxy `name` in front of `upstream` (`host:port`), for
    /// backend-api's link to it: where backend-api should connect, or None
    /// where Toxiproxy is not built (faults on the link are then refused
    /// before a run). The first link starts `toxiproxy-server`, a local
    /// process on both providers (containers share the host's network).
    pub async fn link(&mut self, name: &str, upstream: &str) -> anyhow::Result<Option<String>> {
        self.link_as(name, name, "backend-api", upstream).await
    }

    /// [`Build::link`] for `client`'s link to `target`, through a proxy
    /// named `proxy` (faults on `target` find it under that name).
    pub async fn link_as(
        &mut self,
        target: &str,
        proxy: &str,
        client: &str,
        upstream: &str,
    ) -> anyhow::Result<Option<String>> {
        let name = proxy;
        if self.running.links.is_none() {
            let Some(program) = self.launcher.program("toxiproxy", toxiproxy::PROGRAMS) else {
                tracing::info!(
                    "toxiproxy-server is not built (scripts/go-tools.sh): {client} reaches {target} directly"
                );
                return Ok(None);
            };
            let port = crate::stack::process::free_port()?;
            let spec = toxiproxy::spec(program, port, self.log("toxiproxy"), self.pid_file());
            self.start(spec).await?;
            let api = format!("http://127.0.0.1:{port}");
            self.running.links = Some(Links::new(Toxiproxy::new(&api)?));
            // Listed with the stack's components, so that `up.json` names
            // the API a staging drill's network faults go through.
            self.record_version("toxiproxy", Some(toxiproxy::VERSION.into()), api);
        }
        let links = self.running.links.as_mut().expect("started above");
        let listen = links
            .api
            .create(name, upstream)
            .await
            .with_context(|| format!("linking {client} to {target} through Toxiproxy"))?;
        links.proxies.insert(
            target.to_string(),
            Proxy {
                name: name.to_string(),
                listen: listen.clone(),
            },
        );
        Ok(Some(listen))
    }

    /// Where the compose name `host:port` really listens in this run.
    pub fn address(&self, compose: &str) -> anyhow::Result<String> {
        self.addresses.get(compose).cloned().ok_or_else(|| {
            anyhow::anyhow!("no address for {compose}: its component was not started or reserved")
        })
    }

    /// Reserve a server every stack needs (Prometheus, Alertmanager)
    /// before anything starts: its program (an error naming `package` when
    /// none of `programs` is installed) and a free loopback port, under each
    /// of its `compose` names, which other components' configs name.
    pub fn reserve(
        &mut self,
        name: ComponentName,
        programs: &[&str],
        package: &str,
        compose: &[&str],
    ) -> anyhow::Result<()> {
        let program = self.launcher.require(name.name(), programs, package)?;
        self.programs.insert(name, program);
        let addr = format!("127.0.0.1:{}", crate::stack::process::free_port()?);
        for c in compose {
            self.addresses.insert((*c).to_string(), addr.clone());
        }
        Ok(())
    }

    /// The program a reservation found for `name`.
    pub fn reserved_program(&self, name: ComponentName) -> anyhow::Result<PathBuf> {
        self.programs
            .get(&name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{name}: its program was not looked up before start"))
    }

    /// Render `server`'s config (Prometheus', Alertmanager's) into
    /// [`Build::rendered`] with `render`, then, where it runs as a process,
    /// check it with the chosen server's own validator (`check`): a config
    /// one version accepts and another refuses is found before the server
    /// starts. Returns the rendered file, which `file` picks.
    pub fn render_checked(
        &mut self,
        server: ComponentName,
        render: fn(&RenderInput<'_>, &mut Rendered) -> anyhow::Result<()>,
        file: fn(&Rendered) -> &Path,
        check: &Validator,
    ) -> anyhow::Result<PathBuf> {
        let out_dir = self.config_dir();
        let input = RenderInput {
            files: &self.opts.files,
            time_scale: self.opts.time_scale,
            addresses: &self.addresses,
            receiver_base: &self.opts.receiver_base,
            out_dir: &out_dir,
        };
        render(&input, &mut self.rendered).context("rendering stack/ into the run directory")?;
        let config = file(&self.rendered).to_path_buf();
        if !self.launcher.containerised(server.name()) {
            let program = self.reserved_program(server)?;
            crate::stack::tools::check_rendered(&self.opts.binaries, check, &program, &config)?;
        }
        Ok(config)
    }

    /// How to start `name`: no extra environment, its log in the run
    /// directory, SIGTERM to stop, the usual readiness timeout.
    pub fn spec(&self, name: &str, program: PathBuf, args: Vec<String>, ready: Ready) -> Spec {
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
    pub async fn start(&mut self, spec: Spec) -> anyhow::Result<()> {
        let mut unit = self.launcher.unit(spec);
        let name = unit.spec().name.clone();
        let result = tokio::select! {
            r = unit.start(&self.running.http) => r.map_err(anyhow::Error::from),
            _ = self.cancel.cancelled() => Err(anyhow::anyhow!("interrupted while starting {name}")),
        };
        if result.is_ok() {
            tracing::info!("started {name} ({})", unit.describe());
        }
        self.running.procs.push(unit);
        result
    }

    /// Record a running component for the result and the access table.
    pub async fn record(&mut self, name: &str, program: &Path, url: String) {
        let version = self.launcher.version(name, program).await;
        self.record_version(name, version, url);
    }

    pub fn record_version(&mut self, name: &str, version: Option<String>, url: String) {
        self.components.push(ComponentInfo {
            name: name.to_string(),
            version,
            url,
            log: self.log(name).display().to_string(),
        });
    }

    /// An exporter on a free port, scraped where the compose file says
    /// (`e.compose`); `spec` gets (program, port, log, pid file). When none
    /// of its programs is installed, it is recorded missing, saying which
    /// alert therefore cannot fire.
    pub async fn exporter(
        &mut self,
        e: &Exporter,
        spec: impl FnOnce(PathBuf, u16, PathBuf, Option<PathBuf>) -> Spec,
    ) -> anyhow::Result<()> {
        let name = e.name.name();
        let Some(program) = self.launcher.program(name, e.programs) else {
            self.missing.insert(
                name.into(),
                format!(
                    "not installed (package {}); {} cannot fire",
                    e.package, e.alert
                ),
            );
            return Ok(());
        };
        let port = crate::stack::process::free_port()?;
        self.start(spec(program.clone(), port, self.log(name), self.pid_file()))
            .await?;
        self.addresses
            .insert(e.compose.into(), format!("127.0.0.1:{port}"));
        self.record(name, &program, format!("http://127.0.0.1:{port}"))
            .await;
        Ok(())
    }

    /// A component this stack does not have (Grafana, Loki, Jaeger), and
    /// why: the SLOs that need it say "not measured" with this reason.
    pub fn absent(&mut self, component: ComponentName, why: String) {
        tracing::info!("{component}: {why}");
        self.absent.insert(component.name().to_string(), why);
    }
}
