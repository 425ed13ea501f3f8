//! `stack/` proven by the real tools and by the project's own models:
//! promtool (config, rules, rule unit tests, and the time-scaled rendering),
//! amtool (config, and the route of every alert), dashboards against
//! provisioning, and the metric contract.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::repo;
use zeta_bench::stackfiles::StackFiles;
use zeta_bench::stackfiles::grafana::load_dashboard;
use zeta_bench::stackfiles::lint;

fn tool(name: &str) -> common::Need {
    common::Need::unless(
        Command::new(name).arg("--version").output().is_ok(),
        format!("{name} is not installed"),
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running the tool");
    let text = common::text(&out);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn stack() -> std::path::PathBuf {
    repo().join("stack")
}

#[test]
fn promtool_checks_config_rules_and_rule_unit_tests() {
    needs!(tool("promtool"));
    let prom = stack().join("prometheus");
    run(Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(prom.join("prometheus.yml")));
    let rules = run(Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(prom.join("alert-rules.yml")));
    assert!(rules.contains("SUCCESS: 10 rules found"), "{rules}");
    let own = run(Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(prom.join("self-monitoring-rules.yml")));
    assert!(own.contains("SUCCESS: 6 rules found"), "{own}");
    let tests: Vec<_> = std::fs::read_dir(prom.join("tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    assert!(!tests.is_empty());
    let mut cmd = Command::new("promtool");
    cmd.current_dir(&prom).arg("test").arg("rules").args(&tests);
    let out = run(&mut cmd);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn every_seed_alert_has_a_unit_test_that_fires_it() {
    let files = StackFiles::load(&stack()).unwrap();
    let tests: String = std::fs::read_dir(stack().join("prometheus/tests"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for r in &files.rules {
        assert!(
            tests.contains(&format!(
                "alertname: {}\n        exp_alerts:\n          - exp_labels",
                r.name
            )),
            "no firing test for {}",
            r.name
        );
        assert!(
            r.annotations.contains_key("summary")
                && r.annotations.contains_key("description")
                && r.annotations.contains_key("runbook_url"),
            "{} lacks annotations",
            r.name
        );
        // `none` only for the heartbeat, which no human is meant to read.
        assert!(
            ["critical", "warning", "info"].contains(&r.severity()) || r.is_heartbeat(),
            "{} severity {:?}",
            r.name,
            r.severity()
        );
    }
    for seed in [
        "ServiceDown",
        "HighErrorRate",
        "HighLatencyP95",
        "DatabaseDown",
        "HighMemoryUsage",
        "DiskSpaceLow",
        "CacheHitRateLow",
    ] {
        assert!(files.rule(seed).is_some(), "seed alert {seed} is missing");
    }
}

#[test]
fn the_time_scaled_rendering_is_valid_for_promtool() {
    needs!(tool("promtool"));
    let files = StackFiles::load(&stack()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut addresses = zeta_bench::stackfiles::render::AddressMap::new();
    addresses.insert("backend-api:8000".into(), "127.0.0.1:1".into());
    addresses.insert("alertmanager:9093".into(), "127.0.0.1:2".into());
    let rendered =
        zeta_bench::stackfiles::render::render(&zeta_bench::stackfiles::render::RenderInput {
            files: &files,
            time_scale: 15.0,
            addresses: &addresses,
            receiver_base: "http://127.0.0.1:3",
            out_dir: out.path(),
        })
        .unwrap();
    let text = run(Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&rendered.prometheus_config));
    assert!(text.contains("SUCCESS: 10 rules found"), "{text}");
    let rules = std::fs::read_to_string(out.path().join("prometheus/alert-rules.yml")).unwrap();
    assert!(rules.contains("[20s]"), "5m windows became 20s: {rules}");
    assert!(rules.contains("for: 40s"), "10m `for` became 40s: {rules}");
    if Command::new("amtool").arg("--version").output().is_ok() {
        run(Command::new("amtool")
            .arg("check-config")
            .arg(&rendered.alertmanager_config));
    }
}

#[test]
fn amtool_routes_every_alert_to_its_severity_receiver() {
    needs!(tool("amtool"));
    let am = stack().join("alertmanager/alertmanager.yml");
    run(Command::new("amtool").arg("check-config").arg(&am));
    let files = StackFiles::load(&stack()).unwrap();
    let expected = |alert: &str, sev: &str| match sev {
        _ if alert == "Watchdog" => "deadmans-switch",
        "critical" => "critical",
        "warning" => "slack-warnings",
        "info" => "silent",
        _ => "slack-warnings",
    };
    let mut cases: Vec<(String, String)> = files
        .rules
        .iter()
        .map(|r| (r.name.clone(), r.severity().to_string()))
        .collect();
    cases.push(("SomethingWithoutSeverity".into(), String::new()));
    for (alert, sev) in cases {
        let mut cmd = Command::new("amtool");
        cmd.args(["config", "routes", "test", "--config.file"])
            .arg(&am);
        cmd.arg(format!("--verify.receivers={}", expected(&alert, &sev)));
        cmd.arg(format!("alertname={alert}"))
            .arg("service=backend-api");
        if !sev.is_empty() {
            cmd.arg(format!("severity={sev}"));
        }
        let out = run(&mut cmd);
        assert_eq!(
            out.lines().next().unwrap_or("").trim(),
            expected(&alert, &sev),
            "{alert}: {out}"
        );
    }
}

#[test]
fn dashboards_load_and_every_query_is_valid_and_provisioned() {
    let files = StackFiles::load(&stack()).unwrap();
    let dashboards = zeta_bench::stackfiles::grafana::model::load_dashboards(&stack()).unwrap();
    let titles: Vec<&str> = dashboards.iter().map(|d| d.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "API Performance",
            "Business Metrics",
            "ML Engine Performance",
            "System Health"
        ]
    );
    let problems = lint::lint(&files).unwrap();
    assert!(
        problems.is_empty(),
        "{}",
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every panel the seed lists, by title.
    let seed_panels = [
        "Service Status",
        "CPU Usage per Service",
        "Memory Usage per Service",
        "Disk Space Available",
        "Network I/O",
        "Pod/Container Restart Rate",
        "Request Rate by Endpoint",
        "Latency (p50, p95, p99)",
        "Error Rate by Endpoint",
        "Response Code Distribution",
        "Top 10 Slowest Endpoints",
        "Top 10 Endpoints by Throughput",
        "Training Job Status",
        "Model Quality Metrics (NDCG@10, MAP@10, Precision, Recall)",
        "Embedding Cache Hit Rate",
        "FAISS Search Latency",
        "ML Request Rate by Operation",
        "Embedding Generation Latency",
        "Model Version Deployed per Tenant",
        "Recommendations Served (Last Hour)",
        "API Calls by Tenant",
        "Active Tenants Count",
        "Revenue Metrics (Mock)",
        "Top 10 Tenants by Usage",
        "Tenant Growth Over Time",
        "API Endpoint Usage Distribution",
        "Tenant Usage Summary Table",
    ];
    let all: Vec<&str> = dashboards
        .iter()
        .flat_map(|d| d.panels.iter().map(|p| p.title.as_str()))
        .collect();
    for t in seed_panels {
        assert!(all.contains(&t), "no panel {t:?}");
    }
    // Every query the seed spells out appears verbatim.
    let exprs: Vec<&str> = dashboards
        .iter()
        .flat_map(|d| d.targets().map(|(_, t)| t.expr.as_str()))
        .collect();
    for q in [
        "rate(http_requests_total{status=~\"5..\"}[5m]) / rate(http_requests_total[5m])",
        "node_filesystem_avail_bytes / node_filesystem_size_bytes",
        "model_quality_ndcg_at_10",
        "rate(embedding_cache_hits_total[5m]) / (rate(embedding_cache_hits_total[5m]) + rate(embedding_cache_misses_total[5m]))",
        "histogram_quantile(0.95, sum(rate(faiss_search_duration_seconds_bucket[5m])) by (le))",
        "sum(increase(recommendations_served_total[1h]))",
        "topk(10, sum(increase(api_requests_total[1h])) by (tenant_id))",
        "count(count by (tenant_id) (api_requests_total))",
    ] {
        assert!(exprs.contains(&q), "seed query missing: {q}");
    }
}

#[test]
fn a_broken_dashboard_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    copy(&stack(), dir.path());
    let path = dir.path().join("grafana/dashboards/api-performance.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen(
            "sum by (endpoint) (rate(http_requests_total",
            "sum by (endpoint) (rate(http_request_totl",
            1,
        )
        .replacen("\"uid\": \"prometheus\"", "\"uid\": \"prom-typo\"", 1)
        .replacen("[5m])) by (endpoint, le))", "[5m])) by (endpoint, le)", 1);
    std::fs::write(&path, text).unwrap();
    let broken = StackFiles::load(dir.path()).unwrap();
    let problems: Vec<String> = lint::lint(&broken)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let all = problems.join("\n");
    assert!(
        all.contains("datasource")
            && all.contains("prom-typo")
            && all.contains("is not provisioned"),
        "{all}"
    );
    assert!(all.contains("does not parse after substitution"), "{all}");
    assert!(
        all.contains("http_request_totl, which nothing in this stack produces"),
        "{all}"
    );
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn real_world_dashboards_of_every_schema_load() {
    let f = |n: &str| load_dashboard(&repo().join("tests/fixtures/grafana").join(n)).unwrap();
    // schemaVersion 14 with top-level rows.
    let old = f("node-exporter-full-old-schema14-rows.json");
    assert_eq!(old.schema_version, 14);
    assert_eq!(old.targets().count(), 472);
    // Collapsed rows keep their panels inside the row panel.
    let loki = f("loki-mixin-loki-operational.json");
    assert!(loki.panels.iter().any(|p| p.row.is_some()));
    assert!(loki.panels.len() >= 38, "{}", loki.panels.len());
    // Datasource references through a variable.
    let jaeger = f("jaeger-mixin-dashboard.json");
    assert!(jaeger.targets().any(|(p, t)| matches!(
        p.datasource_of(t),
        zeta_bench::stackfiles::grafana::DsRef::Variable(_)
    )));
    // Every Prometheus query of the kube-prometheus dashboard parses after
    // Grafana's substitution.
    let kube = f("kube-prometheus-k8s-resources-namespace.json");
    let sources = vec![
        serde_yaml::from_str::<zeta_bench::stackfiles::grafana::provisioning::Datasource>(
            "{name: prometheus, uid: prometheus, type: prometheus, isDefault: true}",
        )
        .unwrap(),
    ];
    let problems = lint::check_dashboards(std::slice::from_ref(&kube), &sources);
    let parse_problems: Vec<_> = problems
        .iter()
        .filter(|p| p.what.contains("does not parse"))
        .collect();
    assert!(parse_problems.is_empty(), "{parse_problems:?}");
    assert!(kube.targets().count() > 10);
}

#[test]
fn docker_compose_is_complete_pinned_and_keeps_secrets_in_env() {
    let text = std::fs::read_to_string(stack().join("docker-compose.yml")).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let services = v["services"].as_mapping().unwrap();
    for name in [
        "prometheus",
        "grafana",
        "loki",
        "promtail",
        "jaeger",
        "alertmanager",
        "node-exporter",
        "cadvisor",
        "postgres-exporter",
        "redis-exporter",
        "postgres",
        "redis",
        "backend-api",
        "ml-engine",
    ] {
        assert!(services.contains_key(name), "no service {name}");
    }
    let mut published = Vec::new();
    for (name, s) in services {
        let name = name.as_str().unwrap();
        let image = s["image"].as_str().unwrap_or("");
        if s.get("build").is_none() {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
                "{name}: image {image:?} is not pinned"
            );
        }
        for p in s["ports"].as_sequence().into_iter().flatten() {
            let parts: Vec<&str> = p.as_str().unwrap().split(':').collect();
            published.push(parts[parts.len().saturating_sub(2)].to_string());
            if matches!(name, "backend-api" | "ml-engine") {
                assert_eq!(
                    parts[0], "127.0.0.1",
                    "{name}: the fault admin API is published on loopback only"
                );
            }
        }
        for vol in s["volumes"].as_sequence().into_iter().flatten() {
            let src = vol.as_str().unwrap().split(':').next().unwrap();
            if let Some(rel) = src.strip_prefix("./") {
                assert!(
                    stack().join(rel).exists(),
                    "{name}: mounts ./{rel}, which does not exist"
                );
            }
        }
    }
    for port in [
        "3000", "3100", "6831", "6832", "9090", "9093", "14268", "16686",
    ] {
        assert!(
            published.contains(&port.to_string()),
            "seed port {port} is not published: {published:?}"
        );
    }
    // Every variable compose reads is documented in .env.example.
    let env = std::fs::read_to_string(stack().join(".env.example")).unwrap();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("${") {
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(
            env.contains(&format!("\n{name}=")),
            "{name} is not in .env.example"
        );
        rest = &rest[i + 2..];
    }
    for secret in ["SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY"] {
        assert!(
            text.contains(&format!("environment: {secret}")),
            "{secret} must reach Alertmanager as a secret file"
        );
    }
    // No default Grafana password anywhere, least of all the seed's.
    assert!(
        text.contains("GRAFANA_ADMIN_PASSWORD:?"),
        "compose must refuse to start without a Grafana password"
    );
    for entry in walk(&stack()) {
        let body = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(
            !body.contains("admin123"),
            "{} ships the seed's default password",
            entry.display()
        );
    }
    // Retention as the seed states it.
    assert!(text.contains("--storage.tsdb.retention.time=30d"));
    let loki = std::fs::read_to_string(stack().join("loki/loki-config.yml")).unwrap();
    assert!(loki.contains("retention_period: 168h") && loki.contains("retention_enabled: true"));
}

#[test]
fn prometheus_scrapes_every_seed_target_and_jaeger_samples_everything_in_development() {
    let files = StackFiles::load(&stack()).unwrap();
    let text = serde_yaml::to_string(&files.prometheus).unwrap();
    for target in [
        "backend-api:8000",
        "ml-engine:8001",
        "node-exporter:9100",
        "cadvisor:8080",
        "postgres-exporter:9187",
        "redis-exporter:9121",
        "alertmanager:9093",
        "localhost:9090",
    ] {
        assert!(text.contains(target), "no scrape target {target}");
    }
    let jaeger: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(stack().join("jaeger/jaeger-config.yml")).unwrap(),
    )
    .unwrap();
    assert!(jaeger["receivers"]["otlp"]["protocols"]["http"].is_mapping());
    let dev: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack().join("jaeger/sampling-strategies.json")).unwrap(),
    )
    .unwrap();
    let prod: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stack().join("jaeger/sampling-strategies.production.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(dev["default_strategy"]["param"], 1.0);
    assert_eq!(prod["default_strategy"]["param"], 0.1);
    // Promtail and Alloy extract the same fields.
    let promtail = std::fs::read_to_string(stack().join("loki/promtail-config.yml")).unwrap();
    let alloy = std::fs::read_to_string(stack().join("loki/config.alloy")).unwrap();
    for field in [
        "level",
        "service",
        "tenant_id",
        "trace_id",
        "endpoint",
        "latency_ms",
    ] {
        assert!(
            promtail.contains(&format!("{field}: {field}")),
            "promtail does not extract {field}"
        );
        assert!(
            alloy.contains(&format!("= \"{field}\"")),
            "alloy does not extract {field}"
        );
    }
    serde_yaml::from_str::<serde_yaml::Value>(&promtail).expect("promtail config is YAML");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_alert_on_a_recording_rule_is_accepted() {
    let p = common::Project::new();
    p.service_down_on_a_recording_rule();
    let files = StackFiles::load(&p.path("stack")).unwrap();
    let (problems, warnings) = lint::lint_with_warnings(&files).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert!(warnings.is_empty(), "{warnings:?}");
    // A typo in the recorded name is still caught.
    p.edit(
        "stack/prometheus/alert-rules.yml",
        "job:up:min == 0",
        "job:up:mni == 0",
    );
    let files = StackFiles::load(&p.path("stack")).unwrap();
    let problems: Vec<String> = lint::lint(&files)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("alert ServiceDown queries job:up:mni")
                && p.contains("nothing in this stack produces")),
        "{problems:?}"
    );
}

/// `validate` judges the stack with ServiceDown on a recording rule
/// exactly as the shipped one: the same exit code (1: the seed's
/// HighErrorRate and HighLatencyP95 can never meet the MTTD target) and
/// the same lines; never an input error. Only ServiceDown's worst case
/// grows, by the one evaluation of the recording rule it now reads.
#[test]
fn validate_accepts_the_shipped_stack_with_an_alert_on_a_recording_rule() {
    let shipped = common::Project::new();
    let before = shipped.run(&["validate", "scenarios/service-down.yml"]);
    let p = common::Project::new();
    p.service_down_on_a_recording_rule();
    let out = p.run(&["validate", "scenarios/service-down.yml"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), before.status.code(), "{text}");
    assert_ne!(out.status.code(), Some(2), "{text}");
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.contains("check config") && !l.contains("check-config"))
            .filter(|l| !l.starts_with("  ServiceDown "))
            .map(String::from)
            .collect()
    };
    assert_eq!(lines(&text), lines(&common::text(&before)));
    assert!(
        text.lines().any(|l| l.split_whitespace().take(4).eq([
            "ServiceDown",
            "critical",
            "best",
            "1m30s"
        ])),
        "{text}"
    );
}

/// Real-world rule sets (`tests/fixtures/prometheus/rules/`, see the
/// README there) beside the shipped rules, in a stack that scrapes what
/// they read: their tools accept them, and so must the lint. What it
/// cannot check (the exporters' series the contract does not list, a
/// recording rule from a file not loaded here) is a warning.
#[test]
fn real_world_rule_sets_give_no_error() {
    let dir = tempfile::tempdir().unwrap();
    copy(&stack(), dir.path());
    let fixtures = common::repo().join("tests/fixtures/prometheus/rules");
    let mut names = Vec::new();
    for e in std::fs::read_dir(&fixtures).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // A PrometheusRule resource holds a rule file under `spec`.
        if let Some(spec) = doc.get("spec").cloned() {
            doc = spec;
        }
        std::fs::write(
            dir.path().join("prometheus").join(&name),
            serde_yaml::to_string(&doc).unwrap(),
        )
        .unwrap();
        names.push(name);
    }
    assert_eq!(names.len(), 4, "{names:?}");
    let prom = dir.path().join("prometheus/prometheus.yml");
    let listed: String = names.iter().map(|n| format!("\n  - {n}")).collect();
    let text = std::fs::read_to_string(&prom).unwrap().replacen(
        "  - alert-rules.yml",
        &format!("  - alert-rules.yml{listed}"),
        1,
    );
    std::fs::write(&prom, text).unwrap();
    let files = StackFiles::load(dir.path()).unwrap();
    assert!(files.rules.len() > 90, "{}", files.rules.len());
    let (problems, warnings) = lint::lint_with_warnings(&files).unwrap();
    assert!(problems.is_empty(), "{problems:#?}");
    let all = warnings.join("\n");
    assert!(all.contains("scrape job node-exporter"), "{all}");
    assert!(
        all.contains("cluster_namespace_job_route:loki_request_duration_seconds:99quantile"),
        "{all}"
    );
}

