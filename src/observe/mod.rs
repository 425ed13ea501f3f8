//! What the stack did, as seen from outside: notifications that reached the
//! harness's receivers ([`receiver`]) and Prometheus' own view of its alerts
//! over time ([`alerts`]).

pub mod alerts;
pub mod dashboards;
pub mod drill;
pub mod endpoint;
#[cfg(test)]
mod fake;
pub mod grafana;
pub mod inhibitions;
pub mod jaeger;
pub mod logs;
pub mod logsearch;
pub mod loki;
pub mod receiver;
pub mod traces;

/// A reqwest error in words a user can act on, without the URL's query
/// string (which may hold a secret).
pub fn http_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or failed"
    } else if e.is_decode() {
        "unreadable response body"
    } else if e.is_status() {
        "error status"
    } else {
        "request failed"
    };
    match e.url() {
        Some(u) => format!(
            "{what} ({}://{}{})",
            u.scheme(),
            u.host_str().unwrap_or(""),
            port_and_path(u)
        ),
        None => what.to_string(),
    }
}

fn port_and_path(u: &reqwest::Url) -> String {
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{port}{}", u.path())
}

/// Serve `app` on a free loopback port until `cancel`; returns its base URL
/// and the server task.
pub async fn serve_loopback(
    app: axum::Router,
    cancel: tokio_util::sync::CancellationToken,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    serve_on("127.0.0.1:0".parse().expect("a valid address"), app, cancel).await
}

/// Serve `app` on `addr` until `cancel`; returns its base URL and the
/// server task.
pub async fn serve_on(
    addr: std::net::SocketAddr,
    app: axum::Router,
    cancel: tokio_util::sync::CancellationToken,
) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    let addr = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
    });
    Ok((format!("http://{addr}"), handle))
}

/// Call `round` after `first_after`, then again `every` after each round
/// ends, until `cancel` (which also interrupts a round in progress).
pub async fn repeat<F, Fut>(
    first_after: std::time::Duration,
    every: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    tokio::select! {
        _ = tokio::time::sleep(first_after) => {}
        _ = cancel.cancelled() => return,
    }
    loop {
        tokio::select! {
            _ = round() => {}
            _ = cancel.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
