//! The truth judge on hand-made loads and panel answers: each class of
//! wrong panel fails with expected and found, the right panel passes.

use std::collections::BTreeMap;

use super::*;
use crate::load::record::SecondPoint;
use crate::load::record::{EndpointStats, RequestCount};
use crate::observe::grafana::truth::{PanelTruth, TruthSeries};

const START: i64 = 1_700_000_000;

fn slo() -> CorrectnessSlo {
    CorrectnessSlo {
        tolerance: 0.1,
        required: true,
    }
}

/// 60 s of load: 3 endpoints, 4 tenants, all 200, 100 requests per
/// (endpoint, tenant) except tenant_004 on /train, which got 404s.
fn load() -> LoadReport {
    let mut requests = Vec::new();
    for e in [
        "GET /api/v1/recommendations",
        "POST /api/v1/events",
        "POST /api/v1/train",
    ] {
        for t in 1..=4 {
            let status = if t == 4 && e.ends_with("train") {
                404
            } else {
                200
            };
            requests.push(RequestCount {
                endpoint: e.into(),
                tenant: format!("tenant_{t:03}"),
                status: Some(status),
                count: 100,
            });
        }
    }
    LoadReport {
        total_sent: 1200,
        started_at: chrono::DateTime::from_timestamp(START, 0),
        timeline: (0..60)
            .map(|t| SecondPoint {
                t,
                requests: 20,
                errors: 0,
                p95_ms: 1.0,
            })
            .collect(),
        requests,
        ..Default::default()
    }
}

fn ground(load: &LoadReport) -> Ground<'_> {
    Ground {
        load: Some(load),
        scrape_s: 1.0,
        faults: 0,
        declared: 1,
    }
}

fn panel(shows: &str, by: &[&str], window: Option<f64>, series: Vec<TruthSeries>) -> PanelTruth {
    PanelTruth {
        dashboard: "API".into(),
        panel: "P".into(),
        legend: None,
        shows: shows.into(),
        by: by.iter().map(|s| s.to_string()).collect(),
        quantile: None,
        expr: "x".into(),
        at: (START + 70) as f64,
        window_s: window,
        series,
        before_first_scrape: Vec::new(),
        buckets: Vec::new(),
        error: None,
    }
}

fn series(labels: &[(&str, &str)], value: f64) -> TruthSeries {
    TruthSeries {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        value,
    }
}

fn by_endpoint(per_endpoint: [f64; 3]) -> Vec<TruthSeries> {
    ["/api/v1/recommendations", "/api/v1/events", "/api/v1/train"]
        .iter()
        .zip(per_endpoint)
        .map(|(e, v)| series(&[("endpoint", e)], v))
        .collect()
}

#[test]
fn a_request_rate_by_endpoint_that_matches_the_load_passes() {
    let l = load();
    // 400 requests per endpoint over a 5m window: 1.333 req/s.
    let mut s = by_endpoint([400.0 / 300.0, 400.0 / 300.0, 300.0 / 300.0]);
    s.push(series(&[("endpoint", "/v1/recommend")], 7.0));
    let r = judge(
        &slo(),
        &[panel("request_rate", &["endpoint"], Some(300.0), s)],
        &ground(&l),
    );
    assert_eq!(r.status, Status::Pass, "{r:?}");
    assert!(r.measured.unwrap().contains("1 of 1 panel queries"));
    assert!(
        r.details
            .iter()
            .any(|d| d.contains("1 series for traffic the load did not send"))
    );
}

#[test]
fn avg_in_place_of_sum_fails_with_expected_and_found() {
    let l = load();
    // avg over the four tenants' series: a quarter of the sum.
    let s = by_endpoint([100.0 / 300.0, 100.0 / 300.0, 100.0 / 300.0]);
    let r = judge(
        &slo(),
        &[panel("request_rate", &["endpoint"], Some(300.0), s)],
        &ground(&l),
    );
    assert_eq!(r.status, Status::Fail);
    let d = &r.details[0];
    assert!(
        d.contains("endpoint=\"/api/v1/recommendations\": expected 1.333 req/s")
            && d.contains("found 0.333"),
        "{d}"
    );
}

#[test]
fn a_rate_window_typo_fails() {
    let l = load();
    // rate(…[5s]) evaluated 10 s after the load: nothing in the window.
    let s = by_endpoint([0.0, 0.0, 0.0]);
    let r = judge(
        &slo(),
        &[panel("request_rate", &["endpoint"], Some(5.0), s.clone())],
        &ground(&l),
    );
    // The window really was empty: the panel is right.
    assert_eq!(r.status, Status::Pass, "{r:?}");
    // The same answer for a 5m window is wrong.
    let r = judge(
        &slo(),
        &[panel("request_rate", &["endpoint"], Some(300.0), s)],
        &ground(&l),
    );
    assert_eq!(r.status, Status::Fail);
}

