//! Mock services that stand in for the seed's `backend-api` (and, later,
//! `ml-engine`): real HTTP services with the seed's endpoints and the exact
//! metric names, types and labels the stack's alert rules and dashboards
//! query. Each runs as its own process (`zeta-bench mock backend-api`), so
//! that a `service_down` fault can really kill it.

pub mod backend;
pub mod log;
pub mod metrics;

use std::net::SocketAddr;

/// Serve `router` on `listen` until Ctrl-C or SIGTERM.
pub async fn serve(router: axum::Router, listen: SocketAddr) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    axum::serve(listener, router)
        .with_graceful_shutdown(crate::cli::shutdown_signal())
        .await
        .context("serving")
}
