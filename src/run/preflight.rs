//! Before anything starts: can the chosen provider inject every fault the
//! scenario asks for? A stack the harness did not start takes only the
//! mocks' knobs (the same message the decoder gives); a stack the harness
//! starts takes a fault only where this machine can carry it out. Each
//! refusal is an input error at the fault's line.
//!
//! Once the stack is up: did every component the provider needs start?
//! One that did not (not installed, a failed initdb) makes the stack not
//! the stack under test, so the run stops there as could-not-run (exit 3),
//! unless the scenario's `stack.allow_absent` names it.

use std::collections::BTreeMap;

use crate::input::Diagnostics;
use crate::scenario::{FaultKind, Scenario};
use crate::stack::{self, Provider};

pub(super) fn check(scenario: &Scenario, provider: Provider) -> Result<(), Diagnostics> {
    let mut d = Diagnostics::default();
    // An exec fault's commands are the scenario's own: whether they can
    // run here is for them to say.
    for f in scenario.faults.iter().filter(|f| f.kind != FaultKind::Exec) {
        let refusal = match provider {
            Provider::External => f.external_refusal(scenario.stack.toxiproxy.as_ref()),
            Provider::Native | Provider::Docker => {
                stack::native::can_fault(f.machine_target(), provider == Provider::Docker)
                    .err()
                    .map(|why| {
                        format!(
                            "{} on {:?} cannot run here: {why}",
                            f.kind.name(),
                            f.target.value
                        )
                    })
            }
        };
        let refusal = refusal.or_else(|| network_refusal(f, provider));
        if let Some(why) = refusal {
            d.push(&scenario.file, f.target.pos, &f.target.field, why);
        }
    }
    if d.is_empty() { Ok(()) } else { Err(d) }
}

/// A fault on one of backend-api's dependency links (`network`, and
/// `high_latency` on PostgreSQL) needs a Toxiproxy: the harness's own
/// (`toxiproxy-server`, built by scripts/go-tools.sh, a local process
/// beside native processes or host-network containers alike), or on an
/// external stack the team's, named in `stack.toxiproxy`.
fn network_refusal(f: &crate::scenario::Fault, provider: Provider) -> Option<String> {
    let on_link = matches!(
        f.kind,
        FaultKind::Network | FaultKind::PrometheusToAlertmanagerCut
    ) || (f.kind == FaultKind::HighLatency && f.target.value == "postgresql");
    if !on_link || provider == Provider::External {
        // external_refusal has judged it against `stack.toxiproxy`.
        return None;
    }
    let built = crate::stack::binaries::find(
        &crate::stack::binaries::Binaries::new(Default::default()),
        "toxiproxy",
        crate::stack::toxiproxy::PROGRAMS,
    )
    .is_some();
    (!built).then(|| {
        format!(
            "{} on {:?} cannot run here: it is a toxic on {}'s Toxiproxy link, and toxiproxy-server is not built (scripts/go-tools.sh builds it into {})",
            f.kind.name(),
            f.target.value,
            if f.kind == FaultKind::PrometheusToAlertmanagerCut {
                "Prometheus"
            } else {
                "backend-api"
            },
            crate::stack::binaries::tools_dir().join("bin").display()
        )
    })
}

/// `run --jobs N` runs scenarios at the same time, each in a stack of its
/// own: the native provider's processes and the docker provider's
/// host-network containers take free ports and their own run directory,
/// so nothing but the machine's cores is shared. An external stack is the
/// same stack for every scenario: one's faults would hit the targets the
/// others measure, its alerts would reach their receivers (unexpected
/// alerts), and its inhibitions would silence theirs. That is refused.
pub(super) fn side_by_side(
    scenario: &Scenario,
    provider: Provider,
    jobs: usize,
) -> Result<(), Diagnostics> {
    if jobs <= 1 || provider != Provider::External {
        return Ok(());
    }
    let at = &scenario.stack.provider;
    let mut d = Diagnostics::default();
    d.push(
        &scenario.file,
        at.pos,
        &at.field,
        format!(
            "--jobs {jobs} runs scenarios at the same time, each in a stack of its own, and the external provider has one stack for all of them: their faults would hit each other's targets and their alerts each other's receivers and inhibitions; use --jobs 1, or provider native or docker"
        ),
    );
    Err(d)
}

