//! Jaeger: where the services' spans are looked up (`trace_coverage`),
//! and what tells them how to sample (its remote sampling endpoint).
//!
//! - [`render`] (`stackfiles::jaeger`): `stack/jaeger/jaeger-config.yml` (Jaeger v2) rendered for
//!   one run, every listener on a free loopback port;
//! - this file: its catalogue entry and its start: Jaeger v2 (`jaeger`,
//!   which `scripts/go-tools.sh` builds), else v1 (`jaeger-all-in-one`,
//!   configured by flags). Without either, the services export to the
//!   harness's own OTLP receiver, a stand-in whose coverage is reported
//!   but never passes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::{Build, Component, Need, Probe};
use crate::http::endpoint::Endpoint;
use crate::names::{ComponentName, SloKind};
use crate::scenario::FaultKind;
use crate::stack::process::{Ready, Spec, free_port, which};
use crate::stackfiles::jaeger as render;

const READY: Duration = Duration::from_secs(60);

pub const PROGRAMS: &[&str] = &["jaeger"];
const V1_PROGRAM: &str = "jaeger-all-in-one";

pub const COMPONENT: Component = Component::new(ComponentName::Jaeger, "Distributed tracing")
    .compose("jaeger")
    .probe(Probe {
        ready: "/",
        version: None,
    })
    .needed_by(&[Need {
        slo: SloKind::TraceCoverage,
        not_done: "its services export traces elsewhere, so no trace was looked up",
        stand_in_when_started: true,
    }])
    .faults(
        &[(FaultKind::TracingBackendDown, "jaeger")],
        Some(can_fault),
    )
    .start(|b| Box::pin(start(b)));

/// Killing Jaeger needs a Jaeger the harness starts: built by
/// scripts/go-tools.sh for the native provider.
fn can_fault(docker: bool) -> Result<(), String> {
    let built = crate::stack::binaries::find(
        &crate::stack::binaries::Binaries::new(Default::default()),
        "jaeger",
        PROGRAMS,
    )
    .is_some();
    if docker || built {
        Ok(())
    } else {
        Err(format!(
            "Jaeger is not built (scripts/go-tools.sh builds it into {}), so the harness runs no tracing backend to take down",
            crate::stack::binaries::tools_dir().join("bin").display()
        ))
    }
}

/// A started Jaeger: its spec and where the harness reaches its parts.
struct Planned {
    program: PathBuf,
    spec: Spec,
    query: String,
    otlp: String,
    metrics: Option<String>,
}

/// Jaeger v2, else v1; the services export their spans to it instead of
/// to the harness's own receiver.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let planned = match b.launcher.program("jaeger", PROGRAMS) {
        Some(program) => v2(b, program)?,
        None => match (!b.launcher.containerised("jaeger"))
            .then(|| which(V1_PROGRAM))
            .flatten()
        {
            Some(program) => v1(b, program)?,
            None => {
                b.absent(
                    ComponentName::Jaeger,
                    "Jaeger is not installed (jaeger or jaeger-all-in-one not on PATH)".into(),
                );
                if let Some(otlp) = &b.opts.otlp_endpoint {
                    b.mock_env
                        .push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), otlp.clone()));
                }
                return Ok(());
            }
        },
    };
    let Planned {
        program,
        spec,
        query,
        otlp,
        metrics,
    } = planned;
    b.start(spec).await?;
    if let Some(m) = metrics {
        b.addresses.insert("jaeger:8888".into(), m);
    }
    b.addresses.insert("jaeger:16686".into(), query.clone());
    b.mock_env.push((
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        format!("http://{otlp}"),
    ));
    b.record("jaeger", &program, format!("http://{query}"))
        .await;
    b.jaeger = Some(Endpoint::new(&format!("http://{query}")));
    Ok(())
}

/// Jaeger's spec: `ready` answers once its query service is up.
fn spec(b: &Build<'_>, program: PathBuf, args: Vec<String>, ready: String) -> Spec {
    b.spec("jaeger", program, args, Ready::Http(ready))
        .ready_within(READY)
}

