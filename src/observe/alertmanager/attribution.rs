//! Which alert instances each notification carried, and in which state.
//!
//! Slack and PagerDuty payloads are text the team's templates render, so
//! the alerts in them cannot be read back reliably: a rule name in a title
//! says nothing about which instance (`ServiceDown{job="ml-engine"}` and
//! `ServiceDown{job="backend-api"}` render alike), and a "RESOLVED" word in
//! a group that holds one firing and one resolved alert says nothing about
//! either. So the rendered Alertmanager config adds two things that change
//! nothing a human reads:
//!
//! - a **tap**: one harness webhook integration on every receiver, next to
//!   the team's own integrations. Alertmanager fans each flush of a group
//!   out to all of a receiver's integrations with the same alerts, so the
//!   tap carries, for that flush, the group key and every alert's full
//!   label set, fingerprint and own status;
//! - a Slack **`callback_id`** (not shown in Slack) rendered as
//!   `zeta:<fingerprint>=<status> …` for the alerts of that very message,
//!   unless the team set a `callback_id` of its own.
//!
//! Attribution then needs no guessing from text:
//!
//! - a Slack message is attributed by its `callback_id` fingerprints, looked
//!   up in the taps' label sets. A message with a team `callback_id` falls
//!   back to the tap flush of the same receiver within [`FLUSH_WINDOW`],
//!   only when exactly one alert set was flushed there then;
//! - a PagerDuty event's `dedup_key` is Alertmanager's SHA-256 of the group
//!   key, so it names the tap flush of its group exactly; the nearest such
//!   flush within [`FLUSH_WINDOW`] in the event's own state (a trigger is
//!   a firing flush, a resolve a resolved one) gives its alerts, else (a delivery
//!   Alertmanager retried after PagerDuty failed arrives long after the
//!   tap's copy of the same flush) the latest earlier flush of that group
//!   in the event's own state;
//! - a generic webhook carries everything itself.
//!
//! A payload that cannot be attributed this way is kept, marked
//! unattributed with the reason, and carries no alert: it counts for
//! nothing. Pure functions over the recorded arrivals, so all of this is
//! unit-tested on payloads captured from Alertmanager 0.25.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::observe::alertmanager::destination::Destination;
use crate::observe::alertmanager::receiver::{
    Attribution, Notification, NotificationStatus, NotifiedAlert,
};

/// How far apart (in wall time) one flush's integrations may arrive: they
/// are sent concurrently, so normally within milliseconds.
pub const FLUSH_WINDOW: chrono::Duration = chrono::Duration::seconds(3);

use crate::stackfiles::alertmanager::CALLBACK_PREFIX;

/// One payload as it arrived, before attribution.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: DateTime<Utc>,
    /// The Alertmanager receiver (from the URL path).
    pub receiver: String,
    pub kind: ArrivalKind,
}

#[derive(Debug, Clone)]
pub enum ArrivalKind {
    Slack {
        channel: String,
        /// `(fingerprint, status)` from the harness's `callback_id`; `None`
        /// when the message carries none (a team `callback_id`).
        callback: Option<Vec<(String, NotificationStatus)>>,
        /// Status as the text suggests, for unattributed messages only.
        text_status: NotificationStatus,
        summary: String,
    },
    PagerDuty {
        dedup_key: String,
        status: NotificationStatus,
        summary: String,
    },
    /// A team webhook: the payload names its alerts itself.
    Webhook { flush: Flush },
    /// The harness's tap on this receiver.
    Tap { flush: Flush },
}

/// One flush of an Alertmanager group, from a webhook payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    pub group_key: String,
    pub status: NotificationStatus,
    pub alerts: Vec<NotifiedAlert>,
}

pub fn status_of(s: &str) -> NotificationStatus {
    match s {
        "firing" => NotificationStatus::Firing,
        "resolved" => NotificationStatus::Resolved,
        _ => NotificationStatus::Unknown,
    }
}

