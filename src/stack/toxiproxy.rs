//! Toxiproxy on backend-api's dependency links: the network faults a team's
//! own Toxiproxy gives them (latency with jitter, timeout, down, bandwidth,
//! reset_peer, slow_close), driven through its HTTP API.
//!
//! Natively the harness runs the Go-built `toxiproxy-server`
//! (`scripts/go-tools.sh`, pinned in `tools/toxiproxy/go.mod`) on a free
//! loopback port, and backend-api reaches PostgreSQL and Redis through a
//! proxy each (named after the component). Externally, the scenario names
//! the team's Toxiproxy API and its proxy names.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::scenario::{Toxic, ToxicKind};
use crate::stack::process::{Ready, Spec};

/// The program names, in the install cache or on PATH.
pub const PROGRAMS: &[&str] = &["toxiproxy-server"];
/// The name the harness gives every toxic it adds.
const TOXIC_NAME: &str = "zeta-bench";

/// A Toxiproxy API.
#[derive(Clone)]
pub struct Toxiproxy {
    pub api: String,
    http: reqwest::Client,
}

/// `toxiproxy-server` on `port` of 127.0.0.1.
pub fn spec(program: PathBuf, port: u16, log: PathBuf, pid_file: Option<PathBuf>) -> Spec {
    Spec {
        name: "toxiproxy".into(),
        program,
        args: vec![
            "-host".into(),
            "127.0.0.1".into(),
            "-port".into(),
            port.to_string(),
        ],
        env: vec![],
        log,
        ready: Ready::Http(format!("http://127.0.0.1:{port}/version")),
        ready_timeout: Duration::from_secs(15),
        stop_signal: Signal::SIGTERM,
        pid_file,
    }
}

impl Toxiproxy {
    pub fn new(api: &str) -> anyhow::Result<Toxiproxy> {
        Ok(Toxiproxy {
            api: api.trim_end_matches('/').to_string(),
            http: crate::http::endpoint::client(Duration::from_secs(5))?,
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("Toxiproxy {}: {what}", self.api))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!(
                "Toxiproxy {}: {what}: HTTP {status}: {}",
                self.api,
                crate::http::endpoint::snippet(&body)
            );
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// A proxy `name` from a free loopback port to `upstream`; where it
    /// listens.
    pub async fn create(&self, name: &str, upstream: &str) -> anyhow::Result<String> {
        let body =
            json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true});
        let v = self
            .call(
                self.http.post(format!("{}/proxies", self.api)).json(&body),
                &format!("creating proxy {name}"),
            )
            .await?;
        v["listen"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("Toxiproxy {}: proxy {name} has no listen address", self.api))
    }

    /// Add the harness's toxic to `proxy` (`down` disables the proxy).
    pub async fn inject(&self, proxy: &str, toxic: &Toxic) -> anyhow::Result<()> {
        if toxic.kind == ToxicKind::Down {
            return self.set_enabled(proxy, false).await;
        }
        let body = toxic_body(toxic);
        self.call(
            self.http
                .post(format!("{}/proxies/{proxy}/toxics", self.api))
                .json(&body),
            &format!("adding a {} toxic to {proxy}", toxic.kind.name()),
        )
        .await
        .map(drop)
    }

    /// Remove what [`Toxiproxy::inject`] added.
    pub async fn clear(&self, proxy: &str, toxic: &Toxic) -> anyhow::Result<()> {
        if toxic.kind == ToxicKind::Down {
            return self.set_enabled(proxy, true).await;
        }
        self.call(
            self.http
                .delete(format!("{}/proxies/{proxy}/toxics/{TOXIC_NAME}", self.api)),
            &format!("removing the toxic from {proxy}"),
        )
        .await
        .map(drop)
    }

    /// Whether the proxy reads back as `toxic` leaves it: the evidence
    /// that the fault is in force (or, after `clear`, that it is not).
    pub async fn in_force(&self, proxy: &str, toxic: &Toxic) -> anyhow::Result<bool> {
        let v = self
            .call(
                self.http.get(format!("{}/proxies/{proxy}", self.api)),
                &format!("reading proxy {proxy}"),
            )
            .await?;
        Ok(match toxic.kind {
            ToxicKind::Down => v["enabled"] == json!(false),
            _ => v["toxics"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|t| t["name"] == TOXIC_NAME && t["type"] == toxic.kind.name())
            }),
        })
    }

    async fn set_enabled(&self, proxy: &str, enabled: bool) -> anyhow::Result<()> {
        self.call(
            self.http
                .post(format!("{}/proxies/{proxy}", self.api))
                .json(&json!({"enabled": enabled})),
            &format!(
                "{} proxy {proxy}",
                if enabled { "enabling" } else { "disabling" }
            ),
        )
        .await
        .map(drop)
    }
}

/// The API's body for a toxic.
pub fn toxic_body(t: &Toxic) -> Value {
    let ms = |d: Duration| d.as_millis() as u64;
    let attributes = match t.kind {
        ToxicKind::Latency => json!({"latency": ms(t.latency), "jitter": ms(t.jitter)}),
        ToxicKind::Timeout | ToxicKind::ResetPeer => json!({"timeout": ms(t.timeout)}),
        ToxicKind::Bandwidth => json!({"rate": t.rate_kb}),
        ToxicKind::SlowClose => json!({"delay": ms(t.delay)}),
        ToxicKind::Down => json!({}),
    };
    json!({
        "name": TOXIC_NAME,
        "type": t.kind.name(),
        "stream": if t.upstream { "upstream" } else { "downstream" },
        "toxicity": t.toxicity,
        "attributes": attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxics_are_written_as_the_api_takes_them() {
        let t = Toxic {
            kind: ToxicKind::Latency,
            latency: Duration::from_millis(500),
            jitter: Duration::from_millis(50),
            upstream: false,
            toxicity: 1.0,
            ..Toxic::default()
        };
        assert_eq!(
            toxic_body(&t),
            json!({"name": "zeta-bench", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                   "attributes": {"latency": 500, "jitter": 50}})
        );
        let r = Toxic {
            kind: ToxicKind::ResetPeer,
            timeout: Duration::from_secs(1),
            upstream: true,
            toxicity: 0.5,
            ..Toxic::default()
        };
        let b = toxic_body(&r);
        assert_eq!(b["type"], "reset_peer");
        assert_eq!(b["stream"], "upstream");
        assert_eq!(b["attributes"]["timeout"], 1000);
    }
}
