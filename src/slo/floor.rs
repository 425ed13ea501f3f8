//! Static detection-time bounds: from configuration alone, the soonest and
//! the latest an alert rule can notify after a step-change fault.
//!
//! best  (floor)   = `for`, rounded up to whole evaluations of its group
//!                   (Prometheus fires at the first evaluation at least
//!                   `for` after the one that found the condition; the
//!                   first evaluation after the failing scrape can follow
//!                   it at once)
//!                 + the shortest `group_wait`
//! worst (ceiling) = a scrape interval (the fault lands just after a scrape)
//!                 + the scrape timeout (a hung target fails only then)
//!                 + its group's evaluation interval
//!                 + one evaluation interval per level of recording rules
//!                   between the scraped series and the alert
//!                 + `for`, rounded up to whole evaluations
//!                 + the longest `group_wait`, or the `group_interval` when
//!                   alerts of other rules can open its group first
//!                 + the longest range window in the expression (a step
//!                   change fills a `rate(x[5m])` window over 5 minutes)
//!
//! An alert firing again while its Alertmanager group is still open (a
//! repeat within Prometheus' 15-minute resolved retention, whose re-sends
//! re-open the group) skips `group_wait` and waits for the group's next
//! `group_interval` tick instead:
//!
//! best  (rejoining) = `for`, rounded up to whole evaluations
//! worst (rejoining) = the worst case above with the longer of the longest
//!                     `group_wait` and the `group_interval`
//!
//! A rule whose *best* case is over the MTTD target can never pass, whatever
//! the run; `validate` reports that before anything starts. A measured MTTD
//! outside the band is a measurement error of the harness: the trials
//! report flags it (its self-check).

use std::time::Duration;

use crate::input::units::human_duration;
use crate::stackfiles::files::{AlertRule, StackFiles};
use crate::stackfiles::prometheus::promql::range_windows;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Floor {
    #[serde(with = "crate::input::units::serde_duration")]
    pub best: Duration,
    #[serde(with = "crate::input::units::serde_duration")]
    pub worst: Duration,
    /// The terms of `best`, in words.
    pub best_terms: String,
    /// The terms of `worst`, in words.
    pub worst_terms: String,
    /// The same bounds for an alert that joins its still-open group.
    #[serde(with = "crate::input::units::serde_duration")]
    pub rejoin_best: Duration,
    #[serde(with = "crate::input::units::serde_duration")]
    pub rejoin_worst: Duration,
}

/// One alert rule's floor. For many rules, [`Recorded`] once and
/// [`floor_with`] each.
pub fn floor(rule: &AlertRule, files: &StackFiles) -> Floor {
    floor_with(rule, files, &Recorded::of(files))
}

/// The recording rules of a stack, by the name they record: the metric
/// names each one's expression reads (parsed once, for every alert rule).
pub struct Recorded(std::collections::HashMap<String, Vec<String>>);

impl Recorded {
    pub fn of(files: &StackFiles) -> Recorded {
        let mut by_name: std::collections::HashMap<String, Vec<String>> = Default::default();
        for r in files.recording_rules() {
            let reads =
                crate::stackfiles::prometheus::promql::metric_names(&r.expr).unwrap_or_default();
            by_name.entry(r.name).or_default().extend(reads);
        }
        Recorded(by_name)
    }
}

pub fn floor_with(rule: &AlertRule, files: &StackFiles, recorded_rules: &Recorded) -> Floor {
    let window = range_windows(&rule.expr)
        .ok()
        .and_then(|w| w.into_iter().max())
        .unwrap_or_default();
    let eval = files.evaluation_interval_of(rule);
    let for_evals = if eval.is_zero() {
        rule.for_
    } else {
        eval * rule.for_.as_nanos().div_ceil(eval.as_nanos()) as u32
    };
    let (min_wait, max_wait) = files.group_wait_range(rule);
    let best = for_evals + min_wait;
    let recorded = files.evaluation_interval() * recording_levels(&rule.expr, recorded_rules);
    let (_, group_interval) = files.root_route_timers();
    let (wait, wait_term) = if files.alerts_share_groups() {
        (
            max_wait.max(group_interval),
            "group_interval (alerts of other rules share its group)",
        )
    } else {
        (max_wait, "group_wait")
    };
    let scrape = files.scrape_interval();
    let timeout = files.scrape_timeout();
    let worst = scrape + timeout + eval + recorded + for_evals + wait + window;
    let rejoin_wait = max_wait.max(group_interval);
    Floor {
        best,
        worst,
        rejoin_best: for_evals,
        rejoin_worst: worst - wait + rejoin_wait,
        best_terms: format!(
            "for {} + group_wait {}",
            human_duration(for_evals),
            human_duration(min_wait)
        ),
        worst_terms: format!(
            "scrape {} + scrape timeout {} + evaluation {}{} + for {} + {wait_term} {} + window {}",
            human_duration(scrape),
            human_duration(timeout),
            human_duration(eval),
            if recorded.is_zero() {
                String::new()
            } else {
                format!(" + recording rules {}", human_duration(recorded))
            },
            human_duration(for_evals),
            human_duration(wait),
            human_duration(window)
        ),
    }
}

