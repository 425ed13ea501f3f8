//! The mock services, `backend-api` and `ml-engine`: zeta-bench's own
//! processes (`zeta-bench mock NAME`, see [`crate::mock`]) that emit the
//! seed's metrics, logs and traces, and take most faults through their
//! authenticated `/admin/faults` knobs. Every provider runs them the same
//! way: as processes of the harness, never containers.

use std::time::Duration;

use anyhow::Context;

use super::{Build, Component, Probe};
use crate::names::ComponentName;
use crate::scenario::FaultKind;
use crate::scenario::plan::scale;
use crate::stack::process::{Ready, free_port};

/// Where the mock services write their JSON log lines (what a log shipper
/// tails), relative to the run directory.
pub const SERVICE_LOGS: &str = "logs/services";

/// The memory limit each mock reports (cAdvisor-style), which
/// memory_pressure fills.
pub const MOCK_MEMORY_LIMIT_MB: u64 = 256;

/// How long the mock ml-engine's training job runs, in real time (divided
/// by the time scale when the harness starts it).
pub const MOCK_TRAIN_DURATION: Duration = Duration::from_secs(30);

const PROBE: Probe = Probe {
    ready: "/health",
    version: None,
};

/// The faults a mock takes, aimed at `$name`.
macro_rules! mock_faults {
    ($name:literal $(, $extra:expr)*) => {
        &[
            (FaultKind::ServiceDown, $name),
            (FaultKind::HighLatency, $name),
            (FaultKind::ErrorRate, $name),
            (FaultKind::CacheDegradation, $name),
            (FaultKind::MemoryPressure, $name),
            $($extra,)*
        ]
    };
}

pub const ML_ENGINE: Component = Component::new(
    ComponentName::MlEngine,
    "Mock ML engine (fault knobs: /admin/faults)",
)
.probe(PROBE)
// Also backend-api's Toxiproxy link to it (`network`).
.faults(
    mock_faults!("ml-engine", (FaultKind::Network, "ml-engine")),
    None,
)
.start(|b| Box::pin(start(b, ComponentName::MlEngine)));

/// Started after ml-engine, which it calls.
pub const BACKEND_API: Component = Component::new(
    ComponentName::BackendApi,
    "Mock backend API (fault knobs: /admin/faults)",
)
.probe(PROBE)
.faults(mock_faults!("backend-api"), None)
.start(|b| Box::pin(start(b, ComponentName::BackendApi)));

/// Where the compose file's services (and Prometheus' scrape config)
/// reach each mock.
fn compose(name: ComponentName) -> &'static str {
    match name {
        ComponentName::MlEngine => "ml-engine:8001",
        _ => "backend-api:8000",
    }
}

/// One mock service as a `zeta-bench mock` process.
async fn start(b: &mut Build<'_>, name: ComponentName) -> anyhow::Result<()> {
    let service_logs = b.opts.run_dir.join(SERVICE_LOGS);
    std::fs::create_dir_all(&service_logs)
        .with_context(|| format!("creating {}", service_logs.display()))?;
    let addr = format!("127.0.0.1:{}", free_port()?);
    let mut env = vec![("RUST_LOG".to_string(), "warn".to_string())];
    env.extend(b.mock_env.iter().cloned());
    // backend-api reaches ml-engine through Toxiproxy where it is built
    // (network faults on that link), else directly.
    let mut ml_engine = None;
    if name == ComponentName::BackendApi {
        env.extend(b.backend_env.iter().cloned());
        let ml = b.address(compose(ComponentName::MlEngine))?;
        ml_engine = Some(
            b.link(ComponentName::MlEngine.name(), &ml)
                .await?
                .unwrap_or(ml),
        );
    }
    let mut spec = b.spec(
        name.name(),
        b.opts.self_exe.clone(),
        args(b, name, &addr, ml_engine.as_deref())?,
        Ready::Http(format!("http://{addr}/health")),
    );
    spec.env = env;
    b.start(spec).await?;
    b.addresses.insert(compose(name).to_string(), addr.clone());
    b.services
        .insert(name.name().to_string(), format!("http://{addr}"));
    b.record_version(
        name.name(),
        Some(format!("zeta-bench {}", env!("CARGO_PKG_VERSION"))),
        format!("http://{addr}"),
    );
    Ok(())
}

/// `zeta-bench mock NAME …`: where it listens and logs, its memory limit;
/// backend-api where it reaches ml-engine, ml-engine its users and
/// training time.
fn args(
    b: &Build<'_>,
    name: ComponentName,
    addr: &str,
    ml_engine: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let log = b
        .opts
        .run_dir
        .join(SERVICE_LOGS)
        .join(format!("{name}.log"));
    let mut args = vec![
        "mock".to_string(),
        name.name().to_string(),
        "--listen".into(),
        addr.to_string(),
        // Request log lines go to their own file (what a log shipper
        // tails), not into the process log.
        "--quiet".into(),
        "--log-file".into(),
        log.display().to_string(),
        "--memory-limit-mb".into(),
        MOCK_MEMORY_LIMIT_MB.to_string(),
    ];
    if let Some(ml) = ml_engine {
        args.extend(["--ml-engine".to_string(), format!("http://{ml}")]);
        return Ok(args);
    }
    if b.opts.mock_users > 0 {
        args.extend(["--warm-users".to_string(), b.opts.mock_users.to_string()]);
    }
    // A training job's length is a duration: divided by K like the rest
    // (the cache TTLs are not; see README "Time scale").
    let train = scale(MOCK_TRAIN_DURATION, b.opts.time_scale);
    args.extend([
        "--train-duration".to_string(),
        format!("{}ms", train.as_millis().max(1)),
    ]);
    Ok(args)
}
