//! Test support: a loopback HTTP server that answers canned bodies (the
//! real fixtures, malformed ones, 5xx, slow answers) and records what it was
//! asked, so the Grafana, Loki and Jaeger clients are tested on the wire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;

#[derive(Clone)]
pub(crate) struct Canned {
    /// Matches when the request's path (without query) starts with this.
    pub prefix: String,
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub(crate) fn new(prefix: &str, status: u16, body: &str) -> Canned {
        Canned {
            prefix: prefix.into(),
            status,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn slow(mut self, delay: Duration) -> Canned {
        self.delay = delay;
        self
    }
}

/// A request as the fake server saw it: method, path and query, body.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub uri: String,
    pub body: String,
    pub authorization: Option<String>,
}

pub(crate) struct Fake {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    cancel: tokio_util::sync::CancellationToken,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Serve `routes` (first match wins; 404 otherwise) on a free loopback port.
pub(crate) async fn serve(routes: Vec<Canned>) -> Fake {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = seen.clone();
    let routes = Arc::new(routes);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: axum::http::HeaderMap, body: Bytes| {
            let routes = routes.clone();
            let seen = seen2.clone();
            async move {
                seen.lock().unwrap().push(Seen {
                    method: method.to_string(),
                    uri: uri.to_string(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                    authorization: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from),
                });
                match routes.iter().find(|r| uri.path().starts_with(&r.prefix)) {
                    Some(r) => {
                        tokio::time::sleep(r.delay).await;
                        (
                            StatusCode::from_u16(r.status).unwrap(),
                            [("content-type", "application/json")],
                            r.body.clone(),
                        )
                            .into_response()
                    }
                    None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
                }
            }
        },
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let (url, _task) = crate::http::serve_loopback(app, cancel.clone())
        .await
        .expect("binding a loopback port");
    Fake { url, seen, cancel }
}

/// Serve a hand-written `app` (for servers whose answer depends on the
/// request), recording requests like [`serve`].
pub(crate) async fn serve_app(app: axum::Router) -> Fake {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = seen.clone();
    let app = app.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let seen = seen2.clone();
            async move {
                seen.lock().unwrap().push(Seen {
                    method: req.method().to_string(),
                    uri: req.uri().to_string(),
                    body: String::new(),
                    authorization: req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(String::from),
                });
                next.run(req).await
            }
        },
    ));
    let cancel = tokio_util::sync::CancellationToken::new();
    let (url, _task) = crate::http::serve_loopback(app, cancel.clone())
        .await
        .expect("binding a loopback port");
    Fake { url, seen, cancel }
}
