//! How the engine sends one request.
//!
//! Each of the engine's workers owns a [`Conn`]. For `http://` targets that
//! is one HTTP/1.1 keep-alive connection of the engine's own ([`super::http1`]),
//! driven by the worker itself: no task per connection, no request object,
//! no header map, no per-request URL parsing. That is what lets one core
//! send as much as wrk (`scripts/compare-load-tools.sh`). `https://`
//! targets go through reqwest (TLS and proxies are its business).

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use super::http1::{self, Http1Conn, Round};
use super::record::Outcome;

/// One request, ready to send.
pub struct Req {
    pub method: reqwest::Method,
    /// Path and query (with the base URL's path prefix).
    pub path: String,
    pub tenant: String,
    pub traceparent: String,
    /// Shared, not copied, when a lost keep-alive connection makes the
    /// request go again.
    pub body: Option<Bytes>,
}

/// Where requests go and how; shared by the workers.
pub enum Client {
    Http1 {
        addr: SocketAddr,
        /// The Host header's value.
        host_header: String,
        prefix: String,
        timeout: Duration,
    },
    Reqwest {
        client: reqwest::Client,
        base: String,
    },
}

impl Client {
    /// A client for `base` (scheme, host, port and an optional path
    /// prefix): the engine's own connections for http, reqwest for https.
    pub async fn new(
        base: &str,
        max_in_flight: usize,
        timeout: Duration,
    ) -> anyhow::Result<Client> {
        let url = reqwest::Url::parse(base)
            .map_err(|e| anyhow::anyhow!("target {base:?} is not a URL: {e}"))?;
        if url.scheme() == "http" {
            let host = url.host_str().unwrap_or("localhost").to_string();
            let port = url.port_or_known_default().unwrap_or(80);
            let addr = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| anyhow::anyhow!("resolving {host}: {e}"))?
                .next()
                .ok_or_else(|| anyhow::anyhow!("{host} resolves to no address"))?;
            let host_header = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            };
            return Ok(Client::Http1 {
                addr,
                host_header,
                prefix: url.path().trim_end_matches('/').to_string(),
                timeout,
            });
        }
        let client = crate::http::tls::client_builder()
            .no_proxy()
            .timeout(timeout)
            .pool_max_idle_per_host(max_in_flight)
            .tcp_nodelay(true)
            .build()?;
        Ok(Client::Reqwest {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The path prefix to put before each request's path.
    pub fn prefix(&self) -> &str {
        match self {
            Client::Http1 { prefix, .. } => prefix,
            Client::Reqwest { base, .. } => base,
        }
    }

    /// A worker's connection (opened on its first request).
    pub fn conn(&self) -> Conn {
        match self {
            Client::Http1 { timeout, .. } => Conn::Http1 {
                open: None,
                deadline: Box::pin(tokio::time::sleep(*timeout)),
            },
            Client::Reqwest { client, .. } => Conn::Reqwest(client.clone()),
        }
    }
}

/// One worker's way to the target.
pub enum Conn {
    Http1 {
        open: Option<Http1Conn>,
        /// Reset for each request: one timer entry per worker, not one
        /// per request.
        deadline: Pin<Box<tokio::time::Sleep>>,
    },
    Reqwest(reqwest::Client),
}

enum Failure {
    Connect,
    Other,
}
impl Conn {
    pub async fn send(&mut self, client: &Client, r: Req) -> Outcome {
        match (self, client) {
            (
                Conn::Http1 { open, deadline },
                Client::Http1 {
                    addr,
                    host_header,
                    timeout,
                    ..
                },
            ) => {
                deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + *timeout);
                let exchange = exchange(open, *addr, host_header, r);
                tokio::select! {
                    biased;
                    r = exchange => match r {
                        Ok(status) => Outcome::Status(status),
                        Err(Failure::Connect) => Outcome::Connect,
                        Err(Failure::Other) => Outcome::OtherError,
                    },
                    _ = deadline.as_mut() => {
                        // The connection is mid-exchange: it cannot carry
                        // another request.
                        *open = None;
                        Outcome::Timeout
                    }
                }
            }
            (Conn::Reqwest(c), Client::Reqwest { .. }) => {
                let mut req = c
                    .request(r.method, r.path.as_str())
                    .header("x-tenant-id", r.tenant)
                    .header("traceparent", r.traceparent);
                if let Some(b) = r.body {
                    req = req.header("content-type", "application/json").body(b);
                }
                match req.send().await {
                    // Read the body so the connection returns to the pool.
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        match resp.bytes().await {
                            Ok(_) => Outcome::Status(status),
                            Err(e) if e.is_timeout() => Outcome::Timeout,
                            Err(_) => Outcome::OtherError,
                        }
                    }
                    Err(e) if e.is_timeout() => Outcome::Timeout,
                    Err(e) if e.is_connect() => Outcome::Connect,
                    Err(_) => Outcome::OtherError,
                }
            }
            _ => Outcome::OtherError,
        }
    }
}

