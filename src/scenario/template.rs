//! Request templates: `"GET /api/v1/recommendations?user_id={user}&k=10"`
//! with an optional JSON body template. Placeholders are split out once at
//! load time so that expanding one per request is a few string pushes.
//!
//! `{tenant}`, `{user}` and `{item}` are the arrival's draws; `{rand:1..100}`
//! (an integer, both ends included), `{float}` (in [0, 1)) and `{uuid}` are
//! derived from one random number the arrival also draws, so that the same
//! seed gives the same requests, sharded or not.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Tenant,
    User,
    Item,
    /// An integer in `lo..=hi`.
    Rand {
        lo: i64,
        hi: i64,
    },
    Float,
    Uuid,
}

impl Var {
    const NAMES: &'static [&'static str] =
        &["tenant", "user", "item", "rand:MIN..MAX", "float", "uuid"];

    fn from_name(s: &str) -> Result<Option<Var>, String> {
        Ok(match s {
            "tenant" => Some(Var::Tenant),
            "user" => Some(Var::User),
            "item" => Some(Var::Item),
            "float" => Some(Var::Float),
            "uuid" => Some(Var::Uuid),
            _ => match s.strip_prefix("rand:") {
                Some(range) => {
                    let bad = || {
                        format!(
                            "{{{s}}}: expected a range of integers like {{rand:1..100}}, found {range:?}"
                        )
                    };
                    let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
                    let (lo, hi): (i64, i64) = (
                        lo.trim().parse().map_err(|_| bad())?,
                        hi.trim().parse().map_err(|_| bad())?,
                    );
                    if lo > hi {
                        return Err(bad());
                    }
                    Some(Var::Rand { lo, hi })
                }
                None => None,
            },
        })
    }
}

/// splitmix64: the k-th random value of an arrival from its one draw.
fn derive(random: u64, k: u64) -> u64 {
    let mut z = random.wrapping_add(k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Var(Var),
}

/// A string with `{placeholders}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Segment>);

/// Values for one request's placeholders.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub tenant: &'a str,
    pub user: u32,
    pub item: u32,
    /// The arrival's draw for `{rand:…}`, `{float}` and `{uuid}`.
    pub random: u64,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            // JSON bodies contain braces: only `{name}` with a known name is
            // a placeholder; anything else is literal text.
            let after = &rest[open + 1..];
            let close = after.find('}');
            let name = close.map(|c| &after[..c]);
            match name {
                Some(n)
                    if n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_:.-".contains(c))
                        && n.starts_with(|c: char| c.is_ascii_alphabetic()) =>
                {
                    let var = Var::from_name(n)?.ok_or_else(|| {
                        format!(
                            "unknown placeholder {{{n}}}; expected one of {}",
                            Var::NAMES
                                .iter()
                                .map(|v| format!("{{{v}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })?;
                    push_text(&mut segments, &rest[..open]);
                    segments.push(Segment::Var(var));
                    rest = &after[n.len() + 1..];
                }
                _ => {
                    push_text(&mut segments, &rest[..=open]);
                    rest = after;
                }
            }
        }
        push_text(&mut segments, rest);
        Ok(Template(segments))
    }

    pub fn expand_into(&self, out: &mut String, v: Values<'_>) {
        let mut k = 0;
        let mut next = || {
            k += 1;
            derive(v.random, k)
        };
        for seg in &self.0 {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Var(Var::Rand { lo, hi }) => {
                    let span = (hi - lo) as u64 + 1;
                    let n = if span == 0 { next() } else { next() % span };
                    let _ = write!(out, "{}", lo.wrapping_add(n as i64));
                }
                Segment::Var(Var::Float) => {
                    let _ = write!(out, "{:.6}", (next() >> 11) as f64 / (1u64 << 53) as f64);
                }
                Segment::Var(Var::Uuid) => {
                    let (a, b) = (next(), next());
                    // Version 4, variant 1.
                    let a = (a & !0xf000) | 0x4000;
                    let b = (b & !(0b11 << 62)) | (0b10 << 62);
                    let _ = write!(
                        out,
                        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                        a >> 32,
                        (a >> 16) & 0xffff,
                        a & 0xffff,
                        b >> 48,
                        b & 0xffff_ffff_ffff
                    );
                }
                Segment::Var(Var::Tenant) => out.push_str(v.tenant),
                Segment::Var(Var::User) => {
                    let _ = write!(out, "user_{}", v.user);
                }
                Segment::Var(Var::Item) => {
                    let _ = write!(out, "item_{}", v.item);
                }
            }
        }
    }

    pub fn expand(&self, v: Values<'_>) -> String {
        let mut s = String::new();
        self.expand_into(&mut s, v);
        s
    }
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text(t)) = segments.last_mut() {
        t.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_string()));
    }
}

