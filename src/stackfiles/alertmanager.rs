//! Rendering `alertmanager/alertmanager.yml`: notification URLs point at the
//! harness's receivers, secrets are dropped, route timers are time-scaled.
//!
//! Receiver URLs carry the Alertmanager receiver name
//! (`/slack/<receiver>`), so a recorded notification can be traced back to
//! the route that sent it; the *destination* (Slack channel, PagerDuty) is
//! read from the payload itself.
//!
//! For attribution (see `observe::attribution`) every receiver also gets a
//! harness webhook, the tap (`/tap/<receiver>`), and every Slack
//! integration without a `callback_id` of its own gets
//! [`CALLBACK_TEMPLATE`]. Neither changes what a human reads.

use serde_yaml::{Mapping, Value};

use crate::stackfiles::files::defaults;
use crate::stackfiles::render::{RenderInput, Rendered, mapping_mut, scale_field, write_yaml};

/// Integrations the harness receives and understands.
const OBSERVED: &[&str] = &["slack_configs", "pagerduty_configs", "webhook_configs"];

/// Placeholder written where a PagerDuty routing key was: the real key is a
/// secret and never leaves the user's files.
pub const ROUTING_KEY_PLACEHOLDER: &str = "zeta-bench-routing-key";

/// The prefix of the harness's Slack `callback_id`.
pub const CALLBACK_PREFIX: &str = "zeta:";

/// The `callback_id` the rendered config gives Slack integrations: the
/// fingerprint and status of every alert in that very message.
pub const CALLBACK_TEMPLATE: &str =
    "zeta:{{ range .Alerts }}{{ .Fingerprint }}={{ .Status }} {{ end }}";

pub fn render(input: &RenderInput<'_>, out: &mut Rendered) -> anyhow::Result<()> {
    let k = input.time_scale;
    let dir = input.out_dir.join("alertmanager");
    // The templates the config names, and nothing else beside it.
    let templates: Vec<String> = input
        .files
        .alertmanager
        .get("templates")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    crate::stackfiles::render::copy_referenced(
        &input.files.dir.join("alertmanager"),
        &dir,
        &templates,
    )?;
    let mut cfg = input.files.alertmanager.clone();
    if !cfg.is_mapping() {
        cfg = Value::Mapping(Mapping::new());
    }
    let global = mapping_mut(&mut cfg, "global");
    scale_field(
        global,
        "resolve_timeout",
        k,
        Some(defaults::RESOLVE_TIMEOUT),
    );
    for secret in [
        "slack_api_url",
        "slack_api_url_file",
        "pagerduty_url",
        "opsgenie_api_key",
        "opsgenie_api_key_file",
        "victorops_api_key",
        "victorops_api_key_file",
        "telegram_api_url",
        "webex_api_url",
    ] {
        global.remove(secret);
    }

    if let Some(route) = cfg.get_mut("route").and_then(Value::as_mapping_mut) {
        scale_field(route, "group_wait", k, Some(defaults::GROUP_WAIT));
        scale_field(route, "group_interval", k, Some(defaults::GROUP_INTERVAL));
        scale_field(route, "repeat_interval", k, Some(defaults::REPEAT_INTERVAL));
        if let Some(children) = route.get_mut("routes") {
            scale_child_routes(children, k);
        }
    }

    if let Some(receivers) = cfg.get_mut("receivers").and_then(Value::as_sequence_mut) {
        for r in receivers.iter_mut() {
            rewrite_receiver(r, input.receiver_base, out);
        }
    }
    out.alertmanager_config = dir.join("alertmanager.yml");
    write_yaml(&out.alertmanager_config, &cfg)
}

fn scale_child_routes(routes: &mut Value, k: f64) {
    let Some(list) = routes.as_sequence_mut() else {
        return;
    };
    for r in list.iter_mut() {
        if let Some(m) = r.as_mapping_mut() {
            for key in ["group_wait", "group_interval", "repeat_interval"] {
                scale_field(m, key, k, None);
            }
            if let Some(children) = m.get_mut("routes") {
                scale_child_routes(children, k);
            }
        }
    }
}

fn rewrite_receiver(r: &mut Value, base: &str, out: &mut Rendered) {
    let name = r
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
        .to_string();
    let Some(m) = r.as_mapping_mut() else { return };
    let path_name = url_segment(&name);
    let keys: Vec<String> = m
        .keys()
        .filter_map(Value::as_str)
        .filter(|k| k.ends_with("_configs"))
        .map(String::from)
        .collect();
    for key in keys {
        if !OBSERVED.contains(&key.as_str()) {
            m.remove(key.as_str());
            out.unobserved_integrations.push(format!(
                "{} (receiver {name:?})",
                key.trim_end_matches("_configs")
            ));
            continue;
        }
        let Some(configs) = m.get_mut(key.as_str()).and_then(Value::as_sequence_mut) else {
            continue;
        };
        for c in configs.iter_mut() {
            let Some(c) = c.as_mapping_mut() else {
                continue;
            };
            match key.as_str() {
                "slack_configs" => {
                    c.remove("api_url_file");
                    if !c.contains_key("callback_id") {
                        c.insert("callback_id".into(), CALLBACK_TEMPLATE.into());
                    }
                    c.insert("api_url".into(), format!("{base}/slack/{path_name}").into());
                }
                "pagerduty_configs" => {
                    for secret in ["routing_key_file", "service_key_file", "service_key"] {
                        c.remove(secret);
                    }
                    c.insert("routing_key".into(), ROUTING_KEY_PLACEHOLDER.into());
                    c.insert("url".into(), format!("{base}/pagerduty/{path_name}").into());
                }
                _ => {
                    c.remove("url_file");
                    c.insert("url".into(), format!("{base}/webhook/{path_name}").into());
                }
            }
            // Receivers are plain HTTP on loopback.
            c.remove("http_config");
        }
    }
    add_tap(m, &format!("{base}/tap/{path_name}"));
}

/// The harness's webhook on this receiver: every flush's alerts, with
/// labels, fingerprints and statuses, resolved ones included.
fn add_tap(receiver: &mut Mapping, url: &str) {
    let mut tap = Mapping::new();
    tap.insert("url".into(), url.into());
    tap.insert("send_resolved".into(), true.into());
    let hooks = receiver
        .entry("webhook_configs".into())
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if !hooks.is_sequence() {
        *hooks = Value::Sequence(Vec::new());
    }
    if let Some(list) = hooks.as_sequence_mut() {
        list.push(Value::Mapping(tap));
    }
}

/// Receiver names may hold any character; URLs carry a safe form.
pub fn url_segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
