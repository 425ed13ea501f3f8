//! Exporters that wait in wall-clock time: a time-scale hazard of the
//! stack's producers rather than of its expressions ([`super::hazards`]).
//!
//! The harness divides every scrape timeout by K, but an exporter's own
//! waits are not scaled. postgres_exporter, asked for metrics while
//! PostgreSQL is unreachable, pings it, fails, sleeps one second (the retry
//! in its `GetServer`), and only then answers with `pg_up 0`. Prometheus
//! stores a scrape's samples when the scrape ends, so the outage reaches
//! the rules `min(wait, timeout ÷ K)` of wall time late: at K = 10 that is
//! 10 s of real time where at K = 1 it is 1 s. Measured
//! (`docs/time-scale.md`): DatabaseDown paged 9 to 13 s later at K = 5, 10
//! and 15 than at K = 1. And once `timeout ÷ K` is no longer than the wait,
//! every scrape of the exporter times out while the database is down: its
//! `pg_*` series have no sample at all and its `up` is 0, which at K = 1
//! never happens. A rule on `pg_up == 0` alone then cannot fire.
//!
//! [`scan`] lists, for `validate` and the run's notes, every alert rule
//! that reads such an exporter, with what this K does to it;
//! [`distortion`] says whether a rule cannot see the outage at all, or sees
//! it more than [`FIDELITY`] later than at 1×, which `run` refuses
//! (`run::inputs`). A scrape timeout of at most the wait plus
//! [`FIDELITY`] bounds the lag at any K: the shipped stack gives
//! postgres-exporter 5 s.

use std::time::Duration;

use super::StackFiles;
use super::files::AlertRule;
use super::prometheus::promql::{selected_name, vector_selectors};

/// An exporter that waits a fixed wall-clock time before it answers a
/// scrape while what it watches is down.
#[derive(Debug)]
pub struct WallWait {
    /// The scrape job that runs it (the seed's name).
    pub job: &'static str,
    /// The component whose outage makes it wait.
    pub watches: &'static str,
    /// Its own metric families.
    pub prefixes: &'static [&'static str],
    pub wait: Duration,
    pub what: &'static str,
}

pub const WALL_WAITS: &[WallWait] = &[WallWait {
    job: "postgres-exporter",
    watches: "postgresql",
    prefixes: &["pg_"],
    wait: Duration::from_secs(1),
    what: "while PostgreSQL is unreachable postgres_exporter waits 1s of wall time, which is \
           not time-scaled, before it answers a scrape (the retry in its GetServer)",
}];

/// How an expression reads an exporter's scrape job.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Its own series (`pg_up`): absent when its scrape fails.
    pub family: Vec<String>,
    /// `up` of its job: 0 when its scrape fails.
    pub up: bool,
}

impl Reads {
    fn any(&self) -> bool {
        !self.family.is_empty() || self.up
    }
}

/// Whether a `job` matcher (or none) selects `job` (the parser anchors
/// a regex matcher, as Prometheus does).
fn selects_job(vs: &promql_parser::parser::VectorSelector, job: &str) -> bool {
    vs.matchers
        .matchers
        .iter()
        .filter(|m| m.name == "job")
        .all(|m| m.is_match(job))
}

/// What of `w`'s job `expr` reads.
pub fn reads(expr: &str, w: &WallWait) -> Reads {
    let mut out = Reads::default();
    for vs in vector_selectors(expr).unwrap_or_default() {
        let Some(name) = selected_name(&vs) else {
            continue;
        };
        if w.prefixes.iter().any(|p| name.starts_with(p)) {
            out.family.push(name);
        } else if name == "up" && selects_job(&vs, w.job) {
            out.up = true;
        }
    }
    out.family.sort();
    out.family.dedup();
    out
}

/// Whether at `k` every scrape of the exporter times out while it waits.
pub fn times_out(w: &WallWait, timeout: Duration, k: f64) -> bool {
    timeout.div_f64(k) <= w.wait
}

/// How much later, in real time, the outage reaches the rules at `k` than
/// at 1×: `min(wait, timeout ÷ K) × K − min(wait, timeout)`.
pub fn lag(w: &WallWait, timeout: Duration, k: f64) -> Duration {
    let at = |k: f64| w.wait.min(timeout.div_f64(k)).mul_f64(k);
    // To the millisecond: K × (timeout ÷ K) is the timeout again, not a
    // nanosecond past it.
    let ms = at(k).saturating_sub(at(1.0)).as_secs_f64() * 1e3;
    Duration::from_millis(ms.round() as u64)
}

