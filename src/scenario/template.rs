//! Request templates: `"GET /api/v1/recommendations?user_id={user}&k=10"`
//! with an optional JSON body template. Placeholders are split out once at
//! load time so that expanding one per request is a few string pushes.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Tenant,
    User,
    Item,
}

impl Var {
    const NAMES: &'static [&'static str] = &["tenant", "user", "item"];

    fn from_name(s: &str) -> Option<Var> {
        match s {
            "tenant" => Some(Var::Tenant),
            "user" => Some(Var::User),
            "item" => Some(Var::Item),
            _ => None,
        }
    }
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
                    if n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !n.is_empty() =>
                {
                    let var = Var::from_name(n).ok_or_else(|| {
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
        for seg in &self.0 {
            match seg {
                Segment::Text(t) => out.push_str(t),
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
