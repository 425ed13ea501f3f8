//! Which Alertmanager routes an alert rule's notifications can take, and
//! so which `group_wait` they wait: the detection floor of a rule is its
//! own route's, not the shortest wait anywhere in the tree (a heartbeat
//! route with `group_wait: 0s` does not make a page faster).
//!
//! Only `alertname` and the rule's own literal labels are known before a
//! run; a matcher on any other label (one the series carry) may or may not
//! match, so every route it could lead to is kept. Matching follows
//! Alertmanager: a route matches when all its matchers do; its children
//! are tried in order, the first that matches wins unless it sets
//! `continue: true`; with no matching child the route itself receives.
//! `group_wait` is inherited from the parent where a route sets none.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::Value;

use crate::input::units::parse_duration;

/// Whether a matcher holds for an alert whose labels are partly unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Maybe,
}

impl Match {
    fn and(self, other: Match) -> Match {
        match (self, other) {
            (Match::No, _) | (_, Match::No) => Match::No,
            (Match::Yes, Match::Yes) => Match::Yes,
            _ => Match::Maybe,
        }
    }
}

/// The `group_wait` of every route an alert with these known labels can
/// end at (`default` where no route sets one). Never empty.
pub fn group_waits(
    route: Option<&Value>,
    known: &BTreeMap<String, String>,
    default: Duration,
) -> Vec<Duration> {
    let mut out = Vec::new();
    if let Some(route) = route {
        let wait = wait_of(route).unwrap_or(default);
        let mut budget = MAX_VISITS;
        ends(route, known, wait, &mut budget, &mut out);
    }
    if out.is_empty() {
        out.push(default);
    }
    out
}

/// The labels of an alert known before a run: its name and the rule's
/// literal labels (a templated value is only known at evaluation).
pub fn known_labels(alert: &str, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = labels
        .iter()
        .filter(|(_, v)| !v.contains("{{"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("alertname".into(), alert.into());
    out
}

/// Routes visited at most, however the tree is shaped (YAML aliases can
/// make a small file a huge tree): past it, the route reached is taken as
/// the end.
const MAX_VISITS: usize = 10_000;

/// Collects the waits of the routes the alert ends at below `route`
/// (which it has already matched, at least possibly).
fn ends(
    route: &Value,
    known: &BTreeMap<String, String>,
    wait: Duration,
    budget: &mut usize,
    out: &mut Vec<Duration>,
) {
    let children = route
        .get("routes")
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if *budget == 0 {
        out.push(wait);
        return;
    }
    *budget -= 1;
    let mut surely_taken = false;
    for child in children {
        let m = matches(child, known);
        if m == Match::No {
            continue;
        }
        let child_wait = wait_of(child).unwrap_or(wait);
        ends(child, known, child_wait, budget, out);
        let continues = child.get("continue").and_then(Value::as_bool) == Some(true);
        if m == Match::Yes && !continues {
            surely_taken = true;
            break;
        }
    }
    if !surely_taken {
        // No child surely matched (or every one that did continued): the
        // route may receive the alert itself.
        out.push(wait);
    }
}

fn wait_of(route: &Value) -> Option<Duration> {
    route
        .get("group_wait")
        .and_then(Value::as_str)
        .and_then(parse_duration)
}

/// Whether all of a route's matchers (`matchers`, and the older `match`
/// and `match_re`) hold.
fn matches(route: &Value, known: &BTreeMap<String, String>) -> Match {
    let mut m = Match::Yes;
    for s in route
        .get("matchers")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        m = m.and(match parse_matcher(s) {
            Some((name, op, value)) => eval(known.get(&name), &op, &value),
            None => Match::Maybe,
        });
    }
    for (key, op) in [("match", "="), ("match_re", "=~")] {
        for (k, v) in route
            .get(key)
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
        {
            let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                continue;
            };
            m = m.and(eval(known.get(k), op, v));
        }
    }
    m
}

fn eval(value: Option<&String>, op: &str, want: &str) -> Match {
    let Some(have) = value else {
        return Match::Maybe;
    };
    let hit = match op {
        "=" | "!=" => have == want,
        _ => match regex::Regex::new(&format!("^(?:{want})$")) {
            Ok(re) => re.is_match(have),
            Err(_) => return Match::Maybe,
        },
    };
    let holds = if op.starts_with('!') { !hit } else { hit };
    if holds { Match::Yes } else { Match::No }
}

/// `name="value"`, `name=~"re"`, `name!="value"`, `name!~"re"`; quotes
/// optional, as Alertmanager accepts.
fn parse_matcher(s: &str) -> Option<(String, String, String)> {
    let s = s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let at = s.find(['=', '!'])?;
    let name = s[..at].trim();
    let rest = &s[at..];
    let op = ["=~", "!~", "!=", "="]
        .into_iter()
        .find(|op| rest.starts_with(op))?;
    let raw = rest[op.len()..].trim();
    let value = if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        serde_json::from_str::<String>(raw).ok()?
    } else {
        raw.to_string()
    };
    (!name.is_empty()).then(|| (name.to_string(), op.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Value {
        serde_yaml::from_str(
            r#"
group_wait: 30s
routes:
  - matchers: ['alertname="Watchdog"']
    receiver: dms
    group_wait: 0s
  - matchers: ['severity="critical"']
    receiver: critical
  - match_re: {service: "ml-.*"}
    group_wait: 2m
  - matchers: ['severity=~"warn.*"']
    group_wait: 10s
    continue: true
"#,
        )
        .unwrap()
    }

    fn waits(alert: &str, labels: &[(&str, &str)]) -> Vec<u64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let known = known_labels(alert, &labels);
        group_waits(Some(&tree()), &known, Duration::from_secs(30))
            .into_iter()
            .map(|d| d.as_secs())
            .collect()
    }

    #[test]
    fn a_heartbeat_route_does_not_shorten_other_alerts_wait() {
        assert_eq!(waits("Watchdog", &[("severity", "none")]), vec![0]);
        assert_eq!(waits("ServiceDown", &[("severity", "critical")]), vec![30]);
    }

    #[test]
    fn a_matcher_on_a_series_label_keeps_every_route_it_could_take() {
        // service is not known: maybe the ml- route (2m), maybe on to the
        // warning route (10s, continue) and then the root (30s).
        let mut w = waits("MemoryHigh", &[("severity", "warning")]);
        w.sort();
        assert_eq!(w, vec![10, 30, 120]);
    }

    #[test]
    fn templated_labels_are_unknown() {
        let mut w = waits("X", &[("severity", "{{ $labels.sev }}")]);
        w.sort();
        w.dedup();
        assert_eq!(w, vec![10, 30, 120]);
    }

    #[test]
    fn matchers_parse_as_alertmanager_writes_them() {
        assert_eq!(
            parse_matcher(r#"severity!~"warn|info""#),
            Some(("severity".into(), "!~".into(), "warn|info".into()))
        );
        assert_eq!(
            parse_matcher("team = db"),
            Some(("team".into(), "=".into(), "db".into()))
        );
        assert_eq!(parse_matcher("nonsense"), None);
        assert_eq!(
            eval(Some(&"info".to_string()), "!~", "warn|info"),
            Match::No
        );
    }
}
