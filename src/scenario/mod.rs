//! Scenario files: what load to drive, which faults to inject, which alerts
//! to expect. Decoded from YAML into validated types ([`Scenario`]); every
//! problem is reported with `file:line:column` (see [`crate::input`]).
//!
//! Only what can be checked from the file alone is checked here. Checks that
//! need the stack (fault targets the provider can run, time-scale limits
//! against scrape intervals) happen in [`plan`], still as input errors.

mod decode;
pub mod plan;
pub mod template;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::input::{Diagnostics, Located};

pub use decode::parse_scenario;
pub use template::RequestTemplate;

/// The seed's tenant id format: `tenant_001`.
pub fn tenant_name(i: u32) -> String {
    format!("tenant_{i:03}")
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: PathBuf,
    pub name: String,
    pub description: String,
    pub stack: StackRef,
    /// `target:`: a base URL to send the load to, without a stack
    /// (`zeta-bench load scenario.yml`).
    pub target: Option<Located<String>>,
    /// The SLO file, resolved relative to the scenario file.
    pub slo: Located<PathBuf>,
    pub tenants: Tenants,
    pub load: Load,
    pub faults: Vec<Fault>,
    pub expect: Expect,
    /// `trials:`: how many times the faults are injected, one stack.
    pub trials: Trials,
    /// `halt_when:`: conditions under which the drill stops at once.
    pub halt_when: Vec<Located<Halt>>,
}

/// A halt condition (the steady-state hypothesis of a game day): when one
/// holds, every fault is reverted at once, the load stops and the run ends
/// INCOMPLETE with the reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Halt {
    /// A PromQL expression that returns a series (or a scalar other than 0).
    Promql(String),
    /// The load engine's error ratio over one second, at or above this.
    ErrorRatio(f64),
}

/// The most trials one run takes: each is a full fault and recovery.
pub const MAX_TRIALS: u32 = 100;

/// `trials: N` or `trials: { count: N, seed: S, every: D }`: inject the scenario's
/// faults N times in one stack, each after the previous one has recovered,
/// at seeded random offsets within the scrape and evaluation cycle, so that
/// MTTD is a distribution over phases rather than a single draw.
#[derive(Debug, Clone)]
pub struct Trials {
    pub count: Located<u32>,
    /// Seeds the offsets; the same seed gives the same schedule.
    pub seed: u64,
    /// `trials.every`: the real-time spacing of the trials' starts, as
    /// written (divided by K like every duration). Without it the trials
    /// follow each other as soon as the last one has recovered. Holding it
    /// equal across K is what compares time scales fairly.
    pub every: Option<Located<Duration>>,
}

