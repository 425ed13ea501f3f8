//! The run's result ([`model::RunResult`], one versioned serde model) and
//! its renderers. Every renderer reads only the result, so a report can be
//! re-rendered later from `result.json` (`zeta-bench report`).

pub mod model;
pub mod terminal;

pub use model::{RunResult, Verdict};

/// `Duration` as seconds (f64) in JSON.
pub mod serde_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
