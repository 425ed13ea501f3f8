//! `kind: network` faults: a Toxiproxy toxic on backend-api's link to
//! PostgreSQL or Redis (`toxic:` and the settings that toxic takes,
//! `stream`, `toxicity`). Settings of other toxics are unknown fields.

use super::*;
use crate::input::MapReader;

pub(super) fn decode_toxic(dec: &mut Decoder, m: &mut MapReader<'_>) -> Option<Toxic> {
    let kind = m.required(dec, "toxic").and_then(|n| {
        dec.one_of(n, &m.path("toxic"), ToxicKind::NAMES)
            .and_then(|s| ToxicKind::from_name(&s))
    })?;
    let mut t = Toxic {
        kind,
        ..Toxic::default()
    };
    let mut ok = true;
    let mut duration =
        |dec: &mut Decoder, m: &mut MapReader<'_>, key: &'static str, required: bool| {
            let node = if required {
                m.required(dec, key)
            } else {
                m.get(key)
            };
            match node {
                Some(n) => match dec.duration(n, &m.path(key)) {
                    Some(d) => Some(d.value),
                    None => {
                        ok = false;
                        None
                    }
                },
                None => {
                    ok &= !required;
                    None
                }
            }
        };
    match kind {
        ToxicKind::Latency => {
            t.latency = duration(dec, m, "latency", true).unwrap_or_default();
            t.jitter = duration(dec, m, "jitter", false).unwrap_or_default();
        }
        ToxicKind::Timeout | ToxicKind::ResetPeer => {
            t.timeout = duration(dec, m, "timeout", false).unwrap_or_default();
        }
        ToxicKind::SlowClose => t.delay = duration(dec, m, "delay", true).unwrap_or_default(),
        ToxicKind::Bandwidth => {
            match m.required(dec, "rate_kb") {
                Some(n) => match dec.u64(n, &m.path("rate_kb")) {
                    Some(r) if r > 0 => t.rate_kb = r,
                    Some(_) => {
                        dec.error(n.pos, &m.path("rate_kb"), "expected a rate above 0 KB/s, found 0 (use toxic: down to cut the link)");
                        ok = false;
                    }
                    None => ok = false,
                },
                None => ok = false,
            }
        }
        ToxicKind::Down => {}
    }
    if let Some(n) = m.get("stream") {
        match dec.one_of(n, &m.path("stream"), &["downstream", "upstream"]) {
            Some(s) => t.upstream = s == "upstream",
            None => ok = false,
        }
    }
    if let Some(n) = m.get("toxicity") {
        match dec.percent(n, &m.path("toxicity")) {
            Some(x) if x > 0.0 => t.toxicity = x,
            Some(_) => {
                dec.error(
                    n.pos,
                    &m.path("toxicity"),
                    "expected a toxicity above 0%, found 0%",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(t)
}
