//! Command line: argument parsing, dispatch, exit codes.
//!
//! Exit codes: 0 every SLO passed · 1 an SLO failed or a required SLO could
//! not be measured · 2 invalid input · 3 the stack or harness could not run
//! (or the run was interrupted).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::report::{RunResult, terminal};
use crate::run::{RunError, RunOptions, load_inputs};
use crate::scenario::ProviderChoice;

#[derive(Parser, Debug)]
#[command(
    name = "zeta-bench",
    version,
    about = "Load-testing and SLO verification for an observability stack"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios end to end and judge them against their SLOs.
    Run {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Run K times faster than real time (overrides stack.time_scale).
        #[arg(long, value_name = "K")]
        time_scale: Option<f64>,
        #[arg(long, value_enum)]
        provider: Option<ProviderArg>,
        /// Directory for run directories (default: reports/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Compare with an earlier result.json; regressions fail the run.
        #[arg(long, value_name = "RESULT.json")]
        baseline: Option<PathBuf>,
        /// Baseline tolerances, e.g. mttd=10%,dashboards=25%,latency=25%,coverage=0%.
        #[arg(long, value_name = "LIST")]
        tolerance: Option<String>,
    },
    /// Check scenario files (with their SLO and stack files) without running.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Render earlier results: the terminal summary, and on request HTML,
    /// JUnit XML and Markdown (several results: one combined JUnit and
    /// Markdown; HTML for the first).
    Report {
        #[arg(required = true)]
        results: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        /// Compare with an earlier result.json.
        #[arg(long, value_name = "RESULT.json")]
        baseline: Option<PathBuf>,
        #[arg(long, value_name = "LIST")]
        tolerance: Option<String>,
        /// For sharded load reports (`zeta-bench load --shard i/N --out`):
        /// write the merged report here.
        #[arg(long, value_name = "FILE")]
        merged: Option<PathBuf>,
    },
    /// Bring the stack and the mocks up for a game day; Ctrl-C tears down.
    Up {
        #[arg(long, default_value = "stack")]
        stack: PathBuf,
        /// Real time (1) for game days.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
    /// Inject a fault into the stack `zeta-bench up` runs; it reverts when
    /// the duration ends or on Ctrl-C.
    Fault {
        #[arg(value_parser = parse_fault_kind)]
        kind: crate::scenario::FaultKind,
        #[arg(long)]
        target: String,
        #[arg(long, default_value = "5m")]
        duration: String,
        /// high_latency: added latency, e.g. 1500ms.
        #[arg(long)]
        latency: Option<String>,
        /// error_rate: share of requests that fail, e.g. 20%.
        #[arg(long)]
        ratio: Option<String>,
        /// error_rate: the status they fail with (5xx).
        #[arg(long)]
        status: Option<u16>,
        /// cache_degradation: share of cache lookups that miss, e.g. 90%.
        #[arg(long)]
        miss_ratio: Option<String>,
        /// Only this route, e.g. /api/v1/recommendations.
        #[arg(long)]
        endpoint: Option<String>,
        /// The state file `zeta-bench up` wrote.
        #[arg(long, default_value = "reports/up.json")]
        up: PathBuf,
    },
    /// Drive open-model load at any HTTP service, without a stack: the load
    /// engine as a plain load tool.
    Load(crate::load::cli::LoadArgs),
    /// Print the JSON Schema of result.json.
    Schema,
    /// Run one mock service.
    Mock {
        #[arg(value_enum)]
        service: MockService,
        #[command(flatten)]
        config: crate::mock::MockConfig,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ProviderArg {
    Auto,
    Native,
    Docker,
    External,
}

impl From<ProviderArg> for ProviderChoice {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Auto => ProviderChoice::Auto,
            ProviderArg::Native => ProviderChoice::Native,
            ProviderArg::Docker => ProviderChoice::Docker,
            ProviderArg::External => ProviderChoice::External,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MockService {
    BackendApi,
    MlEngine,
}

/// The baseline result and tolerances, or the exit code for bad input.
fn load_baseline(
    path: Option<&std::path::Path>,
    tolerance: Option<&str>,
) -> Result<Option<(RunResult, crate::report::baseline::Tolerances)>, u8> {
    let tol = match tolerance.map(crate::report::baseline::Tolerances::parse) {
        None => crate::report::baseline::Tolerances::default(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("zeta-bench: --tolerance: {e}");
            return Err(2);
        }
    };
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("{}: cannot read the baseline: {e}", path.display());
        2u8
    })?;
    let base: RunResult = serde_json::from_str(&text).map_err(|e| {
        eprintln!(
            "{}:{}:{}: not a zeta-bench result: {e}",
            path.display(),
            e.line(),
            e.column()
        );
        2u8
    })?;
    Ok(Some((base, tol)))
}

fn parse_fault_kind(s: &str) -> Result<crate::scenario::FaultKind, String> {
    crate::scenario::FaultKind::from_name(s).ok_or_else(|| {
        format!(
            "expected one of {}",
            crate::scenario::FaultKind::NAMES.join(", ")
        )
    })
}

/// Resolves on the first Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

pub async fn main(cli: Cli) -> u8 {
    match cli.command {
        Command::Run {
            scenarios,
            time_scale,
            provider,
            out,
            baseline,
            tolerance,
        } => {
            let baseline = match load_baseline(baseline.as_deref(), tolerance.as_deref()) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let cancel = CancellationToken::new();
            let c = cancel.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                eprintln!("zeta-bench: interrupted; reverting faults and stopping the stack…");
                c.cancel();
            });
            let opts = RunOptions {
                time_scale,
                provider: provider.map(Into::into),
                out,
                self_exe: None,
                progress: true,
                baseline,
            };
            let mut worst = 0u8;
            let mut results = Vec::new();
            for path in &scenarios {
                let code = match crate::run::run(path, &opts, cancel.clone()).await {
                    Ok(result) => {
                        print!("{}", terminal::render(&result));
                        let code = result.exit_code();
                        results.push(result);
                        code
                    }
                    Err(e) => {
                        report_error(&e);
                        e.exit_code()
                    }
                };
                worst = worst.max(code);
                if cancel.is_cancelled() {
                    break;
                }
            }
            if scenarios.len() > 1 {
                // One gate: a combined JUnit file and summary for the suite.
                let out = opts.out.clone().unwrap_or_else(|| PathBuf::from("reports"));
                let written = std::fs::write(
                    out.join("suite-junit.xml"),
                    crate::report::junit::render(&results),
                )
                .and_then(|()| {
                    std::fs::write(
                        out.join("suite-summary.md"),
                        crate::report::markdown::render(&results),
                    )
                });
                match written {
                    Ok(()) => println!(
                        "\nSuite: {} scenario(s), worst exit code {worst}; {} and {}",
                        scenarios.len(),
                        out.join("suite-junit.xml").display(),
                        out.join("suite-summary.md").display()
                    ),
                    Err(e) => eprintln!(
                        "zeta-bench: writing the suite report in {}: {e}",
                        out.display()
                    ),
                }
            }
            worst
        }
        Command::Validate { files } => {
            let mut code = 0;
            for f in &files {
                code = code.max(validate(f));
            }
            code
        }
        Command::Report {
            results,
            html,
            junit,
            markdown,
            baseline,
            tolerance,
            merged,
        } => {
            if let Some(code) = merge_load_reports(&results, merged.as_deref()) {
                return code;
            }
            let baseline = match load_baseline(baseline.as_deref(), tolerance.as_deref()) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let mut loaded = Vec::new();
            for path in &results {
                let text = match std::fs::read_to_string(path) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("{}: cannot read: {e}", path.display());
                        return 2;
                    }
                };
                match serde_json::from_str::<RunResult>(&text) {
                    Ok(r) => loaded.push(r),
                    Err(e) => {
                        eprintln!(
                            "{}:{}:{}: not a zeta-bench result: {e}",
                            path.display(),
                            e.line(),
                            e.column()
                        );
                        return 2;
                    }
                }
            }
            if let Some((base, tol)) = &baseline {
                for r in loaded.iter_mut() {
                    crate::report::baseline::apply(r, base, *tol);
                }
            }
            for r in &loaded {
                print!("{}", terminal::render(r));
            }
            let written = (|| -> anyhow::Result<()> {
                if let Some(f) = &html {
                    std::fs::write(f, crate::report::html::render(&loaded[0])?)?;
                }
                if let Some(f) = &junit {
                    std::fs::write(f, crate::report::junit::render(&loaded))?;
                }
                if let Some(f) = &markdown {
                    std::fs::write(f, crate::report::markdown::render(&loaded))?;
                }
                Ok(())
            })();
            if let Err(e) = written {
                eprintln!("zeta-bench report: {e:#}");
                return 3;
            }
            loaded.iter().map(RunResult::exit_code).max().unwrap_or(0)
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::report::model::json_schema())
                    .unwrap_or_default()
            );
            0
        }
        Command::Up {
            stack,
            time_scale,
            out,
        } => {
            let cancel = CancellationToken::new();
            let c = cancel.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                c.cancel();
            });
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("zeta-bench up: {e}");
                    return 3;
                }
            };
            match crate::gameday::up(&stack, time_scale, &out, exe, cancel).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("zeta-bench up: could not run: {e:#}");
                    3
                }
            }
        }
        Command::Fault {
            kind,
            target,
            duration,
            latency,
            ratio,
            status,
            miss_ratio,
            endpoint,
            up,
        } => {
            use crate::input::units::{parse_duration, parse_percent};
            let bad = |what: &str, v: &str| {
                eprintln!(
                    "zeta-bench fault: {what}: expected {}, found {v:?}",
                    if what == "--duration" || what == "--latency" {
                        "a duration like \"90s\""
                    } else {
                        "a percentage like \"20%\""
                    }
                );
                2
            };
            let Some(duration) = parse_duration(&duration) else {
                return bad("--duration", &duration);
            };
            let mut params = crate::scenario::FaultParams {
                endpoint,
                status,
                ..Default::default()
            };
            if let Some(l) = latency {
                match parse_duration(&l) {
                    Some(d) => params.latency = Some(d),
                    None => return bad("--latency", &l),
                }
            }
            if let Some(r) = ratio.or(miss_ratio) {
                match parse_percent(&r) {
                    Some(p) => params.ratio = Some(p),
                    None => return bad("--ratio", &r),
                }
            }
            if kind == crate::scenario::FaultKind::ErrorRate && params.status.is_none() {
                params.status = Some(500);
            }
            let cancel = CancellationToken::new();
            let c = cancel.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                c.cancel();
            });
            let req = crate::gameday::FaultRequest {
                kind,
                target,
                duration,
                params,
            };
            match crate::gameday::fault_command(&up, req, cancel).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("zeta-bench fault: {e:#}");
                    3
                }
            }
        }
        Command::Load(args) => match crate::load::cli::run(args).await {
            Ok(()) => 0,
            Err(crate::load::cli::LoadError::Input(e)) => {
                eprintln!("zeta-bench load: {e}");
                2
            }
            Err(crate::load::cli::LoadError::Run(e)) => {
                eprintln!("zeta-bench load: {e:#}");
                3
            }
        },
        Command::Mock { service, config } => {
            let built = match service {
                MockService::BackendApi => crate::mock::backend::build(&config).await,
                MockService::MlEngine => crate::mock::ml::build(&config).await,
            };
            let router = match built {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("zeta-bench mock: cannot start: {e:#}");
                    return 3;
                }
            };
            match crate::mock::serve(router, config.listen).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("zeta-bench mock: {e:#}");
                    3
                }
            }
        }
    }
}

