//! The log shipper: Promtail (the seed's), else Grafana Alloy (its
//! successor), tailing the services' log files into this run's Loki.
//!
//! - [`render`] (`stackfiles::shipper`): `stack/loki/promtail-config.yml` or `stack/loki/config.alloy`
//!   rendered for one run (the file job pointed at the services' logs,
//!   collection that cannot work here dropped and reported);
//! - this file: the two catalogue entries and the one start that runs
//!   whichever is installed, after the mocks (whose log files it tails).

use std::time::Duration;

use anyhow::Context;

use super::{Build, Component};
use crate::names::ComponentName;
use crate::stack::process::{Ready, free_port};
use crate::stackfiles::render::DroppedTarget;
use crate::stackfiles::shipper as render;

const READY: Duration = Duration::from_secs(60);

pub const PROMTAIL_PROGRAMS: &[&str] = &["promtail"];
pub const ALLOY_PROGRAMS: &[&str] = &["alloy"];

const PURPOSE: &str = "Log shipping (services' log files → Loki)";

pub const PROMTAIL: Component = Component::new(ComponentName::Promtail, PURPOSE)
    .compose("promtail")
    .start(|b| Box::pin(start(b)));

/// Started by [`PROMTAIL`]'s start when Promtail is not installed.
pub const ALLOY: Component = Component::new(ComponentName::Alloy, PURPOSE);

/// Whether a shipper could run here (Loki starts only if so).
pub fn installed(b: &Build<'_>) -> bool {
    b.launcher.program("promtail", PROMTAIL_PROGRAMS).is_some()
        || b.launcher.program("alloy", ALLOY_PROGRAMS).is_some()
}

/// Promtail, else Alloy, pushing to this run's Loki; nothing without Loki.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let Some(loki) = b.addresses.get(super::loki::COMPOSE).cloned() else {
        return Ok(());
    };
    let port = free_port()?;
    let data_dir = b.data("log-shipper");
    std::fs::create_dir_all(&data_dir)?;
    let service_logs = b.opts.run_dir.join(super::mocks::SERVICE_LOGS);
    let config_dir = b.config_dir();
    let push_url = format!("http://{loki}/loki/api/v1/push");
    let input = render::ShipperInput {
        stack_dir: &b.opts.files.dir,
        out_dir: &config_dir,
        service_logs: &service_logs,
        push_url: &push_url,
        data_dir: &data_dir,
        http_port: port,
    };
    let addr = format!("127.0.0.1:{port}");
    let (name, program, s, dropped) = match b.launcher.program("promtail", PROMTAIL_PROGRAMS) {
        Some(program) => {
            let r = render::render_promtail(&input).context("rendering Promtail's config")?;
            let args = vec![format!("-config.file={}", r.file.display())];
            let ready = Ready::Http(format!("http://{addr}/ready"));
            let s = b
                .spec("promtail", program.clone(), args, ready)
                .ready_within(READY);
            ("promtail", program, s, r.dropped)
        }
        None => {
            let program = b
                .launcher
                .program("alloy", ALLOY_PROGRAMS)
                .context("no log shipper (checked before Loki started)")?;
            let r = render::render_alloy(&input).context("rendering Alloy's config")?;
            let args = vec![
                "run".into(),
                r.file.display().to_string(),
                format!("--server.http.listen-addr={addr}"),
                format!("--storage.path={}", data_dir.display()),
                "--disable-reporting".into(),
            ];
            let ready = Ready::Http(format!("http://{addr}/-/ready"));
            let mut s = b
                .spec("alloy", program.clone(), args, ready)
                .ready_within(READY);
            s.env = r.env;
            ("alloy", program, s, r.dropped)
        }
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
