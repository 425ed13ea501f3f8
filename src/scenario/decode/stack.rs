//! `stack:`: the stack directory, provider, time scale, external URLs,
//! the receivers' address, chosen binaries and allowed-absent components.

use std::path::{Path, PathBuf};

use super::*;

pub(super) fn decode_stack(
    dec: &mut Decoder,
    node: Option<&Node>,
    base: &Path,
    parent_pos: crate::input::Pos,
) -> Option<StackRef> {
    let default_dir = || Located::new(base.join("../stack"), parent_pos, "stack.dir");
    let Some(node) = node else {
        return Some(StackRef {
            dir: default_dir(),
            provider: Located::new(ProviderChoice::Auto, parent_pos, "stack.provider"),
            time_scale: Located::new(1.0, parent_pos, "stack.time_scale"),
            urls: Vec::new(),
            receivers: None,
            binaries: Vec::new(),
            allow_absent: Vec::new(),
            toxiproxy: None,
        });
    };
    let mut m = dec.map(node, "stack")?;
    let dir = match m.get("dir") {
        Some(n) => dec
            .string(n, "stack.dir")
            .map(|s| Located::new(base.join(s), n.pos, "stack.dir")),
        None => Some(default_dir()),
    };
    let provider = match m.get("provider") {
        Some(n) => dec
            .one_of(n, "stack.provider", ProviderChoice::NAMES)
            .and_then(|s| ProviderChoice::from_name(&s))
            .map(|p| Located::new(p, n.pos, "stack.provider")),
        None => Some(Located::new(
            ProviderChoice::Auto,
            m.pos(),
            "stack.provider",
        )),
    };
    let time_scale =
        match m.get("time_scale") {
            Some(n) => dec.f64(n, "stack.time_scale").and_then(|k| {
                match crate::input::units::check_time_scale(k) {
                    Ok(k) => Some(Located::new(k, n.pos, "stack.time_scale")),
                    Err(e) => {
                        dec.error(n.pos, "stack.time_scale", e);
                        None
                    }
                }
            }),
            None => Some(Located::new(1.0, m.pos(), "stack.time_scale")),
        };
    let urls = match m.get("urls") {
        Some(n) => decode_urls(dec, n),
        None => Some(Vec::new()),
    };
    let receivers = match m.get("receivers") {
        Some(n) => {
            dec.string(n, "stack.receivers")
                .and_then(|s| match crate::scenario::receivers_address(&s) {
                    Ok(a) => Some(Some(Located::new(a, n.pos, "stack.receivers"))),
                    Err(e) => {
                        dec.error(n.pos, "stack.receivers", e);
                        None
                    }
                })
        }
        None => Some(None),
    };
    let binaries = match m.get("binaries") {
        Some(n) => decode_binaries(dec, n, base),
        None => Some(Vec::new()),
    };
    let allow_absent = match m.get("allow_absent") {
        Some(n) => decode_allow_absent(dec, n),
        None => Some(Vec::new()),
    };
    let toxiproxy = match m.get("toxiproxy") {
        Some(n) => decode_toxiproxy(dec, n).map(Some),
        None => Some(None),
    };
    m.finish(dec);
    if let (Some(p), Some(Some(t))) = (&provider, &toxiproxy) {
        if matches!(p.value, ProviderChoice::Native | ProviderChoice::Docker) {
            dec.error(
                t.pos,
                "stack.toxiproxy",
                format!("expected no stack.toxiproxy with provider: {}, which runs its own Toxiproxy on backend-api's links; stack.toxiproxy names a team's, for provider: external", p.value.name()),
            );
            return None;
        }
    }
    Some(StackRef {
        dir: dir?,
        provider: provider?,
        time_scale: time_scale?,
        urls: urls?,
        receivers: receivers?,
        binaries: binaries?,
        allow_absent: allow_absent?,
        toxiproxy: toxiproxy?,
    })
}