/// `validate`: input errors exit 2; a rule that can never meet the MTTD
/// target exits 1; otherwise 0.
fn validate(f: &std::path::Path) -> u8 {
    use crate::input::units::human_duration;
    // Plain load (`target:`): the schedule is all there is to check.
    if let Ok(sc) = crate::scenario::load_scenario(f) {
        if sc.target.is_some() {
            return match crate::scenario::plan::plan(&sc, sc.stack.time_scale.clone(), None) {
                Ok(p) => {
                    println!(
                        "{}: plain load for {} in {} phase(s), valid (run it with `zeta-bench load`)",
                        f.display(),
                        crate::input::units::human_duration(p.load_end),
                        p.phases.len()
                    );
                    0
                }
                Err(d) => {
                    eprintln!("{d}");
                    2
                }
            };
        }
    }
    let i = match load_inputs(f, None) {
        Ok(i) => i,
        Err(d) => {
            eprintln!("{d}");
            eprintln!("{}: {} problem(s)", f.display(), d.len());
            return 2;
        }
    };
    let mut code = 0;
    match crate::stack::lint::lint(&i.files) {
        Ok(problems) if problems.is_empty() => {}
        Ok(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            code = 2;
        }
        Err(e) => {
            eprintln!("{e:#}");
            code = 2;
        }
    }
    for line in crate::stack::tools::check(&i.files.dir) {
        match line {
            Ok(ok) => println!("{ok}"),
            Err(problem) => {
                eprintln!("{problem}");
                code = 2;
            }
        }
    }
    let target = i.slo.mttd.as_ref();
    println!(
        "{}: ok ({} phases, {} faults, {} alert rules, {} dashboards checked)",
        f.display(),
        i.scenario.load.phases.len(),
        i.scenario.faults.len(),
        i.files.rules.len(),
        crate::stack::lint::load_dashboards(&i.files.dir)
            .map(|d| d.len())
            .unwrap_or(0),
    );
    println!(
        "detection floors (best = for + group_wait; worst adds a scrape, an evaluation and the longest range window):"
    );
    for rf in crate::slo::floor::floors(&i.files, target) {
        println!(
            "  {:<24} {:<9} best {:>8}  worst {:>8}{}",
            rf.rule.name,
            rf.rule.severity(),
            human_duration(rf.floor.best),
            human_duration(rf.floor.worst),
            if rf.impossible {
                "  ← can never meet the MTTD target"
            } else {
                ""
            }
        );
        if rf.impossible {
            eprintln!(
                "{}:{}:{}: alert {}: severity {} is covered by the MTTD SLO (≤ {}), but it cannot notify sooner than {} ({})",
                i.files.dir.join("prometheus").join(&rf.rule.file).display(),
                rf.rule.pos.line,
                rf.rule.pos.column,
                rf.rule.name,
                rf.rule.severity(),
                human_duration(target.map(|m| m.max).unwrap_or_default()),
                human_duration(rf.floor.best),
                rf.floor.best_terms
            );
            code = code.max(1);
        }
    }
    code
}

