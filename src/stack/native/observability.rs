//! Loki, the log shipper (Promtail, or Grafana Alloy), Jaeger and Grafana.
//!
//! Natively these have no Debian/Ubuntu packages, so each is started when
//! its binary is on PATH and otherwise recorded as absent with the reason,
//! which the SLO checks turn into "not measured" rather than a pass. With
//! the docker provider they always run, from the images
//! `stack/docker-compose.yml` pins. Configs are rendered from `stack/`
//! ([`crate::stack::render`]); a component that is installed but fails to
//! start stops the run (exit 3 with its last log lines): it was meant to
//! be measured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::start::{Build, SERVICE_LOGS};
use crate::http::endpoint::Endpoint;
use crate::stack::process::{Ready, Spec, free_port, which};
use crate::stack::render::{self, DroppedTarget};

/// Loki holds `/ready` until its ingester has been up for 15 s.
const LOKI_READY: Duration = Duration::from_secs(90);
/// Grafana migrates its database on a first start.
const GRAFANA_READY: Duration = Duration::from_secs(180);
const READY: Duration = Duration::from_secs(60);

const LOKI: &[&str] = &["loki"];
const PROMTAIL: &[&str] = &["promtail"];
const ALLOY: &[&str] = &["alloy"];
const JAEGER_V2: &[&str] = &["jaeger"];
const JAEGER_V1: &str = "jaeger-all-in-one";
const GRAFANA: &[&str] = &["grafana", "grafana-server"];

/// [`Build::spec`] with this module's readiness timeout.
fn spec(b: &Build<'_>, name: &str, program: PathBuf, args: Vec<String>, ready: Ready) -> Spec {
    Spec {
        ready_timeout: READY,
        ..b.spec(name, program, args, ready)
    }
}

fn absent(b: &mut Build<'_>, component: &str, why: String) {
    tracing::info!("{component}: {why}");
    b.absent.insert(component.to_string(), why);
}

/// Loki, when a log shipper can feed it: a Loki nothing writes to would
/// only make the log checks fail for the wrong reason.
pub(super) async fn loki(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(program) = b.launcher.program("loki", LOKI) else {
        absent(b, "loki", "Loki is not installed (loki not on PATH)".into());
        return Ok(());
    };
    if b.launcher.program("promtail", PROMTAIL).is_none()
        && b.launcher.program("alloy", ALLOY).is_none()
    {
        absent(
            b,
            "loki",
            format!(
                "Loki is installed ({}) but no log shipper is (promtail or alloy on PATH), so no log line could reach it",
                program.display()
            ),
        );
        return Ok(());
    }
    let ports = render::loki::LokiPorts {
        http: free_port()?,
        grpc: free_port()?,
        memberlist: free_port()?,
    };
    let data = b.data("loki");
    std::fs::create_dir_all(&data)?;
    let file = render::loki::render(&b.opts.files.dir, &b.config_dir(), &data, ports)
        .context("rendering Loki's config")?;
    let addr = format!("127.0.0.1:{}", ports.http);
    let mut s = spec(
        b,
        "loki",
        program.clone(),
        vec![format!("-config.file={}", file.display())],
        Ready::Http(format!("http://{addr}/ready")),
    );
    s.ready_timeout = LOKI_READY;
    b.start(s).await?;
    b.addresses.insert("loki:3100".into(), addr.clone());
    b.record("loki", &program, format!("http://{addr}")).await;
    b.loki = Some(Endpoint::new(&format!("http://{addr}")));
    Ok(())
}

