//! The command line's shape: every subcommand and flag, parsed by clap.
//! Nothing here runs anything; each subcommand's file does.

use std::path::PathBuf;

use crate::scenario::ProviderChoice;
use clap::{Parser, Subcommand, ValueEnum};

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
    Run(RunArgs),
    /// Check scenario files (with their SLO and stack files) without running.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Render earlier results: the terminal summary, and on request HTML,
    /// JUnit XML and Markdown (several results: one combined JUnit and
    /// Markdown; HTML for the first).
    Report(ReportArgs),
    /// Bring the stack and the mocks up for a game day; Ctrl-C tears down.
    Up(UpArgs),
    /// Inject a fault into the stack `zeta-bench up` runs; it reverts when
    /// the duration ends or on Ctrl-C.
    Fault(FaultArgs),
    /// Drive open-model load at any HTTP service, without a stack: the load
    /// engine as a plain load tool.
    Load(crate::load::cli::LoadArgs),
    /// Revert what a run left in force: replay the open entries of
    /// RUN_DIR's revert journal (exec faults injected and never reverted,
    /// e.g. because the harness was killed), then cross them out.
    Revert { run_dir: PathBuf },
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

/// `zeta-bench run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Run K times faster than real time (overrides stack.time_scale).
    #[arg(long, value_name = "K")]
    pub time_scale: Option<f64>,
    /// Inject the faults N times in one stack, each after the previous
    /// trial recovered, at seeded offsets (overrides `trials:`): MTTD is
    /// then reported as min / p50 / p95 / max over the trials.
    #[arg(long, value_name = "N")]
    pub trials: Option<u32>,
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// Run up to N scenarios at the same time, each in a stack of its own
    /// (1 to 16; default 1, one after another). An external stack is one
    /// stack for all of them, so it is refused with N above 1.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub jobs: u16,
    /// Directory for run directories (default: reports/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare with an earlier result.json; regressions fail the run.
    #[arg(long, value_name = "RESULT.json")]
    pub baseline: Option<PathBuf>,
    /// Baseline tolerances, e.g. mttd=10%,dashboards=25%,latency=25%,coverage=0%.
    #[arg(long, value_name = "LIST")]
    pub tolerance: Option<String>,
    /// The binary for a component, NAME=PATH (prometheus, promtool,
    /// alertmanager, amtool, jaeger); repeatable. Default: ZETA_BIN, then the
    /// scenario's stack.binaries, then PATH, then the install cache.
    #[arg(long = "bin", value_name = "NAME=PATH", value_parser = parse_bin, env = "ZETA_BIN", value_delimiter = ',')]
    pub bins: Vec<(String, PathBuf)>,
    #[command(flatten)]
    pub tls: crate::http::tls::TlsArgs,
    /// Print the plan (each fault, its commands or calls, its target, when
    /// and for how long; the load; the halt conditions) and exit without
    /// starting, binding or running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Inject the scenario's faults into an external stack without asking.
    /// Without it, such a run asks on the terminal, and refuses when there
    /// is none.
    #[arg(long)]
    pub yes: bool,
    /// Run even at a time scale that measures another world than the
    /// scenario's real-time one (trials `trials.every` apart that would
    /// rejoin an open Alertmanager group at this K but not at K=1); for
    /// measuring that distortion, as `scripts/time-fidelity.sh` does.
    #[arg(long)]
    pub accept_distortion: bool,
}

/// `zeta-bench report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Compare with an earlier result.json.
    #[arg(long, value_name = "RESULT.json")]
    pub baseline: Option<PathBuf>,
    #[arg(long, value_name = "LIST")]
    pub tolerance: Option<String>,
    /// For sharded load reports (`zeta-bench load --shard i/N --out`):
    /// write the merged report here.
    #[arg(long, value_name = "FILE")]
    pub merged: Option<PathBuf>,
}

/// `zeta-bench up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[arg(long, default_value = "stack")]
    pub stack: PathBuf,
    /// Real time (1) for game days.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// The binary for a component, NAME=PATH; repeatable (see `run`).
    #[arg(long = "bin", value_name = "NAME=PATH", value_parser = parse_bin, env = "ZETA_BIN", value_delimiter = ',')]
    pub bins: Vec<(String, PathBuf)>,
    /// Alertmanager sends its notifications to receivers at this loopback
    /// address (HOST:PORT), which `up` does not serve: a run against this
    /// stack with `stack.receivers: HOST:PORT` listens there and measures
    /// every delivery (a staging drill). By default `up` serves its own
    /// receivers and prints what arrives.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_receivers)]
    pub receivers: Option<std::net::SocketAddr>,
}

fn parse_receivers(s: &str) -> Result<std::net::SocketAddr, String> {
    crate::scenario::receivers_address(s)
}

fn parse_bin(s: &str) -> Result<(String, PathBuf), String> {
    crate::stack::binaries::parse_one(s)
}

/// `zeta-bench fault`.
#[derive(clap::Args, Debug)]
pub struct FaultArgs {
    #[arg(value_parser = parse_fault_kind)]
    pub kind: crate::scenario::FaultKind,
    #[arg(long)]
    pub target: String,
    #[arg(long, default_value = "5m")]
    pub duration: String,
    /// high_latency: added latency, e.g. 1500ms.
    #[arg(long)]
    pub latency: Option<String>,
    /// error_rate: share of requests that fail, e.g. 20%.
    #[arg(long)]
    pub ratio: Option<String>,
    /// error_rate: the status they fail with (5xx).
    #[arg(long)]
    pub status: Option<u16>,
    /// cache_degradation: share of cache lookups that miss, e.g. 90%.
    #[arg(long)]
    pub miss_ratio: Option<String>,
    /// Only this route, e.g. /api/v1/recommendations.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The state file `zeta-bench up` wrote.
    #[arg(long, default_value = "reports/up.json")]
    pub up: PathBuf,
}

fn parse_fault_kind(s: &str) -> Result<crate::scenario::FaultKind, String> {
    crate::scenario::FaultKind::from_name(s).ok_or_else(|| {
        format!(
            "expected one of {}",
            crate::scenario::FaultKind::NAMES.join(", ")
        )
    })
}