fn report_error(e: &RunError) {
    match e {
        RunError::Input(d) => {
            eprintln!("{d}");
            eprintln!(
                "zeta-bench: {} problem(s) in the input; nothing was started",
                d.len()
            );
        }
        RunError::CouldNotRun(err) => eprintln!("zeta-bench: could not run: {err:#}"),
    }
}

/// When every file is a load report (`zeta-bench load --out`), merge them
/// losslessly, print the merged summary and optionally write it; `None`
/// when the files are run results.
fn merge_load_reports(paths: &[PathBuf], out: Option<&std::path::Path>) -> Option<u8> {
    let mut reports = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        if v.get("schema_version").is_some() || v.get("raw").is_none() {
            return None;
        }
        match serde_json::from_value::<crate::load::record::LoadReport>(v) {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("{}: not a zeta-bench load report: {e}", p.display());
                return Some(2);
            }
        }
    }
    let merged = match crate::load::record::merge_reports(&reports) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "zeta-bench report: cannot merge {} load reports: {e}",
                reports.len()
            );
            return Some(2);
        }
    };
    println!("merged {} load reports", reports.len());
    crate::load::cli::print_summary(&merged);
    if let Some(out) = out {
        let written = serde_json::to_string(&merged)
            .map_err(anyhow::Error::from)
            .and_then(|j| std::fs::write(out, j).map_err(anyhow::Error::from));
        if let Err(e) = written {
            eprintln!("zeta-bench report: writing {}: {e}", out.display());
            return Some(3);
        }
    }
    Some(0)
}
