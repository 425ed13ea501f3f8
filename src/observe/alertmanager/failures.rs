//! Alertmanager's own delivery failures. A Slack template that fails to
//! render never reaches a receiver, so no arrival can show it, and a
//! working PagerDuty on the same receiver would hide it. Alertmanager counts
//! it in `alertmanager_notifications_failed_total{integration=…}` (newer
//! versions add `receiver_name` and `reason`) and logs the error as
//! `Notify for alerts failed … err="<receiver>/<integration>[i]: …"`.
//!
//! The counter is read before the load and after the drain, and the rise
//! per series is a failure; the log, where the harness has it, gives the
//! message. Both are parsed by pure functions.

use std::collections::BTreeMap;

use crate::http::endpoint::Endpoint;

const FAILED: &str = "alertmanager_notifications_failed_total";
/// Every failed request, retried or not (a notification fails only when
/// its retries run out): the receiver-side count of a flaky integration.
const REQUESTS_FAILED: &str = "alertmanager_notification_requests_failed_total";

/// `series → value` of the failure counter in an exposition text.
pub fn parse_failed(text: &str) -> BTreeMap<String, f64> {
    parse_counter(text, FAILED)
}

/// `series → value` of the failed-request counter.
pub fn parse_requests_failed(text: &str) -> BTreeMap<String, f64> {
    parse_counter(text, REQUESTS_FAILED)
}

fn parse_counter(text: &str, name: &str) -> BTreeMap<String, f64> {
    text.lines()
        // The name ends at its labels or at the space before the value
        // (0x7b is the opening brace), not inside a longer name.
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| matches!(r.as_bytes().first(), Some(b' ' | 0x7b)))
        })
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let labels = series
                .strip_prefix(name)?
                .trim()
                .trim_start_matches('{')
                .trim_end_matches('}');
            Some((labels.to_string(), value))
        })
        .collect()
}

/// The series whose count rose between the two snapshots, as
/// `integration="slack",…: 2 failed notification(s)`.
pub fn rises(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Vec<String> {
    rises_of(before, after, "failed notification(s)")
}

/// The same for failed requests: `…: 5 failed request(s), retried`.
pub fn request_rises(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> Vec<String> {
    rises_of(before, after, "failed request(s), retried")
}

fn rises_of(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    what: &str,
) -> Vec<String> {
    after
        .iter()
        .filter_map(|(series, v)| {
            let rise = v - before.get(series).copied().unwrap_or(0.0);
            (rise > 0.0).then(|| format!("{series}: {rise} {what}"))
        })
        .collect()
}

/// Both counters at one moment: failed notifications, failed requests.
pub type Counters = (BTreeMap<String, f64>, BTreeMap<String, f64>);

/// The errors of failed notifications in Alertmanager's log, each once, at
/// most `max`.
pub fn log_errors(log: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in log.lines() {
        if !(line.contains("Notify for alerts failed") || line.contains("Notify attempt failed")) {
            continue;
        }
        let Some((_, rest)) = line.split_once("err=\"") else {
            continue;
        };
        let err = unquote(rest);
        if !out.contains(&err) {
            out.push(err);
        }
        if out.len() >= max {
            break;
        }
    }
    out
}

/// A logfmt quoted value up to its closing quote, escapes undone.
fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

/// The counters now; an error names what failed.
pub async fn snapshot(am: &Endpoint) -> Result<Counters, String> {
    let http = crate::http::endpoint::client(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let resp = am
        .get(&http, "/metrics")
        .send()
        .await
        .map_err(|e| format!("Alertmanager /metrics: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("Alertmanager /metrics: HTTP {}", resp.status()));
    }
    let text = resp
        .text()
        .await
        .map_err(|e| format!("Alertmanager /metrics: {e}"))?;
    Ok((parse_failed(&text), parse_requests_failed(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS_025: &str = r#"# HELP alertmanager_notifications_failed_total The total number of failed notifications.
# TYPE alertmanager_notifications_failed_total counter
alertmanager_notifications_failed_total{integration="email"} 0
alertmanager_notifications_failed_total{integration="pagerduty"} 0
alertmanager_notifications_failed_total{integration="slack"} 2
alertmanager_notifications_total{integration="slack"} 2
"#;

    // Alertmanager 0.25, a Slack title naming a template that does not exist.
    const LOG_025: &str = r#"ts=2026-12-01T13:00:02.749Z caller=dispatch.go:352 level=error component=dispatcher msg="Notify for alerts failed" num_alerts=1 err="critical/slack[0]: notify retry canceled due to unrecoverable error after 1 attempts: template: :1:12: executing \"\" at <{{template \"nope\" .}}>: template \"nope\" not defined"
ts=2026-12-01T13:00:05.747Z caller=dispatch.go:352 level=error component=dispatcher msg="Notify for alerts failed" num_alerts=1 err="critical/slack[0]: notify retry canceled due to unrecoverable error after 1 attempts: template: :1:12: executing \"\" at <{{template \"nope\" .}}>: template \"nope\" not defined"
ts=2026-12-01T13:00:05.800Z caller=main.go:1 level=info msg="Completed loading of configuration file"
"#;

    #[test]
    fn a_rise_of_the_failure_counter_is_named_by_integration() {
        let after = parse_failed(METRICS_025);
        assert_eq!(after.len(), 3, "{after:?}");
        assert_eq!(after["integration=\"slack\""], 2.0);
        let before = parse_failed(&METRICS_025.replace("\"slack\"} 2", "\"slack\"} 0"));
        assert_eq!(
            rises(&before, &after),
            vec!["integration=\"slack\": 2 failed notification(s)".to_string()]
        );
        assert!(rises(&after, &after).is_empty());
        // A series that appears only later (newer versions label by
        // receiver) counts from zero.
        let newer = parse_failed(
            "alertmanager_notifications_failed_total{integration=\"slack\",reason=\"other\",receiver_name=\"critical\"} 1\n",
        );
        assert_eq!(rises(&BTreeMap::new(), &newer).len(), 1);
        // Failed requests are another counter, whose name begins the same.
        let text = "alertmanager_notification_requests_failed_total{integration=\"pagerduty\"} 5\nalertmanager_notification_requests_failed_totalx 9\n";
        let requests = parse_requests_failed(text);
        assert_eq!(requests.len(), 1);
        assert_eq!(
            request_rises(&BTreeMap::new(), &requests),
            vec!["integration=\"pagerduty\": 5 failed request(s), retried".to_string()]
        );
        assert!(parse_failed(text).is_empty());
    }

    #[test]
    fn the_log_gives_the_receiver_integration_and_error_once() {
        let errors = log_errors(LOG_025, 5);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("critical/slack[0]: "),
            "{}",
            errors[0]
        );
        assert!(
            errors[0].contains(r#"template "nope" not defined"#),
            "{}",
            errors[0]
        );
        assert!(log_errors("level=info msg=\"ok\"", 5).is_empty());
    }
}
