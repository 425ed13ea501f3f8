//! Scenario YAML → [`Scenario`], collecting every problem.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::input::{Decoder, Diagnostics, Located, Node, yaml};

/// Where a service's fault may be aimed. Names are the seed's service names.
/// Active users per tenant when the scenario does not say.
pub(super) const DEFAULT_USERS: u32 = 20;

pub fn parse_scenario(file: &Path, text: &str) -> Result<Scenario, Diagnostics> {
    let root = yaml::parse(text).map_err(|(pos, msg)| {
        let mut d = Diagnostics::default();
        d.push(file, pos, "", format!("invalid YAML: {msg}"));
        d
    })?;
    let mut dec = Decoder::new(file);
    let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let scenario = decode_root(&mut dec, &root, &base);
    match scenario {
        Some(s) if !dec.has_errors() => Ok(s),
        _ => Err(dec.into_diagnostics().sorted()),
    }
}

fn decode_root(dec: &mut Decoder, root: &Node, base: &Path) -> Option<Scenario> {
    let mut m = dec.map(root, "")?;
    let name = m.required(dec, "name").and_then(|n| dec.string(n, "name"));
    let description = m
        .get("description")
        .and_then(|n| dec.string(n, "description"))
        .unwrap_or_default();
    let stack = decode_stack(dec, m.get("stack"), base, m.pos());
    let target = m.get("target").and_then(|n| {
        let u = dec.string(n, "target")?;
        match reqwest::Url::parse(&u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => {
                Some(Located::new(u, n.pos, "target"))
            }
            _ => {
                dec.error(
                    n.pos,
                    "target",
                    format!("expected a base URL like \"http://127.0.0.1:8000\", found {u:?}"),
                );
                None
            }
        }
    });
    // Plain load (`target:`) needs no SLO file.
    let slo = match (m.get("slo"), &target) {
        (Some(n), _) => dec
            .string(n, "slo")
            .map(|s| Located::new(base.join(s), n.pos, "slo")),
        (None, Some(t)) => Some(Located::new(PathBuf::new(), t.pos, "slo")),
        (None, None) => {
            dec.error(
                m.pos(),
                "slo",
                "this field is required (or give `target:` for plain load with `zeta-bench load`)",
            );
            None
        }
    };
    let tenants = decode_tenants(dec, m.get("tenants"));
    let load = m.required(dec, "load").and_then(|n| decode_load(dec, n));
    let faults = match m.get("faults") {
        Some(n) => decode_faults(dec, n),
        None => Some(Vec::new()),
    };
    let expect = decode_expect(dec, m.get("expect"), faults.as_deref());
    m.finish(dec);

    let (load, faults) = (load?, faults?);
    check_faults_fit(dec, &faults, &load);
    if let Some(st) = &stack {
        check_provider_can_inject(dec, st, &faults);
    }
    if let Some(t) = &tenants {
        for p in &load.phases {
            if let Some(s) = &p.surge {
                let ok = s
                    .value
                    .tenant
                    .strip_prefix("tenant_")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| {
                        (1..=t.count).contains(&n) && super::tenant_name(n) == s.value.tenant
                    });
                if !ok {
                    dec.error(
                        s.pos,
                        &format!("{}.tenant", s.field),
                        format!(
                            "expected one of tenant_001 … {}, found {:?}",
                            super::tenant_name(t.count),
                            s.value.tenant
                        ),
                    );
                }
            }
        }
    }
    Some(Scenario {
        file: dec.file().to_path_buf(),
        name: name?,
        description,
        stack: stack?,
        target,
        slo: slo?,
        tenants: tenants?,
        load,
        faults,
        expect: expect?,
    })
}

