//! PostgreSQL, where backend-api keeps its data: the target of
//! `database_down` (DatabaseDown fires on its exporter's `pg_up`) and of
//! `high_latency` (a latency toxic on backend-api's Toxiproxy link to it).
//!
//! - [`server`]: initdb and the server's process or container spec (as an
//!   unprivileged user when the harness is root);
//! - this file: its catalogue entry and its start. A PostgreSQL that is
//!   not installed natively is reported missing and backend-api keeps its
//!   data in memory; a fault that needs it is refused before the run.

pub mod server;

use std::path::PathBuf;

use super::{Build, Component};
use crate::names::ComponentName;
use crate::scenario::FaultKind;
use crate::stack::process::free_port;

pub const COMPONENT: Component =
    Component::new(ComponentName::Postgresql, "Database (DatabaseDown)")
        .compose("postgres")
        .faults(
            &[
                (FaultKind::DatabaseDown, "postgresql"),
                (FaultKind::HighLatency, "postgresql"),
                (FaultKind::Network, "postgresql"),
            ],
            Some(can_fault),
        )
        .start(|b| Box::pin(start(b)));

/// A fault on PostgreSQL needs the server natively, and its exporter for
/// DatabaseDown to fire.
fn can_fault(docker: bool) -> Result<(), String> {
    if !docker && server::pg_bin("initdb").is_none() {
        return Err("PostgreSQL is not installed (package postgresql)".into());
    }
    let exporter = super::postgres_exporter::PROGRAMS;
    if !docker && crate::stack::process::which_any(exporter).is_none() {
        return Err(
            "prometheus-postgres-exporter is not installed, so DatabaseDown could not fire".into(),
        );
    }
    Ok(())
}

/// PostgreSQL (as an unprivileged user when the harness is root), and the
/// latency proxy backend-api reaches it through.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let in_docker = b.launcher.containerised("postgresql");
    let data = if in_docker {
        None
    } else {
        match server::init_postgres(&b.log("initdb"), b.cancel).await {
            Ok(d) => Some(d),
            Err(e) => {
                b.missing.insert(
                    "postgresql".into(),
                    format!("{e:#}; backend-api would keep its data in memory"),
                );
                return Ok(());
            }
        }
    };
    let port = free_port()?;
    let log = b.log("postgresql");
    let password = data
        .as_ref()
        .map(|d| d.password.clone())
        .unwrap_or_else(crate::secret::random);
    let spec = match &data {
        Some(d) => d.spec(port, log, b.pid_file())?,
        None => server::docker_postgres_spec(port, &password, log, b.pid_file()),
    };
    b.running.pg_data = data;
    b.start(spec).await?;
    // backend-api reaches PostgreSQL through Toxiproxy (network faults,
    // high_latency) where it is built, else directly; the exporter
    // connects directly.
    let listen = b
        .link("postgresql", &format!("127.0.0.1:{port}"))
        .await?
        .unwrap_or_else(|| format!("127.0.0.1:{port}"));
    let proxy_port: u16 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(port);
    b.backend_env.push((
        "ZETA_DATABASE_URL".into(),
        server::url(proxy_port, &password),
    ));
    b.postgres = Some((port, password));
    // Its image in docker; natively the server binary, off PATH on Debian.
    let program = match in_docker {
        true => PathBuf::from("postgres"),
        false => server::pg_bin("postgres").unwrap_or_default(),
    };
    b.record(
        "postgresql",
        &program,
        format!("postgresql://127.0.0.1:{port}"),
    )
    .await;
    Ok(())
}
