//! Alertmanager: groups, routes and inhibits the alerts Prometheus sends,
//! and notifies the receivers (here, the harness's).
//!
//! - [`render`] (`stackfiles::alertmanager`): `stack/alertmanager/alertmanager.yml` rendered for one run
//!   (receivers pointed at the harness, secrets dropped, timers scaled,
//!   the attribution tap added);
//! - this file: its catalogue entry and its start.

use super::{Build, Component, Probe};
use crate::names::ComponentName;
use crate::scenario::FaultKind;
use crate::stack::process::Ready;
use crate::stackfiles::alertmanager as render;
use crate::stackfiles::render::ALERTING_ADDRESS;

/// Debian's program name, then upstream's.
pub const PROGRAMS: &[&str] = &["prometheus-alertmanager", "alertmanager"];

pub const COMPONENT: Component = Component::new(ComponentName::Alertmanager, "Alert management")
    .compose("alertmanager")
    .probe(Probe {
        ready: "/-/ready",
        version: Some(("/api/v2/status", |v| v["versionInfo"]["version"].as_str())),
    })
    .faults(
        &[
            (FaultKind::AlertmanagerDown, "alertmanager"),
            (FaultKind::AlertmanagerRestart, "alertmanager"),
            (FaultKind::PrometheusToAlertmanagerCut, "alertmanager"),
        ],
        None,
    )
    .start_reserving(reserve, |b| Box::pin(start(b)));

/// Its program, and its address now: Prometheus' config names it.
fn reserve(b: &mut Build<'_>) -> anyhow::Result<()> {
    b.reserve(
        ComponentName::Alertmanager,
        PROGRAMS,
        "prometheus-alertmanager",
        &["alertmanager:9093"],
    )
}

/// Render its config, check it with the chosen version's own amtool, and
/// start it without gossip.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    let program = b.reserved_program(ComponentName::Alertmanager)?;
    let addr = b.address("alertmanager:9093")?;
    let config = b.render_checked(
        ComponentName::Alertmanager,
        render::render,
        |r| &r.alertmanager_config,
        &crate::stack::tools::AMTOOL,
    )?;
    let data = b.opts.run_dir.join("data");
    let spec = b.spec(
        "alertmanager",
        program.clone(),
        vec![
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", data.join("alertmanager").display()),
            format!("--web.listen-address={addr}"),
            // No gossip: it would bind 9094 and join other runs' instances.
            "--cluster.listen-address=".into(),
        ],
        Ready::Http(format!("http://{addr}/-/ready")),
    );
    b.start(spec).await?;
    b.record("alertmanager", &program, format!("http://{addr}"))
        .await;
    if b.opts.alerting_link {
        // Prometheus (started last) sends its alerts here; scrapes still go
        // direct, as a cut between two servers leaves others' paths alone.
        if let Some(listen) = b
            .link_as("alertmanager", ALERTING_PROXY, "prometheus", &addr)
            .await?
        {
            b.addresses.insert(ALERTING_ADDRESS.into(), listen);
        }
    }
    Ok(())
}

/// The Toxiproxy proxy Prometheus' alerts go through, when a scenario
/// cuts it.
pub const ALERTING_PROXY: &str = "prometheus-to-alertmanager";
