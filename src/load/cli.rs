//! `zeta-bench load`: the load engine against any HTTP service, without a
//! stack: for benchmarks, comparisons with wrk and oha, and sharded load
//! from several machines (`--shard i/N`, merged by `zeta-bench report`).
//!
//! The schedule comes from a scenario file (its phases, mix and tenants;
//! `target:` or `--target` names the service) or from flags for one
//! constant or Poisson phase.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::engine::{Live, LoadOptions, run as run_engine};
use super::record::{LoadReport, Shard};
use crate::input::units::parse_rate;
use crate::scenario::plan::{Plan, PlannedPhase};
use crate::scenario::{Arrivals, MixEntry, RequestTemplate, TenantDistribution, Tenants};

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// A scenario whose phases, mix and tenants make the schedule
    /// (instead of --rate/--duration/--request).
    pub scenario: Option<PathBuf>,
    /// Base URL, e.g. http://127.0.0.1:8000 (overrides the scenario's
    /// `target:`).
    #[arg(long)]
    pub target: Option<String>,
    /// Arrival rate, e.g. 5000/s.
    #[arg(long, default_value = "100/s")]
    pub rate: String,
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Request template(s), e.g. "GET /api/v1/recommendations?user_id={user}&k=10".
    #[arg(long = "request", default_value = "GET /")]
    pub requests: Vec<String>,
    #[arg(long, default_value_t = false)]
    pub poisson: bool,
    #[arg(long, default_value_t = 50)]
    pub tenants: u32,
    #[arg(long, default_value_t = 20)]
    pub users: u32,
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: u32,
    #[arg(long, default_value = "10s")]
    pub timeout: String,
    /// Send only the i-th of N shares of the schedule (1-based), e.g.
    /// `--shard 2/4`; merge the N reports with `zeta-bench report`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Write the report, with mergeable histograms, to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the full load report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: crate::http::tls::TlsArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Run(#[from] anyhow::Error),
}

/// The schedule to send: plan, mix, tenants, limits, target.
struct Schedule {
    target: String,
    plan: Plan,
    mix: Vec<MixEntry>,
    tenants: Tenants,
    max_in_flight: u32,
    timeout: Duration,
}

fn input<T>(flag: &str, expected: &str, found: &str, v: Option<T>) -> Result<T, LoadError> {
    v.ok_or_else(|| LoadError::Input(format!("{flag}: expected {expected}, found {found:?}")))
}

fn check_target(t: &str) -> Result<(), LoadError> {
    crate::scenario::check_target_url(t).map_err(|e| LoadError::Input(format!("--target: {e}")))
}

/// The flags' numbers, in the scenario decoder's ranges and words.
fn check_flag_numbers(a: &LoadArgs, rate: f64, engines: u32) -> Result<(), LoadError> {
    let bad = |flag: &str, e: String| Err(LoadError::Input(format!("{flag}: {e}")));
    if !(rate > 0.0 && rate.is_finite()) {
        return bad(
            "--rate",
            format!("expected a rate above 0/s, found {}", a.rate),
        );
    }
    let per_engine = rate / f64::from(engines.max(1));
    if per_engine > crate::input::units::MAX_ENGINE_RATE {
        return bad(
            "--rate",
            format!(
                "{rate:.0} requests/s is more than one load engine sends ({:.0}/s); split it over engines with `zeta-bench load --shard i/N` (N ≥ {})",
                crate::input::units::MAX_ENGINE_RATE,
                (rate / crate::input::units::MAX_ENGINE_RATE).ceil()
            ),
        );
    }
    if a.max_in_flight == 0 {
        return bad("--max-in-flight", "expected at least 1, found 0".into());
    }
    if !(1..=100_000).contains(&a.tenants) {
        return bad(
            "--tenants",
            format!("expected 1 to 100000 tenants, found {}", a.tenants),
        );
    }
    if !(1..=1_000_000).contains(&a.users) {
        return bad(
            "--users",
            format!("expected 1 to 1000000 users per tenant, found {}", a.users),
        );
    }
    Ok(())
}

/// A duration flag: within the scenario's limits and above 0.
fn duration_flag(flag: &str, text: &str) -> Result<Duration, LoadError> {
    match crate::input::units::parse_duration_checked(text) {
        Ok(d) if d.is_zero() => Err(LoadError::Input(format!(
            "{flag}: expected a duration above 0, found 0"
        ))),
        Ok(d) => Ok(d),
        Err(e) => Err(LoadError::Input(format!("{flag}: {e}"))),
    }
}

