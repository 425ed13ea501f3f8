//! Loki: where the services' log lines are searched (`log_search`).
//!
//! - [`render`] (`stackfiles::loki`): `stack/loki/loki-config.yml` rendered for one run (ports,
//!   storage in the run directory);
//! - this file: its catalogue entry and its start. Natively it has no
//!   Debian package (and is AGPL: never built here), so it starts only
//!   when `loki` is on PATH, and only when a log shipper can feed it;
//!   otherwise it is absent and `log_search` is NOT MEASURED.

use std::time::Duration;

use anyhow::Context;

use super::{Build, Component, Need, Probe};
use crate::http::endpoint::Endpoint;
use crate::names::{ComponentName, SloKind};
use crate::stack::process::{Ready, free_port};
use crate::stackfiles::loki as render;

/// Loki holds `/ready` until its ingester has been up for 15 s.
const READY: Duration = Duration::from_secs(90);

pub const PROGRAMS: &[&str] = &["loki"];

/// Where the compose file's services reach it.
pub const COMPOSE: &str = "loki:3100";

pub const COMPONENT: Component = Component::new(ComponentName::Loki, "Log queries")
    .compose("loki")
    .probe(Probe {
        ready: "/ready",
        version: None,
    })
    .needed_by(&[Need {
        slo: SloKind::LogSearch,
        not_done: "no log search was timed",
        stand_in_when_started: false,
    }])
    .start(|b| Box::pin(start(b)));

/// Loki, when a log shipper can feed it: a Loki nothing writes to would
/// only make the log checks fail for the wrong reason.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(program) = b.launcher.program("loki", PROGRAMS) else {
        b.absent(
            ComponentName::Loki,
            "Loki is not installed (loki not on PATH)".into(),
        );
        return Ok(());
    };
    if !super::shipper::installed(b) {
        b.absent(
            ComponentName::Loki,
            format!(
                "Loki is installed ({}) but no log shipper is (promtail or alloy on PATH), so no log line could reach it",
                program.display()
            ),
        );
        return Ok(());
    }
    let ports = render::LokiPorts {
        http: free_port()?,
        grpc: free_port()?,
        memberlist: free_port()?,
    };
    let data = b.data("loki");
    std::fs::create_dir_all(&data)?;
    let file = render::render(&b.opts.files.dir, &b.config_dir(), &data, ports)
        .context("rendering Loki's config")?;
    let addr = format!("127.0.0.1:{}", ports.http);
    let s = b
        .spec(
            "loki",
            program.clone(),
            vec![format!("-config.file={}", file.display())],
            Ready::Http(format!("http://{addr}/ready")),
        )
        .ready_within(READY);
    b.start(s).await?;
    b.addresses.insert(COMPOSE.into(), addr.clone());
    b.record("loki", &program, format!("http://{addr}")).await;
    b.loki = Some(Endpoint::new(&format!("http://{addr}")));
    Ok(())
}
