//! `zeta-bench run --dry-run`: the plan, printed, and nothing else. Each
//! scenario is read and checked as for a run (so an invalid one still
//! exits 2), then its load, its faults (what each does: the commands it
//! would run, the API call it would make, or the process it would stop;
//! on which target, when, and for how long) and its halt conditions are
//! printed. No provider is chosen, no process started, no port bound.

use std::fmt::Write;
use std::path::PathBuf;

use crate::input::units::human_duration;
use crate::run::Inputs;
use crate::scenario::plan::PlannedFault;
use crate::scenario::{Effect, ExecCommand, FaultKind, Halt, ProviderChoice};

use super::Exit;
use super::args::RunArgs;

pub(super) fn dry_run(a: &RunArgs) -> Exit {
    let mut worst = Exit::Pass;
    for path in &a.scenarios {
        match crate::run::load_inputs_with(path, a.time_scale, a.trials) {
            Ok(inputs) if !a.accept_distortion && !inputs.distortions.is_empty() => {
                eprintln!("{}", inputs.distortions);
                worst = worst.max(Exit::Input);
            }
            Ok(inputs) => {
                let provider = a
                    .provider
                    .map(ProviderChoice::from)
                    .unwrap_or(inputs.scenario.stack.provider.value);
                print!("{}", render(&inputs, provider, a.out.as_ref()));
            }
            Err(d) => {
                eprintln!("{d}\nzeta-bench: {} problem(s) in the input", d.len());
                worst = worst.max(Exit::Input);
            }
        }
    }
    worst
}

fn render(inputs: &Inputs, provider: ProviderChoice, out: Option<&PathBuf>) -> String {
    let s = &inputs.scenario;
    let p = &inputs.plan;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "DRY RUN: {} ({}): nothing is started.\n  provider {}, time scale {}×, {} trial(s){}, run directory under {}",
        s.name,
        s.file.display(),
        provider.name(),
        crate::input::units::show_number(p.time_scale),
        p.trials,
        if p.trials > 1 {
            format!(
                ", starting {} of wall time apart",
                human_duration(p.trial_period)
            )
        } else {
            String::new()
        },
        out.map_or_else(|| "reports/".into(), |d| d.display().to_string())
    );
    let _ = writeln!(
        o,
        "  load: {} wall, to backend-api",
        human_duration(p.load_end)
    );
    for ph in &p.phases {
        let ramp = ph
            .ramp_to
            .map(|r| format!(" ramping to {r}/s"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "    {:>8} +{:<8} {}: {}/s{ramp}",
            human_duration(ph.start),
            human_duration(ph.duration),
            ph.name,
            ph.rate_per_second
        );
    }
    if p.faults.is_empty() {
        let _ = writeln!(o, "  faults: none");
    } else {
        let _ = writeln!(o, "  faults (wall time from the start of load):");
    }
    for f in &p.faults {
        let _ = writeln!(
            o,
            "    at {} for {}: {} ({}) on {}",
            human_duration(f.at),
            human_duration(f.duration),
            f.name,
            f.kind.name(),
            f.target
        );
        for line in actions(f) {
            let _ = writeln!(o, "        {line}");
        }
    }
    for h in &s.halt_when {
        let _ = writeln!(o, "  halt when ({}): {}", h.field, halt(&h.value));
    }
    o
}

fn halt(h: &Halt) -> String {
    match h {
        Halt::Promql(q) => format!("{q} returns a result"),
        Halt::ErrorRatio(r) => format!(
            "the load's error ratio over a second reaches {:.1}%",
            r * 100.0
        ),
    }
}

fn command(label: &str, c: &ExecCommand) -> String {
    format!(
        "{label}: {} (timeout {})",
        crate::fault::exec::shell_line(&c.argv),
        human_duration(c.timeout)
    )
}

