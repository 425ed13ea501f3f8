//! `tenants:` and `load:`: who sends, the phases, and the request mix.

use super::*;

/// Zipf's skew when `tenants.skew` is absent.
const DEFAULT_SKEW: f64 = 1.1;

pub(super) fn decode_tenants(dec: &mut Decoder, node: Option<&Node>) -> Option<Tenants> {
    let d = Tenants::default();
    let Some(node) = node else {
        return Some(d);
    };
    let mut m = dec.map(node, "tenants")?;
    let count = dec.or(m.get("count"), d.count, |dec, n| {
        dec.u64_in(n, "tenants.count", 1..=100_000, |c| {
            format!("expected 1 to 100000 tenants, found {c}")
        })
        .map(|c| c as u32)
    });
    let kind = dec.or(m.get("distribution"), "uniform".to_string(), |dec, n| {
        dec.one_of(n, "tenants.distribution", &["uniform", "zipf", "weights"])
    });
    let skew = dec.or(m.get("skew"), DEFAULT_SKEW, |dec, n| {
        dec.f64(n, "tenants.skew").and_then(|s| {
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
        })
    });
    let seed = dec.or(m.get("seed"), d.seed, |dec, n| dec.u64(n, "tenants.seed"));
    let users = dec.or(m.get("users"), d.users, |dec, n| {
        dec.u64_in(n, "tenants.users", 1..=1_000_000, |u| {
            format!("expected 1 to 1000000 users per tenant, found {u}")
        })
        .map(|u| u as u32)
    });
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
    let sum = out.iter().sum::<f64>();
    if out.is_empty() || !(sum > 0.0 && sum.is_finite()) || out.len() > 100_000 {
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

pub(super) fn decode_load(dec: &mut Decoder, node: &Node) -> Option<Load> {
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
    let max_in_flight = dec.or(
        m.get("max_in_flight"),
        Load::DEFAULT_MAX_IN_FLIGHT,
        |dec, n| {
            dec.u64(n, "load.max_in_flight").and_then(|v| {
                if v >= 1 {
                    Some(v.min(u32::MAX as u64) as u32)
                } else {
                    dec.error(n.pos, "load.max_in_flight", "expected at least 1, found 0");
                    None
                }
            })
        },
    );
    let timeout = dec.or(m.get("timeout"), Load::DEFAULT_TIMEOUT, |dec, n| {
        dec.duration(n, "load.timeout").map(|d| d.value)
    });
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
    let weight = dec.or(m.get("weight"), 1, |dec, n| {
        dec.u64_in(n, &m.path("weight"), 1..=1_000_000, |w| {
            format!("expected a weight from 1 to 1000000, found {w}")
        })
        .map(|w| w as u32)
    });
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
