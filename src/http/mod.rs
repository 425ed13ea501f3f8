//! Small HTTP helpers every layer shares: an [`Endpoint`] with its
//! credentials and timeouts, error text a user can act on without leaking a
//! URL's secret query, and a loopback server for the harness's own
//! listeners (receivers, trace sink, control server, mocks).
//!
//! It sits at the bottom of the module graph: it depends on nothing else in
//! the crate, so `stack`, `mock` and `observe` can all use it.

pub mod endpoint;
pub mod tls;

pub use endpoint::Endpoint;

/// A reqwest error in words a user can act on, without the URL's query
/// string (which may hold a secret).
pub fn http_error(e: &reqwest::Error) -> String {
    let tls = tls::tls_cause(e);
    let what = if let Some(cause) = &tls {
        cause.as_str()
    } else if e.is_timeout() {
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

/// `s` as one URL path segment: every byte but ASCII letters, digits and
/// `-_.` percent-encoded (names may hold `/`, spaces or `?`).
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