/// What injecting and reverting `f` would do, in words.
fn actions(f: &PlannedFault) -> Vec<String> {
    let p = &f.params;
    match f.kind {
        FaultKind::Exec => match &p.exec {
            Some(e) => {
                let mut v = vec![command("inject", &e.inject)];
                if let Some(c) = &e.check {
                    v.push(command("check", c));
                }
                v.push(format!(
                    "effect: {}, within {}",
                    effect(&e.effect),
                    human_duration(e.effect_within)
                ));
                v.push(command("revert", &e.revert));
                let names = e.env_names();
                if !names.is_empty() {
                    v.push(format!("environment: {} (and ZETA_FAULT, ZETA_TARGET, ZETA_TARGET_URL, ZETA_RUN_DIR)", names.join(", ")));
                }
                v
            }
            None => vec!["no commands".into()],
        },
        FaultKind::Network => match &p.toxic {
            Some(t) => vec![toxic_words(t, &f.target)],
            None => vec!["no toxic".into()],
        },
        FaultKind::ServiceDown if p.freeze => {
            vec![format!("SIGSTOP {}'s process; SIGCONT after", f.target)]
        }
        FaultKind::ServiceDown => vec![format!(
            "SIGKILL {}'s process; start it again after",
            f.target
        )],
        FaultKind::DatabaseDown => vec![format!(
            "stop {} (fast shutdown); start it again after",
            f.target
        )],
        FaultKind::DiskPressure => vec![format!(
            "fill the harness's size-limited filesystem to {:.0}%; remove the fill after",
            p.fill_to.unwrap_or(0.9) * 100.0
        )],
        FaultKind::HighLatency if f.target == "postgresql" => vec![format!(
            "delay the harness's proxy in front of postgresql by {}; remove it after",
            human_duration(p.latency.unwrap_or_default())
        )],
        _ => vec![format!(
            "POST {}'s /admin/faults ({}); clear it after",
            f.target,
            knob_words(f)
        )],
    }
}

fn toxic_words(t: &crate::scenario::Toxic, target: &str) -> String {
    use crate::scenario::ToxicKind;
    let link = format!("backend-api → {target}");
    let what = match t.kind {
        ToxicKind::Down => return format!("Toxiproxy: disable the proxy {link}; enable it after"),
        ToxicKind::Latency => format!(
            "latency {} ± {}",
            human_duration(t.latency),
            human_duration(t.jitter)
        ),
        ToxicKind::Timeout => format!("timeout after {}", human_duration(t.timeout)),
        ToxicKind::ResetPeer => format!("reset_peer after {}", human_duration(t.timeout)),
        ToxicKind::Bandwidth => format!("bandwidth {} KB/s", t.rate_kb),
        ToxicKind::SlowClose => format!("slow_close by {}", human_duration(t.delay)),
    };
    format!(
        "Toxiproxy: {what} on {link} ({}, {:.0}% of connections); removed after",
        if t.upstream { "upstream" } else { "downstream" },
        t.toxicity * 100.0
    )
}

fn knob_words(f: &PlannedFault) -> String {
    let p = &f.params;
    let on = p
        .endpoint
        .as_deref()
        .map(|e| format!(" on {e}"))
        .unwrap_or_default();
    match f.kind {
        FaultKind::HighLatency => format!(
            "latency {}{on}",
            human_duration(p.latency.unwrap_or_default())
        ),
        FaultKind::ErrorRate => format!(
            "{:.0}% of requests fail with {}{on}",
            p.ratio.unwrap_or(0.0) * 100.0,
            p.status.unwrap_or(500)
        ),
        FaultKind::CacheDegradation => {
            format!("cache miss ratio {:.0}%", p.ratio.unwrap_or(0.0) * 100.0)
        }
        FaultKind::MemoryPressure => format!(
            "memory ballast to {:.0}% of the limit",
            p.fill_to.unwrap_or(0.9) * 100.0
        ),
        _ => f.kind.name().to_string(),
    }
}

fn effect(e: &Effect) -> String {
    match e {
        Effect::Down => "refused connections at the target's address".into(),
        Effect::Check => "the check command exits 0".into(),
        Effect::Promql(q) => format!("{q} returns a result"),
        Effect::ErrorRatio(r) => format!(
            "the load's error ratio over a second reaches {:.1}%",
            r * 100.0
        ),
        Effect::Latency(d) => format!(
            "the load's p95 latency over a second reaches {}",
            human_duration(*d)
        ),
    }
}
