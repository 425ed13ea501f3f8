//! What the mock services stand on: the filesystem `disk_pressure` fills
//! (with a node-exporter that watches it alone), PostgreSQL and Redis with
//! their exporters. A datastore that is not installed natively is reported
//! as not started and the mocks keep that data in memory; a fault that
//! needs it is refused before the run starts.

use std::path::PathBuf;

use anyhow::Context;

use super::start::Build;
use crate::stack::datastores as ds;
use crate::stack::process::{Ready, Spec, free_port};

/// A size-limited filesystem in the run directory, and a node-exporter that
/// sees it and nothing else: host disks neither trigger nor hide
/// DiskSpaceLow.
pub(super) async fn disk(b: &mut Build<'_>) -> anyhow::Result<()> {
    let disk = crate::stack::disk::Disk::mount(&b.opts.run_dir, &b.opts.run_dir.join("disk"))?;
    let mountpoint = disk.mountpoint.display().to_string();
    b.native.disk = Some(disk);
    let port = free_port()?;
    let program = b.launcher.require(
        "node-exporter",
        &["prometheus-node-exporter", "node_exporter"],
        "prometheus-node-exporter",
    )?;
    let spec = b.spec(
        "node-exporter",
        program.clone(),
        vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults".into(),
            "--collector.filesystem".into(),
            format!(
                "--collector.filesystem.mount-points-exclude={}",
                crate::stack::disk::all_but(&mountpoint)
            ),
            "--collector.filesystem.fs-types-exclude=^(?:[^t].*|t[^m].*|tm[^p].*|tmp[^f].*|tmpf[^s].*|tmpfs.+|t|tm|tmp|tmpf)$".into(),
        ],
        Ready::Http(format!("http://127.0.0.1:{port}/metrics")),
    );
    b.start(spec).await?;
    b.addresses
        .insert("node-exporter:9100".into(), format!("127.0.0.1:{port}"));
    b.record(
        "node-exporter",
        &program,
        format!("http://127.0.0.1:{port}"),
    )
    .await;
    Ok(())
}

/// PostgreSQL (as an unprivileged user when the harness is root), the
/// latency proxy backend-api reaches it through, and its exporter.
pub(super) async fn postgres(b: &mut Build<'_>) -> anyhow::Result<()> {
    let in_docker = b.launcher.containerised("postgresql");
    let data = if in_docker {
        None
    } else {
        match ds::init_postgres(&b.log("initdb"), b.cancel).await {
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
        None => ds::docker_postgres_spec(port, &password, log, b.pid_file()),
    };
    b.native.pg_data = data;
    b.start(spec).await?;
    // backend-api reaches PostgreSQL through a delay proxy (the
    // high_latency fault on postgresql); the exporter does not.
    let proxy = crate::stack::proxy::DelayProxy::start(format!("127.0.0.1:{port}"))
        .await
        .context("starting the PostgreSQL latency proxy")?;
    let proxy_port: u16 = proxy
        .listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(port);
    b.backend_env
        .push(("ZETA_DATABASE_URL".into(), ds::url(proxy_port, &password)));
    b.native.pg_proxy = Some(proxy);
    // Its image in docker; natively the server binary, off PATH on Debian.
    let program = match in_docker {
        true => PathBuf::from("postgres"),
        false => ds::pg_bin("postgres").unwrap_or_default(),
    };
    b.record(
        "postgresql",
        &program,
        format!("postgresql://127.0.0.1:{port}"),
    )
    .await;

    let Some(program) = b
        .launcher
        .program("postgres-exporter", ds::POSTGRES_EXPORTER)
    else {
        b.missing.insert(
            "postgres-exporter".into(),
            "not installed (package prometheus-postgres-exporter); DatabaseDown cannot fire".into(),
        );
        return Ok(());
    };
    exporter(
        b,
        "postgres-exporter",
        "postgres-exporter:9187",
        program,
        |p, e, log, pid| ds::postgres_exporter_spec(p, e, port, &password, log, pid),
    )
    .await
}

/// An exporter on a free port, scraped where the compose file says
/// (`compose`); `spec` gets (program, port, log, pid file).
async fn exporter(
    b: &mut Build<'_>,
    name: &str,
    compose: &str,
    program: PathBuf,
    spec: impl FnOnce(PathBuf, u16, PathBuf, Option<PathBuf>) -> Spec,
) -> anyhow::Result<()> {
    let port = free_port()?;
    b.start(spec(program.clone(), port, b.log(name), b.pid_file()))
        .await?;
    b.addresses
        .insert(compose.into(), format!("127.0.0.1:{port}"));
    b.record(name, &program, format!("http://127.0.0.1:{port}"))
        .await;
    Ok(())
}

/// Redis and its exporter; the mocks' caches live there.
pub(super) async fn redis(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(program) = b.launcher.program("redis", &["redis-server"]) else {
        b.missing.insert(
            "redis".into(),
            "not installed (package redis-server); the caches would live in memory".into(),
        );
        return Ok(());
    };
    let port = free_port()?;
    let spec = ds::redis_spec(
        program.clone(),
        port,
        &b.data("redis"),
        b.log("redis"),
        b.pid_file(),
    )?;
    b.start(spec).await?;
    b.mock_env
        .push(("ZETA_REDIS_URL".into(), format!("redis://127.0.0.1:{port}")));
    b.record("redis", &program, format!("redis://127.0.0.1:{port}"))
        .await;

    let Some(exporter_program) = b.launcher.program("redis-exporter", ds::REDIS_EXPORTER) else {
        b.missing.insert(
            "redis-exporter".into(),
            "not installed (package prometheus-redis-exporter); RedisDown cannot fire".into(),
        );
        return Ok(());
    };
    exporter(
        b,
        "redis-exporter",
        "redis-exporter:9121",
        exporter_program,
        |p, e, log, pid| ds::redis_exporter_spec(p, e, port, log, pid),
    )
    .await
}