/// Promtail (the seed's), else Alloy (its successor), tailing the
/// services' log files into this run's Loki.
pub(super) async fn shipper(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(loki) = b.addresses.get("loki:3100").cloned() else {
        return Ok(());
    };
    let port = free_port()?;
    let data_dir = b.data("log-shipper");
    std::fs::create_dir_all(&data_dir)?;
    let service_logs = b.opts.run_dir.join(SERVICE_LOGS);
    let config_dir = b.config_dir();
    let push_url = format!("http://{loki}/loki/api/v1/push");
    let input = render::shipper::ShipperInput {
        stack_dir: &b.opts.files.dir,
        out_dir: &config_dir,
        service_logs: &service_logs,
        push_url: &push_url,
        data_dir: &data_dir,
        http_port: port,
    };
    let addr = format!("127.0.0.1:{port}");
    let (name, program, s, dropped) = if let Some(program) =
        b.launcher.program("promtail", PROMTAIL)
    {
        let r = render::shipper::render_promtail(&input).context("rendering Promtail's config")?;
        let s = spec(
            b,
            "promtail",
            program.clone(),
            vec![format!("-config.file={}", r.file.display())],
            Ready::Http(format!("http://{addr}/ready")),
        );
        ("promtail", program, s, r.dropped)
    } else {
        let program = b
            .launcher
            .program("alloy", ALLOY)
            .context("no log shipper (checked before Loki started)")?;
        let r = render::shipper::render_alloy(&input).context("rendering Alloy's config")?;
        let mut s = spec(
            b,
            "alloy",
            program.clone(),
            vec![
                "run".into(),
                r.file.display().to_string(),
                format!("--server.http.listen-addr={addr}"),
                format!("--storage.path={}", data_dir.display()),
                "--disable-reporting".into(),
            ],
            Ready::Http(format!("http://{addr}/-/ready")),
        );
        s.env = r.env;
        ("alloy", program, s, r.dropped)
    };
    b.dropped.extend(dropped.into_iter().map(|d| DroppedTarget {
        job: format!("{name}: {}", d.job),
        target: "log collection".into(),
        reason: d.reason,
    }));
    b.start(s).await?;
    // Prometheus' `promtail` job scrapes whichever shipper runs.
    b.addresses.insert("promtail:9080".into(), addr.clone());
    b.record(name, &program, format!("http://{addr}")).await;
    Ok(())
}

/// Jaeger v2 (`jaeger`, with the stack's config), else v1
/// (`jaeger-all-in-one`, configured by flags); the services export their
/// spans to it instead of to the harness's own receiver.
pub(super) async fn jaeger(b: &mut Build<'_>) -> anyhow::Result<()> {
    let (program, s, query, otlp, metrics) =
        if let Some(program) = b.launcher.program("jaeger", JAEGER_V2) {
            let r = render::jaeger::render(&b.opts.files.dir, &b.config_dir(), free_port)
                .context("rendering Jaeger's config")?;
            let s = spec(
                b,
                "jaeger",
                program.clone(),
                vec![format!("--config={}", r.file.display())],
                Ready::Http(format!("http://{}/api/v3/services", r.query)),
            );
            // The services sample as Jaeger's remote sampling endpoint
            // says, with the strategies file the config names. The SDK's
            // remote sampler first asks one polling interval after it starts
            // and samples at initialSamplingRate until then: every second, and
            // the file's default rate, so that a service just started (or
            // restarted after a kill) samples as one that has run for a while.
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
            (program, s, r.query, r.otlp_http, r.metrics)
        } else if let Some(program) = (!b.launcher.containerised("jaeger"))
            .then(|| which(JAEGER_V1))
            .flatten()
        {
            let (args, query, otlp, admin) = jaeger_v1_args(&b.opts.files.dir, &b.config_dir())?;
            let s = spec(
                b,
                "jaeger",
                program.clone(),
                args,
                Ready::Http(format!("http://{query}/api/services")),
            );
            (program, s, query, otlp, Some(admin))
        } else {
            absent(
                b,
                "jaeger",
                "Jaeger is not installed (jaeger or jaeger-all-in-one not on PATH)".into(),
            );
            return Ok(());
        };
    b.start(s).await?;
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

/// Jaeger v1's all-in-one has no config file: every listener by flag,
/// on free loopback ports; returns (args, query, OTLP/HTTP, admin).
fn jaeger_v1_args(
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
        "--memory.max-traces=100000".into(),
    ];
    args.push(format!("--sampling.strategies-file={}", sampling.display()));
    Ok((args, query, otlp, admin))
}