/// Faults on a stack the harness did not start (a team's staging) need
/// `--yes`, or "yes" typed at the terminal; without a terminal they are
/// refused at the scenario's `stack.provider`, before anything starts.
pub(super) fn consent(
    scenario: &Scenario,
    provider: Provider,
    yes: bool,
) -> Result<(), Diagnostics> {
    if yes || provider != Provider::External || scenario.faults.is_empty() {
        return Ok(());
    }
    let faults: Vec<String> = scenario
        .faults
        .iter()
        .map(|f| format!("{} on {}", f.name, f.target.value))
        .collect();
    let what = format!(
        "this scenario injects faults into an external stack, one zeta-bench did not start: {}",
        faults.join(", ")
    );
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprint!(
            "zeta-bench: {}: {what}.\nInject them? Type yes to go on: ",
            scenario.file.display()
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if answer.trim().eq_ignore_ascii_case("yes") {
            return Ok(());
        }
    }
    let at = &scenario.stack.provider;
    let mut d = Diagnostics::default();
    d.push(
        &scenario.file,
        at.pos,
        &at.field,
        format!("{what}; not started without --yes (or a \"yes\" typed at a terminal); `zeta-bench run --dry-run` prints the plan"),
    );
    Err(d)
}

/// The notes for the missing components the scenario allows, or the
/// error naming those it does not.
pub(super) fn missing_components(
    missing: &BTreeMap<String, String>,
    allowed: &[String],
) -> Result<Vec<String>, String> {
    let (ok, not): (Vec<_>, Vec<_>) = missing
        .iter()
        .partition(|(name, _)| allowed.iter().any(|a| a == *name));
    if not.is_empty() {
        return Ok(ok
            .iter()
            .map(|(name, why)| format!("absent, as stack.allow_absent allows: {name}: {why}"))
            .collect());
    }
    let names: Vec<&str> = not.iter().map(|(n, _)| n.as_str()).collect();
    let whys: Vec<String> = not.iter().map(|(n, w)| format!("  {n}: {w}")).collect();
    Err(format!(
        "the stack is incomplete, so this run would not test it:\n{}\ninstall what is missing (scripts/install.sh), or let the scenario run without it: stack: {{ allow_absent: [{}] }}",
        whys.join("\n"),
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(stack: &str) -> Scenario {
        let text = format!(
            "name: side\nslo: slo.yml\nstack: {stack}\nload:\n  phases: [{{ duration: 1m, rate: 5/s }}]\n  mix: [{{ request: \"GET /\" }}]\n"
        );
        crate::scenario::parse_scenario(std::path::Path::new("s.yml"), &text).unwrap()
    }

    #[test]
    fn an_external_stack_is_refused_side_by_side_at_its_provider() {
        let s = scenario("{ provider: external }");
        let d = side_by_side(&s, Provider::External, 7).unwrap_err();
        let text = d.to_string();
        assert!(
            text.starts_with("s.yml:3:20: stack.provider: --jobs 7"),
            "{text}"
        );
        assert!(text.contains("each other's targets"), "{text}");
        // Alone, or on a stack of its own, it runs.
        assert!(side_by_side(&s, Provider::External, 1).is_ok());
        let own = scenario("{ time_scale: 15 }");
        assert!(side_by_side(&own, Provider::Native, 7).is_ok());
        assert!(side_by_side(&own, Provider::Docker, 7).is_ok());
        // --provider external over a scenario that leaves it out: the
        // position is the stack map's.
        let d = side_by_side(&own, Provider::External, 2).unwrap_err();
        assert!(
            d.to_string().starts_with("s.yml:3:8: stack.provider"),
            "{d}"
        );
    }

    fn missing() -> BTreeMap<String, String> {
        [
            (
                "redis-exporter",
                "not installed (package prometheus-redis-exporter)",
            ),
            ("postgresql", "initdb failed"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn a_missing_component_not_allowed_names_each_and_how_to_allow_it() {
        let e = missing_components(&missing(), &["postgresql".into()]).unwrap_err();
        assert!(e.contains("redis-exporter: not installed"), "{e}");
        assert!(!e.contains("initdb"), "an allowed one is not listed: {e}");
        assert!(e.contains("allow_absent: [redis-exporter]"), "{e}");
    }

    #[test]
    fn allowed_missing_components_are_notes() {
        let notes = missing_components(&missing(), &["postgresql".into(), "redis-exporter".into()])
            .unwrap();
        assert_eq!(notes.len(), 2);
        assert!(notes[0].starts_with("absent, as stack.allow_absent allows: postgresql"));
        assert!(
            missing_components(&BTreeMap::new(), &[])
                .unwrap()
                .is_empty()
        );
    }
}
