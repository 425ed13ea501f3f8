//! What in the stack could produce a series a rule or a dashboard reads.
//! The metric contract ([`crate::contract`]) lists what the mocks emit and
//! the exporters' series the seed uses; a real stack also reads its own
//! recording rules, the rest of each exporter's series, and targets
//! zeta-bench does not model at all. A metric is an error only when
//! nothing in the stack could produce it:
//!
//! 1. in the contract, recorded by a rule of the stack, or made by
//!    Prometheus for every target (`up`, `scrape_*`, `ALERTS`): fine;
//! 2. of the family a declared scrape job exposes (`node_` from
//!    node-exporter, `pg_` from postgres-exporter, …), which the contract
//!    lists only in part: a warning, not checked;
//! 3. within a few letters of a known name: an error that names it (a
//!    typo, whatever else the stack scrapes);
//! 4. a recording rule's name (`level:metric:operations`) that no rule
//!    file here records: a warning (another Prometheus or ruler may);
//! 5. any scrape job zeta-bench does not model: a warning naming it;
//! 6. otherwise an error.

use std::collections::{BTreeMap, BTreeSet};

use super::StackFiles;

/// Series Prometheus itself adds for every target or rule.
const SYNTHETIC: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
    "ALERTS",
    "ALERTS_FOR_STATE",
];

/// The metric families of the components zeta-bench knows, by the scrape
/// job name the seed gives them. Every one is a Go program or exposes the
/// Go client's process metrics, hence `go_`, `process_` and `promhttp_`.
const FAMILIES: &[(&str, &[&str])] = &[
    ("prometheus", &["prometheus_", "net_conntrack_", "tsdb_"]),
    ("alertmanager", &["alertmanager_", "cluster_"]),
    ("grafana", &["grafana_", "access_evaluation_"]),
    ("loki", &["loki_", "cortex_"]),
    ("promtail", &["promtail_", "loki_"]),
    ("alloy", &["alloy_", "loki_", "otelcol_"]),
    ("jaeger", &["jaeger_", "otelcol_"]),
    ("node-exporter", &["node_"]),
    ("cadvisor", &["container_", "machine_", "cadvisor_"]),
    ("postgres-exporter", &["pg_", "postgres_exporter_"]),
    ("redis-exporter", &["redis_"]),
];

const GO_CLIENT: &[&str] = &["go_", "process_", "promhttp_"];

/// The scrape jobs whose every series the contract lists.
const MODELLED_IN_FULL: &[&str] = &["backend-api", "ml-engine"];

/// How one metric name stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Known,
    /// Exposed by these declared jobs, whose series are not all modelled.
    FamilyOf(String),
    /// Named like a recording rule that no rule file here records.
    UnrecordedRule,
    /// Could come from these scrape jobs zeta-bench does not model.
    Unmodelled(Vec<String>),
    /// Nothing in the stack produces it; the nearest known name, if close.
    Missing {
        did_you_mean: Option<String>,
    },
}

/// What the stack's files say could produce a series.
pub struct Producers {
    recorded: BTreeSet<String>,
    jobs: Vec<String>,
}

impl Producers {
    pub fn of(files: &StackFiles) -> Producers {
        Producers {
            recorded: files.recording_rules().map(|r| r.name).collect(),
            jobs: files.scrape_jobs(),
        }
    }

    pub fn judge(&self, name: &str) -> Verdict {
        if crate::contract::lookup(name).is_some()
            || self.recorded.contains(name)
            || SYNTHETIC.contains(&name)
        {
            return Verdict::Known;
        }
        if let Some(job) = self.family_of(name) {
            return Verdict::FamilyOf(job);
        }
        if let Some(near) = self.nearest(name) {
            return Verdict::Missing {
                did_you_mean: Some(near),
            };
        }
        if name.contains(':') {
            // A recorded name a letter or two away is this stack's rule,
            // misspelled.
            let near = self
                .recorded
                .iter()
                .map(|r| (edit_distance(name, r), r))
                .filter(|(d, _)| *d <= 2)
                .min();
            return match near {
                Some((_, r)) => Verdict::Missing {
                    did_you_mean: Some(r.clone()),
                },
                None => Verdict::UnrecordedRule,
            };
        }
        let unmodelled: Vec<String> = self
            .jobs
            .iter()
            .filter(|j| !is_known_job(j))
            .cloned()
            .collect();
        if unmodelled.is_empty() {
            Verdict::Missing { did_you_mean: None }
        } else {
            Verdict::Unmodelled(unmodelled)
        }
    }

    /// The declared job whose family `name` belongs to.
    fn family_of(&self, name: &str) -> Option<String> {
        let declared = |job: &str| self.jobs.iter().any(|j| j == job);
        if GO_CLIENT.iter().any(|p| name.starts_with(p)) {
            return self
                .jobs
                .iter()
                .find(|j| !MODELLED_IN_FULL.contains(&j.as_str()))
                .cloned();
        }
        FAMILIES
            .iter()
            .filter(|(job, _)| declared(job))
            .find(|(_, prefixes)| prefixes.iter().any(|p| name.starts_with(p)))
            .map(|(job, _)| (*job).to_string())
    }

    /// A known name a typo away from `name`: one edit for names of 12
    /// characters or more, two for 20 or more (shorter names differ by a
    /// letter on purpose: `node_load1`, `node_load5`).
    fn nearest(&self, name: &str) -> Option<String> {
        let allowed = match name.len() {
            0..12 => return None,
            12..20 => 1,
            _ => 2,
        };
        crate::contract::CONTRACT
            .iter()
            .flat_map(|s| series_names(s.name, s.kind))
            .chain(self.recorded.iter().cloned())
            .filter(|known| known != name)
            .map(|known| (edit_distance(name, &known), known))
            .filter(|(d, _)| *d <= allowed)
            .min()
            .map(|(_, known)| known)
    }
}