impl Default for Trials {
    fn default() -> Self {
        Trials {
            count: Located::new(1, crate::input::Pos::default(), "trials"),
            seed: 1,
            every: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StackRef {
    /// The `stack/` directory, resolved relative to the scenario file.
    pub dir: Located<PathBuf>,
    /// `stack.provider`, where it was written (or the `stack:` map, where
    /// it was left out): auto unless the scenario chose.
    pub provider: Located<ProviderChoice>,
    pub time_scale: Located<f64>,
    /// `stack.urls`: component name → base URL, for the external provider
    /// (environment variables `ZETA_<NAME>_URL` take precedence).
    pub urls: Vec<(String, Located<String>)>,
    /// `stack.receivers`: the loopback address the harness's notification
    /// receivers listen on, so an external Alertmanager can be pointed at
    /// them. Without it they take a free port.
    pub receivers: Option<Located<std::net::SocketAddr>>,
    /// `stack.binaries`: the binary for a component (the version matrix),
    /// resolved relative to the scenario file.
    pub binaries: Vec<(String, Located<PathBuf>)>,
    /// `stack.allow_absent`: components of the provider's stack that may
    /// be missing here without making the run incomplete.
    pub allow_absent: Vec<String>,
    /// `stack.toxiproxy`: the team's Toxiproxy, for network faults on an
    /// external stack.
    pub toxiproxy: Option<ToxiproxyRef>,
}

/// A team's Toxiproxy (`stack.toxiproxy`).
#[derive(Debug, Clone)]
pub struct ToxiproxyRef {
    /// The API's URL; `ZETA_TOXIPROXY_URL` takes precedence, and
    /// credentials come from `ZETA_TOXIPROXY_TOKEN` or `_USER`/`_PASSWORD`.
    pub url: Option<Located<String>>,
    /// Link target (`postgresql`, `redis`) → the proxy's name there.
    pub proxies: Vec<(String, Located<String>)>,
    pub pos: crate::input::Pos,
}

impl ToxiproxyRef {
    /// The proxy that carries the link to `target`, if named.
    pub fn proxy(&self, target: &str) -> Option<&str> {
        self.proxies
            .iter()
            .find(|(t, _)| t == target)
            .map(|(_, p)| p.value.as_str())
    }
}

/// Components of the native stack that `stack.allow_absent` can name:
/// those the provider needs, and that a machine may lack. Grafana, Loki,
/// Promtail/Alloy and Jaeger are optional already (their SLOs are NOT
/// MEASURED without them).
pub const ALLOWABLE_ABSENT: &[&str] = &[
    "postgresql",
    "postgres-exporter",
    "redis",
    "redis-exporter",
    "node-exporter",
];

/// Components whose binary `stack.binaries` and `--bin` can choose.
pub const CHOOSABLE_BINARIES: &[&str] =
    &["prometheus", "promtool", "alertmanager", "amtool", "jaeger"];

/// Components an external stack can name in `stack.urls`.
pub const EXTERNAL_COMPONENTS: &[&str] = &[
    "prometheus",
    "alertmanager",
    "backend-api",
    "ml-engine",
    "grafana",
    "loki",
    "jaeger",
];

use crate::names::names_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderChoice {
    Auto,
    Native,
    Docker,
    External,
}

impl ProviderChoice {
    pub const ALL: [ProviderChoice; 4] = [Self::Auto, Self::Native, Self::Docker, Self::External];

    /// The names a scenario writes, from [`ProviderChoice::name`].
    pub const NAMES: &'static [&'static str] = names_of!(Self::ALL);

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The one place a choice's name is written (serde's `lowercase`
    /// gives the same; a test holds them together).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Native => "native",
            Self::Docker => "docker",
            Self::External => "external",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tenants {
    pub count: u32,
    pub distribution: TenantDistribution,
    pub seed: u64,
    /// Active users per tenant (`{user}` is drawn from 1..=users). A small
    /// active population keeps the services' caches warm, as in production;
    /// a cold cache would trip CacheHitRateLow without any fault.
    pub users: u32,
}

/// What a scenario without `tenants:` (or without one of its fields) gets:
/// 10 tenants, uniformly, seed 42, 20 active users each.
impl Default for Tenants {
    fn default() -> Self {
        Tenants {
            count: 10,
            distribution: TenantDistribution::Uniform,
            seed: 42,
            users: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TenantDistribution {
    Uniform,
    Zipf {
        skew: f64,
    },
    /// Explicit relative weights, one per tenant (`tenant_001` first).
    Weights(Vec<f64>),
}

#[derive(Debug, Clone)]
pub struct Load {
    pub phases: Vec<Phase>,
    pub mix: Vec<MixEntry>,
    /// Requests allowed in flight at once; arrivals beyond it are dropped
    /// and counted.
    pub max_in_flight: u32,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Load {
    /// Requests in flight at once when `load.max_in_flight` is absent.
    pub const DEFAULT_MAX_IN_FLIGHT: u32 = 1_000;
    /// The per-request timeout when `load.timeout` is absent.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    pub fn total_duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration.value).sum()
    }
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub duration: Located<Duration>,
    pub rate_per_second: f64,
    /// A linear ramp from `rate_per_second` to this rate over the phase.
    pub ramp_to: Option<f64>,
    /// The ramp in this many equal steps instead of a straight line.
    pub steps: Option<u32>,
    pub arrivals: Arrivals,
    /// One tenant's rate multiplied during this phase (a noisy tenant).
    pub surge: Option<Located<Surge>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Surge {
    pub tenant: String,
    pub factor: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced: request i at i / rate.
    Constant,
    /// Exponential inter-arrival times with mean 1 / rate.
    Poisson,
}

#[derive(Debug, Clone)]
pub struct MixEntry {
    pub request: RequestTemplate,
    pub weight: u32,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Kill the service's process (SIGKILL); restart it after.
    ServiceDown,
    /// The mock's latency knob.
    HighLatency,
    /// The mock's error knob.
    ErrorRate,
    /// The mock's cache-miss knob.
    CacheDegradation,
    /// Stop PostgreSQL (fast shutdown); start it again after.
    DatabaseDown,
    /// Fill the size-limited filesystem the harness mounted and
    /// node-exporter watches.
    DiskPressure,
    /// The mock's memory ballast, as a share of its memory limit.
    MemoryPressure,
    /// Commands the scenario gives (`inject`, `revert`, optional `check`):
    /// the engines a team already runs (kubectl, docker, systemctl, ssh, a
    /// Chaos Mesh manifest). See [`ExecFault`].
    Exec,
    /// A Toxiproxy toxic on backend-api's link to PostgreSQL or Redis. See
    /// [`Toxic`].
    Network,
    /// The harness's PagerDuty, Slack or webhook receiver answers 5xx
    /// (`status`, 500 by default) or, with `mode: no_answer`, never
    /// answers: the monitoring pipeline's own failure.
    ReceiverFailing,
    /// The harness's receiver answers after `latency`.
    ReceiverSlow,
    /// Kill Alertmanager (SIGKILL: nothing flushed); restart it after,
    /// with the same storage.
    AlertmanagerDown,
    /// Restart Alertmanager (its stop signal, so it saves its state; a
    /// start with the same storage after `duration`): the quick restart
    /// of a deploy, mid-group.
    AlertmanagerRestart,
    /// Cut Prometheus from Alertmanager: their link, through Toxiproxy,
    /// refuses connections.
    PrometheusToAlertmanagerCut,
    /// Prometheus fails to evaluate a rule: the harness adds one whose
    /// query errors at run time and reloads it; the revert takes it away.
    RuleEvaluationFailing,
    /// Kill Jaeger (SIGKILL); restart it after. Spans sent meanwhile are
    /// lost, and so is everything its in-memory store held; the services
    /// must keep serving.
    TracingBackendDown,
}

/// The harness's notification receivers a receiver fault can target.
pub const RECEIVER_TARGETS: &[&str] = &["pagerduty", "slack", "webhook"];

const MOCKS: &[&str] = &["backend-api", "ml-engine"];

impl FaultKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [FaultKind; 16] = [
        Self::ServiceDown,
        Self::HighLatency,
        Self::ErrorRate,
        Self::CacheDegradation,
        Self::DatabaseDown,
        Self::DiskPressure,
        Self::MemoryPressure,
        Self::Exec,
        Self::Network,
        Self::ReceiverFailing,
        Self::ReceiverSlow,
        Self::AlertmanagerDown,
        Self::AlertmanagerRestart,
        Self::PrometheusToAlertmanagerCut,
        Self::RuleEvaluationFailing,
        Self::TracingBackendDown,
    ];

    /// The names a scenario writes, from [`FaultKind::name`].
    pub const NAMES: &'static [&'static str] = names_of!(Self::ALL);

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The one place a kind's name is written (serde's `snake_case` gives
    /// the same; a test holds them together).
    pub const fn name(self) -> &'static str {
        match self {
            Self::ServiceDown => "service_down",
            Self::HighLatency => "high_latency",
            Self::ErrorRate => "error_rate",
            Self::CacheDegradation => "cache_degradation",
            Self::DatabaseDown => "database_down",
            Self::DiskPressure => "disk_pressure",
            Self::MemoryPressure => "memory_pressure",
            Self::Exec => "exec",
            Self::Network => "network",
            Self::ReceiverFailing => "receiver_failing",
            Self::ReceiverSlow => "receiver_slow",
            Self::AlertmanagerDown => "alertmanager_down",
            Self::AlertmanagerRestart => "alertmanager_restart",
            Self::PrometheusToAlertmanagerCut => "prometheus_to_alertmanager_cut",
            Self::RuleEvaluationFailing => "rule_evaluation_failing",
            Self::TracingBackendDown => "tracing_backend_down",
        }
    }

    /// Whether the fault is a mock service's knob (`/admin/faults`).
    pub fn is_knob(self, target: &str) -> bool {
        match self {
            Self::HighLatency => MOCKS.contains(&target),
            Self::ErrorRate | Self::CacheDegradation | Self::MemoryPressure => true,
            Self::ServiceDown
            | Self::DatabaseDown
            | Self::DiskPressure
            | Self::Exec
            | Self::Network
            | Self::ReceiverFailing
            | Self::ReceiverSlow
            | Self::AlertmanagerDown
            | Self::AlertmanagerRestart
            | Self::PrometheusToAlertmanagerCut
            | Self::RuleEvaluationFailing
            | Self::TracingBackendDown => false,
        }
    }

    /// Whether a stack the harness did not start can take this fault: the
    /// mock services' knobs, and `exec` faults, whose commands the
    /// scenario's author wrote for their own stack.
    pub fn runs_on_external(self, target: &str) -> bool {
        self == Self::Exec || self.is_knob(target)
    }

    /// What this kind of fault may be aimed at.
    pub fn targets(self) -> &'static [&'static str] {
        match self {
            Self::DatabaseDown => &["postgresql"],
            // PostgreSQL gets latency as a toxic on its Toxiproxy link.
            Self::HighLatency => &["backend-api", "ml-engine", "postgresql"],
            Self::DiskPressure => &["disk"],
            // The commands act on whatever they act on; the target names
            // the component whose address the effect is probed at.
            Self::Exec => crate::names::ComponentName::NAMES,
            // backend-api's dependency links, through Toxiproxy.
            Self::Network => &["postgresql", "redis", "ml-engine"],
            Self::ReceiverFailing | Self::ReceiverSlow => RECEIVER_TARGETS,
            // The harness's own Alertmanager; Prometheus' link to it.
            Self::AlertmanagerDown
            | Self::AlertmanagerRestart
            | Self::PrometheusToAlertmanagerCut => &["alertmanager"],
            Self::RuleEvaluationFailing => &["prometheus"],
            Self::TracingBackendDown => &["jaeger"],
            _ => MOCKS,
        }
    }
}

/// The settings of a fault, by kind (`latency` for high_latency, …).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaultParams {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::input::units::opt_duration"
    )]
    pub latency: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::input::units::opt_duration"
    )]
    pub jitter: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Error ratio or cache-miss ratio, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// service_down: freeze (SIGSTOP) instead of kill; receiver_failing:
    /// hold each request without answering instead of a 5xx.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub freeze: bool,
    /// disk_pressure / memory_pressure: the level to fill to, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_to: Option<f64>,
    /// network: the toxic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxic: Option<Toxic>,
    /// exec: the commands. Never (de)serialized: the game day's control
    /// endpoint must not accept commands to run, and a result must not
    /// carry them.
    #[serde(skip)]
    pub exec: Option<ExecFault>,
}

