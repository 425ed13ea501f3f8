//! TLS for every client the harness has: the load engine's `https://`
//! targets, an external stack's Prometheus, Alertmanager, Grafana, Loki and
//! Jaeger, and the mocks' calls. All of them build their reqwest client
//! through [`client_builder`], which trusts the system's roots plus the CA
//! given with `--ca-cert FILE` (or `ZETA_CA_CERT`), or, with `--insecure`,
//! any certificate. The choice is made once per process, before any client
//! is built ([`configure`]), as curl's `--cacert` and `--insecure` are.
//!
//! rustls does the TLS (no OpenSSL). A TLS failure is named by its cause
//! ([`tls_cause`]): the certificate is not trusted, it is not valid for the
//! name asked for, or the two sides share no protocol.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The trust settings of this process.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// PEM file of extra CA certificates.
    pub ca_cert: Option<PathBuf>,
    /// Accept any certificate (for a lab stack with self-signed ones).
    pub insecure: bool,
}

/// `--ca-cert FILE` (or `ZETA_CA_CERT`) and `--insecure`, for the
/// commands that talk to servers: `run` and `load`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE", env = "ZETA_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any TLS certificate (a lab stack with self-signed ones).
    #[arg(long)]
    pub insecure: bool,
}

impl From<TlsArgs> for Tls {
    fn from(a: TlsArgs) -> Tls {
        Tls {
            ca_cert: a.ca_cert,
            insecure: a.insecure,
        }
    }
}

struct Loaded {
    roots: Vec<reqwest::Certificate>,
    insecure: bool,
}

static TLS: OnceLock<Loaded> = OnceLock::new();

/// Read and check the CA file now, so a bad one is an input error before
/// anything starts. Later calls keep the first settings.
pub fn configure(tls: &Tls) -> Result<(), String> {
    let roots = match &tls.ca_cert {
        Some(path) => read_roots(path)?,
        None => Vec::new(),
    };
    let _ = TLS.set(Loaded {
        roots,
        insecure: tls.insecure,
    });
    Ok(())
}

fn read_roots(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = crate::input::read_bounded(path, crate::input::limits::CA_CERT)
        .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("--ca-cert {}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--ca-cert {}: no certificate in the file (expected PEM, \"-----BEGIN CERTIFICATE-----\")",
            path.display()
        ));
    }
    Ok(certs)
}

/// A reqwest client builder with this process's trust settings, rustls,
/// and no proxy (every target is on loopback or named by the user).
pub fn client_builder() -> reqwest::ClientBuilder {
    let mut b = reqwest::Client::builder().no_proxy().use_rustls_tls();
    if let Some(t) = TLS.get() {
        for c in &t.roots {
            b = b.add_root_certificate(c.clone());
        }
        if t.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
    }
    b
}

/// A lab's usual self-signed certificate (`openssl req -x509 …` makes one
/// with CA:TRUE) served as the server's own: curl accepts it with
/// `--cacert`, rustls refuses a CA certificate as an end entity.
const CA_AS_LEAF: &str = "TLS: the server presents a CA certificate (basic constraints CA:TRUE, as `openssl req -x509` makes) as its own certificate, which rustls refuses even when it is the --ca-cert given: keep it as the CA and serve a leaf it signs, e.g. `openssl req -new -newkey rsa:2048 -nodes -keyout leaf.key -subj /CN=127.0.0.1 | openssl x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -out leaf.pem -extfile <(printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE')`, then --ca-cert ca.pem; or use --insecure for a lab stack";

/// When `e` failed in TLS, the cause in words a user can act on: an
/// unknown issuer, dates, a name mismatch, a CA served as the leaf, a bad
/// signature, or the protocol, each with its fix.
pub fn tls_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut chain = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        chain.push_str(&format!("{err:?} {err} | "));
        cur = err.source();
    }
    let has = |s: &str| chain.contains(s);
    if has("CaUsedAsEndEntity") {
        Some(CA_AS_LEAF.into())
    } else if has("NotValidForName") || has("not valid for name") {
        Some("TLS: the server's certificate is not valid for the name asked for: use a host the certificate names in the URL, or issue one whose subjectAltName has this host (IP:127.0.0.1 for an address)".into())
    } else if has("Expired") || has("NotValidYet") {
        Some("TLS: the server's certificate is outside its validity dates (expired, or not valid yet; check the server's clock too): renew it, or use --insecure for a lab stack".into())
    } else if has("UnknownIssuer") {
        Some("TLS: the server's certificate is not trusted: it is signed by a CA this run does not know; give that CA with --ca-cert FILE or ZETA_CA_CERT, or use --insecure for a lab stack".into())
    } else if has("BadSignature") || has("invalid peer certificate") {
        Some("TLS: the server's certificate is not trusted: its signature does not verify against the CA given (is --ca-cert the CA that signed it?); or use --insecure for a lab stack".into())
    } else if has("InvalidContentType")
        || has("corrupt message")
        || has("HandshakeFailure")
        || has("PeerIncompatible")
        || has("ProtocolVersion")
        || has("tls handshake")
    {
        Some("TLS: the handshake failed on protocol (is the server speaking TLS, and a version rustls supports, 1.2 or 1.3?)".into())
    } else {
        None
    }
}

/// One request to an `https://` target before load is sent to it: a TLS
/// failure (which would otherwise be 100 % `connect_error`) is named.
/// Other failures are left to the load to count.
pub async fn probe(url: &str, timeout: std::time::Duration) -> Result<(), String> {
    let client = client_builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("building a TLS client: {e}"))?;
    match client.get(url).send().await {
        Ok(_) => Ok(()),
        Err(e) => match tls_cause(&e) {
            Some(cause) => Err(format!("{url}: {cause}")),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "not a certificate").unwrap();
        let e = read_roots(&f).unwrap_err();
        assert!(e.contains("no certificate") || e.contains("not PEM"), "{e}");
        let e = read_roots(&dir.path().join("missing.pem")).unwrap_err();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
