//! The native provider: every component as a child process on free
//! loopback ports, data and logs in the run directory; and, with the same
//! starts, the docker provider, whose components are containers of the
//! images `stack/docker-compose.yml` pins ([`crate::stack::launch`]
//! decides which).
//!
//! - [`start`]: the component catalogue brought up in order;
//! - this file: the running [`Native`] set and the fault operations on it.
//!
//! What each component is and how it starts lives in its own module under
//! [`crate::stack::components`]. Binaries come from the Debian/Ubuntu
//! packages `scripts/install.sh` installs, the Go-built ones from the
//! install cache; Grafana, Loki, Promtail/Alloy and Jaeger are used when
//! their binaries are on PATH.

mod start;

use std::time::Duration;

use anyhow::{Context, bail};

use super::components::node_exporter::disk::Disk;
use super::components::{Running, STOP_GRACE};
use super::process::Unit;

pub use start::start;

/// What the harness started for one run, and the faults it can inject
/// into it.
pub struct Native {
    running: Running,
}

impl Native {
    fn get(&mut self, name: &str) -> anyhow::Result<&mut Unit> {
        self.running
            .procs
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
        let http = self.running.http.clone();
        let p = self.get(name)?;
        p.start(&http).await?;
        Ok(())
    }

    /// The components that are not running, each with its last log lines.
    pub async fn dead(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for p in self.running.procs.iter_mut() {
            if !p.is_running().await {
                let spec = p.spec();
                out.push((spec.name.clone(), super::process::last_lines(&spec.log, 8)));
            }
        }
        out
    }

    pub async fn teardown(&mut self) -> Vec<String> {
        self.running.teardown().await
    }

    /// high_latency on a dependency link (PostgreSQL): a Toxiproxy
    /// latency toxic on backend-api's link to it.
    pub async fn set_latency(
        &self,
        name: &str,
        delay: Duration,
        jitter: Duration,
    ) -> anyhow::Result<()> {
        let toxic = crate::scenario::Toxic {
            latency: delay,
            jitter,
            ..Default::default()
        };
        self.network(name, &toxic, !delay.is_zero()).await
    }

    /// Put `toxic` on the Toxiproxy link to `name` (`on`), or take it off,
    /// and read the proxy back to see that it is so.
    pub async fn network(
        &self,
        name: &str,
        toxic: &crate::scenario::Toxic,
        on: bool,
    ) -> anyhow::Result<()> {
        self.running
            .links
            .as_ref()
            .context(
                "this stack runs no Toxiproxy: toxiproxy-server is built by scripts/go-tools.sh",
            )?
            .network(name, toxic, on)
            .await
    }

    /// The harness's Toxiproxy and backend-api's links through it.
    pub fn links(&self) -> Option<&crate::stack::toxiproxy::Links> {
        self.running.links.as_ref()
    }

    pub fn disk(&self) -> anyhow::Result<&Disk> {
        self.running
            .disk
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

    /// Reload a component's configuration (SIGHUP to its process).
    pub fn reload(&mut self, name: &str) -> anyhow::Result<()> {
        if !self.get(name)?.reload() {
            bail!("{name} is not running as a process here, so it cannot be reloaded by SIGHUP");
        }
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
/// The component the target names says ([`super::components::Component::can_fault`]).
pub fn can_fault(target: &str, docker: bool) -> Result<(), String> {
    match super::components::fault_target(target).and_then(|c| c.can_fault) {
        Some(check) => check(docker),
        None => Ok(()),
    }
}