/// A Toxiproxy toxic, as a `network` fault gives it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Toxic {
    pub kind: ToxicKind,
    /// latency: added to each chunk; jitter: ± uniformly.
    #[serde(default, with = "crate::input::units::serde_duration")]
    pub latency: Duration,
    #[serde(default, with = "crate::input::units::serde_duration")]
    pub jitter: Duration,
    /// timeout: data stops, the connection closes after it (0: held open);
    /// reset_peer: the connection is reset after it.
    #[serde(default, with = "crate::input::units::serde_duration")]
    pub timeout: Duration,
    /// bandwidth: KB/s.
    #[serde(default)]
    pub rate_kb: u64,
    /// slow_close: the close is delayed by it.
    #[serde(default, with = "crate::input::units::serde_duration")]
    pub delay: Duration,
    /// The client → server direction (`upstream`), else server → client.
    #[serde(default)]
    pub upstream: bool,
    /// The share of connections it applies to, 0 to 1.
    pub toxicity: f64,
}

impl Default for Toxic {
    fn default() -> Self {
        Toxic {
            kind: ToxicKind::Latency,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            timeout: Duration::ZERO,
            rate_kb: 0,
            delay: Duration::ZERO,
            upstream: false,
            toxicity: 1.0,
        }
    }
}

/// The toxics Toxiproxy knows that a fault can use (`down` disables the
/// proxy, which Toxiproxy does without a toxic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToxicKind {
    Latency,
    Timeout,
    Down,
    Bandwidth,
    ResetPeer,
    SlowClose,
}

