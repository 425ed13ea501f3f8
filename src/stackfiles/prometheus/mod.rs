//! Prometheus' files: its configuration rendered for one run
//! ([`render`]: scrape targets, rules and intervals scaled) and the PromQL
//! helpers every check of an expression uses ([`promql`]: selectors,
//! windows, scaling).

pub mod promql;
pub mod render;
