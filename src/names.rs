//! Typed names that every layer shares: the stack's components
//! ([`ComponentName`]) and the SLOs ([`SloKind`]).
//!
//! Their spellings are the product's contract (the seed's service names,
//! `stack.urls` keys, fault targets, `result.json`, the SLO file's keys), so
//! each is written once, in a `const fn name`, and everything else (serde,
//! the lists a decoder offers, lookups) is derived from it. They live in a
//! leaf so that the scenario decoder, the stack's component catalogue and
//! the SLO judges can all name them without pointing up.

/// `&[&str]` of every `ALL[i].name()`, at compile time.
macro_rules! names_of {
    ($all:expr) => {
        &{
            let mut out = [""; $all.len()];
            let mut i = 0;
            while i < out.len() {
                out[i] = $all[i].name();
                i += 1;
            }
            out
        }
    };
}
pub(crate) use names_of;

/// A component of the stack under test, or one of the mock services.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentName {
    Prometheus,
    Alertmanager,
    Grafana,
    Loki,
    Promtail,
    Alloy,
    Jaeger,
    Postgresql,
    PostgresExporter,
    Redis,
    RedisExporter,
    NodeExporter,
    BackendApi,
    MlEngine,
}

impl ComponentName {
    pub const ALL: [ComponentName; 14] = [
        Self::Prometheus,
        Self::Alertmanager,
        Self::Grafana,
        Self::Loki,
        Self::Promtail,
        Self::Alloy,
        Self::Jaeger,
        Self::Postgresql,
        Self::PostgresExporter,
        Self::Redis,
        Self::RedisExporter,
        Self::NodeExporter,
        Self::BackendApi,
        Self::MlEngine,
    ];

    /// Every component's name, from [`ComponentName::name`].
    pub const NAMES: &'static [&'static str] = names_of!(Self::ALL);

    /// The one place a component's name is written (serde's `kebab-case`
    /// gives the same; a test holds them together).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Alertmanager => "alertmanager",
            Self::Grafana => "grafana",
            Self::Loki => "loki",
            Self::Promtail => "promtail",
            Self::Alloy => "alloy",
            Self::Jaeger => "jaeger",
            Self::Postgresql => "postgresql",
            Self::PostgresExporter => "postgres-exporter",
            Self::Redis => "redis",
            Self::RedisExporter => "redis-exporter",
            Self::NodeExporter => "node-exporter",
            Self::BackendApi => "backend-api",
            Self::MlEngine => "ml-engine",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// `ZETA_<NAME>_<suffix>`: how the environment names its URL or
    /// credentials (`ZETA_BACKEND_API_URL`).
    pub fn env_key(self, suffix: &str) -> String {
        format!(
            "ZETA_{}_{suffix}",
            self.name().to_uppercase().replace('-', "_")
        )
    }
}

impl std::fmt::Display for ComponentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Which SLO a result is about; in JSON its snake_case name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SloKind {
    ExpectedAlerts,
    Mttd,
    AlertDelivery,
    DashboardLatency,
    /// Whether truth-checked panels show what the load sent.
    DashboardCorrectness,
    TraceCoverage,
    LogSearch,
    /// Whether the planned load happened (rate, drops, send lateness).
    Load,
    /// The comparison with a `--baseline` result.
    Baseline,
}

impl SloKind {
    pub const ALL: [SloKind; 9] = [
        Self::ExpectedAlerts,
        Self::Mttd,
        Self::AlertDelivery,
        Self::DashboardLatency,
        Self::DashboardCorrectness,
        Self::TraceCoverage,
        Self::LogSearch,
        Self::Load,
        Self::Baseline,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            SloKind::ExpectedAlerts => "expected_alerts",
            SloKind::Mttd => "mttd",
            SloKind::AlertDelivery => "alert_delivery",
            SloKind::DashboardLatency => "dashboard_latency",
            SloKind::DashboardCorrectness => "dashboard_correctness",
            SloKind::TraceCoverage => "trace_coverage",
            SloKind::LogSearch => "log_search",
            SloKind::Load => "load",
            SloKind::Baseline => "baseline",
        }
    }
}

impl std::fmt::Display for SloKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_spells_every_name_as_name_does() {
        for c in ComponentName::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
            assert_eq!(ComponentName::from_name(c.name()), Some(c));
        }
        for s in SloKind::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        assert_eq!(ComponentName::NAMES.len(), ComponentName::ALL.len());
        assert_eq!(ComponentName::from_name("cadvisor"), None);
        assert_eq!(
            ComponentName::BackendApi.env_key("URL"),
            "ZETA_BACKEND_API_URL"
        );
    }
}