impl ToxicKind {
    pub const ALL: [ToxicKind; 6] = [
        Self::Latency,
        Self::Timeout,
        Self::Down,
        Self::Bandwidth,
        Self::ResetPeer,
        Self::SlowClose,
    ];
    pub const NAMES: &'static [&'static str] = names_of!(Self::ALL);

    pub const fn name(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Timeout => "timeout",
            Self::Down => "down",
            Self::Bandwidth => "bandwidth",
            Self::ResetPeer => "reset_peer",
            Self::SlowClose => "slow_close",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// An `exec` fault's commands, each an argv list run without a shell.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecFault {
    pub inject: ExecCommand,
    pub revert: ExecCommand,
    /// Exits 0 once the fault is in force (`effect: check`).
    pub check: Option<ExecCommand>,
    /// `env:`, literal values, as written in the scenario.
    pub env: Vec<(String, String)>,
    /// `pass_env:`, names whose values come from the harness's own
    /// environment: for credentials, which are never written down by the
    /// harness (the revert journal keeps only the names) and are redacted
    /// from the commands' output.
    pub pass_env: Vec<String>,
    /// How the fault's effect is seen from outside.
    pub effect: Effect,
    /// How long the effect may take to show; past it, the fault failed.
    pub effect_within: Duration,
}