fn decode_stack(
    dec: &mut Decoder,
    node: Option<&Node>,
    base: &Path,
    parent_pos: crate::input::Pos,
) -> Option<StackRef> {
    let default_dir = || Located::new(base.join("../stack"), parent_pos, "stack.dir");
    let Some(node) = node else {
        return Some(StackRef {
            dir: default_dir(),
            provider: ProviderChoice::Auto,
            time_scale: Located::new(1.0, parent_pos, "stack.time_scale"),
            urls: Vec::new(),
            receivers: None,
            binaries: Vec::new(),
            allow_absent: Vec::new(),
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
            .and_then(|s| ProviderChoice::from_name(&s)),
        None => Some(ProviderChoice::Auto),
    };
    let time_scale = match m.get("time_scale") {
        Some(n) => dec.f64(n, "stack.time_scale").and_then(|k| {
            if k.is_finite() && k > 0.0 {
                Some(Located::new(k, n.pos, "stack.time_scale"))
            } else {
                dec.error(
                    n.pos,
                    "stack.time_scale",
                    format!("expected a finite number above 0, found {k}"),
                );
                None
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
                .and_then(|s| match s.parse::<std::net::SocketAddr>() {
                    Ok(a) if a.ip().is_loopback() => {
                        Some(Some(Located::new(a, n.pos, "stack.receivers")))
                    }
                    Ok(a) => {
                        dec.error(
                        n.pos,
                        "stack.receivers",
                        format!(
                            "expected a loopback address (127.0.0.1:PORT or [::1]:PORT), found {a}"
                        ),
                    );
                        None
                    }
                    Err(_) => {
                        dec.error(
                            n.pos,
                            "stack.receivers",
                            format!("expected an address like 127.0.0.1:9095, found {s:?}"),
                        );
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
    m.finish(dec);
    Some(StackRef {
        dir: dir?,
        provider: provider?,
        time_scale: time_scale?,
        urls: urls?,
        receivers: receivers?,
        binaries: binaries?,
        allow_absent: allow_absent?,
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
        if path.is_file() {
            out.push((name.to_string(), Located::new(path, n.pos, field)));
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
        let field = m.path(name);
        let Some(u) = dec.string(n, &field) else {
            ok = false;
            continue;
        };
        match reqwest::Url::parse(&u) {
            Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => {
                if !p.username().is_empty() || p.password().is_some() {
                    dec.error(n.pos, &field, "credentials do not belong in a URL that may be printed; set ZETA_<NAME>_TOKEN or ZETA_<NAME>_USER and ZETA_<NAME>_PASSWORD instead");
                    ok = false;
                } else {
                    out.push((name.to_string(), Located::new(u, n.pos, field)));
                }
            }
            _ => {
                dec.error(
                    n.pos,
                    &field,
                    format!("expected an http:// or https:// URL, found {u:?}"),
                );
                ok = false;
            }
        }
    }
    m.finish(dec);
    ok.then_some(out)
}

fn decode_tenants(dec: &mut Decoder, node: Option<&Node>) -> Option<Tenants> {
    let Some(node) = node else {
        return Some(Tenants {
            count: 10,
            distribution: TenantDistribution::Uniform,
            seed: 42,
            users: DEFAULT_USERS,
        });
    };
    let mut m = dec.map(node, "tenants")?;
    let count = match m.get("count") {
        Some(n) => dec.u64(n, "tenants.count").and_then(|c| {
            if (1..=100_000).contains(&c) {
                Some(c as u32)
            } else {
                dec.error(
                    n.pos,
                    "tenants.count",
                    format!("expected 1 to 100000 tenants, found {c}"),
                );
                None
            }
        }),
        None => Some(10),
    };
    let kind = match m.get("distribution") {
        Some(n) => dec.one_of(n, "tenants.distribution", &["uniform", "zipf", "weights"]),
        None => Some("uniform".to_string()),
    };
    let skew = match m.get("skew") {
        Some(n) => dec.f64(n, "tenants.skew").and_then(|s| {
            if s > 0.0 {
                Some(s)
            } else {
                dec.error(
                    n.pos,
                    "tenants.skew",
                    format!("expected a number above 0, found {s}"),
                );
                None
            }
        }),
        None => Some(1.1),
    };
    let seed = match m.get("seed") {
        Some(n) => dec.u64(n, "tenants.seed"),
        None => Some(42),
    };
    let users = match m.get("users") {
        Some(n) => dec.u64(n, "tenants.users").and_then(|u| {
            if (1..=1_000_000).contains(&u) {
                Some(u as u32)
            } else {
                dec.error(
                    n.pos,
                    "tenants.users",
                    format!("expected 1 to 1000000 users per tenant, found {u}"),
                );
                None
            }
        }),
        None => Some(DEFAULT_USERS),
    };
    let weights_node = m.get("weights");
    let kind = kind?;
    let weights = match (weights_node, kind.as_str()) {
        (Some(n), "weights") => decode_weights(dec, n),
        (Some(n), other) => {
            dec.error(
                n.pos,
                "tenants.weights",
                format!("weights apply to `distribution: weights`, not {other}"),
            );
            None
        }
        (None, "weights") => {
            dec.error(
                m.pos(),
                "tenants.weights",
                "`distribution: weights` needs `weights: [..]`, one number per tenant",
            );
            None
        }
        (None, _) => Some(Vec::new()),
    };
    let explicit_count = m.get("count").is_some();
    let pos = m.pos();
    m.finish(dec);
    let weights = weights?;
    let mut count = count?;
    if kind == "weights" {
        if explicit_count && weights.len() != count as usize {
            dec.error(
                pos,
                "tenants.weights",
                format!(
                    "expected {count} weights (tenants.count), found {}",
                    weights.len()
                ),
            );
            return None;
        }
        count = weights.len() as u32;
    }
    let distribution = match kind.as_str() {
        "zipf" => TenantDistribution::Zipf { skew: skew? },
        "weights" => TenantDistribution::Weights(weights),
        _ => TenantDistribution::Uniform,
    };
    Some(Tenants {
        count,
        distribution,
        seed: seed?,
        users: users?,
    })
}

/// `tenants.weights`: non-negative numbers, not all zero.
fn decode_weights(dec: &mut Decoder, node: &Node) -> Option<Vec<f64>> {
    let items = dec.seq(node, "tenants.weights")?;
    let mut out = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let field = format!("tenants.weights[{i}]");
        let w = dec.f64(n, &field)?;
        if !(w >= 0.0 && w.is_finite()) {
            dec.error(
                n.pos,
                &field,
                format!("expected a weight of 0 or more, found {w}"),
            );
            return None;
        }
        out.push(w);
    }
    if out.is_empty() || out.iter().sum::<f64>() <= 0.0 || out.len() > 100_000 {
        dec.error(
            node.pos,
            "tenants.weights",
            format!(
                "expected 1 to 100000 weights with a positive sum, found {} summing to {}",
                out.len(),
                out.iter().sum::<f64>()
            ),
        );
        return None;
    }
    Some(out)
}

fn decode_load(dec: &mut Decoder, node: &Node) -> Option<Load> {
    let mut m = dec.map(node, "load")?;
    let phases = m.required(dec, "phases").and_then(|n| {
        let items = dec.seq(n, "load.phases")?;
        if items.is_empty() {
            dec.error(
                n.pos,
                "load.phases",
                "expected at least one phase, found an empty list",
            );
            return None;
        }
        let decoded: Vec<Option<Phase>> = items
            .iter()
            .enumerate()
            .map(|(i, p)| decode_phase(dec, p, &format!("load.phases[{i}]")))
            .collect();
        decoded.into_iter().collect::<Option<Vec<_>>>()
    });
    let mix = m.required(dec, "mix").and_then(|n| {
        let items = dec.seq(n, "load.mix")?;
        if items.is_empty() {
            dec.error(
                n.pos,
                "load.mix",
                "expected at least one request, found an empty list",
            );
            return None;
        }
        let decoded: Vec<Option<MixEntry>> = items
            .iter()
            .enumerate()
            .map(|(i, e)| decode_mix(dec, e, &format!("load.mix[{i}]")))
            .collect();
        decoded.into_iter().collect::<Option<Vec<_>>>()
    });
    let max_in_flight = match m.get("max_in_flight") {
        Some(n) => dec.u64(n, "load.max_in_flight").and_then(|v| {
            if v >= 1 {
                Some(v.min(u32::MAX as u64) as u32)
            } else {
                dec.error(n.pos, "load.max_in_flight", "expected at least 1, found 0");
                None
            }
        }),
        None => Some(1_000),
    };
    let timeout = match m.get("timeout") {
        Some(n) => dec.duration(n, "load.timeout").map(|d| d.value),
        None => Some(Duration::from_secs(10)),
    };
    m.finish(dec);
    Some(Load {
        phases: phases?,
        mix: mix?,
        max_in_flight: max_in_flight?,
        timeout: timeout?,
    })
}

fn decode_phase(dec: &mut Decoder, node: &Node, field: &str) -> Option<Phase> {
    let mut m = dec.map(node, field)?;
    let name = match m.get("name") {
        Some(n) => dec.string(n, &m.path("name")),
        None => Some(field.to_string()),
    };
    let duration = m
        .required(dec, "duration")
        .and_then(|n| dec.duration(n, &m.path("duration")))
        .and_then(|d| {
            if d.value.is_zero() {
                dec.error(d.pos, &d.field, "expected a duration above 0, found 0");
                None
            } else {
                Some(d)
            }
        });
    let rate = m
        .required(dec, "rate")
        .and_then(|n| dec.rate(n, &m.path("rate")));
    let arrivals = match m.get("arrivals") {
        Some(n) => dec
            .one_of(n, &m.path("arrivals"), &["constant", "poisson"])
            .map(|s| {
                if s == "poisson" {
                    Arrivals::Poisson
                } else {
                    Arrivals::Constant
                }
            }),
        None => Some(Arrivals::Constant),
    };
    let ramp_to = match m.get("to") {
        Some(n) => dec.rate(n, &m.path("to")).map(|r| Some(r.per_second)),
        None => Some(None),
    };
    let steps = match m.get("steps") {
        Some(n) => dec.u64(n, &m.path("steps")).and_then(|k| {
            if ramp_to.flatten().is_none() {
                dec.error(
                    n.pos,
                    &m.path("steps"),
                    "steps need a ramp: add `to:` with the final rate",
                );
                None
            } else if (2..=1000).contains(&k) {
                Some(Some(k as u32))
            } else {
                dec.error(
                    n.pos,
                    &m.path("steps"),
                    format!("expected 2 to 1000 steps, found {k}"),
                );
                None
            }
        }),
        None => Some(None),
    };
    let surge = match m.get("surge") {
        None => Some(None),
        Some(n) => {
            let field = m.path("surge");
            dec.map(n, &field).and_then(|mut sm| {
                let tenant = sm
                    .required(dec, "tenant")
                    .and_then(|t| dec.string(t, &sm.path("tenant")));
                let factor = sm
                    .required(dec, "factor")
                    .and_then(|f| dec.f64(f, &sm.path("factor")))
                    .and_then(|f| {
                        if f > 1.0 {
                            Some(f)
                        } else {
                            dec.error(
                                sm.pos(),
                                &sm.path("factor"),
                                format!("expected a factor above 1, found {f}"),
                            );
                            None
                        }
                    });
                sm.finish(dec);
                Some(Some(Located::new(
                    Surge {
                        tenant: tenant?,
                        factor: factor?,
                    },
                    n.pos,
                    field,
                )))
            })
        }
    };
    m.finish(dec);
    Some(Phase {
        name: name?,
        duration: duration?,
        rate_per_second: rate?.per_second,
        ramp_to: ramp_to?,
        steps: steps?,
        arrivals: arrivals?,
        surge: surge?,
    })
}

fn decode_mix(dec: &mut Decoder, node: &Node, field: &str) -> Option<MixEntry> {
    let mut m = dec.map(node, field)?;
    let request = m.required(dec, "request");
    let body = m
        .get("body")
        .and_then(|n| dec.string(n, &m.path("body")).map(|s| (s, n)));
    let weight = match m.get("weight") {
        Some(n) => dec.u64(n, &m.path("weight")).and_then(|w| {
            if (1..=1_000_000).contains(&w) {
                Some(w as u32)
            } else {
                dec.error(
                    n.pos,
                    &m.path("weight"),
                    format!("expected a weight from 1 to 1000000, found {w}"),
                );
                None
            }
        }),
        None => Some(1),
    };
    let template = request.and_then(|n| {
        let text = dec.string(n, &m.path("request"))?;
        let body_text = body.as_ref().map(|(s, _)| s.as_str());
        match RequestTemplate::parse(&text, body_text) {
            Ok(t) => Some(t),
            Err(e) => {
                // Attribute placeholder errors in the body to the body.
                let at = match (&body, RequestTemplate::parse(&text, None)) {
                    (Some((_, b)), Ok(_)) => (b.pos, m.path("body")),
                    _ => (n.pos, m.path("request")),
                };
                dec.error(at.0, &at.1, e);
                None
            }
        }
    });
    m.finish(dec);
    Some(MixEntry {
        request: template?,
        weight: weight?,
    })
}

fn decode_faults(dec: &mut Decoder, node: &Node) -> Option<Vec<Fault>> {
    let items = dec.seq(node, "faults")?;
    let decoded: Vec<Option<(Fault, Option<crate::input::Pos>)>> = items
        .iter()
        .enumerate()
        .map(|(i, f)| decode_fault(dec, f, &format!("faults[{i}]")))
        .collect();
    let decoded = decoded.into_iter().collect::<Option<Vec<_>>>()?;
    let mut faults: Vec<Fault> = Vec::new();
    for (i, (mut f, explicit)) in decoded.into_iter().enumerate() {
        match explicit {
            Some(pos) if faults.iter().any(|g| g.name == f.name) => dec.error(
                pos,
                &format!("faults[{i}].name"),
                format!(
                    "two faults are named {:?}; give each a distinct `name`",
                    f.name
                ),
            ),
            Some(_) => {}
            None => {
                // Default names are `kind:target`, numbered when repeated.
                let base = f.name.clone();
                let mut n = 1;
                while faults.iter().any(|g| g.name == f.name) {
                    n += 1;
                    f.name = format!("{base}#{n}");
                }
            }
        }
        faults.push(f);
    }
    Some(faults)
}

/// A fault, and the position of its `name` when one was given.
fn decode_fault(
    dec: &mut Decoder,
    node: &Node,
    field: &str,
) -> Option<(Fault, Option<crate::input::Pos>)> {
    let mut m = dec.map(node, field)?;
    let kind = m.required(dec, "kind").and_then(|n| {
        dec.one_of(n, &m.path("kind"), FaultKind::NAMES)
            .and_then(|s| FaultKind::from_name(&s))
    });
    let target = m.required(dec, "target").and_then(|n| {
        let t = dec.string(n, &m.path("target"))?;
        let allowed = kind.map(FaultKind::targets).unwrap_or(&[]);
        if kind.is_none() || allowed.contains(&t.as_str()) {
            Some(Located::new(t, n.pos, m.path("target")))
        } else {
            dec.error(
                n.pos,
                &m.path("target"),
                format!(
                    "unknown fault target {t:?} for {}; expected one of {}",
                    kind.map(FaultKind::name).unwrap_or(""),
                    allowed
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            None
        }
    });
    let params = kind.and_then(|k| decode_fault_params(dec, &mut m, k));
    let at = m
        .required(dec, "at")
        .and_then(|n| dec.duration(n, &m.path("at")));
    let duration = m
        .required(dec, "duration")
        .and_then(|n| dec.duration(n, &m.path("duration")));
    let name_node = m.get("name");
    let name = name_node.and_then(|n| dec.string(n, &m.path("name")));
    m.finish(dec);
    let (kind, target) = (kind?, target?);
    Some((
        Fault {
            name: name.unwrap_or_else(|| format!("{}:{}", kind.name(), target.value)),
            kind,
            params: params?,
            target,
            at: at?,
            duration: duration?,
        },
        name_node.map(|n| n.pos),
    ))
}

/// The settings each kind takes; settings of other kinds are unknown fields.
fn decode_fault_params(
    dec: &mut Decoder,
    m: &mut crate::input::MapReader<'_>,
    kind: FaultKind,
) -> Option<FaultParams> {
    let mut p = FaultParams::default();
    let mut ok = true;
    let endpoint = |dec: &mut Decoder,
                    m: &mut crate::input::MapReader<'_>|
     -> Option<Option<String>> {
        match m.get("endpoint") {
            Some(n) => {
                let e = dec.string(n, &m.path("endpoint"))?;
                if e.starts_with('/') {
                    Some(Some(e))
                } else {
                    dec.error(
                        n.pos,
                        &m.path("endpoint"),
                        format!("expected a route like \"/api/v1/recommendations\", found {e:?}"),
                    );
                    None
                }
            }
            None => Some(None),
        }
    };
    match kind {
        FaultKind::DatabaseDown => {}
        FaultKind::ServiceDown => {
            if let Some(n) = m.get("mode") {
                match dec.one_of(n, &m.path("mode"), &["kill", "freeze"]) {
                    Some(mode) => p.freeze = mode == "freeze",
                    None => ok = false,
                }
            }
        }
        FaultKind::DiskPressure | FaultKind::MemoryPressure => {
            p.fill_to = Some(0.9);
            if let Some(n) = m.get("fill_to") {
                match dec.percent(n, &m.path("fill_to")) {
                    Some(f) if f > 0.0 => p.fill_to = Some(f),
                    Some(_) => {
                        dec.error(
                            n.pos,
                            &m.path("fill_to"),
                            "expected a level above 0%, found 0%",
                        );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
        }
        FaultKind::HighLatency => {
            p.latency = m
                .required(dec, "latency")
                .and_then(|n| dec.duration(n, &m.path("latency")))
                .map(|d| d.value);
            ok &= p.latency.is_some();
            if let Some(n) = m.get("jitter") {
                p.jitter = dec.duration(n, &m.path("jitter")).map(|d| d.value);
                ok &= p.jitter.is_some();
            }
            match endpoint(dec, m) {
                Some(e) => p.endpoint = e,
                None => ok = false,
            }
        }
        FaultKind::ErrorRate => {
            p.ratio = m
                .required(dec, "ratio")
                .and_then(|n| dec.percent(n, &m.path("ratio")));
            ok &= p.ratio.is_some();
            p.status = Some(500);
            if let Some(n) = m.get("status") {
                match dec.u64(n, &m.path("status")) {
                    Some(s) if (500..=599).contains(&s) => p.status = Some(s as u16),
                    Some(s) => {
                        dec.error(
                            n.pos,
                            &m.path("status"),
                            format!("expected a 5xx status, found {s}"),
                        );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            match endpoint(dec, m) {
                Some(e) => p.endpoint = e,
                None => ok = false,
            }
        }
        FaultKind::CacheDegradation => {
            p.ratio = m
                .required(dec, "miss_ratio")
                .and_then(|n| dec.percent(n, &m.path("miss_ratio")));
            ok &= p.ratio.is_some();
        }
    }
    ok.then_some(p)
}

/// A fault must start and end while load runs, so that the run observes
/// both the detection and the recovery.
fn check_faults_fit(dec: &mut Decoder, faults: &[Fault], load: &Load) {
    let total = load.total_duration();
    let human = crate::input::units::human_duration;
    for f in faults {
        let end = f.at.value + f.duration.value;
        if f.at.value >= total {
            dec.error(
                f.at.pos,
                &f.at.field,
                format!(
                    "the fault starts at {} but the load phases end at {}",
                    human(f.at.value),
                    human(total)
                ),
            );
        } else if end > total {
            dec.error(
                f.duration.pos,
                &f.duration.field,
                format!(
                    "the fault would end at {} ({} + {}) but the load phases end at {}; the run must see the recovery",
                    human(end),
                    human(f.at.value),
                    human(f.duration.value),
                    human(total)
                ),
            );
        }
        if f.duration.value.is_zero() {
            dec.error(
                f.duration.pos,
                &f.duration.field,
                "expected a duration above 0, found 0",
            );
        }
    }
    for (i, a) in faults.iter().enumerate() {
        for b in &faults[i + 1..] {
            let overlap = a.at.value < b.at.value + b.duration.value
                && b.at.value < a.at.value + a.duration.value;
            if a.target.value == b.target.value && overlap {
                dec.error(
                    b.at.pos,
                    &b.at.field,
                    format!(
                        "this fault overlaps fault {:?} on the same target {:?}",
                        a.name, a.target.value
                    ),
                );
            }
        }
    }
}

fn decode_expect(
    dec: &mut Decoder,
    node: Option<&Node>,
    faults: Option<&[Fault]>,
) -> Option<Expect> {
    let Some(node) = node else {
        return Some(Expect {
            alerts: Vec::new(),
            unexpected_alerts: UnexpectedAlerts::Fail,
        });
    };
    let mut m = dec.map(node, "expect")?;
    let alerts = match m.get("alerts") {
        Some(n) => dec.seq(n, "expect.alerts").and_then(|items| {
            let decoded: Vec<Option<ExpectedAlert>> = items
                .iter()
                .enumerate()
                .map(|(i, a)| decode_expected_alert(dec, a, &format!("expect.alerts[{i}]"), faults))
                .collect();
            decoded.into_iter().collect::<Option<Vec<_>>>()
        }),
        None => Some(Vec::new()),
    };
    let unexpected = match m.get("unexpected_alerts") {
        Some(n) => dec
            .one_of(n, "expect.unexpected_alerts", &["fail", "warn"])
            .map(|s| {
                if s == "warn" {
                    UnexpectedAlerts::Warn
                } else {
                    UnexpectedAlerts::Fail
                }
            }),
        None => Some(UnexpectedAlerts::Fail),
    };
    m.finish(dec);
    Some(Expect {
        alerts: alerts?,
        unexpected_alerts: unexpected?,
    })
}

fn decode_expected_alert(
    dec: &mut Decoder,
    node: &Node,
    field: &str,
    faults: Option<&[Fault]>,
) -> Option<ExpectedAlert> {
    // When the faults themselves are invalid, their problems are reported
    // already; do not add a second, confusing one here.
    let checked_faults = faults;
    let faults = faults.unwrap_or(&[]);
    let mut m = dec.map(node, field)?;
    let name_node = m.required(dec, "name");
    let name_pos = name_node.map_or(m.pos(), |n| n.pos);
    let name = name_node.and_then(|n| dec.string(n, &m.path("name")));
    let labels = match m.get("labels") {
        Some(n) => dec.string_map(n, &m.path("labels")),
        None => Some(Vec::new()),
    };
    let fault_node = m.get("fault");
    let fault = match fault_node {
        Some(n) if checked_faults.is_none() => dec.string(n, &m.path("fault")),
        Some(n) => dec.string(n, &m.path("fault")).and_then(|f| {
            if faults.iter().any(|x| x.name == f) {
                Some(f)
            } else {
                dec.error(
                    n.pos,
                    &m.path("fault"),
                    format!(
                        "no fault is named {f:?}; faults are {}",
                        faults
                            .iter()
                            .map(|x| format!("{:?}", x.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                None
            }
        }),
        None if checked_faults.is_none() => None,
        None => {
            let labels = labels.clone().unwrap_or_default();
            let by_target = faults.iter().find(|f| {
                labels
                    .iter()
                    .any(|(k, v)| (k == "job" || k == "service") && *v == f.target.value)
            });
            match (by_target, faults) {
                (Some(f), _) => Some(f.name.clone()),
                (None, [only]) => Some(only.name.clone()),
                (None, []) => {
                    dec.error(m.pos(), field, "an expected alert needs a fault to be measured from, and the scenario has none");
                    None
                }
                (None, _) => {
                    dec.error(
                        m.pos(),
                        &m.path("fault"),
                        "several faults could have caused this alert; name one with `fault:`",
                    );
                    None
                }
            }
        }
    };
    m.finish(dec);
    Some(ExpectedAlert {
        name: name?,
        pos: name_pos,
        labels: labels?,
        fault: fault?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: service-down
description: backend-api dies
stack: { dir: ../stack, provider: native, time_scale: 10 }
slo: ../slo/phase1.yml
tenants: { count: 50, distribution: zipf, skew: 1.1, seed: 42 }
load:
  phases:
    - { name: warmup, duration: 1m, rate: 20/s }
    - { name: steady, duration: 5m, rate: 100/s, arrivals: poisson }
  mix:
    - { request: "GET /api/v1/recommendations?user_id={user}&k=10", weight: 70 }
    - { request: "POST /api/v1/events", body: '{"user_id":"{user}","item_id":"{item}"}', weight: 30 }
faults:
  - { kind: service_down, target: backend-api, at: 2m, duration: 3m }
expect:
  alerts:
    - { name: ServiceDown, labels: { job: backend-api } }
  unexpected_alerts: fail
"#;

    #[test]
    fn a_good_scenario_decodes() {
        let s = parse_scenario(Path::new("scenarios/x.yml"), GOOD).unwrap();
        assert_eq!(s.name, "service-down");
        assert_eq!(s.stack.time_scale.value, 10.0);
        assert_eq!(s.stack.provider, ProviderChoice::Native);
        assert_eq!(s.load.phases.len(), 2);
        assert_eq!(s.load.phases[1].arrivals, Arrivals::Poisson);
        assert_eq!(s.load.total_duration(), Duration::from_secs(360));
        assert_eq!(
            s.tenants.distribution,
            TenantDistribution::Zipf { skew: 1.1 }
        );
        assert_eq!(s.faults[0].name, "service_down:backend-api");
        assert_eq!(s.expect.alerts[0].fault, "service_down:backend-api");
        assert_eq!(s.slo.value, Path::new("scenarios/../slo/phase1.yml"));
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let bad = GOOD
            .replace(
                "duration: 1m, rate: 20/s",
                "duration: five, rate: 20/s, colour: red",
            )
            .replace(
                "target: backend-api, at: 2m, duration: 3m",
                "target: payments, at: 5m, duration: 3m",
            );
        let err = parse_scenario(Path::new("s.yml"), &bad)
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("s.yml:9:33: load.phases[0].duration: expected a duration")),
            "{err}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("s.yml:9:51: load.phases[0].colour: unknown field")),
            "{err}"
        );
        assert!(
            lines.iter().any(|l| l
                .starts_with("s.yml:15:35: faults[0].target: unknown fault target \"payments\"")),
            "{err}"
        );
    }

    #[test]
    fn a_fault_outside_the_run_is_an_error() {
        let bad = GOOD.replace("at: 2m, duration: 3m", "at: 2m, duration: 10m");
        let err = parse_scenario(Path::new("s.yml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("faults[0].duration: the fault would end at 12m00s"),
            "{err}"
        );
        let bad = GOOD.replace("at: 2m, duration: 3m", "at: 7m, duration: 1m");
        let err = parse_scenario(Path::new("s.yml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "faults[0].at: the fault starts at 7m00s but the load phases end at 6m00s"
            ),
            "{err}"
        );
    }

    #[test]
    fn ramps_and_steps() {
        let ok = GOOD.replace(
            "duration: 1m, rate: 20/s }",
            "duration: 1m, rate: 20/s, to: 200/s, steps: 4 }",
        );
        let s = parse_scenario(Path::new("s.yml"), &ok).unwrap();
        assert_eq!(
            (s.load.phases[0].ramp_to, s.load.phases[0].steps),
            (Some(200.0), Some(4))
        );
        let bad = GOOD.replace(
            "duration: 1m, rate: 20/s }",
            "duration: 1m, rate: 20/s, steps: 4 }",
        );
        let err = parse_scenario(Path::new("s.yml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("load.phases[0].steps: steps need a ramp: add `to:` with the final rate"),
            "{err}"
        );
    }

    #[test]
    fn yaml_syntax_errors_are_located() {
        let err = parse_scenario(Path::new("s.yml"), "name: [x\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.yml:"), "{err}");
        assert!(err.contains("invalid YAML"), "{err}");
    }
}

/// A stack the harness did not start can only take the mock services'
/// knobs; every other fault is refused before anything runs.
fn check_provider_can_inject(
    dec: &mut Decoder,
    stack: &crate::scenario::StackRef,
    faults: &[Fault],
) {
    if stack.provider != ProviderChoice::External {
        return;
    }
    for f in faults {
        if let Some(why) = f.external_refusal() {
            dec.error(f.target.pos, &f.target.field, why);
        }
    }
}

#[cfg(test)]
mod external_tests {
    use super::*;

    const BASE: &str = r#"
name: ext
slo: slo.yml
load:
  phases: [{ duration: 1m, rate: 5/s }]
  mix: [{ request: "GET /" }]
"#;

    fn with(stack: &str, faults: &str) -> Result<Scenario, String> {
        parse_scenario(
            Path::new("s.yml"),
            &format!("{BASE}stack: {stack}\n{faults}"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn urls_and_receivers_decode() {
        let s = with(
            "{ provider: external, receivers: '127.0.0.1:9095', urls: { prometheus: 'http://prom:9090', backend-api: 'https://api.example/' } }",
            "faults: [{ kind: error_rate, target: backend-api, ratio: 50%, at: 10s, duration: 20s }]",
        )
        .unwrap();
        assert_eq!(s.stack.provider, ProviderChoice::External);
        assert_eq!(s.stack.urls.len(), 2);
        assert_eq!(s.stack.urls[0].0, "prometheus");
        assert_eq!(s.stack.receivers.unwrap().value.port(), 9095);
    }

    #[test]
    fn allow_absent_names_known_components_only() {
        let s = with(
            "{ allow_absent: [redis-exporter, postgresql] }",
            "faults: []",
        )
        .unwrap();
        assert_eq!(s.stack.allow_absent, ["redis-exporter", "postgresql"]);
        let e = with(
            "{ allow_absent: [redis-exporter, prometheus] }",
            "faults: []",
        )
        .unwrap_err();
        assert!(e.contains("stack.allow_absent[1]"), "{e}");
        assert!(e.contains("redis-exporter"), "the choices are listed: {e}");
        let e = with("{ allow_absent: redis }", "faults: []").unwrap_err();
        assert!(e.contains("stack.allow_absent"), "{e}");
    }

    #[test]
    fn binaries_must_exist_and_be_known_components() {
        let exe = std::env::current_exe().unwrap();
        let s = with(
            &format!("{{ binaries: {{ prometheus: '{}' }} }}", exe.display()),
            "faults: []",
        )
        .unwrap();
        assert_eq!(s.stack.binaries[0].0, "prometheus");
        assert_eq!(s.stack.binaries[0].1.value, exe);
        let e = with(
            "{ binaries: { jaeger: 'no/such/jaeger', grafana: '/bin/sh' } }",
            "faults: []",
        )
        .unwrap_err();
        assert!(
            e.contains("stack.binaries.jaeger: expected the path of an existing jaeger binary"),
            "{e}"
        );
        assert!(e.contains("unknown field \"grafana\""), "{e}");
    }

    #[test]
    fn bad_urls_credentials_and_faults_outside_the_knobs_are_located() {
        let e = with(
            "{ provider: external, receivers: '0.0.0.0:9095', urls: { prometheus: 'ftp://x', grafana: 'http://admin:secret@g:3000', lokki: 'http://l' } }",
            "faults: [{ kind: service_down, target: backend-api, at: 10s, duration: 20s }]",
        )
        .unwrap_err();
        for want in [
            "stack.receivers: expected a loopback address",
            "stack.urls.prometheus: expected an http:// or https:// URL, found \"ftp://x\"",
            "stack.urls.grafana: credentials do not belong in a URL",
            "unknown field \"lokki\" (did you mean \"loki\"?)",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        assert!(!e.contains("secret"), "{e}");
        let e = with(
            "{ provider: external }",
            "faults: [{ kind: service_down, target: backend-api, at: 10s, duration: 20s }]",
        )
        .unwrap_err();
        assert!(e.contains("s.yml:8:40: faults[0].target: the external provider cannot inject service_down on \"backend-api\""), "{e}");
        // The same fault is fine natively.
        assert!(
            with(
                "{ provider: native }",
                "faults: [{ kind: service_down, target: backend-api, at: 10s, duration: 20s }]"
            )
            .is_ok()
        );
    }

    #[test]
    fn tenant_weights_decode_and_mismatches_are_located() {
        let s = with(
            "{ provider: native }",
            "tenants: { distribution: weights, weights: [5, 1, 1] }",
        )
        .unwrap();
        assert_eq!(s.tenants.count, 3);
        assert_eq!(
            s.tenants.distribution,
            TenantDistribution::Weights(vec![5.0, 1.0, 1.0])
        );
        let e = with(
            "{ provider: native }",
            "tenants: { count: 4, distribution: weights, weights: [5, 1, 1] }",
        )
        .unwrap_err();
        assert!(
            e.contains("tenants.weights: expected 4 weights (tenants.count), found 3"),
            "{e}"
        );
        let e = with(
            "{ provider: native }",
            "tenants: { distribution: weights, weights: [1, -2] }",
        )
        .unwrap_err();
        assert!(
            e.contains("tenants.weights[1]: expected a weight of 0 or more, found -2"),
            "{e}"
        );
        let e = with(
            "{ provider: native }",
            "tenants: { distribution: zipf, weights: [1] }",
        )
        .unwrap_err();
        assert!(
            e.contains("weights apply to `distribution: weights`"),
            "{e}"
        );
    }
}