/// One request and its whole response on the worker's connection, opened
/// as needed; a request lost on a kept connection is sent once more on a
/// new one.
async fn exchange(
    open: &mut Option<Http1Conn>,
    addr: SocketAddr,
    host: &str,
    r: Req,
) -> Result<u16, Failure> {
    let head = http1::Head {
        method: r.method.as_str(),
        path: &r.path,
        host,
        tenant: &r.tenant,
        traceparent: &r.traceparent,
    };
    let head_request = r.method == reqwest::Method::HEAD;
    let mut reused = true;
    loop {
        let conn = match open {
            Some(c) => c,
            None => {
                reused = false;
                let c = Http1Conn::open(addr).await.map_err(|_| Failure::Connect)?;
                open.insert(c)
            }
        };
        http1::encode(&mut conn.out, &head, r.body.as_deref()).map_err(|_| Failure::Other)?;
        match conn.round(head_request).await {
            Round::Answer { status, keep } => {
                if !keep {
                    *open = None;
                }
                return Ok(status);
            }
            Round::Lost if reused => *open = None,
            Round::Lost | Round::Failed => {
                *open = None;
                return Err(Failure::Other);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> Req {
        Req {
            method: reqwest::Method::POST,
            path: path.into(),
            tenant: "tenant_007".into(),
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            body: Some("{\"a\":1}".into()),
        }
    }

    #[tokio::test]
    async fn sends_headers_and_body_reuses_its_connection_and_classifies_failures() {
        use axum::extract::ConnectInfo;
        use std::collections::BTreeSet;
        use std::sync::{Arc, Mutex};
        // The peer ports the server saw: one per connection.
        let peers: Arc<Mutex<BTreeSet<u16>>> = Arc::default();
        let seen = peers.clone();
        let app = axum::Router::new()
            .route(
                "/p/echo",
                axum::routing::post(
                    move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                          h: axum::http::HeaderMap,
                          body: String| async move {
                        seen.lock().unwrap().insert(peer.port());
                        let ok = h["x-tenant-id"] == "tenant_007"
                            && h["traceparent"].to_str().unwrap().starts_with("00-0af7")
                            && h["content-type"] == "application/json"
                            && h["host"].to_str().unwrap().starts_with("127.0.0.1:")
                            && body == "{\"a\":1}";
                        if ok {
                            axum::http::StatusCode::CREATED
                        } else {
                            axum::http::StatusCode::BAD_REQUEST
                        }
                    },
                ),
            )
            .route(
                "/p/slow",
                axum::routing::post(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>()).await
        });
        let c = Client::new(&format!("{url}/p/"), 8, Duration::from_millis(500))
            .await
            .unwrap();
        assert_eq!(c.prefix(), "/p");
        let mut conn = c.conn();
        for _ in 0..3 {
            assert_eq!(conn.send(&c, req("/p/echo")).await, Outcome::Status(201));
        }
        assert_eq!(peers.lock().unwrap().len(), 1, "one connection, reused");
        assert_eq!(conn.send(&c, req("/p/missing")).await, Outcome::Status(404));
        assert_eq!(conn.send(&c, req("/p/slow")).await, Outcome::Timeout);
        // A timed-out exchange leaves its connection mid-way: the next
        // request goes on a new one.
        assert_eq!(conn.send(&c, req("/p/echo")).await, Outcome::Status(201));
        assert_eq!(peers.lock().unwrap().len(), 2);

        // Nothing listening: a connect error.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let c = Client::new(&dead, 8, Duration::from_secs(2)).await.unwrap();
        assert_eq!(c.conn().send(&c, req("/x")).await, Outcome::Connect);
    }

    /// A server that closes each kept connection a while after one answer:
    /// the next request on it is lost before the server sees it, and goes
    /// again, once, on a new connection.
    #[tokio::test]
    async fn a_request_lost_on_a_closed_kept_connection_goes_again() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    // Keep-alive in words, closed (later) in deeds.
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    drop(s);
                });
            }
        });
        let c = Client::new(&url, 8, Duration::from_secs(2)).await.unwrap();
        let mut conn = c.conn();
        for _ in 0..3 {
            let mut r = req("/");
            r.method = reqwest::Method::GET;
            r.body = None;
            assert_eq!(conn.send(&c, r).await, Outcome::Status(200));
            // The server closes the kept connection meanwhile.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
