//! `zeta-bench fault`: one fault into the stack `zeta-bench up` runs,
//! reverted when its duration ends or on Ctrl-C.

use crate::input::units::{parse_duration, parse_percent};
use crate::scenario::{FaultKind, FaultParams};

use super::Exit;
use super::args::FaultArgs;

pub(super) async fn fault(a: FaultArgs) -> Exit {
    let (duration, params) = match parse(&a) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("zeta-bench fault: {msg}");
            return Exit::Input;
        }
    };
    let cancel = crate::signal::cancel_on_signal(None);
    let req = crate::gameday::FaultRequest {
        kind: a.kind,
        target: a.target,
        duration,
        params,
    };
    match crate::gameday::fault_command(&a.up, req, cancel).await {
        Ok(()) => Exit::Pass,
        Err(e) => {
            eprintln!("zeta-bench fault: {e:#}");
            Exit::CouldNotRun
        }
    }
}

/// The duration and parameters, or the message naming the bad flag.
fn parse(a: &FaultArgs) -> Result<(std::time::Duration, FaultParams), String> {
    let duration = |flag: &str, v: &str| {
        parse_duration(v)
            .ok_or_else(|| format!("{flag}: expected a duration like \"90s\", found {v:?}"))
    };
    let percent = |flag: &str, v: &str| {
        parse_percent(v)
            .ok_or_else(|| format!("{flag}: expected a percentage like \"20%\", found {v:?}"))
    };
    if a.kind == FaultKind::Exec {
        return Err("exec: an exec fault's commands come from a scenario (`kind: exec` under faults:), run with `zeta-bench run --provider external` against this stack; the control endpoint never runs commands".into());
    }
    let total = duration("--duration", &a.duration)?;
    let mut params = FaultParams {
        endpoint: a.endpoint.clone(),
        status: a.status,
        ..Default::default()
    };
    if let Some(l) = &a.latency {
        params.latency = Some(duration("--latency", l)?);
    }
    if let Some(r) = a.ratio.as_ref().or(a.miss_ratio.as_ref()) {
        params.ratio = Some(percent("--ratio", r)?);
    }
    if a.kind == FaultKind::ErrorRate && params.status.is_none() {
        params.status = Some(500);
    }
    Ok((total, params))
}