impl ExecFault {
    /// The variables the scenario gives its commands, `env:` then
    /// `pass_env:`, by name (never their values).
    pub fn env_names(&self) -> Vec<&str> {
        self.env
            .iter()
            .map(|(k, _)| k.as_str())
            .chain(self.pass_env.iter().map(String::as_str))
            .collect()
    }
}

/// One command: its argv (no shell) and how long it may take.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecCommand {
    pub argv: Vec<String>,
    #[serde(with = "crate::input::units::serde_duration")]
    pub timeout: Duration,
}

/// The default timeout of an `exec` command.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// The default `effect_within` of an `exec` fault.
pub const EFFECT_WITHIN: Duration = Duration::from_secs(30);

/// How an `exec` fault is seen to take effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Refused connections at the target's address (an outage).
    Down,
    /// The load engine's error ratio, over the last second, at or above this.
    ErrorRatio(f64),
    /// The load engine's p95 latency, over the last second, at or above this.
    Latency(Duration),
    /// A PromQL expression that returns at least one series.
    Promql(String),
    /// The fault's `check` command exits 0.
    Check,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub name: String,
    pub kind: FaultKind,
    pub params: FaultParams,
    pub target: Located<String>,
    pub at: Located<Duration>,
    pub duration: Located<Duration>,
}

impl Fault {
    /// Why a stack the harness did not start cannot take this fault, or
    /// `None` when it can (a mock service's knob). The decoder and the
    /// run's preflight give the same message.
    pub fn external_refusal(&self, toxiproxy: Option<&ToxiproxyRef>) -> Option<String> {
        if matches!(
            self.kind,
            FaultKind::Network | FaultKind::PrometheusToAlertmanagerCut
        ) {
            return match toxiproxy.and_then(|t| t.proxy(&self.target.value)) {
                Some(_) => None,
                None => Some(format!(
                    "the external provider runs network faults through your Toxiproxy: name its API in stack.toxiproxy.url (or ZETA_TOXIPROXY_URL) and the proxy of this link in stack.toxiproxy.proxies.{}",
                    self.target.value
                )),
            };
        }
        (!self.kind.runs_on_external(&self.target.value)).then(|| {
            format!(
                "the external provider cannot inject {} on {:?}: on a stack it did not start it sets the mock services' fault knobs (high_latency on a mock, error_rate, cache_degradation, memory_pressure) and runs `kind: exec` faults with your own commands; use provider: native to run this fault, or write it as an exec fault",
                self.kind.name(),
                self.target.value
            )
        })
    }

    /// What on this machine the fault acts on: the service, or the disk
    /// for disk_pressure.
    pub fn machine_target(&self) -> &str {
        if self.kind == FaultKind::DiskPressure {
            "disk"
        } else {
            &self.target.value
        }
    }
}