/// Jaeger v2 with the stack's config. The services sample as its remote
/// sampling endpoint says, with the strategies file the config names. The
/// SDK's remote sampler first asks one polling interval after it starts
/// and samples at initialSamplingRate until then: every second, and the
/// file's default rate, so that a service just started (or restarted after
/// a kill) samples as one that has run for a while.
fn v2(b: &mut Build<'_>, program: PathBuf) -> anyhow::Result<Planned> {
    let r = render::render(&b.opts.files.dir, &b.config_dir(), free_port)
        .context("rendering Jaeger's config")?;
    let s = spec(
        b,
        program.clone(),
        vec![format!("--config={}", r.file.display())],
        format!("http://{}/api/v3/services", r.query),
    );
    if let Some(at) = &r.sampling {
        b.mock_env.extend([
            (
                "OTEL_TRACES_SAMPLER".to_string(),
                "parentbased_jaeger_remote".to_string(),
            ),
            (
                "OTEL_TRACES_SAMPLER_ARG".to_string(),
                format!(
                    "endpoint=http://{at},pollingIntervalMs=1000,initialSamplingRate={}",
                    r.default_rate.unwrap_or(1.0)
                ),
            ),
        ]);
    }
    Ok(Planned {
        program,
        spec: s,
        query: r.query,
        otlp: r.otlp_http,
        metrics: r.metrics,
    })
}

/// Jaeger v1's all-in-one, configured by flags.
fn v1(b: &mut Build<'_>, program: PathBuf) -> anyhow::Result<Planned> {
    let (args, query, otlp, admin) = v1_args(&b.opts.files.dir, &b.config_dir())?;
    let s = spec(
        b,
        program.clone(),
        args,
        format!("http://{query}/api/services"),
    );
    Ok(Planned {
        program,
        spec: s,
        query,
        otlp,
        metrics: Some(admin),
    })
}

/// Jaeger v1's all-in-one has no config file: every listener by flag,
/// on free loopback ports; returns (args, query, OTLP/HTTP, admin).
fn v1_args(
    stack_dir: &Path,
    config_dir: &Path,
) -> anyhow::Result<(Vec<String>, String, String, String)> {
    let addr = || -> anyhow::Result<String> { Ok(format!("127.0.0.1:{}", free_port()?)) };
    let (query, otlp, admin) = (addr()?, addr()?, addr()?);
    let sampling = config_dir.join("jaeger/sampling-strategies.json");
    if let Some(dir) = sampling.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(stack_dir.join("jaeger/sampling-strategies.json"), &sampling)
        .context("copying stack/jaeger/sampling-strategies.json")?;
    let mut args = vec![
        format!("--query.http-server.host-port={query}"),
        format!("--query.grpc-server.host-port={}", addr()?),
        "--collector.otlp.enabled=true".into(),
        format!("--collector.otlp.http.host-port={otlp}"),
        format!("--collector.otlp.grpc.host-port={}", addr()?),
        format!("--collector.http-server.host-port={}", addr()?),
        format!("--collector.grpc-server.host-port={}", addr()?),
        format!("--admin.http.host-port={admin}"),
        format!("--processor.jaeger-compact.server-host-port={}", addr()?),
        format!("--processor.jaeger-binary.server-host-port={}", addr()?),
        format!("--processor.zipkin-compact.server-host-port={}", addr()?),
        format!("--http-server.host-port={}", addr()?),
        format!(
            "--memory.max-traces={}",
            crate::stackfiles::jaeger::V1_MAX_TRACES
        ),
    ];
    args.push(format!("--sampling.strategies-file={}", sampling.display()));
    Ok((args, query, otlp, admin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_v1_gets_every_listener_on_loopback() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let out = tempfile::tempdir().unwrap();
        let (args, query, otlp, admin) = v1_args(&stack, out.path()).unwrap();
        assert!(args.contains(&format!("--query.http-server.host-port={query}")));
        assert!(args.contains(&format!("--collector.otlp.http.host-port={otlp}")));
        assert!(args.contains(&format!("--admin.http.host-port={admin}")));
        for a in args.iter().filter(|a| a.contains("host-port")) {
            assert!(a.contains("=127.0.0.1:"), "{a}");
        }
        assert!(out.path().join("jaeger/sampling-strategies.json").is_file());
    }
}