/// A webhook (version 4) payload as a flush. Alerts without labels are
/// skipped; a payload with no alert list is an error.
pub fn parse_flush(body: &Value) -> Result<Flush, String> {
    let list = body["alerts"]
        .as_array()
        .ok_or("a webhook payload without an `alerts` list")?;
    let alerts = list
        .iter()
        .filter_map(|a| {
            let labels: BTreeMap<String, String> = a["labels"]
                .as_object()?
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            Some(NotifiedAlert {
                name: labels.get("alertname").cloned().unwrap_or_default(),
                fingerprint: a["fingerprint"].as_str().unwrap_or_default().to_string(),
                status: status_of(a["status"].as_str().unwrap_or_default()),
                labels,
            })
        })
        .collect();
    Ok(Flush {
        group_key: body["groupKey"].as_str().unwrap_or_default().to_string(),
        status: status_of(body["status"].as_str().unwrap_or_default()),
        alerts,
    })
}

/// The harness's `callback_id`, parsed: `None` when it is not ours.
pub fn parse_callback(id: &str) -> Option<Vec<(String, NotificationStatus)>> {
    let rest = id.strip_prefix(CALLBACK_PREFIX)?;
    Some(
        rest.split_whitespace()
            .filter_map(|pair| {
                let (fp, status) = pair.split_once('=')?;
                Some((fp.to_string(), status_of(status)))
            })
            .collect(),
    )
}