/// Where notification receivers listen (`stack.receivers`, `up
/// --receivers`): a loopback `HOST:PORT`, never another machine's.
pub fn receivers_address(s: &str) -> Result<std::net::SocketAddr, String> {
    match s.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_loopback() && a.port() != 0 => Ok(a),
        Ok(a) => Err(format!(
            "expected a loopback address with a port (127.0.0.1:PORT or [::1]:PORT), found {a}"
        )),
        Err(_) => Err(format!(
            "expected an address like 127.0.0.1:9095, found {s:?}"
        )),
    }
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub alerts: Vec<ExpectedAlert>,
    pub unexpected_alerts: UnexpectedAlerts,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExpectedAlert {
    pub name: String,
    /// Where `name` was written.
    #[serde(skip)]
    pub pos: crate::input::Pos,
    /// Label matchers (exact values) the firing alert must carry.
    pub labels: Vec<(String, String)>,
    /// The fault this alert answers; MTTD is measured from it.
    pub fault: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnexpectedAlerts {
    /// An alert the scenario did not expect fails the run.
    Fail,
    /// Listed in the report, does not fail the run.
    Warn,
}

/// Read and validate one scenario file.
pub fn load_scenario(path: &Path) -> Result<Scenario, Diagnostics> {
    let text = crate::input::read_capped(path, crate::input::MAX_INPUT_BYTES).map_err(|e| {
        let mut d = Diagnostics::default();
        d.push(
            path,
            Default::default(),
            "",
            format!("cannot read the file: {e}"),
        );
        d
    })?;
    parse_scenario(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_written_once_and_serde_agrees() {
        for k in FaultKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("{:?}", k.name())
            );
            assert_eq!(FaultKind::from_name(k.name()), Some(k));
        }
        assert_eq!(FaultKind::NAMES.len(), FaultKind::ALL.len());
        assert_eq!(FaultKind::NAMES[2], "error_rate");
        for p in ProviderChoice::ALL {
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("{:?}", p.name())
            );
            assert_eq!(ProviderChoice::from_name(p.name()), Some(p));
        }
        assert_eq!(
            ProviderChoice::NAMES,
            ["auto", "native", "docker", "external"]
        );
        assert_eq!(FaultKind::from_name("service-down"), None);
    }
}

/// A base URL load may be sent to: `http` or `https`, a host, a port other
/// than 0, and no user or password (a URL is printed, and so would they
/// be). The words for what is wrong otherwise; the caller names the field
/// or flag.
pub fn check_target_url(u: &str) -> Result<(), String> {
    let expected = || {
        format!(
            "expected a base URL like \"http://127.0.0.1:8000\", found {:?}",
            redact_userinfo(u)
        )
    };
    let parsed = reqwest::Url::parse(u).map_err(|_| expected())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(expected());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials do not belong in a URL that may be printed; give the service a token or a header instead".into());
    }
    if parsed.port() == Some(0) {
        return Err(format!(
            "port 0 is not a port to send to, in {}",
            parsed.host_str().unwrap_or("")
        ));
    }
    Ok(())
}

/// `u` with anything between `//` and an `@` before the path replaced by
/// `***`, for URLs that do not parse and so cannot be checked otherwise.
fn redact_userinfo(u: &str) -> String {
    let Some(start) = u.find("//").map(|i| i + 2) else {
        return u.to_string();
    };
    let authority_end = u[start..]
        .find(['/', '?', '#'])
        .map_or(u.len(), |i| start + i);
    match u[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &u[..start], &u[start + at..]),
        None => u.to_string(),
    }
}

#[cfg(test)]
mod target_url_tests {
    use super::*;

    #[test]
    fn target_urls_with_credentials_port_0_or_no_host_are_refused_without_echoing_secrets() {
        assert!(check_target_url("http://127.0.0.1:8000").is_ok());
        assert!(check_target_url("https://api.example:443/base").is_ok());
        let e = check_target_url("http://alice:s3cret@127.0.0.1:8000").unwrap_err();
        assert!(e.contains("credentials") && !e.contains("s3cret"), "{e}");
        let e = check_target_url("http://127.0.0.1:0").unwrap_err();
        assert!(e.contains("port 0"), "{e}");
        for bad in [
            "ftp://x",
            "127.0.0.1:8000",
            "http://",
            "http://a:s3cret@[::1",
        ] {
            let e = check_target_url(bad).unwrap_err();
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
