//! `https://` works: the load engine (and every client, through the same
//! builder) trusts a CA given with `--ca-cert`, and a TLS failure says what
//! failed: an untrusted certificate, or one for another name. The server is
//! a small HTTP/1.1-over-rustls responder with a CA this test generates.

use crate::common;

use std::io::Write;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Pki {
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

/// A CA, and a server certificate it signs for `names`.
fn pki(names: &[&str]) -> Pki {
    pki_with(names, |_| {})
}

/// A CA, and a server certificate it signs for `names`, with `edit`
/// applied to the server certificate's parameters.
fn pki_with(names: &[&str], edit: impl FnOnce(&mut rcgen::CertificateParams)) -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "zeta-bench test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    edit(&mut params);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: CertificateDer::from(cert.der().to_vec()),
        key: key.serialize_der(),
    }
}

/// One self-signed certificate with CA:TRUE for `names`, as `openssl req
/// -x509` makes: the server's certificate and its own CA at once.
fn self_signed_ca(names: &[&str]) -> Pki {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Pki {
        ca_pem: cert.pem(),
        cert: CertificateDer::from(cert.der().to_vec()),
        key: key.serialize_der(),
    }
}

/// Serve `200 ok` over TLS on a free loopback port, on a thread of its
/// own, until the process ends; returns the port.
fn serve(pki: &Pki) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = tls.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if tls.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn load(port: u16, extra: &[&str]) -> std::process::Output {
    let target = format!("https://127.0.0.1:{port}/");
    let mut args = vec![
        "load",
        "--target",
        &target,
        "--rate",
        "50/s",
        "--duration",
        "2s",
        "--json",
    ];
    args.extend_from_slice(extra);
    std::process::Command::new(common::BIN)
        .args(&args)
        .env_remove("ZETA_CA_CERT")
        .output()
        .unwrap()
}

#[test]
fn https_load_with_the_ca_gets_2xx_and_tls_failures_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let good = pki(&["127.0.0.1", "localhost"]);
    let ca = dir.path().join("ca.pem");
    std::fs::File::create(&ca)
        .unwrap()
        .write_all(good.ca_pem.as_bytes())
        .unwrap();
    let port = serve(&good);

    // Trusted through --ca-cert: every request answered 2xx.
    let out = load(port, &["--ca-cert", ca.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent = report["total_sent"].as_u64().unwrap();
    assert!(sent >= 90, "{text}");
    assert_eq!(report["total_errors"], 0, "{text}");
    assert_eq!(report["endpoints"][0]["by_class"]["2xx"], sent, "{text}");

    // The same server without the CA: not trusted, and the message says so.
    let out = load(port, &[]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("certificate is not trusted"), "{text}");
    assert!(
        text.contains("signed by a CA this run does not know"),
        "{text}"
    );
    assert!(text.contains("--ca-cert"), "{text}");

    // --insecure accepts it.
    let out = load(port, &["--insecure"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out));

    // A certificate for another name, from a trusted CA: the name is wrong.
    let wrong = pki(&["example.invalid"]);
    let wrong_ca = dir.path().join("wrong-ca.pem");
    std::fs::write(&wrong_ca, &wrong.ca_pem).unwrap();
    let wrong_port = serve(&wrong);
    let out = load(wrong_port, &["--ca-cert", wrong_ca.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("not valid for the name"), "{text}");

    // An expired certificate from a trusted CA: its dates are the cause.
    let expired = pki_with(&["127.0.0.1"], |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let expired_ca = dir.path().join("expired-ca.pem");
    std::fs::write(&expired_ca, &expired.ca_pem).unwrap();
    let out = load(
        serve(&expired),
        &["--ca-cert", expired_ca.to_str().unwrap()],
    );
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("outside its validity dates"), "{text}");

    // A lab's self-signed CA certificate served as the server's own, given
    // as --ca-cert: what rustls refuses and how to make a leaf.
    let own = self_signed_ca(&["127.0.0.1"]);
    let own_pem = dir.path().join("own.pem");
    std::fs::write(&own_pem, &own.ca_pem).unwrap();
    let out = load(serve(&own), &["--ca-cert", own_pem.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("presents a CA certificate"), "{text}");
    assert!(text.contains("openssl x509 -req -CA ca.pem"), "{text}");

    // A CA file that is not PEM is an input error.
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "nonsense").unwrap();
    let out = load(port, &["--ca-cert", bad.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("bad.pem"), "{text}");
}
