//! Static detection-time floors: from configuration alone, the soonest and
//! the latest an alert rule can notify after its condition starts.
//!
//! best  = `for` + `group_wait`
//! worst = `for` + scrape interval + evaluation interval + `group_wait`
//!         + the longest range window in the expression
//!
//! A rule whose *best* case is over the MTTD target can never pass, whatever
//! the run; `validate` reports that before anything starts.

use std::time::Duration;

use crate::input::units::human_duration;
use crate::stack::files::{AlertRule, StackFiles};
use crate::stack::render::promql::range_windows;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Floor {
    #[serde(with = "crate::report::serde_duration")]
    pub best: Duration,
    #[serde(with = "crate::report::serde_duration")]
    pub worst: Duration,
    /// The terms of `best`, in words.
    pub best_terms: String,
}

pub fn floor(rule: &AlertRule, files: &StackFiles) -> Floor {
    let (group_wait, _) = files.root_route_timers();
    let window = range_windows(&rule.expr)
        .ok()
        .and_then(|w| w.into_iter().max())
        .unwrap_or_default();
    let best = rule.for_ + group_wait;
    let worst = best + files.scrape_interval() + files.evaluation_interval() + window;
    Floor {
        best,
        worst,
        best_terms: format!(
            "for {} + group_wait {}",
            human_duration(rule.for_),
            human_duration(group_wait)
        ),
    }
}
