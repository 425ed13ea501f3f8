//! A target for load-tool comparisons: answers `200 ok` at once, except
//! that every `--every` it stalls for `--stall` (like a stop-the-world GC
//! pause): requests arriving during a stall are answered when it ends.
//! With `--every 0` it never stalls (a throughput target).
//!
//! At 200 requests/s against `--every 5s --stall 1s`, a fifth of all
//! requests land in a stall and wait uniformly 0–1 s, so the latency a
//! user sees (from the intended send time) has p95 ≈ 0.75 s and
//! p99 ≈ 0.95 s; a tool that reports much less has coordinated omission.
//!
//! `cargo run --release --example stall-server -- --port 18080 --every 5s --stall 1s`
//!
//! With `--tls-dir DIR` it serves HTTPS instead (keep-alive HTTP/1.1 over
//! rustls, never stalling), with a certificate for 127.0.0.1 signed by a CA
//! it makes and writes to `DIR/ca.pem`: the target for comparing
//! throughput over `https://` with `http://`.

use std::time::{Duration, Instant};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn secs(s: &str) -> Duration {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| c.is_alphabetic()).unwrap_or(s.len()));
    let n: f64 = n
        .parse()
        .unwrap_or_else(|_| panic!("not a duration: {s:?}"));
    Duration::from_secs_f64(match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        other => panic!("unknown unit {other:?} in {s:?}"),
    })
}

/// Serve `200 ok` over TLS on `port`, with a fresh CA written to `dir`.
async fn serve_tls(port: u16, dir: &str) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let ca = ca_params.self_signed(&ca_key).expect("a CA");
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("a certificate");
    std::fs::create_dir_all(dir).expect("the TLS directory");
    std::fs::write(format!("{dir}/ca.pem"), ca.pem()).expect("writing ca.pem");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![rustls::pki_types::CertificateDer::from(cert.der().to_vec())],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("a TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("binding the port");
    eprintln!("stall-server on https://127.0.0.1:{port}: CA in {dir}/ca.pem");
    loop {
        let Ok((tcp, _)) = l.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let mut buf = Vec::with_capacity(8192);
            let mut chunk = [0u8; 8192];
            while let Ok(n) = tls.read(&mut chunk).await {
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                let mut replies = 0;
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.drain(..end + 4);
                    replies += 1;
                }
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                let all: Vec<u8> = reply.repeat(replies);
                if tls.write_all(&all).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn main() {
    let port: u16 = arg("--port", "18080").parse().expect("--port");
    let every = secs(&arg("--every", "5s"));
    let stall = secs(&arg("--stall", "1s"));
    let threads: usize = arg("--threads", "1").parse().expect("--threads");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a runtime");
    let tls_dir = arg("--tls-dir", "");
    if !tls_dir.is_empty() {
        rt.block_on(serve_tls(port, &tls_dir));
        return;
    }
    rt.block_on(async move {
        let t0 = Instant::now();
        let app = axum::Router::new().fallback(move || async move {
            if !every.is_zero() {
                // The last `stall` of every `every` is a pause.
                let into = t0.elapsed().as_secs_f64() % every.as_secs_f64();
                let pause_from = (every - stall).as_secs_f64();
                if into >= pause_from {
                    tokio::time::sleep(Duration::from_secs_f64(every.as_secs_f64() - into)).await;
                }
            }
            "ok"
        });
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the port");
        eprintln!("stall-server on 127.0.0.1:{port}: stalls {stall:?} every {every:?}");
        axum::serve(l, app).await.expect("serving");
    });
}
