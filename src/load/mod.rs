//! The load engine: turns the plan's phases into HTTP requests on an open
//! model (arrivals on schedule, never throttled by slow responses) and
//! records what happened.
//!
//! - [`schedule`]: when each request is due and what it is (seeded);
//! - [`engine`]: sends them, bounded by max-in-flight (excess is *dropped*
//!   and counted, never silently skipped), waking on time with a timer of
//!   the kernel's precision (`timer`);
//! - [`record`]: HdrHistograms per endpoint × status class × phase, from
//!   the intended send time (coordinated omission corrected) and from the
//!   actual send time, plus a per-second series ([`timeline`]) whose
//!   memory grows by bytes per second.

pub mod cli;
pub mod client;
pub mod engine;
pub mod http1;
pub mod record;
pub mod schedule;
mod timeline;
mod timer;

pub use engine::{LoadOptions, run};
pub use record::LoadReport;
