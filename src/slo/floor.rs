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
    #[serde(with = "crate::input::units::serde_duration")]
    pub best: Duration,
    #[serde(with = "crate::input::units::serde_duration")]
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

/// Every alert rule with its floor, and whether the MTTD SLO covers it and
/// can never be met by it.
pub struct RuleFloor<'a> {
    pub rule: &'a AlertRule,
    pub floor: Floor,
    pub covered: bool,
    pub impossible: bool,
}

pub fn floors<'a>(
    files: &'a StackFiles,
    mttd: Option<&crate::slo::spec::MttdSlo>,
) -> Vec<RuleFloor<'a>> {
    files
        .rules
        .iter()
        .map(|rule| {
            let floor = floor(rule, files);
            let covered = mttd.is_some_and(|m| m.severities.iter().any(|s| s == rule.severity()));
            let impossible = covered && mttd.is_some_and(|m| floor.best > m.max);
            RuleFloor {
                rule,
                floor,
                covered,
                impossible,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_rules_that_can_never_meet_five_minutes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stack");
        let files = StackFiles::load(&dir).unwrap();
        let mttd = crate::slo::spec::MttdSlo {
            max: Duration::from_secs(300),
            severities: vec!["critical".into()],
            required: true,
        };
        let all = floors(&files, Some(&mttd));
        let impossible: Vec<&str> = all
            .iter()
            .filter(|f| f.impossible)
            .map(|f| f.rule.name.as_str())
            .collect();
        assert_eq!(impossible, ["HighErrorRate", "HighLatencyP95"]);
        let sd = all.iter().find(|f| f.rule.name == "ServiceDown").unwrap();
        // for 1m + group_wait 30s; worst adds a scrape and an evaluation.
        assert_eq!(sd.floor.best, Duration::from_secs(90));
        assert_eq!(sd.floor.worst, Duration::from_secs(120));
        let er = all.iter().find(|f| f.rule.name == "HighErrorRate").unwrap();
        // worst: 5m + 30s + 15s + 15s + the 5m rate window.
        assert_eq!(er.floor.worst, Duration::from_secs(660));
    }
}