/// The largest time scale at which the exporter still answers within its
/// scrape timeout (with 5 % to spare): `timeout ÷ (wait × 1.05)`, floored.
pub fn largest_k(w: &WallWait, timeout: Duration) -> f64 {
    (timeout.as_secs_f64() / (w.wait.as_secs_f64() * 1.05))
        .floor()
        .max(1.0)
}

/// How far a time-scaled MTTD may sit from its 1× value and still stand
/// for it: the time-fidelity goal that `scripts/time-fidelity.sh` measures
/// against (`docs/time-scale.md`).
pub const FIDELITY: Duration = Duration::from_secs(5);

/// The largest time scale at which the [`lag`] stays within [`FIDELITY`]:
/// `(FIDELITY + min(wait, timeout)) ÷ wait`, floored; `None` when no K
/// takes it past (a timeout of at most `wait + FIDELITY` caps the lag).
pub fn largest_k_within(w: &WallWait, timeout: Duration) -> Option<f64> {
    let at_one = w.wait.min(timeout);
    if timeout.saturating_sub(at_one) <= FIDELITY {
        return None;
    }
    Some(
        ((FIDELITY + at_one).as_secs_f64() / w.wait.as_secs_f64())
            .floor()
            .max(1.0),
    )
}

/// The largest time scale at which a rule that reads `r` of the exporter
/// neither goes blind nor sees the outage more than [`FIDELITY`] late.
pub fn largest_faithful_k(w: &WallWait, timeout: Duration, r: &Reads) -> f64 {
    let late = largest_k_within(w, timeout).unwrap_or(f64::INFINITY);
    let blind = if r.up {
        f64::INFINITY
    } else {
        largest_k(w, timeout)
    };
    late.min(blind).max(1.0)
}

/// What a time scale does to a rule that reads an exporter that waits,
/// when its MTTD no longer stands for 1×.
#[derive(Debug, PartialEq)]
pub enum Distortion {
    /// It reads only the exporter's own series, and they have no sample
    /// while every scrape times out: it cannot fire.
    Blind,
    /// It sees the outage this much later in real time than at 1×: more
    /// than [`FIDELITY`].
    Late(Duration),
}

/// A rule's [`Distortion`] at a time scale, with the exporter behind it.
#[derive(Debug)]
pub struct Distorted {
    pub wait: &'static WallWait,
    pub timeout: Duration,
    pub reads: Reads,
    pub how: Distortion,
}

impl Distorted {
    /// The largest time scale that keeps this rule faithful.
    pub fn largest_k(&self) -> f64 {
        largest_faithful_k(self.wait, self.timeout, &self.reads)
    }

    /// What keeps the rule faithful, in words: a smaller K, and for a lag
    /// a shorter scrape timeout, for a blind rule reading `up` too.
    pub fn remedy(&self) -> String {
        let k = crate::input::units::show_number(self.largest_k());
        let job = self.wait.job;
        match self.how {
            Distortion::Late(_) => format!(
                "that is more than the {} by which a time-scaled MTTD may differ from 1×: a time \
                 scale of at most {k}, or a scrape timeout of at most {} for job {job}, keeps it \
                 within",
                crate::input::units::format_duration(FIDELITY),
                crate::input::units::format_duration(self.wait.wait + FIDELITY),
            ),
            Distortion::Blind => format!(
                "a time scale of at most {k} keeps the scrape within its timeout and the lag \
                 within {}, or the rule can read up{{job=\"{job}\"}} too",
                crate::input::units::format_duration(FIDELITY),
            ),
        }
    }
}

/// Whether `k` distorts what `rule` measures through an exporter that
/// waits: it goes blind, or the outage reaches it more than [`FIDELITY`]
/// later than at 1×. `None` at K ≤ 1 and for a rule that reads none.
pub fn distortion(files: &StackFiles, rule: &AlertRule, k: f64) -> Option<Distorted> {
    if k <= 1.0 {
        return None;
    }
    WALL_WAITS.iter().find_map(|w| {
        let timeout = files.scrape_timeout_of(w.job)?;
        distorted(w, timeout, reads(&rule.expr, w), k)
    })
}

