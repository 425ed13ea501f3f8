//! Bringing the stack up: every entry of the component catalogue
//! ([`crate::stack::components::ALL`]) reserves what others must know
//! first, then starts in the catalogue's order. Whatever goes wrong or is
//! interrupted half-way, everything started so far is torn down.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::Native;
use crate::http::endpoint::Endpoint;
use crate::stack::components::{self, Build, Running};
use crate::stack::launch::{Launcher, Mode};
use crate::stack::{Provider, ProviderDecision, Stack, StackOptions};

pub async fn start(
    decision: ProviderDecision,
    opts: StackOptions,
    cancel: &CancellationToken,
) -> anyhow::Result<Stack> {
    let mode = if decision.name == Provider::Docker {
        let services = components::compose_services();
        Mode::Docker {
            images: crate::stack::docker::Images::from_compose(&opts.files.dir, &services)?,
            run_dir: opts.run_dir.clone(),
        }
    } else {
        Mode::Process
    };
    let launcher = Launcher::new(mode, opts.binaries.clone());
    let http = crate::http::tls::client_builder()
        .no_proxy()
        .build()
        .context("building an HTTP client")?;
    let admin_token = crate::secret::random();
    let mut b = Build::new(Running::new(http), launcher, &opts, cancel, &admin_token);
    // Whatever goes wrong from here, every unit started so far is stopped
    // (and each unit also stops itself on drop).
    if let Err(e) = bring_up(&mut b).await {
        b.running.teardown().await;
        return Err(e);
    }
    Ok(stack(decision, b, admin_token))
}

/// Every component's reservation, then every start, in catalogue order.
async fn bring_up(b: &mut Build<'_>) -> anyhow::Result<()> {
    let starts = components::ALL.iter().filter_map(|c| c.start.as_ref());
    for reserve in starts.clone().filter_map(|s| s.reserve) {
        reserve(b)?;
    }
    for s in starts {
        (s.run)(b).await?;
    }
    Ok(())
}

/// The running stack, from what the starts recorded.
fn stack(decision: ProviderDecision, b: Build<'_>, admin_token: String) -> Stack {
    let url = |compose: &str| format!("http://{}", b.addresses[compose]);
    let (prometheus_url, alertmanager_url) = (url("prometheus:9090"), url("alertmanager:9093"));
    let mut rendered = b.rendered;
    rendered.dropped_targets.extend(b.dropped);
    Stack {
        provider: decision,
        components: b.components,
        prometheus: Endpoint::new(&prometheus_url),
        alertmanager: Endpoint::new(&alertmanager_url),
        prometheus_url,
        alertmanager_url,
        services: b.services,
        rendered,
        not_started: b.not_started,
        missing: b.missing,
        absent: b.absent,
        grafana: b.grafana,
        loki: b.loki,
        jaeger: b.jaeger,
        backend: Some(Native { running: b.running }),
        admin_token: Some(admin_token),
        links: None,
        receiver_switch: Default::default(),
    }
}
