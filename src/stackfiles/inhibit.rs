//! Which alerts an Alertmanager `inhibit_rules` entry can take as its
//! source, judged by the alert's name alone (the one label every alert has
//! before a run). A trial of a multi-trial run is voided when an alert that
//! could inhibit its expected alerts is still open at its start; an alert
//! that can inhibit nothing does not void it.
//!
//! Both spellings Alertmanager accepts are read: `source_matchers`
//! (`alertname="X"`, `alertname=~"X|Y"`, `!=`, `!~`) and the older
//! `source_match` / `source_match_re` maps. A rule whose source does not
//! constrain `alertname`, or whose matcher cannot be read, may match any
//! alert.

use serde_yaml::Value;

/// Whether some inhibit rule of `alertmanager.yml` can take an alert named
/// `alert` as its source.
pub fn may_be_source(alertmanager: &Value, alert: &str) -> bool {
    alertmanager
        .get("inhibit_rules")
        .and_then(Value::as_sequence)
        .is_some_and(|rules| rules.iter().any(|r| source_may_match(r, alert)))
}

/// One rule's source matchers on `alertname` all hold (or may) for `alert`.
fn source_may_match(rule: &Value, alert: &str) -> bool {
    let mut holds = true;
    if let Some(list) = rule.get("source_matchers").and_then(Value::as_sequence) {
        for m in list {
            holds &= m.as_str().is_none_or(|m| matcher_may_hold(m, alert));
        }
    }
    if let Some(v) = rule.get("source_match").and_then(|m| m.get("alertname")) {
        holds &= v.as_str().is_none_or(|v| v == alert);
    }
    if let Some(v) = rule.get("source_match_re").and_then(|m| m.get("alertname")) {
        holds &= v
            .as_str()
            .is_none_or(|re| full_match(re, alert).unwrap_or(true));
    }
    holds
}

/// `alertname="X"` and the like; a matcher on another label, or one that
/// cannot be read, may hold.
fn matcher_may_hold(m: &str, alert: &str) -> bool {
    let m = m.trim();
    let Some(rest) = m.strip_prefix("alertname") else {
        return true;
    };
    let rest = rest.trim_start();
    let (op, value) = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v.trim())))
        .unwrap_or(("?", ""));
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    match op {
        "=" => value == alert,
        "!=" => value != alert,
        "=~" => full_match(value, alert).unwrap_or(true),
        "!~" => full_match(value, alert).is_none_or(|m| !m),
        _ => true,
    }
}

/// Alertmanager anchors its regular expressions at both ends.
fn full_match(re: &str, s: &str) -> Option<bool> {
    regex::RegexBuilder::new(&format!("^(?:{re})$"))
        .size_limit(1 << 20)
        .build()
        .ok()
        .map(|r| r.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn am(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn reads_both_spellings_of_the_source() {
        let v = am(r#"
inhibit_rules:
  - source_matchers: ['alertname="ServiceDown"']
    target_matchers: ['alertname=~"HighErrorRate|HighLatencyP95"']
  - source_match_re: { alertname: 'Database.*' }
    target_match: { alertname: HighErrorRate }
  - source_match: { alertname: NodeDown, severity: critical }
"#);
        for a in ["ServiceDown", "DatabaseDown", "NodeDown"] {
            assert!(may_be_source(&v, a), "{a}");
        }
        for a in [
            "CacheHitRateLow",
            "HighErrorRate",
            "Service",
            "XDatabaseDown",
        ] {
            assert!(!may_be_source(&v, a), "{a}");
        }
    }

    #[test]
    fn an_unconstrained_or_unreadable_source_may_be_anything() {
        let any = am("inhibit_rules:\n  - source_matchers: ['severity=\"critical\"']\n");
        assert!(may_be_source(&any, "CacheHitRateLow"));
        let odd = am("inhibit_rules:\n  - source_matchers: ['alertname=~\"(\"']\n");
        assert!(may_be_source(&odd, "CacheHitRateLow"));
        let negated =
            am("inhibit_rules:\n  - source_matchers: ['alertname!~\"Watchdog|Info.*\"']\n");
        assert!(may_be_source(&negated, "CacheHitRateLow"));
        assert!(!may_be_source(&negated, "InfoInhibitor"));
        assert!(!may_be_source(&am("route: {}\n"), "ServiceDown"));
    }
}