fn is_known_job(job: &str) -> bool {
    MODELLED_IN_FULL.contains(&job) || FAMILIES.iter().any(|(j, _)| *j == job)
}

/// The names a contract entry is queried by (a histogram's three series).
fn series_names(name: &str, kind: crate::contract::Kind) -> Vec<String> {
    if kind == crate::contract::Kind::Histogram {
        ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{name}{s}"))
            .collect()
    } else {
        vec![name.to_string()]
    }
}

/// The candidate one or two edits from `name` (the closest, then the
/// first in order), for "did you mean".
pub(crate) fn nearest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a String>,
) -> Option<&'a String> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance, by bytes (metric names are ASCII).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Warnings gathered by kind, so that a real rule set's hundreds of
/// exporter series make a few lines, not hundreds.
#[derive(Default)]
pub struct Warnings {
    by_reason: BTreeMap<String, BTreeSet<String>>,
}

impl Warnings {
    pub fn add(&mut self, verdict: &Verdict, name: &str) {
        let reason = match verdict {
            Verdict::FamilyOf(job) => format!(
                "exposed by scrape job {job}, whose series the metric contract lists only in part, so not checked"
            ),
            Verdict::UnrecordedRule => {
                "named like recording rules, but no rule file of this stack records them (is one missing from rule_files?)".to_string()
            }
            Verdict::Unmodelled(jobs) => format!(
                "not in the metric contract; they may come from scrape job(s) {} that zeta-bench does not model, so not checked",
                jobs.join(", ")
            ),
            Verdict::Known | Verdict::Missing { .. } => return,
        };
        self.by_reason
            .entry(reason)
            .or_default()
            .insert(name.to_string());
    }

    pub fn lines(self) -> Vec<String> {
        self.by_reason
            .into_iter()
            .map(|(reason, names)| {
                let n = names.len();
                let shown: Vec<String> = names.into_iter().take(5).collect();
                let more = if n > 5 {
                    format!(" and {} more", n - 5)
                } else {
                    String::new()
                };
                format!(
                    "{n} metric(s) read by rules or dashboards are {reason}: {}{more}",
                    shown.join(", ")
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producers(recorded: &[&str], jobs: &[&str]) -> Producers {
        Producers {
            recorded: recorded.iter().map(|s| s.to_string()).collect(),
            jobs: jobs.iter().map(|s| s.to_string()).collect(),
        }
    }

    const SEED_JOBS: &[&str] = &[
        "prometheus",
        "alertmanager",
        "backend-api",
        "ml-engine",
        "node-exporter",
        "postgres-exporter",
        "redis-exporter",
        "cadvisor",
    ];

    #[test]
    fn a_recording_rule_output_is_known() {
        let p = producers(&["job:up:min"], SEED_JOBS);
        assert_eq!(p.judge("job:up:min"), Verdict::Known);
        assert_eq!(p.judge("up"), Verdict::Known);
        assert_eq!(p.judge("ALERTS"), Verdict::Known);
    }

    #[test]
    fn a_typo_of_a_known_name_is_missing_and_says_which() {
        let p = producers(&[], &["backend-api", "kubernetes-pods"]);
        assert_eq!(
            p.judge("http_request_duraton_seconds_bucket"),
            Verdict::Missing {
                did_you_mean: Some("http_request_duration_seconds_bucket".into())
            }
        );
        let p = producers(&["job:up:min"], SEED_JOBS);
        assert_eq!(
            p.judge("job:up:mni"),
            Verdict::Missing {
                did_you_mean: Some("job:up:min".into())
            },
        );
        assert_eq!(
            p.judge("up_totl"),
            Verdict::Missing { did_you_mean: None },
            "short names are not guessed at"
        );
    }

    #[test]
    fn an_exporters_other_series_are_a_warning_only_where_it_is_scraped() {
        let p = producers(&[], SEED_JOBS);
        assert_eq!(
            p.judge("node_network_receive_errs_total"),
            Verdict::FamilyOf("node-exporter".into())
        );
        assert_eq!(
            p.judge("node_load5"),
            Verdict::FamilyOf("node-exporter".into())
        );
        assert_eq!(
            p.judge("go_goroutines"),
            Verdict::FamilyOf("prometheus".into())
        );
        let p = producers(&[], &["backend-api", "ml-engine"]);
        assert_eq!(
            p.judge("node_network_receive_errs_total"),
            Verdict::Missing { did_you_mean: None }
        );
    }

    #[test]
    fn unknown_names_are_errors_unless_an_unmodelled_job_could_expose_them() {
        let p = producers(&[], SEED_JOBS);
        assert_eq!(
            p.judge("kube_pod_status_ready"),
            Verdict::Missing { did_you_mean: None }
        );
        let p = producers(&[], &["backend-api", "kube-state-metrics"]);
        assert_eq!(
            p.judge("kube_pod_status_ready"),
            Verdict::Unmodelled(vec!["kube-state-metrics".into()])
        );
        assert_eq!(
            p.judge("cluster:loki_request_duration_seconds:99quantile"),
            Verdict::UnrecordedRule
        );
    }

    #[test]
    fn warnings_are_gathered_by_reason() {
        let mut w = Warnings::default();
        for n in ["node_a", "node_b", "node_c", "node_d", "node_e", "node_f"] {
            w.add(&Verdict::FamilyOf("node-exporter".into()), n);
        }
        w.add(&Verdict::Known, "up");
        let lines = w.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("6 metric(s)"), "{}", lines[0]);
        assert!(lines[0].ends_with("and 1 more"), "{}", lines[0]);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("abc", "ab"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