/// Where a native Grafana keeps `conf/defaults.ini`: beside its `bin/`
/// (release tarball), or /usr/share/grafana (Grafana's own packages).
fn grafana_home(program: &Path) -> Option<PathBuf> {
    let beside = program.parent()?.parent().map(Path::to_path_buf);
    let candidates = [
        std::env::var_os("ZETA_GRAFANA_HOME").map(PathBuf::from),
        beside,
        Some(PathBuf::from("/usr/share/grafana")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|h| h.join("conf/defaults.ini").is_file())
}

/// Grafana with the stack's datasources and dashboards provisioned; the
/// harness queries it as admin, people may look on as anonymous viewers
/// (it listens on loopback only).
pub(super) async fn grafana(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(program) = b.launcher.program("grafana", GRAFANA) else {
        absent(
            b,
            "grafana",
            "Grafana is not installed (grafana or grafana-server not on PATH)".into(),
        );
        return Ok(());
    };
    let in_docker = b.launcher.containerised("grafana");
    let home = if in_docker {
        None
    } else {
        match grafana_home(&program) {
            Some(h) => Some(h),
            None => {
                absent(
                    b,
                    "grafana",
                    format!(
                        "Grafana is installed ({}) but its home directory (with conf/defaults.ini) was not found beside it or in /usr/share/grafana; set ZETA_GRAFANA_HOME",
                        program.display()
                    ),
                );
                return Ok(());
            }
        }
    };
    let r = render::grafana::render(
        &b.opts.files.dir,
        &b.config_dir(),
        &b.addresses,
        b.opts.time_scale,
    )
    .context("rendering Grafana's provisioning")?;
    for (ds, addr) in &r.unreachable {
        b.not_started.push(format!(
            "grafana: datasource {ds} points at {addr}, which this stack does not run; its panels cannot load"
        ));
    }
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let data = b.data("grafana");
    std::fs::create_dir_all(data.join("plugins"))?;
    let secret = crate::secret::random();
    let args = match &home {
        None => vec![],
        Some(h) => {
            let sub = program
                .file_name()
                .is_some_and(|f| f == "grafana")
                .then(|| "server".to_string());
            sub.into_iter()
                .chain(["--homepath".into(), h.display().to_string()])
                .collect()
        }
    };
    let mut s = spec(
        b,
        "grafana",
        program.clone(),
        args,
        Ready::Http(format!("http://{addr}/api/health")),
    );
    s.ready_timeout = GRAFANA_READY;
    let path = |p: &Path| p.display().to_string();
    s.env = [
        ("GF_SERVER_HTTP_ADDR", "127.0.0.1".to_string()),
        ("GF_SERVER_HTTP_PORT", port.to_string()),
        ("GF_PATHS_DATA", path(&data)),
        ("GF_PATHS_LOGS", path(&b.opts.run_dir.join("logs/grafana"))),
        ("GF_PATHS_PLUGINS", path(&data.join("plugins"))),
        ("GF_PATHS_PROVISIONING", path(&r.provisioning)),
        ("GF_SECURITY_ADMIN_USER", "admin".to_string()),
        ("GF_SECURITY_ADMIN_PASSWORD", secret.clone()),
        ("GF_USERS_ALLOW_SIGN_UP", "false".to_string()),
        ("GF_AUTH_ANONYMOUS_ENABLED", "true".to_string()),
        ("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer".to_string()),
        ("GF_ANALYTICS_REPORTING_ENABLED", "false".to_string()),
        ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false".to_string()),
        ("GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "false".to_string()),
        ("GF_NEWS_NEWS_FEED_ENABLED", "false".to_string()),
        ("GF_LOG_MODE", "console".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    b.start(s).await?;
    b.addresses.insert("grafana:3000".into(), addr.clone());
    b.record("grafana", &program, format!("http://{addr}"))
        .await;
    b.grafana = Some(Endpoint::with_basic_auth(
        &format!("http://{addr}"),
        "admin",
        &secret,
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_home_is_found_beside_a_release_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("grafana-12/bin/grafana");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(&bin, "").unwrap();
        if !Path::new("/usr/share/grafana/conf/defaults.ini").is_file()
            && std::env::var_os("ZETA_GRAFANA_HOME").is_none()
        {
            assert_eq!(grafana_home(&bin), None);
        }
        std::fs::create_dir_all(dir.path().join("grafana-12/conf")).unwrap();
        std::fs::write(dir.path().join("grafana-12/conf/defaults.ini"), "").unwrap();
        if std::env::var_os("ZETA_GRAFANA_HOME").is_none() {
            assert_eq!(grafana_home(&bin), Some(dir.path().join("grafana-12")));
        }
    }

    #[test]
    fn passwords_are_long_and_differ() {
        let (a, b) = (crate::secret::random(), crate::secret::random());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn jaeger_v1_gets_every_listener_on_loopback() {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let out = tempfile::tempdir().unwrap();
        let (args, query, otlp, admin) = jaeger_v1_args(&stack, out.path()).unwrap();
        assert!(args.contains(&format!("--query.http-server.host-port={query}")));
        assert!(args.contains(&format!("--collector.otlp.http.host-port={otlp}")));
        assert!(args.contains(&format!("--admin.http.host-port={admin}")));
        for a in args.iter().filter(|a| a.contains("host-port")) {
            assert!(a.contains("=127.0.0.1:"), "{a}");
        }
        assert!(out.path().join("jaeger/sampling-strategies.json").is_file());
    }
}