#[test]
fn a_misspelled_grouping_label_fails_on_cardinality() {
    let l = load();
    // `by (tenant)`: one series, without tenant_id.
    let s = vec![series(&[], 1200.0 / 300.0)];
    let r = judge(
        &slo(),
        &[panel("request_rate", &["tenant_id"], Some(300.0), s)],
        &ground(&l),
    );
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.details[0].contains("expected 4 series by (tenant_id)")
            && r.details[0].contains("found 1 series, 1 of them without tenant_id"),
        "{}",
        r.details[0]
    );
}

#[test]
fn a_missing_group_fails() {
    let l = load();
    let s = by_endpoint([400.0, 400.0, 300.0])
        .into_iter()
        .take(2)
        .collect();
    let r = judge(
        &slo(),
        &[panel("request_count", &["endpoint"], Some(3600.0), s)],
        &ground(&l),
    );
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.details[0].contains("none for endpoint=\"/api/v1/train\""),
        "{:?}",
        r.details
    );
}

#[test]
fn requests_counted_before_their_series_first_scrape_lower_that_groups_low_end_only() {
    let l = load();
    // tenant_002's series were born in a burst (a service answering its
    // backlog after a freeze) holding 100 requests at their first scrape.
    let calls = |t2: f64| {
        vec![
            series(&[("tenant_id", "tenant_001")], 300.0),
            series(&[("tenant_id", "tenant_002")], t2),
            series(&[("tenant_id", "tenant_003")], 300.0),
            series(&[("tenant_id", "tenant_004")], 200.0),
        ]
    };
    let judged = |first: &[(&str, f64)]| {
        let mut p = panel("request_count", &["tenant_id"], Some(3600.0), calls(200.0));
        p.before_first_scrape = first
            .iter()
            .map(|(t, v)| series(&[("tenant_id", t)], *v))
            .collect();
        judge(&slo(), &[p], &ground(&l))
    };
    assert_eq!(judged(&[("tenant_002", 100.0)]).status, Status::Pass);
    let r = judged(&[("tenant_003", 100.0)]);
    assert_eq!(r.status, Status::Fail, "another group's burst: {r:?}");
    assert!(r.details[0].contains("tenant_id=\"tenant_002\""), "{r:?}");
    assert_eq!(judged(&[]).status, Status::Fail, "one per series only");
}

#[test]
fn requests_answered_other_than_2xx_widen_the_interval() {
    let l = load();
    // tenant_004's 100 404s on /train may or may not be counted.
    for calls in [200.0, 300.0] {
        let s = vec![
            series(&[("tenant_id", "tenant_001")], 300.0),
            series(&[("tenant_id", "tenant_002")], 300.0),
            series(&[("tenant_id", "tenant_003")], 300.0),
            series(&[("tenant_id", "tenant_004")], calls),
        ];
        let r = judge(
            &slo(),
            &[panel("request_count", &["tenant_id"], Some(3600.0), s)],
            &ground(&l),
        );
        assert_eq!(r.status, Status::Pass, "{calls}: {r:?}");
    }
}

#[test]
fn the_tenant_count_is_exact() {
    let l = load();
    let ok = judge(
        &slo(),
        &[panel("active_tenants", &[], None, vec![series(&[], 4.0)])],
        &ground(&l),
    );
    assert_eq!(ok.status, Status::Pass, "{ok:?}");
    // count(count by (tenant) (…)): every series lacks the label, one group.
    let r = judge(
        &slo(),
        &[panel("active_tenants", &[], None, vec![series(&[], 1.0)])],
        &ground(&l),
    );
    assert_eq!(r.status, Status::Fail);
    assert!(
        r.details[0].contains("expected 4 (tenants") && r.details[0].contains("found 1"),
        "{:?}",
        r.details
    );
}

#[test]
fn histogram_quantile_interpolates_as_prometheus_does() {
    let b = [0.005, 0.01, 0.025];
    // All 100 in the first bucket.
    assert_eq!(
        histogram_quantile(0.5, &b, &[100, 100, 100], 100),
        Some(0.0025)
    );
    assert!((histogram_quantile(0.95, &b, &[100, 100, 100], 100).unwrap() - 0.00475).abs() < 1e-12);
    // Half above the last finite bound: its value.
    assert_eq!(histogram_quantile(0.9, &b, &[10, 20, 50], 100), Some(0.025));
    assert_eq!(histogram_quantile(0.5, &b, &[0, 0, 0], 0), None);
}