/// `stack.allow_absent`: a list of component names from
/// [`crate::scenario::ALLOWABLE_ABSENT`].
fn decode_allow_absent(dec: &mut Decoder, node: &Node) -> Option<Vec<String>> {
    let items = dec.seq(node, "stack.allow_absent")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, n) in items.iter().enumerate() {
        let field = format!("stack.allow_absent[{i}]");
        match dec.one_of(n, &field, crate::scenario::ALLOWABLE_ABSENT) {
            Some(name) => out.push(name),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `stack.binaries`: component → path of its binary (relative to the
/// scenario file), which must exist.
fn decode_binaries(
    dec: &mut Decoder,
    node: &Node,
    base: &Path,
) -> Option<Vec<(String, Located<PathBuf>)>> {
    let mut m = dec.map(node, "stack.binaries")?;
    let mut out = Vec::new();
    let mut ok = true;
    for name in crate::scenario::CHOOSABLE_BINARIES {
        let Some(n) = m.get(name) else { continue };
        let field = m.path(name);
        let Some(s) = dec.string(n, &field) else {
            ok = false;
            continue;
        };
        let path = base.join(&s);
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
        };
        if path.is_file() && executable {
            out.push((name.to_string(), Located::new(path, n.pos, field)));
        } else if path.is_file() {
            dec.error(
                n.pos,
                &field,
                format!("expected an executable {name} binary, found {s:?}, which is not executable (chmod +x it)"),
            );
            ok = false;
        } else {
            dec.error(
                n.pos,
                &field,
                format!(
                    "expected the path of an existing {name} binary, found {s:?} (no such file)"
                ),
            );
            ok = false;
        }
    }
    m.finish(dec);
    ok.then_some(out)
}

/// `stack.urls`: known component names, each an http(s) URL.
fn decode_urls(dec: &mut Decoder, node: &Node) -> Option<Vec<(String, Located<String>)>> {
    let mut m = dec.map(node, "stack.urls")?;
    let mut out = Vec::new();
    let mut ok = true;
    for name in crate::scenario::EXTERNAL_COMPONENTS {
        let Some(n) = m.get(name) else { continue };
        match http_url(dec, n, &m.path(name)) {
            Some(u) => out.push((name.to_string(), u)),
            None => ok = false,
        }
    }
    m.finish(dec);
    ok.then_some(out)
}

/// An http(s) URL without credentials (they come from the environment).
fn http_url(dec: &mut Decoder, n: &Node, field: &str) -> Option<Located<String>> {
    let u = dec.string(n, field)?;
    match reqwest::Url::parse(&u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => {
            if !p.username().is_empty() || p.password().is_some() {
                dec.error(n.pos, field, "credentials do not belong in a URL that may be printed; set ZETA_<NAME>_TOKEN or ZETA_<NAME>_USER and ZETA_<NAME>_PASSWORD instead");
                None
            } else {
                Some(Located::new(u, n.pos, field))
            }
        }
        _ => {
            dec.error(
                n.pos,
                field,
                format!("expected an http:// or https:// URL, found {u:?}"),
            );
            None
        }
    }
}

/// `stack.toxiproxy`: a team's Toxiproxy API (`url`, overridden by
/// `ZETA_TOXIPROXY_URL`) and, for each link a network fault may target,
/// the name of its proxy there.
fn decode_toxiproxy(dec: &mut Decoder, node: &Node) -> Option<ToxiproxyRef> {
    let mut m = dec.map(node, "stack.toxiproxy")?;
    let url = match m.get("url") {
        Some(n) => http_url(dec, n, "stack.toxiproxy.url").map(Some),
        None => Some(None),
    };
    let proxies = match m.required(dec, "proxies") {
        Some(n) => decode_proxies(dec, n),
        None => None,
    };
    m.finish(dec);
    Some(ToxiproxyRef {
        url: url?,
        proxies: proxies?,
        pos: node.pos,
    })
}

/// `stack.toxiproxy.proxies`: link target → proxy name.
fn decode_proxies(dec: &mut Decoder, node: &Node) -> Option<Vec<(String, Located<String>)>> {
    let mut m = dec.map(node, "stack.toxiproxy.proxies")?;
    let mut out = Vec::new();
    let mut ok = true;
    for target in FaultKind::Network.targets() {
        let Some(n) = m.get(target) else { continue };
        let field = m.path(target);
        match dec.string(n, &field) {
            Some(name) if is_proxy_name(&name) => {
                out.push((target.to_string(), Located::new(name, n.pos, field)))
            }
            Some(name) => {
                dec.error(n.pos, &field, format!("expected a Toxiproxy proxy name (letters, digits, '_', '-', '.'), found {name:?}"));
                ok = false;
            }
            None => ok = false,
        }
    }
    m.finish(dec);
    if ok && out.is_empty() {
        dec.error(
            node.pos,
            "stack.toxiproxy.proxies",
            format!(
                "expected the proxy name of at least one link ({}), found none",
                FaultKind::Network.targets().join(", ")
            ),
        );
        return None;
    }
    ok.then_some(out)
}

/// A name that is safe in the API's URL path.
fn is_proxy_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s != "."
        && s != ".."
}