#[test]
fn a_metric_nothing_produces_is_an_error_naming_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    copy(&stack(), dir.path());
    let rules = dir.path().join("prometheus/alert-rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(text.contains("http_requests_total"));
    std::fs::write(
        &rules,
        text.replacen("http_requests_total", "http_requsts_total", 1),
    )
    .unwrap();
    let files = StackFiles::load(dir.path()).unwrap();
    let problems: Vec<String> = lint::lint(&files)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("http_requsts_total")
                && p.contains("did you mean http_requests_total?")),
        "{problems:?}"
    );
}

/// `validate` on the shipped service-down scenario with one edit to the
/// business dashboard: exit 2, and the lines that name the cause.
fn validate_with_dashboard_edit(from: &str, to: &str, count: usize) -> String {
    let p = common::Project::new();
    let path = p.path("stack/grafana/dashboards/business-metrics.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), count, "{from:?}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    let out = p.run(&["validate", "scenarios/service-down.yml"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    text
}

#[test]
fn a_misspelled_metric_in_a_variables_query_names_the_variable() {
    let text = validate_with_dashboard_edit(
        "label_values(api_requests_total, tenant_id)\",",
        "label_values(api_request_total, tenant_id)\",",
        2,
    );
    assert!(
        text.contains(
            "variable $tenant queries api_request_total, which nothing in this stack produces"
        ),
        "{text}"
    );
    assert!(text.contains("did you mean api_requests_total?"), "{text}");
}

#[test]
fn a_misspelled_label_in_a_variables_query_names_the_variable() {
    let text = validate_with_dashboard_edit(
        "label_values(api_requests_total, tenant_id)\",",
        "label_values(api_requests_total, tenant)\",",
        2,
    );
    assert!(
        text.contains(
            "variable $tenant: by tenant, a label no series it reads has; did you mean tenant_id?"
        ),
        "{text}"
    );
}

#[test]
fn a_variable_removed_while_panels_use_it_is_broken() {
    let text = validate_with_dashboard_edit("\"name\": \"tenant\"", "\"name\": \"customer\"", 1);
    assert!(
        text.contains(
            "uses $tenant, which no variable of the dashboard defines (it has $customer)"
        ),
        "{text}"
    );
}

#[test]
fn a_misspelled_grouping_label_is_broken_on_the_tenant_panels() {
    let text = validate_with_dashboard_edit(
        "count(count by (tenant_id) (api_requests_total))",
        "count(count by (tenant) (api_requests_total))",
        1,
    );
    assert!(
        text.contains("by tenant, a label no series it reads has; did you mean tenant_id?"),
        "{text}"
    );
    let text = validate_with_dashboard_edit("sum by (tenant_id) (", "sum by (tenant_idd) (", 3);
    assert!(
        text.contains("by tenant_idd, a label no series it reads has"),
        "{text}"
    );
}

/// `validate` on the shipped service-down scenario with `annotation` added
/// to the business dashboard's annotation queries; (exit code, output).
fn validate_with_annotation(annotation: serde_json::Value) -> (i32, String) {
    let p = common::Project::new();
    let path = p.path("stack/grafana/dashboards/business-metrics.json");
    let mut d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    d["annotations"]["list"]
        .as_array_mut()
        .unwrap()
        .push(annotation);
    std::fs::write(&path, serde_json::to_string_pretty(&d).unwrap()).unwrap();
    let out = p.run(&["validate", "scenarios/service-down.yml"]);
    (out.status.code().unwrap(), common::text(&out))
}

#[test]
fn annotation_queries_are_checked_like_panels() {
    let prom = serde_json::json!({"type": "prometheus", "uid": "prometheus"});
    // A well-formed one adds no problem (the shipped stack's only finding
    // is the seed's slow rules, exit 1).
    let (code, text) = validate_with_annotation(serde_json::json!({
        "datasource": prom, "enable": true, "name": "Errors",
        "expr": "sum by (service) (rate(http_requests_total{status=~\"5..\"}[$__rate_interval])) > 0",
        "step": "60s", "titleFormat": "5xx on {{service}}", "tagKeys": "service"
    }));
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("annotation"), "{text}");
    // A misspelled metric, a label no series has, a deleted variable.
    let (code, text) = validate_with_annotation(serde_json::json!({
        "datasource": prom, "enable": true, "name": "Deploys",
        "expr": "changes(api_request_total{tenant_id=~\"$customer\"}[5m]) > 0",
        "tagKeys": "tenant,service"
    }));
    assert_eq!(code, 2, "{text}");
    for want in [
        "annotation \"Deploys\" queries api_request_total, which nothing in this stack produces",
        "did you mean api_requests_total?",
        "annotation \"Deploys\" target Anno uses $customer, which no variable of the dashboard defines",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let (code, text) = validate_with_annotation(serde_json::json!({
        "datasource": prom, "enable": true, "name": "By tenant",
        "target": {"expr": "sum by (tenant_id) (api_requests_total) > 0", "refId": "Anno"},
        "titleFormat": "{{tennant_id}}"
    }));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("annotation \"By tenant\""), "{text}");
    assert!(text.contains("tennant_id"), "{text}");
    // A disabled one is not run by Grafana, so not checked.
    let (code, text) = validate_with_annotation(serde_json::json!({
        "datasource": prom, "enable": false, "name": "Off", "expr": "nothing_total > 0"
    }));
    assert_eq!(code, 1, "{text}");
}

#[test]
fn a_library_panel_reference_is_not_a_panel_without_a_query() {
    let p = common::Project::new();
    let path = p.path("stack/grafana/dashboards/business-metrics.json");
    let mut d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    d["panels"].as_array_mut().unwrap().push(serde_json::json!({
        "id": 99, "gridPos": {"h": 8, "w": 12, "x": 0, "y": 40},
        "libraryPanel": {"uid": "team-errors", "name": "Team errors"}
    }));
    std::fs::write(&path, serde_json::to_string_pretty(&d).unwrap()).unwrap();
    let out = p.run(&["validate", "scenarios/service-down.yml"]);
    let text = common::text(&out);
    // Its queries live in Grafana's database: nothing to refuse (the
    // shipped stack's only finding is the seed's slow rules, exit 1).
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(!text.contains("has no query"), "{text}");
}

#[test]
fn loki_queries_of_dashboards_are_checked_as_loki_parses_them() {
    // The Loki mixin's operational dashboard: every LogQL query (through a
    // datasource variable, with $__auto) parses after substitution.
    let loki =
        load_dashboard(&repo().join("tests/fixtures/grafana/loki-mixin-loki-operational.json"))
            .unwrap();
    let sources: Vec<zeta_bench::stackfiles::grafana::provisioning::Datasource> = [
        "{name: prometheus, uid: prometheus, type: prometheus, isDefault: true}",
        "{name: loki, uid: loki, type: loki}",
    ]
    .iter()
    .map(|y| serde_yaml::from_str(y).unwrap())
    .collect();
    let problems = lint::check_dashboards(std::slice::from_ref(&loki), &sources);
    let logql: Vec<_> = problems
        .iter()
        .filter(|p| p.what.contains("does not parse"))
        .collect();
    assert!(logql.is_empty(), "{logql:?}");
    assert!(loki.targets().any(|(_, t)| t.expr.contains("| logfmt")));

    // A broken one in the shipped stack is an input error naming the panel.
    let p = common::Project::new();
    let path = p.path("stack/grafana/dashboards/business-metrics.json");
    let mut d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let loki_panel = |title: &str, expr: &str| {
        serde_json::json!({"id": 90, "type": "logs", "title": title,
            "gridPos": {"h": 8, "w": 24, "x": 0, "y": 50},
            "datasource": {"type": "loki", "uid": "loki"},
            "targets": [{"refId": "A", "expr": expr}]})
    };
    d["panels"].as_array_mut().unwrap().extend([
        loki_panel("Errors", r#"sum by (level) (count_over_time({service="backend-api", tenant_id=~"$tenant"} | json [$__auto]))"#),
        loki_panel("Broken", r#"{service="backend-api"} | jsn"#),
        loki_panel("Misspelled", r#"{servce="backend-api"} |= "error""#),
    ]);
    std::fs::write(&path, serde_json::to_string_pretty(&d).unwrap()).unwrap();
    let out = p.run(&["validate", "scenarios/service-down.yml"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("panel \"Broken\" (id 90) target A: LogQL does not parse after substitution"),
        "{text}"
    );
    assert!(
        text.contains("unknown stage or label filter \"jsn\""),
        "{text}"
    );
    // A label no stream carries (the shippers set level, service,
    // tenant_id, endpoint, …): the panel selects nothing.
    assert!(
        text.contains("panel \"Misspelled\" (id 90) target A: stream selector label \"servce\": no log stream carries it; did you mean service?"),
        "{text}"
    );
    assert!(!text.contains("panel \"Errors\""), "{text}");
}