/// One entry of a scenario's request mix.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    pub method: reqwest::Method,
    /// Path and query, e.g. `/api/v1/recommendations?user_id={user}`.
    pub target: Template,
    /// The endpoint as reported: method and path without the query.
    pub endpoint: String,
    pub body: Option<Template>,
}

impl RequestTemplate {
    /// Parse `"METHOD /path?query"`.
    pub fn parse(request: &str, body: Option<&str>) -> Result<RequestTemplate, String> {
        let (method, target) = request
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("expected \"METHOD /path\", found {request:?}"))?;
        let method = match method {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" => {
                reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?
            }
            other => {
                return Err(format!(
                    "expected an HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD), found {other:?}"
                ));
            }
        };
        let target = target.trim();
        if !target.starts_with('/') {
            return Err(format!(
                "expected a path starting with \"/\", found {target:?}"
            ));
        }
        let path = target.split('?').next().unwrap_or(target);
        Ok(RequestTemplate {
            endpoint: format!("{method} {path}"),
            method,
            target: Template::parse(target)?,
            body: body.map(Template::parse).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Values<'static> = Values {
        tenant: "tenant_007",
        user: 12,
        item: 99,
        random: 42,
    };

    #[test]
    fn expands_placeholders_and_keeps_json_braces() {
        let t =
            Template::parse(r#"{"user_id":"{user}","item_id":"{item}","t":"{tenant}"}"#).unwrap();
        assert_eq!(
            t.expand(V),
            r#"{"user_id":"user_12","item_id":"item_99","t":"tenant_007"}"#
        );
    }

    #[test]
    fn unknown_placeholder_is_an_error() {
        let err = Template::parse("/x?u={usr}").unwrap_err();
        assert!(err.contains("unknown placeholder {usr}"), "{err}");
        let err = Template::parse("/x?n={rand:9..1}").unwrap_err();
        assert!(err.contains("expected a range of integers"), "{err}");
        assert!(Template::parse("/x?n={rand:a..b}").is_err());
    }

    #[test]
    fn random_values_are_in_range_repeatable_and_vary() {
        let t = Template::parse(r#"{"n":{rand:-5..5},"f":{float},"id":"{uuid}"}"#).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for random in 0..2000u64 {
            let v = Values { random, ..V };
            let text = t.expand(v);
            assert_eq!(text, t.expand(v), "same draw, same text");
            let j: serde_json::Value = serde_json::from_str(&text).unwrap();
            let n = j["n"].as_i64().unwrap();
            assert!((-5..=5).contains(&n), "{n}");
            seen.insert(n);
            let f = j["f"].as_f64().unwrap();
            assert!((0.0..1.0).contains(&f), "{f}");
            let id = j["id"].as_str().unwrap();
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4", "version 4: {id}");
            assert!("89ab".contains(&id[19..20]), "variant: {id}");
        }
        assert_eq!(seen.len(), 11, "every value of the range comes up");
        let a = t.expand(Values { random: 1, ..V });
        let b = t.expand(Values { random: 2, ..V });
        assert_ne!(a, b);
    }

    #[test]
    fn request_line() {
        let r = RequestTemplate::parse("GET /api/v1/recommendations?user_id={user}&k=10", None)
            .unwrap();
        assert_eq!(r.endpoint, "GET /api/v1/recommendations");
        assert_eq!(
            r.target.expand(V),
            "/api/v1/recommendations?user_id=user_12&k=10"
        );
        assert!(RequestTemplate::parse("FETCH /x", None).is_err());
        assert!(RequestTemplate::parse("GET x", None).is_err());
    }
}
