//! Dashboards, watched the way a person opening them would: every panel's
//! queries timed under load through Grafana's query API ([`api`]) or,
//! without Grafana, through Prometheus ([`dashboards`]); and after the
//! load, every panel's selectors looked up in the live series
//! ([`panel_health`]) and the truth-checked panels' values read
//! ([`truth`]).

pub mod api;
pub mod dashboards;
pub mod panel_health;
pub mod truth;
