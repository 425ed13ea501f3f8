//! The PostgreSQL exporter (package `prometheus-postgres-exporter`):
//! `pg_up`, which DatabaseDown fires on. It connects to PostgreSQL
//! directly, not through backend-api's Toxiproxy link.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::postgresql::server::url;
use super::{Build, Component, Exporter};
use crate::names::ComponentName;
use crate::stack::process::{Ready, Spec};

/// Program names of the PostgreSQL exporter: Debian's, upstream's.
pub const PROGRAMS: &[&str] = &["prometheus-postgres-exporter", "postgres_exporter"];

pub const COMPONENT: Component = Component::new(ComponentName::PostgresExporter, "Exporter")
    .compose("postgres-exporter")
    .start(|b| Box::pin(start(b)));

const EXPORTER: Exporter = Exporter {
    name: ComponentName::PostgresExporter,
    programs: PROGRAMS,
    package: "prometheus-postgres-exporter",
    compose: "postgres-exporter:9187",
    alert: "DatabaseDown",
};

/// Beside a PostgreSQL that started; missing (DatabaseDown cannot fire)
/// when not installed.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some((pg_port, password)) = b.postgres.clone() else {
        return Ok(());
    };
    b.exporter(&EXPORTER, |p, e, log, pid| {
        spec(p, e, pg_port, &password, log, pid)
    })
    .await
}

/// The exporter on `port`, connecting to PostgreSQL on `pg_port` directly.
pub fn spec(
    program: PathBuf,
    port: u16,
    pg_port: u16,
    password: &str,
    log: PathBuf,
    pid_file: Option<PathBuf>,
) -> Spec {
    Spec {
        name: "postgres-exporter".into(),
        program,
        args: vec![format!("--web.listen-address=127.0.0.1:{port}")],
        env: vec![("DATA_SOURCE_NAME".into(), url(pg_port, password))],
        log,
        ready: Ready::Http(format!("http://127.0.0.1:{port}/metrics")),
        ready_timeout: Duration::from_secs(15),
        stop_signal: Signal::SIGTERM,
        pid_file,
    }
}