fn latency_load() -> LoadReport {
    let mut l = load();
    let mut h = crate::load::record::histogram();
    for i in 0..1000u64 {
        // 1 ms .. 4 ms: all in the first bucket of 5 ms.
        h.record(1000 + i * 3).unwrap();
    }
    l.endpoints = vec![EndpointStats {
        endpoint: "GET /api/v1/recommendations".into(),
        requests: 1000,
        dropped: 0,
        by_class: Default::default(),
        latency: Default::default(),
        latency_uncorrected: Default::default(),
        latency_histogram: Some(crate::load::record::encode(&h)),
    }];
    l
}

fn latency_panel(q: f64, value: f64) -> PanelTruth {
    let mut p = panel(
        "latency_quantile",
        &["endpoint"],
        Some(300.0),
        vec![series(&[("endpoint", "/api/v1/recommendations")], value)],
    );
    p.quantile = Some(q);
    p.buckets = vec![0.005, 0.01, 0.025, 0.05];
    p
}

#[test]
fn a_latency_panel_reading_the_wrong_quantile_fails() {
    let l = latency_load();
    let right = judge(&slo(), &[latency_panel(0.95, 0.00475)], &ground(&l));
    assert_eq!(right.status, Status::Pass, "{right:?}");
    // histogram_quantile(0.5, …) under a p95 legend.
    let wrong = judge(&slo(), &[latency_panel(0.95, 0.0025)], &ground(&l));
    assert_eq!(wrong.status, Status::Fail);
    assert!(
        wrong.details[0].contains("expected 0.0047 s") && wrong.details[0].contains("found 0.003"),
        "{:?}",
        wrong.details
    );
    // Milliseconds shown as seconds.
    let ms = judge(&slo(), &[latency_panel(0.95, 4.75)], &ground(&l));
    assert_eq!(ms.status, Status::Fail);
}

#[test]
fn without_truth_file_load_or_answers_it_is_not_measured() {
    let l = load();
    let mut g = ground(&l);
    g.declared = 0;
    assert_eq!(judge(&slo(), &[], &g).status, Status::NotMeasured);
    let g = Ground {
        load: None,
        ..ground(&l)
    };
    assert_eq!(judge(&slo(), &[], &g).status, Status::NotMeasured);
    let mut p = panel("request_rate", &["endpoint"], Some(300.0), vec![]);
    p.error = Some("HTTP 503".into());
    let r = judge(&slo(), &[p], &ground(&l));
    assert_eq!(r.status, Status::NotMeasured);
    assert!(r.details.iter().any(|d| d.contains("HTTP 503")), "{r:?}");
}

#[test]
fn load_paths_match_route_templates() {
    assert_eq!(
        path_of("GET /api/v1/recommendations?user_id={user}"),
        "/api/v1/recommendations"
    );
    assert!(route_matches("/v1/jobs/{job_id}", "/v1/jobs/{job}"));
    assert!(route_matches("/v1/jobs/:id", "/v1/jobs/7"));
    assert!(!route_matches("/v1/jobs", "/v1/jobs/7"));
}

#[test]
fn latency_panels_of_a_run_with_faults_are_listed_not_judged() {
    let l = latency_load();
    let g = Ground {
        faults: 1,
        ..ground(&l)
    };
    let r = judge(&slo(), &[latency_panel(0.95, 0.0025)], &g);
    assert_eq!(r.status, Status::NotMeasured, "{r:?}");
    assert!(
        r.details[0].contains("not checked: the run injected 1 fault(s)"),
        "{r:?}"
    );
}

/// `latency_load` over 600 s, its slowest second's p95 `stall` ms at
/// t = 100 and 1 ms elsewhere, with a p95 panel over the last 300 s.
fn long_latency_run(stall: f64, value: f64) -> (LoadReport, PanelTruth) {
    let mut l = latency_load();
    l.timeline = (0..600)
        .map(|t| SecondPoint {
            t,
            requests: 20,
            errors: 0,
            p95_ms: if t == 100 { stall } else { 1.0 },
        })
        .collect();
    let mut p = latency_panel(0.95, value);
    p.at = (START + 605) as f64;
    (l, p)
}

#[test]
fn a_latency_panel_over_part_of_an_unsteady_run_is_listed_not_judged() {
    // A stall before the window: the run's quantiles are not the window's.
    let (l, p) = long_latency_run(500.0, 0.0025);
    let r = judge(&slo(), &[p], &ground(&l));
    assert_eq!(r.status, Status::NotMeasured, "{r:?}");
    assert!(
        r.details[0].contains("not steady") && r.details[0].contains("500 ms outside"),
        "{r:?}"
    );
    // A steady long run is still judged: the wrong quantile fails.
    let (l, p) = long_latency_run(1.0, 0.0025);
    assert_eq!(judge(&slo(), &[p], &ground(&l)).status, Status::Fail);
    let (l, p) = long_latency_run(1.0, 0.00475);
    assert_eq!(judge(&slo(), &[p], &ground(&l)).status, Status::Pass);
}
