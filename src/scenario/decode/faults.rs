//! `faults:`: each fault, its parameters, that it fits inside the load,
//! and that the chosen provider can inject it.

use super::*;

pub(super) fn decode_faults(dec: &mut Decoder, node: &Node) -> Option<Vec<Fault>> {
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
        FaultKind::DatabaseDown
        | FaultKind::AlertmanagerDown
        | FaultKind::AlertmanagerRestart
        | FaultKind::PrometheusToAlertmanagerCut
        | FaultKind::RuleEvaluationFailing
        | FaultKind::TracingBackendDown => {}
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
                p.status = server_error(dec, m, n);
                ok &= p.status.is_some();
            }
            match endpoint(dec, m) {
                Some(e) => p.endpoint = e,
                None => ok = false,
            }
        }
        FaultKind::ReceiverFailing => ok &= decode_receiver_failing(dec, m, &mut p),
        FaultKind::ReceiverSlow => {
            p.latency = m
                .required(dec, "latency")
                .and_then(|n| dec.duration(n, &m.path("latency")))
                .map(|d| d.value);
            ok &= p.latency.is_some();
        }
        FaultKind::Network => match super::network::decode_toxic(dec, m) {
            Some(t) => p.toxic = Some(t),
            None => ok = false,
        },
        FaultKind::Exec => match super::exec::decode_exec(dec, m) {
            Some(e) => p.exec = Some(e),
            None => ok = false,
        },
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
pub(super) fn check_faults_fit(dec: &mut Decoder, faults: &[Fault], load: &Load) {
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

/// A stack the harness did not start can only take the mock services'
/// knobs; every other fault is refused before anything runs.
pub(super) fn check_provider_can_inject(
    dec: &mut Decoder,
    stack: &crate::scenario::StackRef,
    faults: &[Fault],
) {
    if stack.provider.value != ProviderChoice::External {
        return;
    }
    for f in faults {
        if let Some(why) = f.external_refusal(stack.toxiproxy.as_ref()) {
            dec.error(f.target.pos, &f.target.field, why);
        }
    }
}

/// `receiver_failing`: `mode: error` (the default) answers `status` (a
/// 5xx, 500 by default); `mode: no_answer` holds each request unanswered,
/// so a `status` there is refused.
fn decode_receiver_failing(
    dec: &mut Decoder,
    m: &mut crate::input::MapReader<'_>,
    p: &mut FaultParams,
) -> bool {
    let mut ok = true;
    if let Some(n) = m.get("mode") {
        match dec.one_of(n, &m.path("mode"), &["error", "no_answer"]) {
            Some(mode) => p.freeze = mode == "no_answer",
            None => ok = false,
        }
    }
    match m.get("status") {
        Some(n) if p.freeze => {
            dec.error(
                n.pos,
                &m.path("status"),
                "a receiver that does not answer has no status; remove `status` or use `mode: error`",
            );
            ok = false;
        }
        Some(n) => {
            p.status = server_error(dec, m, n);
            ok &= p.status.is_some();
        }
        None if !p.freeze => p.status = Some(500),
        None => {}
    }
    ok
}

/// A fault's `status`: a 5xx, else an error at its position.
fn server_error(dec: &mut Decoder, m: &crate::input::MapReader<'_>, n: &Node) -> Option<u16> {
    match dec.u64(n, &m.path("status"))? {
        s if (500..=599).contains(&s) => Some(s as u16),
        s => {
            dec.error(
                n.pos,
                &m.path("status"),
                format!("expected a 5xx status, found {s}"),
            );
            None
        }
    }
}