fn from_scenario(
    path: &std::path::Path,
    a: &LoadArgs,
    engines: u32,
) -> Result<Schedule, LoadError> {
    let sc = crate::scenario::load_scenario(path).map_err(|d| LoadError::Input(d.to_string()))?;
    crate::scenario::plan::check_engine_rate(&sc, engines)
        .map_err(|d| LoadError::Input(d.to_string()))?;
    let plan = crate::scenario::plan::plan(&sc, sc.stack.time_scale.clone(), None)
        .map_err(|d| LoadError::Input(d.to_string()))?;
    let target = match (&a.target, &sc.target) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => t.value.clone(),
        (None, None) => {
            return Err(LoadError::Input(format!(
                "{}: the scenario has no `target:`; give --target URL",
                path.display()
            )));
        }
    };
    check_target(&target)?;
    Ok(Schedule {
        target,
        plan,
        mix: sc.load.mix.clone(),
        tenants: sc.tenants.clone(),
        max_in_flight: sc.load.max_in_flight,
        timeout: sc.load.timeout,
    })
}

fn from_flags(a: &LoadArgs, engines: u32) -> Result<Schedule, LoadError> {
    let rate = input(
        "--rate",
        "a rate like \"5000/s\"",
        &a.rate,
        parse_rate(&a.rate),
    )?;
    check_flag_numbers(a, rate.per_second, engines)?;
    let duration = duration_flag("--duration", &a.duration)?;
    let timeout = duration_flag("--timeout", &a.timeout)?;
    let target = a
        .target
        .clone()
        .ok_or_else(|| LoadError::Input("--target: required without a scenario file".into()))?;
    check_target(&target)?;
    let mix: Vec<MixEntry> = a
        .requests
        .iter()
        .map(|r| {
            RequestTemplate::parse(r, None)
                .map(|request| MixEntry { request, weight: 1 })
                .map_err(|e| LoadError::Input(format!("--request {r:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Schedule {
        target,
        plan: Plan {
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
            trials: 1,
            trial_period: Duration::ZERO,
        },
        mix,
        tenants: Tenants {
            count: a.tenants,
            distribution: TenantDistribution::Uniform,
            seed: 42,
            users: a.users,
        },
        max_in_flight: a.max_in_flight,
        timeout,
    })
}

/// The flags (and the scenario file they name) decoded into what the
/// engine sends: every input error is found here, before anything is
/// configured or sent.
pub struct Decoded {
    shard: Option<Shard>,
    schedule: Schedule,
}

/// Decode `load`'s flags like scenario fields: an error names the flag.
pub fn decode(a: &LoadArgs) -> Result<Decoded, LoadError> {
    let shard = a
        .shard
        .as_deref()
        .map(Shard::parse)
        .transpose()
        .map_err(|e| LoadError::Input(format!("--shard: {e}")))?;
    let schedule = match &a.scenario {
        Some(p) => from_scenario(p, a, shard.map_or(1, |s| s.count))?,
        None => from_flags(a, shard.map_or(1, |s| s.count))?,
    };
    Ok(Decoded { shard, schedule })
}

pub async fn run(a: LoadArgs) -> Result<(), LoadError> {
    let Decoded { shard, schedule: s } = decode(&a)?;
    crate::http::tls::configure(&a.tls.into()).map_err(LoadError::Input)?;
    if s.target.starts_with("https://") {
        crate::http::tls::probe(&s.target, std::time::Duration::from_secs(10))
            .await
            .map_err(|e| LoadError::Run(anyhow::anyhow!(e)))?;
    }
    let cancel = crate::signal::cancel_on_signal(None);
    let progress = std::sync::Arc::new(Progress::new(&s.plan, shard, a.json));
    let p2 = progress.clone();
    let report_progress: super::engine::ProgressFn =
        std::sync::Arc::new(move |l: &Live| p2.update(l));
    let report = run_engine(
        LoadOptions {
            base_url: s.target.clone(),
            plan: &s.plan,
            mix: &s.mix,
            tenants: &s.tenants,
            max_in_flight: s.max_in_flight,
            timeout: s.timeout,
            trace_cap: 0,
            progress: Some(report_progress),
            shard,
            keep_raw: a.out.is_some(),
        },
        tokio::time::Instant::now(),
        cancel,
    )
    .await?;
    progress.finish();
    if let Some(out) = &a.out {
        let json = serde_json::to_string(&report).map_err(anyhow::Error::from)?;
        std::fs::write(out, json).map_err(|e| anyhow::anyhow!("writing {}: {e}", out.display()))?;
    }
    if a.json {
        let mut shown = report.clone();
        shown.raw = None;
        println!(
            "{}",
            serde_json::to_string_pretty(&shown).map_err(anyhow::Error::from)?
        );
        return Ok(());
    }
    print_summary(&report);
    Ok(())
}

/// The terminal summary of a load report (also of merged shards).
pub fn print_summary(report: &LoadReport) {
    let share = report.shard.map(|s| f64::from(s.count)).unwrap_or(1.0);
    if let Some(s) = report.shard {
        println!(
            "shard {}/{} of the schedule (every {}th arrival)",
            s.index + 1,
            s.count,
            s.count
        );
    }
    println!("target {}", report.target);
    for p in &report.phases {
        let want = p.planned_rate / share;
        println!(
            "phase {}: planned {:.1}/s  sent {}  achieved {:.1}/s ({:+.2}% of plan)  dropped {}  errors {}",
            p.name,
            want,
            p.sent,
            p.achieved_rate,
            (p.achieved_rate / want - 1.0) * 100.0,
            p.dropped,
            p.errors
        );
    }
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
}

/// indicatif bars on a terminal, one per phase; a plain line every 5 s
/// otherwise (CI logs); nothing with --json.
struct Progress {
    bars: Option<(indicatif::MultiProgress, Vec<indicatif::ProgressBar>)>,
    plain: bool,
    starts: Vec<Duration>,
    last_line: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Progress {
    fn new(plan: &Plan, shard: Option<Shard>, quiet: bool) -> Progress {
        let starts = plan.phases.iter().map(|p| p.start).collect();
        if quiet {
            return Progress {
                bars: None,
                plain: false,
                starts,
                last_line: Default::default(),
            };
        }
        if !std::io::stderr().is_terminal() {
            return Progress {
                bars: None,
                plain: true,
                starts,
                last_line: Default::default(),
            };
        }
        let multi =
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:>14} [{bar:30}] {pos:>4}/{len:4}s {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        let bars = plan
            .phases
            .iter()
            .map(|p| {
                let b = multi.add(indicatif::ProgressBar::new(p.duration.as_secs().max(1)));
                b.set_style(style.clone());
                let share = shard
                    .map(|s| format!(" (shard {}/{})", s.index + 1, s.count))
                    .unwrap_or_default();
                b.set_prefix(format!("{}{share}", p.name));
                b
            })
            .collect();
        Progress {
            bars: Some((multi, bars)),
            plain: false,
            starts,
            last_line: Default::default(),
        }
    }

    fn update(&self, l: &Live) {
        let msg = format!(
            "{:.0}/s planned, {} sent, p95 {:.1} ms, {} errors, {} dropped, {} in flight",
            l.planned_rate, l.sent, l.p95_ms, l.errors, l.dropped, l.in_flight
        );
        if let Some((_, bars)) = &self.bars {
            for (i, b) in bars.iter().enumerate() {
                let start = self.starts[i];
                let end = self.starts.get(i + 1).copied().unwrap_or(l.total);
                if l.elapsed >= end {
                    b.set_position(b.length().unwrap_or(0));
                    if !b.is_finished() {
                        b.finish();
                    }
                } else if l.elapsed >= start {
                    b.set_position((l.elapsed - start).as_secs());
                    b.set_message(msg.clone());
                }
            }
        } else if self.plain {
            let mut last = self.last_line.lock().expect("progress poisoned");
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                *last = Some(std::time::Instant::now());
                eprintln!(
                    "load: phase {} {:.0}s/{:.0}s: {msg}",
                    l.phase,
                    l.elapsed.as_secs_f64(),
                    l.total.as_secs_f64()
                );
            }
        }
    }

    fn finish(&self) {
        if let Some((multi, bars)) = &self.bars {
            for b in bars {
                b.finish();
            }
            let _ = multi.clear();
        }
    }
}
