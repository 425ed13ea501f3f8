//! Grafana dashboards as zeta-bench understands them: which queries each
//! panel runs ([`model`]), and the text Grafana really sends once variables
//! and intervals are substituted ([`vars`]).
//!
//! Both the static checks of `stack/` and the dashboard-latency check use
//! this, so that what is checked is what Grafana would run.

pub mod model;
pub mod provisioning;
pub mod vars;

pub use model::{Dashboard, DsRef, Panel, Target, load_dashboard};
