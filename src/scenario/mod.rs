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

pub use decode::{FAULT_TARGETS, parse_scenario};
pub use template::RequestTemplate;

#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: PathBuf,
    pub name: String,
    pub description: String,
    pub stack: StackRef,
    /// The SLO file, resolved relative to the scenario file.
    pub slo: Located<PathBuf>,
    pub tenants: Tenants,
    pub load: Load,
    pub faults: Vec<Fault>,
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub struct StackRef {
    /// The `stack/` directory, resolved relative to the scenario file.
    pub dir: Located<PathBuf>,
    pub provider: ProviderChoice,
    pub time_scale: Located<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderChoice {
    Auto,
    Native,
    Docker,
    External,
}

impl ProviderChoice {
    pub const NAMES: &'static [&'static str] = &["auto", "native", "docker", "external"];

    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "auto" => Self::Auto,
            "native" => Self::Native,
            "docker" => Self::Docker,
            "external" => Self::External,
            _ => return None,
        })
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

#[derive(Debug, Clone, PartialEq)]
pub enum TenantDistribution {
    Uniform,
    Zipf { skew: f64 },
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
    pub fn total_duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration.value).sum()
    }
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub duration: Located<Duration>,
    pub rate_per_second: f64,
    pub arrivals: Arrivals,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    ServiceDown,
}

impl FaultKind {
    pub const NAMES: &'static [&'static str] = &["service_down"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "service_down" => Some(Self::ServiceDown),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ServiceDown => "service_down",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub name: String,
    pub kind: FaultKind,
    pub target: Located<String>,
    pub at: Located<Duration>,
    pub duration: Located<Duration>,
}

#[derive(Debug, Clone)]
pub struct Expect {
    pub alerts: Vec<ExpectedAlert>,
    pub unexpected_alerts: UnexpectedAlerts,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExpectedAlert {
    pub name: String,
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
    let text = std::fs::read_to_string(path).map_err(|e| {
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
