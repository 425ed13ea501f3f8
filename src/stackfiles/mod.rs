//! The stack's files as code: `stack/` read once into [`StackFiles`],
//! checked, and rendered for one run. Nothing here starts a process or
//! talks to the network; the running stack is [`crate::stack`], which
//! hands these renderers its addresses.
//!
//! - [`files`]: the model of `stack/` (Prometheus, Alertmanager, the rules,
//!   the dashboards and datasources), each value with its position;
//! - [`logql`]: the LogQL syntax check (the SLO file's log searches, the
//!   dashboards' Loki queries);
//! - [`lint`]: the queries every rule and dashboard runs, checked against
//!   what could produce their series ([`producers`]: the metric contract,
//!   recording rules, declared scrape jobs); [`hazards`]: expressions
//!   whose meaning the time scale changes, and [`wall_waits`]: exporters
//!   whose own unscaled waits it shifts; [`routes`]: the Alertmanager
//!   routes a rule's alerts can take, hence their `group_wait`;
//!   [`inhibit`]: which alerts an inhibit rule can take as its source;
//! - [`render`]: what every renderer shares (addresses, scaling, copying),
//!   and one renderer per component: [`prometheus`] (with its PromQL
//!   helpers), [`alertmanager`], [`grafana`] (with its dashboard model and
//!   variable substitution), [`loki`], [`shipper`] (Promtail and Alloy),
//!   [`jaeger`].

pub mod alertmanager;
pub mod files;
pub mod grafana;
pub mod hazards;
pub mod inhibit;
pub mod jaeger;
pub mod labels;
pub mod lint;
pub mod logql;
pub mod loki;
pub mod producers;
pub mod prometheus;
pub mod render;
pub mod routes;
pub mod shipper;
pub mod wall_waits;

pub use files::StackFiles;
