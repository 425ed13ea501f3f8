//! The decoder on `stack:` for external stacks, binaries and allowed
//! absences, and faults a provider cannot inject.

use super::*;

const BASE: &str = r#"
name: ext
slo: slo.yml
load:
  phases: [{ duration: 1m, rate: 5/s }]
  mix: [{ request: "GET /" }]
"#;

fn with(stack: &str, faults: &str) -> Result<Scenario, String> {
    parse_scenario(
        Path::new("s.yml"),
        &format!("{BASE}stack: {stack}\n{faults}"),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn urls_and_receivers_decode() {
    let s = with(
            "{ provider: external, receivers: '127.0.0.1:9095', urls: { prometheus: 'http://prom:9090', backend-api: 'https://api.example/' } }",
            "faults: [{ kind: error_rate, target: backend-api, ratio: 50%, at: 10s, duration: 20s }]",
        )
        .unwrap();
    assert_eq!(s.stack.provider.value, ProviderChoice::External);
    assert_eq!(s.stack.urls.len(), 2);
    assert_eq!(s.stack.urls[0].0, "prometheus");
    assert_eq!(s.stack.receivers.unwrap().value.port(), 9095);
}

#[test]
fn allow_absent_names_known_components_only() {
    let s = with(
        "{ allow_absent: [redis-exporter, postgresql] }",
        "faults: []",
    )
    .unwrap();
    assert_eq!(s.stack.allow_absent, ["redis-exporter", "postgresql"]);
    let e = with(
        "{ allow_absent: [redis-exporter, prometheus] }",
        "faults: []",
    )
    .unwrap_err();
    assert!(e.contains("stack.allow_absent[1]"), "{e}");
    assert!(e.contains("redis-exporter"), "the choices are listed: {e}");
    let e = with("{ allow_absent: redis }", "faults: []").unwrap_err();
    assert!(e.contains("stack.allow_absent"), "{e}");
}

#[test]
fn binaries_must_exist_and_be_known_components() {
    let exe = std::env::current_exe().unwrap();
    let s = with(
        &format!("{{ binaries: {{ prometheus: '{}' }} }}", exe.display()),
        "faults: []",
    )
    .unwrap();
    assert_eq!(s.stack.binaries[0].0, "prometheus");
    assert_eq!(s.stack.binaries[0].1.value, exe);
    let e = with(
        "{ binaries: { jaeger: 'no/such/jaeger', grafana: '/bin/sh' } }",
        "faults: []",
    )
    .unwrap_err();
    assert!(
        e.contains("stack.binaries.jaeger: expected the path of an existing jaeger binary"),
        "{e}"
    );
    assert!(e.contains("unknown field \"grafana\""), "{e}");
}

#[test]
fn bad_urls_credentials_and_faults_outside_the_knobs_are_located() {
    let e = with(
            "{ provider: external, receivers: '0.0.0.0:9095', urls: { prometheus: 'ftp://x', grafana: 'http://admin:secret@g:3000', lokki: 'http://l' } }",
            "faults: [{ kind: service_down, target: backend-api, at: 10s, duration: 20s }]",
        )
        .unwrap_err();
    for want in [
        "stack.receivers: expected a loopback address",
        "stack.urls.prometheus: expected an http:// or https:// URL, found \"ftp://x\"",
        "stack.urls.grafana: credentials do not belong in a URL",
        "unknown field \"lokki\" (did you mean \"loki\"?)",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert!(!e.contains("secret"), "{e}");
    let e = with(
        "{ provider: external }",
        "faults: [{ kind: service_down, target: backend-api, at: 10s, duration: 20s }]",
    )
    .unwrap_err();
    assert!(e.contains("s.yml:8:40: faults[0].target: the external provider cannot inject service_down on \"backend-api\""), "{e}");
    // The same fault is fine natively.
    assert!(
        with(
            "{ provider: native }",
            "faults: [{ kind: service_down, target: backend-api, at: 10s, duration: 20s }]"
        )
        .is_ok()
    );
}

#[test]
fn network_faults_on_an_external_stack_go_through_the_named_toxiproxy() {
    let net = |target: &str| {
        format!(
            "faults: [{{ kind: network, target: {target}, toxic: latency, latency: 300ms, at: 10s, duration: 20s }}]"
        )
    };
    let s = with(
        "{ provider: external, toxiproxy: { url: 'http://toxiproxy.staging:8474', proxies: { postgresql: staging_pg } } }",
        &net("postgresql"),
    )
    .unwrap();
    let t = s.stack.toxiproxy.unwrap();
    assert_eq!(t.proxy("postgresql"), Some("staging_pg"));
    assert_eq!(t.url.unwrap().value, "http://toxiproxy.staging:8474");
    // The URL may come from ZETA_TOXIPROXY_URL alone.
    assert!(
        with(
            "{ provider: external, toxiproxy: { proxies: { redis: r } } }",
            &net("redis")
        )
        .is_ok()
    );
    // A link without a proxy, or no Toxiproxy at all: refused at the fault.
    for stack in [
        "{ provider: external, toxiproxy: { proxies: { postgresql: pg } } }",
        "{ provider: external }",
    ] {
        let e = with(stack, &net("redis")).unwrap_err();
        assert!(
            e.contains(
                "faults[0].target: the external provider runs network faults through your Toxiproxy"
            ),
            "{e}"
        );
        assert!(
            e.contains("the proxy of this link in stack.toxiproxy.proxies.redis"),
            "{e}"
        );
    }
    let cases = [
        (
            "{ provider: external, toxiproxy: { url: 'http://u:pw@t:8474', proxies: { redis: r } } }",
            "stack.toxiproxy.url: credentials do not belong in a URL",
        ),
        (
            "{ provider: external, toxiproxy: { proxies: { redis: '../admin' } } }",
            "stack.toxiproxy.proxies.redis: expected a Toxiproxy proxy name",
        ),
        (
            "{ provider: external, toxiproxy: { proxies: {} } }",
            "stack.toxiproxy.proxies: expected the proxy name of at least one link (postgresql, redis, ml-engine), found none",
        ),
        (
            "{ provider: external, toxiproxy: { url: 'http://t:8474' } }",
            "stack.toxiproxy.proxies: this field is required",
        ),
        (
            "{ provider: external, toxiproxy: { proxies: { kafka: k } } }",
            "unknown field \"kafka\"",
        ),
        (
            "{ provider: native, toxiproxy: { proxies: { redis: r } } }",
            "stack.toxiproxy: expected no stack.toxiproxy with provider: native",
        ),
    ];
    for (stack, want) in cases {
        let e = with(stack, "faults: []").unwrap_err();
        assert!(e.contains(want), "{stack}: missing {want:?} in:\n{e}");
        assert!(!e.contains("pw@"), "{e}");
    }
}

#[test]
fn tenant_weights_decode_and_mismatches_are_located() {
    let s = with(
        "{ provider: native }",
        "tenants: { distribution: weights, weights: [5, 1, 1] }",
    )
    .unwrap();
    assert_eq!(s.tenants.count, 3);
    assert_eq!(
        s.tenants.distribution,
        TenantDistribution::Weights(vec![5.0, 1.0, 1.0])
    );
    let e = with(
        "{ provider: native }",
        "tenants: { count: 4, distribution: weights, weights: [5, 1, 1] }",
    )
    .unwrap_err();
    assert!(
        e.contains("tenants.weights: expected 4 weights (tenants.count), found 3"),
        "{e}"
    );
    let e = with(
        "{ provider: native }",
        "tenants: { distribution: weights, weights: [1, -2] }",
    )
    .unwrap_err();
    assert!(
        e.contains("tenants.weights[1]: expected a weight of 0 or more, found -2"),
        "{e}"
    );
    let e = with(
        "{ provider: native }",
        "tenants: { distribution: zipf, weights: [1] }",
    )
    .unwrap_err();
    assert!(
        e.contains("weights apply to `distribution: weights`"),
        "{e}"
    );
}
