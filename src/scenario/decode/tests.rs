//! The decoder on whole scenarios: good ones, and each kind of mistake
//! at its `file:line:column`.

use super::*;

const GOOD: &str = r#"
name: service-down
description: backend-api dies
stack: { dir: ../stack, provider: native, time_scale: 10 }
slo: ../slo/phase1.yml
tenants: { count: 50, distribution: zipf, skew: 1.1, seed: 42 }
load:
  phases:
    - { name: warmup, duration: 1m, rate: 20/s }
    - { name: steady, duration: 5m, rate: 100/s, arrivals: poisson }
  mix:
    - { request: "GET /api/v1/recommendations?user_id={user}&k=10", weight: 70 }
    - { request: "POST /api/v1/events", body: '{"user_id":"{user}","item_id":"{item}"}', weight: 30 }
faults:
  - { kind: service_down, target: backend-api, at: 2m, duration: 3m }
expect:
  alerts:
    - { name: ServiceDown, labels: { job: backend-api } }
  unexpected_alerts: fail
"#;

#[test]
fn a_good_scenario_decodes() {
    let s = parse_scenario(Path::new("scenarios/x.yml"), GOOD).unwrap();
    assert_eq!(s.name, "service-down");
    assert_eq!(s.stack.time_scale.value, 10.0);
    assert_eq!(s.stack.provider.value, ProviderChoice::Native);
    assert_eq!(s.load.phases.len(), 2);
    assert_eq!(s.load.phases[1].arrivals, Arrivals::Poisson);
    assert_eq!(s.load.total_duration(), Duration::from_secs(360));
    assert_eq!(
        s.tenants.distribution,
        TenantDistribution::Zipf { skew: 1.1 }
    );
    assert_eq!(s.faults[0].name, "service_down:backend-api");
    assert_eq!(s.expect.alerts[0].fault, "service_down:backend-api");
    assert_eq!(s.slo.value, Path::new("scenarios/../slo/phase1.yml"));
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let bad = GOOD
        .replace(
            "duration: 1m, rate: 20/s",
            "duration: five, rate: 20/s, colour: red",
        )
        .replace(
            "target: backend-api, at: 2m, duration: 3m",
            "target: payments, at: 5m, duration: 3m",
        );
    let err = parse_scenario(Path::new("s.yml"), &bad)
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("s.yml:9:33: load.phases[0].duration: expected a duration")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("s.yml:9:51: load.phases[0].colour: unknown field")),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("s.yml:15:35: faults[0].target: unknown fault target \"payments\"")),
        "{err}"
    );
}

#[test]
fn a_fault_outside_the_run_is_an_error() {
    let bad = GOOD.replace("at: 2m, duration: 3m", "at: 2m, duration: 10m");
    let err = parse_scenario(Path::new("s.yml"), &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("faults[0].duration: the fault would end at 12m00s"),
        "{err}"
    );
    let bad = GOOD.replace("at: 2m, duration: 3m", "at: 7m, duration: 1m");
    let err = parse_scenario(Path::new("s.yml"), &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("faults[0].at: the fault starts at 7m00s but the load phases end at 6m00s"),
        "{err}"
    );
}

#[test]
fn ramps_and_steps() {
    let ok = GOOD.replace(
        "duration: 1m, rate: 20/s }",
        "duration: 1m, rate: 20/s, to: 200/s, steps: 4 }",
    );
    let s = parse_scenario(Path::new("s.yml"), &ok).unwrap();
    assert_eq!(
        (s.load.phases[0].ramp_to, s.load.phases[0].steps),
        (Some(200.0), Some(4))
    );
    let bad = GOOD.replace(
        "duration: 1m, rate: 20/s }",
        "duration: 1m, rate: 20/s, steps: 4 }",
    );
    let err = parse_scenario(Path::new("s.yml"), &bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("load.phases[0].steps: steps need a ramp: add `to:` with the final rate"),
        "{err}"
    );
}

#[test]
fn yaml_syntax_errors_are_located() {
    let err = parse_scenario(Path::new("s.yml"), "name: [x\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("s.yml:"), "{err}");
    assert!(err.contains("invalid YAML"), "{err}");
}

#[test]
fn receiver_faults_decode_with_their_settings_and_refuse_what_cannot_be() {
    let with = |fault: &str| {
        GOOD.replace(
            "  - { kind: service_down, target: backend-api, at: 2m, duration: 3m }",
            &format!("  - {{ kind: service_down, target: backend-api, at: 2m, duration: 3m }}\n  - {fault}"),
        )
    };
    let s = parse_scenario(
        Path::new("s.yml"),
        &with("{ kind: receiver_failing, target: pagerduty, at: 2m, duration: 2m }"),
    )
    .unwrap();
    assert_eq!(s.faults[1].kind, FaultKind::ReceiverFailing);
    assert_eq!(
        (s.faults[1].params.status, s.faults[1].params.freeze),
        (Some(500), false)
    );
    let s = parse_scenario(
        Path::new("s.yml"),
        &with("{ kind: receiver_failing, target: slack, mode: no_answer, at: 2m, duration: 1m }"),
    )
    .unwrap();
    assert_eq!(
        (s.faults[1].params.status, s.faults[1].params.freeze),
        (None, true)
    );
    let s = parse_scenario(
        Path::new("s.yml"),
        &with("{ kind: receiver_slow, target: webhook, latency: 20s, at: 2m, duration: 1m }"),
    )
    .unwrap();
    assert_eq!(s.faults[1].params.latency, Some(Duration::from_secs(20)));
    for (bad, says) in [
        (
            "{ kind: receiver_failing, target: pagerduty, status: 404, at: 2m, duration: 1m }",
            "s.yml:16:58: faults[1].status: expected a 5xx status, found 404",
        ),
        (
            "{ kind: receiver_failing, target: pagerduty, mode: no_answer, status: 503, at: 2m, duration: 1m }",
            "faults[1].status: a receiver that does not answer has no status",
        ),
        (
            "{ kind: receiver_failing, target: opsgenie, at: 2m, duration: 1m }",
            "faults[1].target: unknown fault target \"opsgenie\" for receiver_failing; expected one of \"pagerduty\", \"slack\", \"webhook\"",
        ),
        (
            "{ kind: receiver_slow, target: slack, at: 2m, duration: 1m }",
            "faults[1].latency",
        ),
        (
            "{ kind: receiver_failing, target: slack, mode: sometimes, at: 2m, duration: 1m }",
            "faults[1].mode",
        ),
    ] {
        let err = parse_scenario(Path::new("s.yml"), &with(bad))
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{bad}\n{err}");
    }
}
