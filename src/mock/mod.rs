//! Mock services that stand in for the seed's `backend-api` and
//! `ml-engine`: real HTTP services with the seed's endpoints, the exact
//! metric names, types and labels of [`crate::contract`], the seed's JSON
//! log lines, OTLP traces, and fault knobs. Each runs as its own process
//! (`zeta-bench mock backend-api|ml-engine`), so that a `service_down`
//! fault can really kill it. [`receivers`] is the switch that makes the
//! harness's stand-ins for PagerDuty, Slack and webhooks fail.

pub mod backend;
pub mod config;
pub mod faults;
pub mod kit;
pub mod log;
pub mod metrics;
pub mod ml;
pub mod receivers;
pub mod sampling;
pub mod store;
pub mod trace;
pub mod vector;

#[cfg(test)]
mod tests;

pub use config::MockConfig;

/// Serve `router` on `listen` until Ctrl-C or SIGTERM.
pub async fn serve(router: axum::Router, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::signal::shutdown_signal())
        .await
        .context("serving")
}