/// What `k` does to a rule that reads `r` of `w`'s job, if it distorts.
fn distorted(w: &'static WallWait, timeout: Duration, r: Reads, k: f64) -> Option<Distorted> {
    if k <= 1.0 || !r.any() {
        return None;
    }
    let how = if !r.up && times_out(w, timeout, k) {
        Distortion::Blind
    } else {
        let late = lag(w, timeout, k);
        if late <= FIDELITY {
            return None;
        }
        Distortion::Late(late)
    };
    Some(Distorted {
        wait: w,
        timeout,
        reads: r,
        how,
    })
}

/// Every alert rule that reads an exporter that waits, with what `k`
/// does to it, as `file: alert X: why`. Empty at K ≤ 1.
pub fn scan(files: &StackFiles, k: f64) -> Vec<String> {
    let mut out = Vec::new();
    if k <= 1.0 {
        return out;
    }
    let fmt = crate::input::units::human_duration;
    for w in WALL_WAITS {
        let Some(timeout) = files.scrape_timeout_of(w.job) else {
            continue;
        };
        for rule in &files.rules {
            let r = reads(&rule.expr, w);
            if !r.any() {
                continue;
            }
            let file = format!("prometheus/{}", rule.file);
            let through =
                (r.family.first().cloned()).unwrap_or_else(|| format!("up{{job=\"{}\"}}", w.job));
            let effect = if !times_out(w, timeout, k) {
                format!(
                    "so the outage reaches the rule about {} later in real time than at 1× \
                     (its MTTD is that much pessimistic)",
                    fmt(lag(w, timeout, k))
                )
            } else if r.up {
                format!(
                    "and at this K the scrape timeout ({} of wall time) is no longer than that \
                     wait: every scrape of {} fails during the outage, its own series have no \
                     sample and up is 0; the rule sees the outage through up, about {} later in \
                     real time than at 1×",
                    fmt(timeout.div_f64(k)),
                    w.job,
                    fmt(lag(w, timeout, k))
                )
            } else {
                format!(
                    "and at this K the scrape timeout ({} of wall time) is no longer than that \
                     wait: every scrape of {} fails during the outage and {} has no sample, so \
                     the rule cannot fire at this K although it does at 1×",
                    fmt(timeout.div_f64(k)),
                    w.job,
                    through,
                )
            };
            let refused = distorted(w, timeout, r, k)
                .map(|d| format!("; {}", d.remedy()))
                .unwrap_or_default();
            out.push(format!(
                "{file}: alert {}: reads {} of {}: {}, {effect}{refused}",
                rule.name, through, w.job, w.what
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: &WallWait = &WALL_WAITS[0];

    #[test]
    fn a_rule_reads_the_exporter_through_its_series_or_its_jobs_up() {
        let r = reads("pg_up == 0 or up{job=\"postgres-exporter\"} == 0", PG);
        assert_eq!((r.family, r.up), (vec!["pg_up".to_string()], true));
        assert!(reads("up{job=~\"postgres-.*\"} == 0", PG).up);
        assert!(reads("up == 0", PG).up, "every job's up includes it");
        assert!(!reads("up{job=~\"backend-api|ml-engine\"} == 0", PG).up);
        assert!(!reads("up{job!=\"postgres-exporter\"} == 0", PG).up);
        assert!(!reads("rate(api_requests_total[5m]) > 1", PG).any());
        let r = reads("rate(pg_stat_database_xact_commit[5m]) < 1", PG);
        assert_eq!(r.family, ["pg_stat_database_xact_commit"]);
    }

    #[test]
    fn the_lag_grows_with_k_until_the_timeout_caps_it() {
        let t = Duration::from_secs(10);
        let secs = |k| lag(PG, t, k).as_secs_f64();
        // 1 s at 1×; 5 s at 5×; the timeout (1 s of wall time) at 10×
        // and 15×: 10 s of real time.
        assert_eq!(secs(1.0), 0.0);
        assert!((secs(5.0) - 4.0).abs() < 1e-6);
        assert!((secs(10.0) - 9.0).abs() < 1e-6);
        assert!((secs(15.0) - 9.0).abs() < 1e-6);
        assert!(!times_out(PG, t, 9.0));
        assert!(
            times_out(PG, t, 10.0),
            "1 s timeout, 1 s wait plus the ping"
        );
        assert_eq!(largest_k(PG, t), 9.0);
    }

    /// A stack with a postgres-exporter job (scrape timeout 10 s) and one
    /// rule.
    fn files_with(rule_expr: &str) -> StackFiles {
        StackFiles::from_texts(
            "global: {scrape_interval: 15s, evaluation_interval: 15s}\nrule_files: [rules.yml]\n\
             scrape_configs:\n  - job_name: postgres-exporter\n    static_configs: [{targets: ['x:9187']}]\n",
            &format!(
                "groups:\n  - name: g\n    rules:\n      - {{alert: DatabaseDown, expr: '{rule_expr}', for: 1m}}\n"
            ),
            "route: {receiver: r}\nreceivers: [{name: r}]\n",
        )
    }

    #[test]
    fn a_lag_past_the_fidelity_goal_is_a_distortion_and_a_short_timeout_caps_it() {
        let ten = Duration::from_secs(10);
        // lag(6) = 6 × 1 s − 1 s = 5 s: within; lag(7) = 6 s: not.
        assert_eq!(largest_k_within(PG, ten), Some(6.0));
        assert!(lag(PG, ten, 6.0) <= FIDELITY && lag(PG, ten, 7.0) > FIDELITY);
        // A timeout of at most wait + FIDELITY caps the lag at any K.
        assert_eq!(largest_k_within(PG, Duration::from_secs(6)), None);
        assert_eq!(lag(PG, Duration::from_secs(5), 15.0).as_secs_f64(), 4.0);
        let up = Reads {
            family: vec![],
            up: true,
        };
        let family = Reads {
            family: vec!["pg_up".into()],
            up: false,
        };
        assert_eq!(largest_faithful_k(PG, ten, &up), 6.0);
        assert_eq!(largest_faithful_k(PG, ten, &family), 6.0);
        // With a 5 s timeout nothing is late, but pg_up alone goes blind
        // from K = 5 (the scrape times out at 1 s of wall time).
        let five = Duration::from_secs(5);
        assert_eq!(largest_faithful_k(PG, five, &up), f64::INFINITY);
        assert_eq!(largest_faithful_k(PG, five, &family), 4.0);
    }

    #[test]
    fn the_shipped_database_rule_stays_faithful_and_others_are_refused_where_they_distort() {
        let shipped =
            StackFiles::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stack"))
                .unwrap();
        assert_eq!(
            shipped.scrape_timeout_of("postgres-exporter"),
            Some(Duration::from_secs(5))
        );
        assert!(scan(&shipped, 1.0).is_empty());
        let rule = shipped.rule("DatabaseDown").unwrap();
        for k in [2.0, 5.0, 10.0, 15.0] {
            assert!(distortion(&shipped, rule, k).is_none(), "at {k}");
        }
        let at15 = scan(&shipped, 15.0);
        assert_eq!(at15.len(), 1, "{at15:?}");
        assert!(
            at15[0].starts_with(
                "prometheus/alert-rules.yml: alert DatabaseDown: reads pg_up of postgres-exporter"
            ) && at15[0].contains("sees the outage through up, about 4.0s later")
                && !at15[0].contains("keeps it within"),
            "{at15:?}"
        );

        // Both series, a 10 s timeout: late from 7×.
        let both = files_with("pg_up == 0 or up{job=\"postgres-exporter\"} == 0");
        let rule = both.rule("DatabaseDown").unwrap();
        assert!(distortion(&both, rule, 6.0).is_none());
        let d = distortion(&both, rule, 15.0).unwrap();
        assert_eq!(d.how, Distortion::Late(Duration::from_secs(9)));
        assert!(
            d.remedy()
                .contains("at most 6, or a scrape timeout of at most 6s for job postgres-exporter"),
            "{}",
            d.remedy()
        );
        assert!(scan(&both, 15.0)[0].contains("more than the 5s"));

        // pg_up alone: late from 7×, blind from 10×.
        let only = files_with("pg_up == 0");
        let rule = only.rule("DatabaseDown").unwrap();
        assert!(distortion(&only, rule, 6.0).is_none());
        assert!(matches!(
            distortion(&only, rule, 8.0).unwrap().how,
            Distortion::Late(_)
        ));
        let d = distortion(&only, rule, 10.0).unwrap();
        assert_eq!(d.how, Distortion::Blind);
        assert!(d.remedy().contains("at most 6 keeps"), "{}", d.remedy());
        let at15 = scan(&only, 15.0);
        assert!(at15[0].contains("cannot fire at this K"), "{at15:?}");
    }
}
