//! Where a notification lands, independent of Alertmanager receiver names:
//! PagerDuty, a Slack channel or a named webhook. The receivers record it
//! and SLO files name it (`pagerduty`, `slack:#channel`, `webhook:NAME`),
//! so it lives with the receivers, below the SLO checks that read it.

use std::fmt;

/// Where a notification lands, independent of Alertmanager receiver names.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub enum Destination {
    PagerDuty,
    Slack(String),
    Webhook(String),
}

impl Destination {
    pub fn parse(s: &str) -> Result<Destination, String> {
        let s = s.trim();
        if s == "pagerduty" {
            return Ok(Destination::PagerDuty);
        }
        if let Some(ch) = s.strip_prefix("slack:") {
            if ch.starts_with('#') && ch.len() > 1 {
                return Ok(Destination::Slack(ch.to_string()));
            }
        }
        if let Some(name) = s.strip_prefix("webhook:") {
            if !name.is_empty() {
                return Ok(Destination::Webhook(name.to_string()));
            }
        }
        Err(format!(
            "expected a destination like \"pagerduty\", \"slack:#channel\" or \"webhook:NAME\", found {s:?}"
        ))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::PagerDuty => f.write_str("pagerduty"),
            Destination::Slack(ch) => write!(f, "slack:{ch}"),
            Destination::Webhook(n) => write!(f, "webhook:{n}"),
        }
    }
}

/// In JSON a destination is its name: `pagerduty`, `slack:#channel`,
/// `webhook:NAME`.
impl schemars::JsonSchema for Destination {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Destination".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

impl From<Destination> for String {
    fn from(d: Destination) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Destination {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Destination::parse(&s)
    }
}
