//! `zeta-bench load`: the load engine against any HTTP service, without a
//! stack, for benchmarks and comparisons with wrk and oha.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::engine::{LoadOptions, run as run_engine};
use crate::input::units::{parse_duration, parse_rate};
use crate::scenario::plan::{Plan, PlannedPhase};
use crate::scenario::{Arrivals, MixEntry, RequestTemplate, TenantDistribution, Tenants};

pub struct LoadArgs {
    pub target: String,
    pub rate: String,
    pub duration: String,
    pub requests: Vec<String>,
    pub poisson: bool,
    pub tenants: u32,
    pub users: u32,
    pub max_in_flight: u32,
    pub timeout: String,
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Run(#[from] anyhow::Error),
}

pub async fn run(a: LoadArgs) -> Result<(), LoadError> {
    let rate = parse_rate(&a.rate).ok_or_else(|| {
        LoadError::Input(format!(
            "--rate: expected a rate like \"5000/s\", found {:?}",
            a.rate
        ))
    })?;
    let duration = parse_duration(&a.duration).ok_or_else(|| {
        LoadError::Input(format!(
            "--duration: expected a duration like \"30s\", found {:?}",
            a.duration
        ))
    })?;
    let timeout = parse_duration(&a.timeout).ok_or_else(|| {
        LoadError::Input(format!(
            "--timeout: expected a duration like \"10s\", found {:?}",
            a.timeout
        ))
    })?;
    if !a.target.starts_with("http://") && !a.target.starts_with("https://") {
        return Err(LoadError::Input(format!(
            "--target: expected a URL like \"http://127.0.0.1:8000\", found {:?}",
            a.target
        )));
    }
    let mix: Vec<MixEntry> = a
        .requests
        .iter()
        .map(|r| {
            RequestTemplate::parse(r, None)
                .map(|request| MixEntry { request, weight: 1 })
                .map_err(|e| LoadError::Input(format!("--request {r:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let plan = Plan {
        time_scale: 1.0,
        phases: vec![PlannedPhase {
            name: "load".into(),
            start: Duration::ZERO,
            duration,
            rate_per_second: rate.per_second,
            ramp_to: None,
            steps: None,
            arrivals: if a.poisson {
                Arrivals::Poisson
            } else {
                Arrivals::Constant
            },
            surge: None,
        }],
        faults: Vec::new(),
        load_end: duration,
    };
    let tenants = Tenants {
        count: a.tenants.max(1),
        distribution: TenantDistribution::Uniform,
        seed: 42,
        users: a.users.max(1),
    };
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        crate::cli::shutdown_signal().await;
        c.cancel();
    });
    let report = run_engine(
        LoadOptions {
            base_url: a.target.clone(),
            plan: &plan,
            mix: &mix,
            tenants: &tenants,
            max_in_flight: a.max_in_flight,
            timeout,
            trace_cap: 0,
            progress_every: None,
        },
        tokio::time::Instant::now(),
        cancel,
    )
    .await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    let secs = duration.as_secs_f64();
    let errors = report.total_errors;
    println!(
        "target {}  planned {:.0}/s for {}",
        a.target, rate.per_second, a.duration
    );
    println!(
        "sent {}  achieved {:.1}/s ({:+.2}% of plan)  dropped {}  errors {}",
        report.total_sent,
        report.total_sent as f64 / secs,
        (report.total_sent as f64 / secs / rate.per_second - 1.0) * 100.0,
        report.total_dropped,
        errors
    );
    println!(
        "send lateness  p50 {:.3}ms  p99 {:.3}ms  max {:.3}ms",
        report.send_lateness.p50_ms, report.send_lateness.p99_ms, report.send_lateness.max_ms
    );
    for e in &report.endpoints {
        println!(
            "{}  latency from intended send: p50 {:.3}ms p95 {:.3}ms p99 {:.3}ms max {:.3}ms | from actual send: p99 {:.3}ms  {}",
            e.endpoint,
            e.latency.p50_ms,
            e.latency.p95_ms,
            e.latency.p99_ms,
            e.latency.max_ms,
            e.latency_uncorrected.p99_ms,
            e.by_class
                .iter()
                .map(|(c, n)| format!("{c}:{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}