/// How many levels of recording rules stand between `expr` and the scraped
/// series: each is evaluated once more before the alert can see a change.
/// Bounded, so that a cycle of rules (which Prometheus accepts) ends.
fn recording_levels(expr: &str, recorded: &Recorded) -> u32 {
    let mut level = 0;
    let mut names = crate::stackfiles::prometheus::promql::metric_names(expr).unwrap_or_default();
    while level < 8 {
        let read: Vec<&Vec<String>> = names.iter().filter_map(|n| recorded.0.get(n)).collect();
        if read.is_empty() {
            break;
        }
        level += 1;
        names = read.into_iter().flatten().cloned().collect();
    }
    level
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
    let recorded = Recorded::of(files);
    files
        .rules
        .iter()
        .map(|rule| {
            let floor = floor_with(rule, files, &recorded);
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
            percentile: None,
        };
        let all = floors(&files, Some(&mttd));
        let impossible: Vec<&str> = all
            .iter()
            .filter(|f| f.impossible)
            .map(|f| f.rule.name.as_str())
            .collect();
        assert_eq!(impossible, ["HighErrorRate", "HighLatencyP95"]);
        let sd = all.iter().find(|f| f.rule.name == "ServiceDown").unwrap();
        // for 1m + group_wait 30s; worst adds a scrape, its timeout and
        // an evaluation.
        assert_eq!(sd.floor.best, Duration::from_secs(90));
        assert_eq!(sd.floor.worst, Duration::from_secs(130));
        // Joining a still-open group: no group_wait at best, its
        // group_interval (1m) instead at worst.
        assert_eq!(sd.floor.rejoin_best, Duration::from_secs(60));
        assert_eq!(sd.floor.rejoin_worst, Duration::from_secs(160));
        let er = all.iter().find(|f| f.rule.name == "HighErrorRate").unwrap();
        // worst: 15s + 10s + 15s + 5m + 30s + the 5m rate window.
        assert_eq!(er.floor.worst, Duration::from_secs(670));
        assert_eq!(
            er.floor.worst_terms,
            "scrape 15.0s + scrape timeout 10.0s + evaluation 15.0s + for 5m00s + group_wait 30.0s + window 5m00s"
        );
    }

    fn files_with(prometheus: &str, alertmanager: &str, rules: &str) -> StackFiles {
        StackFiles::from_texts(prometheus, rules, alertmanager)
    }

    #[test]
    fn a_group_interval_an_uneven_for_and_shared_groups_widen_the_ceiling() {
        let files = files_with(
            "global: {scrape_interval: 20s, evaluation_interval: 20s}\nrule_files: [rules.yml]\n",
            "route: {receiver: r, group_by: [service], group_wait: 10s, group_interval: 2m, routes: [{receiver: r, group_wait: 5s}]}\nreceivers: [{name: r}]\n",
            "groups:\n  - name: g\n    interval: 40s\n    rules:\n      - {alert: A, expr: up == 0, for: 50s}\n",
        );
        let f = floor(files.rule("A").unwrap(), &files);
        // for 50s rounded up to the group's 40s evaluations, and the
        // shortest group_wait, a child route's.
        assert_eq!(f.best, Duration::from_secs(80 + 5));
        // 20s + timeout 10s (the default, under the interval) + the group's
        // 40s + for 50s rounded up to 80s + group_interval 2m.
        assert_eq!(f.worst, Duration::from_secs(20 + 10 + 40 + 80 + 120));
        assert!(
            f.worst_terms.contains("alerts of other rules share"),
            "{}",
            f.worst_terms
        );
    }

    #[test]
    fn the_best_case_rounds_for_up_to_whole_evaluations() {
        let files = files_with(
            "global: {scrape_interval: 15s, evaluation_interval: 5m}\nrule_files: [rules.yml]\n",
            "route: {receiver: r, group_wait: 30s}\nreceivers: [{name: r}]\n",
            "groups:\n  - name: g\n    rules:\n      - {alert: A, expr: up == 0, for: 1m}\n",
        );
        let f = floor(files.rule("A").unwrap(), &files);
        assert_eq!(f.best, Duration::from_secs(5 * 60 + 30));
        assert_eq!(f.rejoin_best, Duration::from_secs(5 * 60));
        assert_eq!(f.best_terms, "for 5m00s + group_wait 30.0s");
    }

    #[test]
    fn each_level_of_recording_rules_adds_an_evaluation_to_the_worst_case() {
        let rules = "groups:\n  - name: r\n    rules:\n      - {record: 'job:up:min', expr: 'min by (job) (up)'}\n      - {record: 'job:up:min2', expr: 'min by (job) (job:up:min)'}\n  - name: g\n    rules:\n      - {alert: A, expr: 'job:up:min2 == 0', for: 1m}\n      - {alert: B, expr: 'up == 0', for: 1m}\n";
        let files = files_with(
            "global: {scrape_interval: 15s, evaluation_interval: 15s}\nrule_files: [rules.yml]\n",
            "route: {receiver: r, group_wait: 30s}\nreceivers: [{name: r}]\n",
            rules,
        );
        let a = floor(files.rule("A").unwrap(), &files);
        let b = floor(files.rule("B").unwrap(), &files);
        assert_eq!(a.best, b.best);
        assert_eq!(a.worst, b.worst + Duration::from_secs(2 * 15));
        assert!(
            a.worst_terms.contains("recording rules 30.0s"),
            "{}",
            a.worst_terms
        );
    }
}
