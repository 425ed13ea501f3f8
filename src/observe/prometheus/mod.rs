//! Prometheus, watched through its HTTP API while the load runs: when
//! each alert became pending, fired and resolved (`/api/v1/alerts`,
//! polled), whether its rules evaluate (`/api/v1/rules`, read once after
//! the load), and whether every scrape target and Prometheus itself
//! stayed up (`up`, polled and timed).

pub mod alerts;
pub mod liveness;
pub mod rules;
