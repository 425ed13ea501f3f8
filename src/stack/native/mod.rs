//! The native provider: every component as a child process on free
//! loopback ports, data and logs in the run directory; and, with the same
//! stages, the docker provider, whose components are containers of the
//! images `stack/docker-compose.yml` pins ([`launch`] decides which).
//!
//! - [`start`]: the order components come up in, the mocks, Prometheus and
//!   Alertmanager;
//! - [`backing`]: the filesystem for disk faults, PostgreSQL, Redis and
//!   their exporters;
//! - [`observability`]: Loki, Promtail or Alloy, Jaeger and Grafana, when
//!   installed (natively) or always (docker);
//! - this file: the running [`Native`] set and the fault operations on it.
//!
//! Binaries come from the Debian/Ubuntu packages `scripts/install.sh`
//! installs; Grafana, Loki, Promtail/Alloy and Jaeger have no Debian
//! packages and are used when their binaries are on PATH.

mod backing;
mod launch;
mod observability;
mod start;

use std::time::Duration;

use anyhow::{Context, bail};

use super::process::{Unit, which};

pub use start::{SERVICE_LOGS, start};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct Native {
    /// In start order; torn down in reverse.
    procs: Vec<Unit>,
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
/// How long the mock ml-engine's training job runs, in real time (divided
/// by the time scale when the harness starts it).
pub const MOCK_TRAIN_DURATION: std::time::Duration = std::time::Duration::from_secs(30);

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

    /// The components that are not running, each with its last log lines.
    pub async fn dead(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for p in self.procs.iter_mut() {
            if !p.is_running().await {
                let spec = p.spec();
                out.push((spec.name.clone(), super::process::last_lines(&spec.log, 8)));
            }
        }
        out
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
        // Every component is stopped: its ports are free for other runs.
        super::process::release_ports();
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

/// Whether this machine can run what a fault on `target` needs: for the
/// native provider (`docker: false`) the programs, for both the rights.
pub fn can_fault(target: &str, docker: bool) -> Result<(), String> {
    let installed = |names: &[&str]| docker || names.iter().any(|n| which(n).is_some());
    match target {
        "postgresql" if !docker && super::datastores::pg_bin("initdb").is_none() => {
            Err("PostgreSQL is not installed (package postgresql)".into())
        }
        "postgresql" if !installed(super::datastores::POSTGRES_EXPORTER) => Err(
            "prometheus-postgres-exporter is not installed, so DatabaseDown could not fire".into(),
        ),
        "disk" => {
            super::disk::can_mount()?;
            if installed(&["prometheus-node-exporter", "node_exporter"]) {
                Ok(())
            } else {
                Err(
                    "prometheus-node-exporter is not installed, so DiskSpaceLow could not fire"
                        .into(),
                )
            }
        }
        _ => Ok(()),
    }
}
