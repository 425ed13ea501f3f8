//! Grafana's files: its dashboards as zeta-bench understands them.
//!
//! - [`model`]: the dashboards and the queries each panel runs;
//! - [`vars`]: the text Grafana really sends once variables and intervals
//!   are substituted;
//! - [`provisioning`]: its datasources;
//! - [`render`]: its provisioning rendered for one run;
//! - [`truth`]: what panels mean in terms of the load (`truth.yml`).
//!
//! Both the static checks of `stack/` and the dashboard checks of a run
//! use the model, so that what is checked is what Grafana would run.

pub mod model;
pub mod provisioning;
pub mod render;
pub mod truth;
pub mod vars;

pub use model::{Dashboard, DsRef, Panel, Target, load_dashboard};
