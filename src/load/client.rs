//! How the engine sends one request. For `http://` targets, a lean
//! HTTP/1.1 connection pool on hyper: one keep-alive connection per
//! request in flight, reused, no per-request URL parsing or redirect
//! machinery. That is what lets one core send as many requests per second
//! as wrk and oha (see `scripts/compare-load-tools.sh`). `https://`
//! targets go through reqwest (TLS, proxies are its business).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::record::Outcome;

/// One request, ready to send.
pub struct Req {
    pub method: reqwest::Method,
    /// Path and query (with the base URL's path prefix).
    pub path: String,
    pub tenant: String,
    pub traceparent: String,
    pub body: Option<String>,
}

pub enum Client {
    Http1(Http1Pool),
    Reqwest {
        client: reqwest::Client,
        base: String,
    },
}

impl Client {
    /// A client for `base` (scheme, host, port and an optional path
    /// prefix): the hyper pool for http, reqwest for https.
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
            return Ok(Client::Http1(Http1Pool {
                addr,
                host_header,
                prefix: url.path().trim_end_matches('/').to_string(),
                idle: Mutex::new(Vec::with_capacity(max_in_flight.min(4096))),
                timeout,
            }));
        }
        let client = reqwest::Client::builder()
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
            Client::Http1(p) => &p.prefix,
            Client::Reqwest { base, .. } => base,
        }
    }

    pub async fn send(&self, r: Req) -> Outcome {
        match self {
            Client::Http1(p) => p.send(r).await,
            Client::Reqwest { client, .. } => {
                let mut req = client
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
        }
    }
}

pub struct Http1Pool {
    addr: SocketAddr,
    host_header: String,
    prefix: String,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    timeout: Duration,
}

enum Failure {
    Connect,
    Other,
}

impl Http1Pool {
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|_| Failure::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Failure::Connect)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn send(&self, r: Req) -> Outcome {
        match tokio::time::timeout(self.timeout, self.exchange(r)).await {
            Ok(Ok(status)) => Outcome::Status(status),
            Ok(Err(Failure::Connect)) => Outcome::Connect,
            Ok(Err(Failure::Other)) => Outcome::OtherError,
            Err(_) => Outcome::Timeout,
        }
    }

    async fn exchange(&self, r: Req) -> Result<u16, Failure> {
        let reused = self.idle.lock().expect("pool poisoned").pop();
        let mut sender = match reused {
            Some(s) => s,
            None => self.connect().await?,
        };
        if sender.ready().await.is_err() {
            // The server closed the idle connection: one fresh try.
            sender = self.connect().await?;
            sender.ready().await.map_err(|_| Failure::Other)?;
        }
        let mut b = hyper::Request::builder()
            .method(r.method)
            .uri(r.path)
            .header(hyper::header::HOST, &self.host_header)
            .header("x-tenant-id", r.tenant)
            .header("traceparent", r.traceparent);
        let body = match r.body {
            Some(text) => {
                b = b.header(hyper::header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(text))
            }
            None => Full::new(Bytes::new()),
        };
        let req = b.body(body).map_err(|_| Failure::Other)?;
        let resp = sender.send_request(req).await.map_err(|_| Failure::Other)?;
        let status = resp.status().as_u16();
        // Read the body to the end so the connection can carry the next one.
        resp.into_body()
            .collect()
            .await
            .map_err(|_| Failure::Other)?;
        if !sender.is_closed() {
            self.idle.lock().expect("pool poisoned").push(sender);
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn server(app: axum::Router) -> (String, tokio_util::sync::CancellationToken) {
        let cancel = tokio_util::sync::CancellationToken::new();
        let (url, _) = crate::observe::serve_loopback(app, cancel.clone())
            .await
            .unwrap();
        (url, cancel)
    }

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
    async fn sends_headers_and_body_reuses_connections_and_classifies_failures() {
        let app = axum::Router::new()
            .route(
                "/p/echo",
                axum::routing::post(|h: axum::http::HeaderMap, body: String| async move {
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
                }),
            )
            .route(
                "/p/slow",
                axum::routing::post(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        let (url, _cancel) = server(app).await;
        let c = Client::new(&format!("{url}/p/"), 8, Duration::from_millis(500))
            .await
            .unwrap();
        assert_eq!(c.prefix(), "/p");
        for _ in 0..3 {
            assert_eq!(c.send(req("/p/echo")).await, Outcome::Status(201));
        }
        let Client::Http1(pool) = &c else {
            panic!("http uses the hyper pool")
        };
        assert_eq!(pool.idle.lock().unwrap().len(), 1, "one connection, reused");
        assert_eq!(c.send(req("/p/missing")).await, Outcome::Status(404));
        assert_eq!(c.send(req("/p/slow")).await, Outcome::Timeout);

        // Nothing listening: a connect error.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let c = Client::new(&dead, 8, Duration::from_secs(2)).await.unwrap();
        assert_eq!(c.send(req("/x")).await, Outcome::Connect);
    }
}
