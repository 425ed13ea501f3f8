//! A component the harness queries over HTTP (Grafana, Loki, Jaeger, or an
//! external Prometheus): its base URL and credentials, and one way of
//! turning an answer into JSON or an error a user can act on.
//!
//! Credentials come from the environment only (`ZETA_<NAME>_TOKEN` for a
//! bearer token, or `ZETA_<NAME>_USER` and `ZETA_<NAME>_PASSWORD`), are
//! never part of a URL, and never printed: `Debug` and [`Endpoint::display`]
//! show the base URL without user info or query string.

use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::Value;

#[derive(Clone, PartialEq, Eq)]
enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without a trailing slash.
    url: String,
    auth: Auth,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match self.auth {
            Auth::None => "none",
            Auth::Bearer(_) => "bearer (redacted)",
            Auth::Basic(..) => "basic (redacted)",
        };
        write!(f, "Endpoint({}, auth: {auth})", self.display())
    }
}

impl Endpoint {
    /// An endpoint without credentials.
    pub fn new(url: &str) -> Endpoint {
        Endpoint {
            url: url.trim_end_matches('/').to_string(),
            auth: Auth::None,
        }
    }

    /// `url` with a user and password the harness chose itself (the
    /// Grafana it starts).
    pub fn with_basic_auth(url: &str, user: &str, password: &str) -> Endpoint {
        Endpoint {
            auth: Auth::Basic(user.to_string(), password.to_string()),
            ..Endpoint::new(url)
        }
    }

    /// `url` with the credentials `ZETA_<NAME>_TOKEN` or
    /// `ZETA_<NAME>_USER`/`ZETA_<NAME>_PASSWORD` from `env`, where `NAME`
    /// is `name` upper-cased with `-` as `_`.
    pub fn with_env_auth(url: &str, name: &str, env: impl Fn(&str) -> Option<String>) -> Endpoint {
        let key = name.to_uppercase().replace('-', "_");
        let auth = if let Some(t) = env(&format!("ZETA_{key}_TOKEN")).filter(|t| !t.is_empty()) {
            Auth::Bearer(t)
        } else if let Some(u) = env(&format!("ZETA_{key}_USER")).filter(|u| !u.is_empty()) {
            Auth::Basic(u, env(&format!("ZETA_{key}_PASSWORD")).unwrap_or_default())
        } else {
            Auth::None
        };
        Endpoint {
            auth,
            ..Endpoint::new(url)
        }
    }

    /// The base URL as it may be printed: scheme, host, port and path.
    pub fn display(&self) -> String {
        match reqwest::Url::parse(&self.url) {
            Ok(u) => {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!(
                    "{}://{}{port}{}",
                    u.scheme(),
                    u.host_str().unwrap_or(""),
                    u.path().trim_end_matches('/')
                )
            }
            Err(_) => "(unparsable URL)".into(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn get(&self, http: &Client, path: &str) -> RequestBuilder {
        self.authorize(http.get(self.url(path)))
    }

    pub fn post(&self, http: &Client, path: &str) -> RequestBuilder {
        self.authorize(http.post(self.url(path)))
    }

    pub fn delete(&self, http: &Client, path: &str) -> RequestBuilder {
        self.authorize(http.delete(self.url(path)))
    }

    fn authorize(&self, r: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::None => r,
            Auth::Bearer(t) => r.bearer_auth(t),
            Auth::Basic(u, p) => r.basic_auth(u, Some(p)),
        }
    }
}

/// A client for querying components: no proxy, and every request bounded.
pub fn client(timeout: Duration) -> reqwest::Result<Client> {
    super::tls::client_builder().timeout(timeout).build()
}

/// Send `req` and read its body as JSON, whatever the status. Transport
/// errors, timeouts and bodies that are not JSON are errors naming `what`
/// and the status; the status is left to the caller (a 404 can mean "not
/// found", a 400 carries Loki's or Prometheus' reason).
pub async fn json(req: RequestBuilder, what: &str) -> Result<(StatusCode, Value), String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{what}: {}", super::http_error(&e)))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{what}: HTTP {status}, {}", super::http_error(&e)))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok((status, v)),
        Err(_) => Err(format!(
            "{what}: HTTP {status}, body is not JSON: {:?}",
            snippet(&text)
        )),
    }
}

/// Send `req` to a Prometheus-style API (`{"status": "success", "data": …}`)
/// and return its `data`; any other status, or a non-2xx answer, is an
/// error naming `what` and the API's own error text.
pub async fn api_data(req: RequestBuilder, what: &str) -> Result<Value, String> {
    let (status, mut v) = json(req, what).await?;
    if !status.is_success() || v["status"] != "success" {
        return Err(format!(
            "{what}: HTTP {status}: {}",
            v["error"].as_str().unwrap_or("no error text")
        ));
    }
    Ok(v["data"].take())
}

/// The first 200 characters of a body, for an error message.
pub fn snippet(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_environment_and_are_never_shown() {
        let env = |k: &str| match k {
            "ZETA_GRAFANA_TOKEN" => Some("glsa_secret".to_string()),
            "ZETA_LOKI_USER" => Some("tenant".to_string()),
            "ZETA_LOKI_PASSWORD" => Some("hunter2".to_string()),
            _ => None,
        };
        let g = Endpoint::with_env_auth("https://grafana.example:3000/", "grafana", env);
        let l = Endpoint::with_env_auth("http://127.0.0.1:3100?x=secret", "loki", env);
        let j = Endpoint::with_env_auth("http://127.0.0.1:16686", "jaeger", env);
        assert!(g.auth == Auth::Bearer("glsa_secret".into()));
        assert!(l.auth == Auth::Basic("tenant".into(), "hunter2".into()));
        assert!(j.auth == Auth::None);
        for e in [&g, &l] {
            let shown = format!("{e:?} {}", e.display());
            for secret in ["glsa_secret", "hunter2", "x=secret"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        assert_eq!(g.display(), "https://grafana.example:3000");
        assert_eq!(
            g.url("/api/ds/query"),
            "https://grafana.example:3000/api/ds/query"
        );
    }

    #[test]
    fn long_bodies_are_cut_for_messages() {
        let long = "x".repeat(500);
        assert_eq!(snippet(&long).chars().count(), 201);
        assert_eq!(snippet("  short \n"), "short");
    }
}
