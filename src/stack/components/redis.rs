//! Redis, where the mocks keep their caches (`cache_degradation` is a mock
//! knob, not a Redis fault): `redis-server` from the Debian/Ubuntu package,
//! or the image the compose file pins. Not installed natively, it is
//! reported missing and the caches live in memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{Build, Component};
use crate::names::ComponentName;
use crate::scenario::FaultKind;
use crate::stack::process::{Ready, Spec, free_port};

/// Where the compose file's services reach it, and so where this run's
/// address for it is kept.
pub const COMPOSE: &str = "redis:6379";

pub const COMPONENT: Component = Component::new(ComponentName::Redis, "Cache")
    .compose("redis")
    .faults(&[(FaultKind::Network, "redis")], None)
    .start(|b| Box::pin(start(b)));

async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(program) = b.launcher.program("redis", &["redis-server"]) else {
        b.missing.insert(
            "redis".into(),
            "not installed (package redis-server); the caches would live in memory".into(),
        );
        return Ok(());
    };
    let port = free_port()?;
    let spec = redis_spec(
        program.clone(),
        port,
        &b.data("redis"),
        b.log("redis"),
        b.pid_file(),
    )?;
    b.start(spec).await?;
    // backend-api's link goes through Toxiproxy where it runs (network
    // faults on redis); ml-engine and the exporter connect directly.
    let direct = format!("redis://127.0.0.1:{port}");
    let link = b.link("redis", &format!("127.0.0.1:{port}")).await?;
    match link {
        Some(listen) => {
            b.backend_env
                .push(("ZETA_REDIS_URL".into(), format!("redis://{listen}")));
            b.mock_env.push(("ZETA_REDIS_URL".into(), direct));
        }
        None => b.mock_env.push(("ZETA_REDIS_URL".into(), direct)),
    }
    b.addresses
        .insert(COMPOSE.into(), format!("127.0.0.1:{port}"));
    b.record("redis", &program, format!("redis://127.0.0.1:{port}"))
        .await;
    Ok(())
}

/// Redis on `port` of 127.0.0.1, without persistence. `program` is
/// `redis-server` on PATH, or its name in the pinned image.
pub fn redis_spec(
    program: PathBuf,
    port: u16,
    dir: &Path,
    log: PathBuf,
    pid_file: Option<PathBuf>,
) -> anyhow::Result<Spec> {
    std::fs::create_dir_all(dir)?;
    Ok(Spec {
        name: "redis".into(),
        program,
        args: vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--protected-mode".into(),
            "yes".into(),
        ],
        env: vec![],
        log,
        ready: Ready::Tcp(format!("127.0.0.1:{port}")),
        ready_timeout: Duration::from_secs(15),
        stop_signal: Signal::SIGTERM,
        pid_file,
    })
}
