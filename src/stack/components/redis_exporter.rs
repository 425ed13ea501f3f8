//! The Redis exporter (package `prometheus-redis-exporter`): `redis_up`,
//! which RedisDown fires on.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{Build, Component, Exporter};
use crate::names::ComponentName;
use crate::stack::process::{Ready, Spec};

/// Program names of the Redis exporter: Debian's, upstream's.
pub const PROGRAMS: &[&str] = &["prometheus-redis-exporter", "redis_exporter"];

pub const COMPONENT: Component = Component::new(ComponentName::RedisExporter, "Exporter")
    .compose("redis-exporter")
    .start(|b| Box::pin(start(b)));

const EXPORTER: Exporter = Exporter {
    name: ComponentName::RedisExporter,
    programs: PROGRAMS,
    package: "prometheus-redis-exporter",
    compose: "redis-exporter:9121",
    alert: "RedisDown",
};

/// Beside a Redis that started; missing (RedisDown cannot fire) when not
/// installed.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(redis) = b.addresses.get(super::redis::COMPOSE).cloned() else {
        return Ok(());
    };
    b.exporter(&EXPORTER, |p, e, log, pid| spec(p, e, &redis, log, pid))
        .await
}

/// The exporter on `port`, watching Redis at `redis` (`host:port`).
pub fn spec(
    program: PathBuf,
    port: u16,
    redis: &str,
    log: PathBuf,
    pid_file: Option<PathBuf>,
) -> Spec {
    Spec {
        name: "redis-exporter".into(),
        program,
        args: vec![
            format!("--redis.addr=redis://{redis}"),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        env: vec![],
        log,
        ready: Ready::Http(format!("http://127.0.0.1:{port}/metrics")),
        ready_timeout: Duration::from_secs(15),
        stop_signal: Signal::SIGTERM,
        pid_file,
    }
}
