//! Grafana: the dashboards whose load time `dashboard_latency` measures.
//!
//! Its catalogue entry and its start; its dashboards, datasources and
//! their rendering are files ([`crate::stackfiles::grafana`]). Natively it
//! has no Debian package (and is AGPL: never built here), so it starts only
//! when `grafana` is on PATH; otherwise dashboards are timed on Prometheus,
//! a lower bound reported as NOT MEASURED.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::{Build, Component, Need, Probe};
use crate::http::endpoint::Endpoint;
use crate::names::{ComponentName, SloKind};
use crate::stack::process::{Ready, free_port};
use crate::stackfiles::grafana::render;

/// Grafana migrates its database on a first start.
const READY: Duration = Duration::from_secs(180);

pub const PROGRAMS: &[&str] = &["grafana", "grafana-server"];

pub const COMPONENT: Component = Component::new(
    ComponentName::Grafana,
    "Dashboards & Visualization (anonymous viewer)",
)
.compose("grafana")
.probe(Probe {
    ready: "/api/health",
    version: Some(("/api/health", |v| v["version"].as_str())),
})
.needed_by(&[Need {
    slo: SloKind::DashboardLatency,
    not_done: "dashboard queries were not run through Grafana",
    stand_in_when_started: false,
}])
.start(|b| Box::pin(start(b)));

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

/// Its program and, natively, its home; `None` (recorded absent) when
/// either is missing.
fn locate(b: &mut Build<'_>) -> Option<(PathBuf, Option<PathBuf>)> {
    let Some(program) = b.launcher.program("grafana", PROGRAMS) else {
        b.absent(
            ComponentName::Grafana,
            "Grafana is not installed (grafana or grafana-server not on PATH)".into(),
        );
        return None;
    };
    if b.launcher.containerised("grafana") {
        return Some((program, None));
    }
    match grafana_home(&program) {
        Some(h) => Some((program, Some(h))),
        None => {
            b.absent(
                ComponentName::Grafana,
                format!(
                    "Grafana is installed ({}) but its home directory (with conf/defaults.ini) was not found beside it or in /usr/share/grafana; set ZETA_GRAFANA_HOME",
                    program.display()
                ),
            );
            None
        }
    }
}

/// Grafana with the stack's datasources and dashboards provisioned; the
/// harness queries it as admin, people may look on as anonymous viewers
/// (it listens on loopback only).
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some((program, home)) = locate(b) else {
        return Ok(());
    };
    let r = render::render(
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
    let mut s = b
        .spec(
            "grafana",
            program.clone(),
            args,
            Ready::Http(format!("http://{addr}/api/health")),
        )
        .ready_within(READY);
    s.env = env(b, port, &data, &r.provisioning, &secret);
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

/// Its settings: loopback only, paths in the run directory, the per-run
/// admin password, anonymous viewers, nothing phoned home.
fn env(
    b: &Build<'_>,
    port: u16,
    data: &Path,
    provisioning: &Path,
    secret: &str,
) -> Vec<(String, String)> {
    let path = |p: &Path| p.display().to_string();
    [
        ("GF_SERVER_HTTP_ADDR", "127.0.0.1".to_string()),
        ("GF_SERVER_HTTP_PORT", port.to_string()),
        ("GF_PATHS_DATA", path(data)),
        ("GF_PATHS_LOGS", path(&b.opts.run_dir.join("logs/grafana"))),
        ("GF_PATHS_PLUGINS", path(&data.join("plugins"))),
        ("GF_PATHS_PROVISIONING", path(provisioning)),
        ("GF_SECURITY_ADMIN_USER", "admin".to_string()),
        ("GF_SECURITY_ADMIN_PASSWORD", secret.to_string()),
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
    .collect()
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
}
