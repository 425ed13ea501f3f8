//! Toxiproxy on backend-api's dependency links: the network faults a team's
//! own Toxiproxy gives them (latency with jitter, timeout, down, bandwidth,
//! reset_peer, slow_close), driven through its HTTP API.
//!
//! Natively the harness runs the Go-built `toxiproxy-server`
//! (`scripts/go-tools.sh`, pinned in `tools/toxiproxy/go.mod`) on a free
//! loopback port, and backend-api reaches PostgreSQL, Redis and ml-engine
//! through a proxy each (named after the component). Externally, the
//! scenario names the team's Toxiproxy API and its proxy names
//! (`stack.toxiproxy`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::http::endpoint::Endpoint;
use crate::scenario::{Toxic, ToxicKind};
use crate::stack::process::{Ready, Spec};

/// The version `tools/toxiproxy/go.mod` pins.
pub const VERSION: &str = "toxiproxy v2.5.0";
/// The program names, in the install cache or on PATH.
pub const PROGRAMS: &[&str] = &["toxiproxy-server"];
/// The name the harness gives every toxic it adds.
const TOXIC_NAME: &str = "zeta-bench";

/// A Toxiproxy API.
#[derive(Clone)]
pub struct Toxiproxy {
    /// The API's URL as it may be printed (no credentials).
    pub api: String,
    ep: Endpoint,
    http: reqwest::Client,
}

/// The dependency links that go through one Toxiproxy: for each target
/// (the component at the far end), its proxy's name and where it listens.
pub struct Links {
    pub api: Toxiproxy,
    pub proxies: BTreeMap<String, Proxy>,
}

/// One Toxiproxy proxy: its name in the API, and its listen address.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub name: String,
    pub listen: String,
}

impl Links {
    pub fn new(api: Toxiproxy) -> Links {
        Links {
            api,
            proxies: BTreeMap::new(),
        }
    }

    /// A team's Toxiproxy (`stack.toxiproxy`): each named proxy is read
    /// from the API, so a misspelt name stops the run before anything is
    /// injected.
    pub async fn external(
        api: Toxiproxy,
        names: &BTreeMap<String, String>,
    ) -> anyhow::Result<Links> {
        let mut links = Links::new(api);
        for (target, proxy) in names {
            let listen = links.api.listen_of(proxy).await.with_context(|| {
                format!("stack.toxiproxy.proxies.{target}: the proxy {proxy:?}")
            })?;
            links.proxies.insert(
                target.clone(),
                Proxy {
                    name: proxy.clone(),
                    listen,
                },
            );
        }
        Ok(links)
    }

    /// Put `toxic` on the link to `target` (`on`), or take it off, and
    /// read the proxy back to see that it is so.
    pub async fn network(&self, target: &str, toxic: &Toxic, on: bool) -> anyhow::Result<()> {
        let Some(proxy) = self.proxies.get(target) else {
            bail!(
                "the link to {target} does not go through Toxiproxy {} in this stack",
                self.api.api
            );
        };
        let name = &proxy.name;
        if on {
            self.api.inject(name, toxic).await?;
        } else {
            self.api.clear(name, toxic).await?;
        }
        if self.api.in_force(name, toxic).await? != on {
            bail!(
                "Toxiproxy's proxy {name} does not read back as {} the {} toxic",
                if on { "carrying" } else { "free of" },
                toxic.kind.name()
            );
        }
        Ok(())
    }
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
        Toxiproxy::with_endpoint(Endpoint::new(api))
    }

    /// A Toxiproxy reached with `ep`'s credentials (a team's, from the
    /// environment).
    pub fn with_endpoint(ep: Endpoint) -> anyhow::Result<Toxiproxy> {
        Ok(Toxiproxy {
            api: ep.display(),
            ep,
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

    /// Where the existing proxy `name` listens, as this machine reaches
    /// it: an unspecified host (`0.0.0.0`, `[::]`, empty) is the API's.
    pub async fn listen_of(&self, name: &str) -> anyhow::Result<String> {
        let v = self
            .call(
                self.ep.get(&self.http, &format!("/proxies/{name}")),
                &format!("reading proxy {name}"),
            )
            .await?;
        let listen = v["listen"].as_str().with_context(|| {
            format!("Toxiproxy {}: proxy {name} has no listen address", self.api)
        })?;
        Ok(reachable_listen(listen, &self.api))
    }

    /// A proxy `name` from a free loopback port to `upstream`; where it
    /// listens.
    pub async fn create(&self, name: &str, upstream: &str) -> anyhow::Result<String> {
        let body =
            json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true});
        let v = self
            .call(
                self.ep.post(&self.http, "/proxies").json(&body),
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
            self.ep
                .post(&self.http, &format!("/proxies/{proxy}/toxics"))
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
            self.ep
                .delete(&self.http, &format!("/proxies/{proxy}/toxics/{TOXIC_NAME}")),
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
                self.ep.get(&self.http, &format!("/proxies/{proxy}")),
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
            self.ep
                .post(&self.http, &format!("/proxies/{proxy}"))
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

/// A proxy's listen address with an unspecified host replaced by the
/// API's host, which is where a proxy listening on every interface is
/// reached from here.
fn reachable_listen(listen: &str, api: &str) -> String {
    let Some((host, port)) = listen.rsplit_once(':') else {
        return listen.to_string();
    };
    if !matches!(host, "" | "0.0.0.0" | "[::]" | "::") {
        return listen.to_string();
    }
    match reqwest::Url::parse(api)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    {
        Some(h) if h.contains(':') && !h.starts_with('[') => format!("[{h}]:{port}"),
        Some(h) => format!("{h}:{port}"),
        None => format!("127.0.0.1:{port}"),
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
    fn a_proxy_on_every_interface_is_reached_at_the_apis_host() {
        let api = "http://toxiproxy.staging:8474";
        assert_eq!(
            reachable_listen("0.0.0.0:21212", api),
            "toxiproxy.staging:21212"
        );
        assert_eq!(
            reachable_listen("[::]:21212", api),
            "toxiproxy.staging:21212"
        );
        assert_eq!(reachable_listen(":21212", api), "toxiproxy.staging:21212");
        assert_eq!(reachable_listen("10.0.0.7:5432", api), "10.0.0.7:5432");
        assert_eq!(reachable_listen("[::]:1", "http://[::1]:8474"), "[::1]:1");
    }

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
