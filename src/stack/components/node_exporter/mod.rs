//! node-exporter, watching the filesystem `disk_pressure` fills and
//! nothing else: DiskSpaceLow fires on what it reports.
//!
//! - [`disk`]: the size-limited filesystem in the run directory;
//! - this file: its catalogue entry and its start, only for a scenario
//!   with a disk fault (the host's disks are not the stack's).

pub mod disk;

use super::{Build, Component};
use crate::names::ComponentName;
use crate::scenario::FaultKind;
use crate::stack::process::{Ready, free_port, which_any};

/// Debian's program name, then upstream's.
pub const PROGRAMS: &[&str] = &["prometheus-node-exporter", "node_exporter"];

pub const COMPONENT: Component = Component::new(ComponentName::NodeExporter, "Exporter")
    .compose("node-exporter")
    .faults(&[(FaultKind::DiskPressure, "disk")], Some(can_fault))
    .start(|b| Box::pin(start(b)));

/// Filling a disk needs the rights to mount one, and node-exporter for
/// DiskSpaceLow to fire.
fn can_fault(docker: bool) -> Result<(), String> {
    disk::can_mount()?;
    if docker || which_any(PROGRAMS).is_some() {
        Ok(())
    } else {
        Err("prometheus-node-exporter is not installed, so DiskSpaceLow could not fire".into())
    }
}

/// A size-limited filesystem in the run directory, and a node-exporter that
/// sees it and nothing else: host disks neither trigger nor hide
/// DiskSpaceLow.
async fn start(b: &mut Build<'_>) -> anyhow::Result<()> {
    if !b.opts.disk {
        return Ok(());
    }
    let disk = disk::Disk::mount(&b.opts.run_dir, &b.opts.run_dir.join("disk"))?;
    let mountpoint = disk.mountpoint.display().to_string();
    b.running.disk = Some(disk);
    let port = free_port()?;
    let program = b
        .launcher
        .require("node-exporter", PROGRAMS, "prometheus-node-exporter")?;
    let spec = b.spec(
        "node-exporter",
        program.clone(),
        vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults".into(),
            "--collector.filesystem".into(),
            format!(
                "--collector.filesystem.mount-points-exclude={}",
                disk::all_but(&mountpoint)
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
