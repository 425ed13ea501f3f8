//! zeta-bench: does an observability stack detect, route and show failures
//! fast enough?
//!
//! The pipeline, one module per stage:
//! [`scenario`] (parse, validate, plan) → [`stack`] (render `stack/`,
//! provision) with [`mock`] services → [`load`] ║ [`fault`] ║ [`observe`]
//! → [`slo`] (evaluate) → [`report`]. [`run`] strings them together and
//! [`cli`] maps outcomes to exit codes.

pub mod cli;
pub mod contract;
pub mod fault;
pub mod gameday;
pub mod http;
pub mod input;
pub mod load;
pub mod mock;
pub mod names;
pub mod observe;
pub mod report;
pub mod run;
pub mod scenario;
pub mod secret;
pub mod signal;
pub mod slo;
pub mod stack;
pub mod stackfiles;
pub mod trace_context;