/// Alertmanager's PagerDuty `dedup_key`: the hex SHA-256 of the group key.
pub fn dedup_key(group_key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(group_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every arrival but the taps, as a notification with its alert instances.
pub fn attribute(arrivals: &[Arrival]) -> Vec<Notification> {
    let taps: Vec<(&Arrival, &Flush)> = arrivals
        .iter()
        .filter_map(|a| match &a.kind {
            ArrivalKind::Tap { flush } => Some((a, flush)),
            _ => None,
        })
        .collect();
    let mut labels_by_fp: BTreeMap<&str, &NotifiedAlert> = BTreeMap::new();
    for (_, f) in &taps {
        for a in &f.alerts {
            labels_by_fp.entry(a.fingerprint.as_str()).or_insert(a);
        }
    }
    arrivals
        .iter()
        .filter_map(|a| match &a.kind {
            ArrivalKind::Tap { .. } => None,
            ArrivalKind::Webhook { flush } => Some(Notification {
                at: a.at,
                destination: Destination::Webhook(a.receiver.clone()),
                receiver: a.receiver.clone(),
                status: flush.status,
                summary: summary_of(&flush.alerts),
                alerts: flush.alerts.clone(),
                attribution: Attribution::Payload,
            }),
            ArrivalKind::Slack {
                channel,
                callback,
                text_status,
                summary,
            } => {
                let destination = Destination::Slack(channel.clone());
                let found = match callback {
                    Some(pairs) => by_fingerprint(pairs, &labels_by_fp),
                    None => by_receiver_flush(a, &taps),
                };
                Some(notification(a, destination, found, *text_status, summary))
            }
            ArrivalKind::PagerDuty {
                dedup_key: key,
                status,
                summary,
            } => {
                let found = by_group_key(a, key, *status, &taps);
                Some(notification(
                    a,
                    Destination::PagerDuty,
                    found,
                    *status,
                    summary,
                ))
            }
        })
        .collect()
}

fn notification(
    a: &Arrival,
    destination: Destination,
    found: Result<(Vec<NotifiedAlert>, Attribution), String>,
    fallback_status: NotificationStatus,
    summary: &str,
) -> Notification {
    let (alerts, attribution) = match found {
        Ok(x) => x,
        Err(why) => (Vec::new(), Attribution::Unattributed(why)),
    };
    let status = if alerts.is_empty() {
        fallback_status
    } else {
        overall(&alerts)
    };
    Notification {
        at: a.at,
        destination,
        receiver: a.receiver.clone(),
        status,
        alerts,
        attribution,
        summary: summary.to_string(),
    }
}

/// Firing when any alert in it fires, as Alertmanager sets a group's status.
fn overall(alerts: &[NotifiedAlert]) -> NotificationStatus {
    if alerts
        .iter()
        .any(|a| a.status == NotificationStatus::Firing)
    {
        NotificationStatus::Firing
    } else if alerts
        .iter()
        .all(|a| a.status == NotificationStatus::Resolved)
    {
        NotificationStatus::Resolved
    } else {
        NotificationStatus::Unknown
    }
}

fn by_fingerprint(
    pairs: &[(String, NotificationStatus)],
    labels_by_fp: &BTreeMap<&str, &NotifiedAlert>,
) -> Result<(Vec<NotifiedAlert>, Attribution), String> {
    if pairs.is_empty() {
        return Err("its callback_id lists no alert".into());
    }
    let mut alerts = Vec::new();
    for (fp, status) in pairs {
        let known = labels_by_fp.get(fp.as_str()).ok_or_else(|| {
            format!("fingerprint {fp} in its callback_id was never seen by the tap")
        })?;
        alerts.push(NotifiedAlert {
            status: *status,
            ..(*known).clone()
        });
    }
    Ok((alerts, Attribution::CallbackId))
}

/// Tap flushes of `a`'s receiver within the flush window, nearest first.
fn near<'t>(a: &Arrival, taps: &[(&'t Arrival, &'t Flush)]) -> Vec<(i64, &'t Flush)> {
    let mut v: Vec<(i64, &Flush)> = taps
        .iter()
        .filter(|(t, _)| t.receiver == a.receiver)
        .map(|(t, f)| ((t.at - a.at).num_milliseconds().abs(), *f))
        .filter(|(ms, _)| *ms <= FLUSH_WINDOW.num_milliseconds())
        .collect();
    v.sort_by_key(|(ms, _)| *ms);
    v
}

fn by_receiver_flush(
    a: &Arrival,
    taps: &[(&Arrival, &Flush)],
) -> Result<(Vec<NotifiedAlert>, Attribution), String> {
    let near = near(a, taps);
    let Some((_, first)) = near.first() else {
        return Err(format!(
            "it has a callback_id of the team's own and no tap flush of receiver {:?} arrived within {}s of it",
            a.receiver,
            FLUSH_WINDOW.num_seconds()
        ));
    };
    if near.iter().any(|(_, f)| f.alerts != first.alerts) {
        return Err(format!(
            "it has a callback_id of the team's own and receiver {:?} flushed more than one alert set within {}s of it",
            a.receiver,
            FLUSH_WINDOW.num_seconds()
        ));
    }
    Ok((first.alerts.clone(), Attribution::ReceiverFlush))
}

fn by_group_key(
    a: &Arrival,
    key: &str,
    status: NotificationStatus,
    taps: &[(&Arrival, &Flush)],
) -> Result<(Vec<NotifiedAlert>, Attribution), String> {
    // Its group, in its state: a trigger is a firing flush and a resolve a
    // resolved one, so a retried trigger that lands beside the group's
    // resolving flush is not it.
    let its_flush = |f: &Flush| {
        dedup_key(&f.group_key) == key
            && (status == NotificationStatus::Unknown || overall(&f.alerts) == status)
    };
    if let Some((_, f)) = near(a, taps).into_iter().find(|(_, f)| its_flush(f)) {
        return Ok((f.alerts.clone(), Attribution::GroupKey));
    }
    // A retried delivery: the latest earlier flush of the group, in the
    // state the event carries.
    taps.iter()
        .filter(|(t, f)| t.receiver == a.receiver && t.at <= a.at && its_flush(f))
        .max_by_key(|(t, _)| t.at)
        .map(|(_, f)| (f.alerts.clone(), Attribution::GroupKey))
        .ok_or_else(|| {
            format!(
                "no tap flush of receiver {:?} with its dedup_key's group arrived within {}s of it, nor before it in its state",
                a.receiver,
                FLUSH_WINDOW.num_seconds()
            )
        })
}

fn summary_of(alerts: &[NotifiedAlert]) -> String {
    let mut names: Vec<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    names.dedup();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/alertmanager/captured-0.25/"
        );
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}{name}")).unwrap()).unwrap()
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_796_130_000_000 + ms).unwrap()
    }

    fn tap(ms: i64, name: &str) -> Arrival {
        Arrival {
            at: at(ms),
            receiver: "critical".into(),
            kind: ArrivalKind::Tap {
                flush: parse_flush(&fixture(name)).unwrap(),
            },
        }
    }

    fn slack(ms: i64, name: &str) -> Arrival {
        let body = fixture(name);
        let a = &body["attachments"][0];
        Arrival {
            at: at(ms),
            receiver: "critical".into(),
            kind: ArrivalKind::Slack {
                channel: body["channel"].as_str().unwrap().into(),
                callback: parse_callback(a["callback_id"].as_str().unwrap()),
                text_status: NotificationStatus::Firing,
                summary: a["title"].as_str().unwrap().into(),
            },
        }
    }

    fn pagerduty(ms: i64, name: &str) -> Arrival {
        let body = fixture(name);
        Arrival {
            at: at(ms),
            receiver: "critical".into(),
            kind: ArrivalKind::PagerDuty {
                dedup_key: body["dedup_key"].as_str().unwrap().into(),
                status: status_of("firing"),
                summary: String::new(),
            },
        }
    }

    fn job_status(n: &Notification) -> Vec<(String, NotificationStatus)> {
        n.alerts
            .iter()
            .map(|a| (a.labels["job"].clone(), a.status))
            .collect()
    }

    #[test]
    fn the_dedup_key_is_the_group_keys_sha256() {
        let tap = parse_flush(&fixture("tap-1.json")).unwrap();
        assert_eq!(
            dedup_key(&tap.group_key),
            fixture("pagerduty-1.json")["dedup_key"].as_str().unwrap()
        );
    }

    #[test]
    fn a_group_with_one_firing_and_one_resolved_alert_is_read_per_alert() {
        // Captured from Alertmanager 0.25: two ServiceDown instances in one
        // group; the second flush resolves job="other" only.
        let arrivals = [
            tap(0, "tap-1.json"),
            pagerduty(1, "pagerduty-1.json"),
            slack(1, "slack-1.json"),
            tap(3000, "tap-2.json"),
            slack(3000, "slack-2.json"),
            pagerduty(3001, "pagerduty-2.json"),
        ];
        let ns = attribute(&arrivals);
        assert_eq!(ns.len(), 4, "taps are not notifications");
        let second_slack = &ns[2];
        assert_eq!(second_slack.attribution, Attribution::CallbackId);
        assert_eq!(second_slack.status, NotificationStatus::Firing);
        assert_eq!(
            job_status(second_slack),
            vec![
                ("backend-api".into(), NotificationStatus::Firing),
                ("other".into(), NotificationStatus::Resolved)
            ]
        );
        let second_pd = &ns[3];
        assert_eq!(second_pd.attribution, Attribution::GroupKey);
        assert_eq!(job_status(second_pd), job_status(second_slack));
        assert_eq!(
            job_status(&ns[0]),
            vec![
                ("backend-api".into(), NotificationStatus::Firing),
                ("other".into(), NotificationStatus::Firing)
            ],
            "the first PagerDuty event is the first flush, not the nearest other one"
        );
    }

    #[test]
    fn a_pagerduty_event_retried_long_after_its_flush_is_that_flush() {
        // PagerDuty answered 5xx; Alertmanager's retry got through 20 s
        // after the tap's copy of the same flush.
        let arrivals = [
            tap(0, "tap-1.json"),
            slack(1, "slack-1.json"),
            pagerduty(20_000, "pagerduty-1.json"),
        ];
        let ns = attribute(&arrivals);
        assert_eq!(ns[1].attribution, Attribution::GroupKey);
        assert_eq!(job_status(&ns[1]), job_status(&ns[0]));
        // Nothing earlier of its group: still unattributed, with the reason.
        let ns = attribute(&[pagerduty(0, "pagerduty-1.json"), tap(20_000, "tap-1.json")]);
        assert!(
            matches!(&ns[0].attribution, Attribution::Unattributed(why) if why.contains("nor before it"))
        );
    }

    #[test]
    fn a_retried_trigger_landing_beside_the_groups_resolving_flush_is_the_firing_flush() {
        // PagerDuty recovered just as the alert resolved: the retried
        // trigger arrives a second after the tap's copy of the resolving
        // flush. It is the page, not the resolution.
        let mut resolved = fixture("tap-1.json");
        resolved["status"] = "resolved".into();
        for a in resolved["alerts"].as_array_mut().unwrap() {
            a["status"] = "resolved".into();
        }
        let resolving = Arrival {
            at: at(20_000),
            receiver: "critical".into(),
            kind: ArrivalKind::Tap {
                flush: parse_flush(&resolved).unwrap(),
            },
        };
        let arrivals = [
            tap(0, "tap-1.json"),
            slack(1, "slack-1.json"),
            resolving,
            pagerduty(21_000, "pagerduty-1.json"),
        ];
        let ns = attribute(&arrivals);
        let page = &ns[1];
        assert_eq!(page.destination, Destination::PagerDuty);
        assert_eq!(page.status, NotificationStatus::Firing);
        assert_eq!(job_status(page), job_status(&ns[0]));
    }

    #[test]
    fn without_a_tap_nothing_is_attributed_and_the_reason_is_kept() {
        let ns = attribute(&[slack(0, "slack-1.json"), pagerduty(0, "pagerduty-1.json")]);
        assert!(ns.iter().all(|n| n.alerts.is_empty()));
        match &ns[0].attribution {
            Attribution::Unattributed(why) => {
                assert!(why.contains("never seen by the tap"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        match &ns[1].attribution {
            Attribution::Unattributed(why) => assert!(why.contains("dedup_key"), "{why}"),
            other => panic!("{other:?}"),
        }
        // A tap of another receiver does not count either.
        let mut other = tap(0, "tap-1.json");
        other.receiver = "warnings".into();
        let ns = attribute(&[other, pagerduty(0, "pagerduty-1.json")]);
        assert!(ns[0].alerts.is_empty());
    }

    #[test]
    fn a_team_callback_id_falls_back_to_a_single_flush_of_the_receiver() {
        let mut own = slack(10, "slack-1.json");
        if let ArrivalKind::Slack { callback, .. } = &mut own.kind {
            *callback = None;
        }
        let ns = attribute(&[tap(0, "tap-1.json"), own.clone()]);
        assert_eq!(ns[0].attribution, Attribution::ReceiverFlush);
        assert_eq!(ns[0].alerts.len(), 2);
        // Two different flushes of the receiver at once: ambiguous.
        let ns = attribute(&[tap(0, "tap-1.json"), tap(20, "tap-2.json"), own.clone()]);
        assert!(ns[0].alerts.is_empty());
        // Too far from any flush.
        own.at = at(60_000);
        assert!(attribute(&[tap(0, "tap-1.json"), own])[0].alerts.is_empty());
    }

    #[test]
    fn callback_ids_parse_only_when_they_are_ours() {
        assert_eq!(parse_callback(""), None);
        assert_eq!(parse_callback("alertmanager"), None);
        assert_eq!(
            parse_callback("zeta:ab=firing cd=resolved "),
            Some(vec![
                ("ab".into(), NotificationStatus::Firing),
                ("cd".into(), NotificationStatus::Resolved)
            ])
        );
        assert_eq!(parse_callback("zeta:"), Some(vec![]));
    }

    #[test]
    fn a_team_webhook_carries_its_own_alerts() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/alertmanager/webhook_v4_firing_3_alerts.json"
        ))
        .unwrap();
        let ns = attribute(&[Arrival {
            at: at(0),
            receiver: "ops".into(),
            kind: ArrivalKind::Webhook {
                flush: parse_flush(&body).unwrap(),
            },
        }]);
        assert_eq!(ns[0].attribution, Attribution::Payload);
        assert!(!ns[0].alerts.is_empty());
        assert!(ns[0].alerts.iter().all(|a| !a.labels.is_empty()));
        assert!(parse_flush(&serde_json::json!({"x": 1})).is_err());
    }
}
