//! The end-to-end tests, one module per subject, in one test binary: every
//! test here runs the real components (`#[ignore]`d, so plain `cargo test`
//! lists them without running them; `cargo test -- --ignored` runs them).
//! One binary rather than one per file: one link instead of fifteen, and
//! one pool of test threads across all of them.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod attribution;
mod detection;
mod docker;
mod exec;
mod external;
mod fault_interrupts;
mod faults;
mod gameday;
mod jaeger;
mod lifecycle;
mod mock_datastores;
mod observability;
mod service_down;
mod trials;
mod watchers;
