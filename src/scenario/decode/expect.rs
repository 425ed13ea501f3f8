//! `expect:`: the alerts a scenario expects, and what an unexpected one does.

use super::*;

pub(super) fn decode_expect(
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
