//! Attribution against the real Alertmanager: the shipped
//! `alertmanager.yml`, rendered as a run renders it (tap webhook, Slack
//! `callback_id`), sends to the harness's receivers. One group holds two
//! ServiceDown instances; when one resolves, the next Slack message (whose
//! title still says FIRING) carries one instance firing and the other
//! resolved, and each is counted as it is. PagerDuty's events are matched to
//! the same group by their `dedup_key`.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use zeta_bench::observe::alertmanager::destination::Destination;
use zeta_bench::observe::alertmanager::receiver::{
    Attribution, Notification, NotificationStatus, Receivers,
};
use zeta_bench::stack::binaries::{Binaries, find};
use zeta_bench::stackfiles::StackFiles;
use zeta_bench::stackfiles::render::{AddressMap, RenderInput, render};

/// Kills Alertmanager however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alert(job: &str, ends_in: chrono::Duration) -> serde_json::Value {
    serde_json::json!({
        "labels": {"alertname": "ServiceDown", "service": "backend-api", "severity": "critical", "job": job},
        "endsAt": (chrono::Utc::now() + ends_in).to_rfc3339(),
    })
}

/// Wait, bounded, until some notification satisfies `pred`.
async fn wait_for(r: &Receivers, what: &str, pred: impl Fn(&Notification) -> bool) -> Notification {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(n) = r.notifications().into_iter().find(|n| pred(n)) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "waited 30s for {what}; got {:#?}",
            r.notifications()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn jobs(n: &Notification) -> Vec<(String, NotificationStatus)> {
    let mut v: Vec<_> = n
        .alerts
        .iter()
        .map(|a| (a.labels["job"].clone(), a.status))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: needs the real stack; scripts/test.sh runs it (cargo test -- --ignored)"]
async fn a_group_with_a_firing_and_a_resolved_instance_is_attributed_per_instance() {
    needs!(common::stack());
    let am_bin = find(
        &Binaries::from_env().unwrap(),
        "alertmanager",
        &["prometheus-alertmanager", "alertmanager"],
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let receivers = Receivers::new();
    let (base, _task) = receivers.serve(cancel.clone()).await.unwrap();
    let files = StackFiles::load(&common::repo().join("stack")).unwrap();
    let out = tempfile::tempdir().unwrap();
    // 10×: group_wait 3s, group_interval 6s.
    let rendered = render(&RenderInput {
        files: &files,
        time_scale: 10.0,
        addresses: &AddressMap::new(),
        receiver_base: &base,
        out_dir: out.path(),
    })
    .unwrap();
    let port = zeta_bench::stack::process::free_port().unwrap();
    let am = Killed(
        Command::new(&am_bin)
            .arg(format!(
                "--config.file={}",
                rendered.alertmanager_config.display()
            ))
            .arg(format!(
                "--storage.path={}",
                out.path().join("am").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http
        .get(format!("{url}/-/ready"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "Alertmanager not ready in 20s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let post = |alerts: serde_json::Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .post(format!("{url}/api/v2/alerts"))
                .json(&alerts)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
        }
    };
    let hour = chrono::Duration::hours(1);
    post(serde_json::json!([
        alert("backend-api", hour),
        alert("other", hour)
    ]))
    .await;
    let slack = Destination::Slack("#zeta-critical-alerts".into());
    let both = [
        ("backend-api".to_string(), NotificationStatus::Firing),
        ("other".to_string(), NotificationStatus::Firing),
    ];
    let first = wait_for(&receivers, "a Slack message with both firing", |n| {
        n.destination == slack && jobs(n) == both
    })
    .await;
    assert_eq!(first.attribution, Attribution::CallbackId);
    let pd = wait_for(&receivers, "a PagerDuty event with both firing", |n| {
        n.destination == Destination::PagerDuty && jobs(n) == both
    })
    .await;
    assert_eq!(pd.attribution, Attribution::GroupKey);

    // One instance resolves; the other keeps firing.
    post(serde_json::json!([
        alert("other", chrono::Duration::zero()),
        alert("backend-api", hour)
    ]))
    .await;
    let mixed = [
        ("backend-api".to_string(), NotificationStatus::Firing),
        ("other".to_string(), NotificationStatus::Resolved),
    ];
    let n = wait_for(
        &receivers,
        "a Slack message with one firing, one resolved",
        |n| n.destination == slack && jobs(n) == mixed,
    )
    .await;
    assert_eq!(n.status, NotificationStatus::Firing, "{n:#?}");
    let backend = [("job".to_string(), "backend-api".to_string())];
    let other = [("job".to_string(), "other".to_string())];
    assert!(n.carries("ServiceDown", &backend, NotificationStatus::Firing));
    assert!(n.carries("ServiceDown", &other, NotificationStatus::Resolved));
    assert!(!n.carries("ServiceDown", &other, NotificationStatus::Firing));
    wait_for(&receivers, "the PagerDuty event of that flush", |n| {
        n.destination == Destination::PagerDuty && jobs(n) == mixed
    })
    .await;
    assert!(
        receivers
            .notifications()
            .iter()
            .all(|n| !matches!(n.attribution, Attribution::Unattributed(_))),
        "{:#?}",
        receivers.notifications()
    );
    drop(am);
    cancel.cancel();
}
