//! `RunResult`: everything a run measured, in one serializable model.
//! `schema_version` changes whenever a field changes meaning or goes away.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fault::FaultRecord;
use crate::load::LoadReport;
use crate::observe::alertmanager::receiver::Notification;
use crate::observe::prometheus::alerts::AlertTimeline;
use crate::slo::check::{Detection, RoutingRow, SloResult};
use crate::stack::{ComponentInfo, ProviderDecision};
use crate::stackfiles::render::DroppedTarget;

/// 2: notifications carry alert instances (labels, fingerprint, status) and
/// their attribution; detections carry per-destination MTTD and reset time.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every required SLO measured and met.
    Pass,
    /// A required SLO failed or could not be measured.
    Fail,
    /// The run did not complete (interrupted, or a component failed
    /// mid-run); the result is partial.
    Incomplete,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StackInfo {
    pub dir: String,
    /// `git describe` of the stack directory, with `-dirty` for local edits.
    #[serde(default)]
    pub git_revision: Option<String>,
    pub scrape_targets: Vec<(String, String)>,
    pub dropped_targets: Vec<DroppedTarget>,
    pub unobserved_integrations: Vec<String>,
    /// Components this stack ran without, and why: Grafana, Loki or Jaeger
    /// not installed, and what `stack.allow_absent` let the run go without.
    #[serde(default)]
    pub absent: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunResult {
    pub schema_version: u32,
    pub zeta_bench_version: String,
    pub scenario: ScenarioInfo,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// K: wall durations × K = real-time equivalents.
    pub time_scale: f64,
    pub provider: ProviderDecision,
    pub components: Vec<ComponentInfo>,
    pub stack: StackInfo,
    pub faults: Vec<FaultRecord>,
    pub alerts: Vec<AlertTimeline>,
    /// Prometheus' alerts were polled this often (wall seconds).
    pub alert_poll_interval_s: f64,
    /// How late those polls came, per wall minute of the run (absent in
    /// results written before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_poll_lateness: Vec<crate::observe::prometheus::alerts::PollMinute>,
    pub notifications: Vec<Notification>,
    pub detections: Vec<Detection>,
    /// With several trials, each expected alert's MTTD and reset time over
    /// them: spread per destination, the configuration's band, the
    /// self-check. Absent in a run of one trial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<crate::slo::check::AlertTrials>,
    /// Per rule that was expected or fired: detection and reset time,
    /// precision and recall.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scorecard: Vec<crate::slo::check::RuleScore>,
    pub routing: Vec<RoutingRow>,
    /// What faults in the monitoring pipeline itself (a receiver failing
    /// or slow) did to delivery, and whether anything told a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<crate::slo::check::pipeline::PipelineReport>,
    pub load: Option<LoadReport>,
    #[serde(default)]
    pub dashboards: Option<crate::observe::grafana::dashboards::DashboardReport>,
    #[serde(default)]
    pub traces: Option<crate::observe::jaeger::traces::TraceReport>,
    #[serde(default)]
    pub logs: Option<crate::observe::loki::logs::LogReport>,
    pub slos: Vec<SloResult>,
    pub verdict: Verdict,
    pub notes: Vec<String>,
    pub run_dir: String,
}

impl RunResult {
    /// The verdict the SLO results imply.
    pub fn judge(slos: &[SloResult], incomplete: bool) -> Verdict {
        if incomplete {
            return Verdict::Incomplete;
        }
        let failed = slos.iter().any(SloResult::fails_run);
        if failed { Verdict::Fail } else { Verdict::Pass }
    }

    /// What this run could not check: each NOT MEASURED SLO with its
    /// first reason, for the summary's glance line.
    pub fn not_checked(&self) -> Vec<String> {
        self.slos
            .iter()
            .filter(|s| s.status == crate::slo::check::Status::NotMeasured)
            .map(|s| match s.details.first() {
                Some(why) => format!("{} ({why})", s.name),
                None => s.name.to_string(),
            })
            .collect()
    }

    /// Exit code per the README: 0 pass, 1 SLO failed, 3 could not run.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Incomplete => 3,
        }
    }
}

/// The JSON Schema of `result.json` (checked in as `schema/result.schema.json`).
pub fn json_schema() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(RunResult)).expect("a schema is JSON");
    schema["$id"] = serde_json::json!(format!(
        "https://zeta-bench.invalid/schema/result-v{SCHEMA_VERSION}.json"
    ));
    schema["description"] = serde_json::json!(
        "zeta-bench RunResult: everything one run measured. schema_version changes whenever a field changes meaning or goes away."
    );
    schema
}
