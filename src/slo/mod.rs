//! Service-level objectives: the SLO file ([`spec`]) and the checks that
//! judge a run's evidence against it ([`check`]).
//!
//! An SLO that could not be measured is never a pass: it is
//! [`check::Status::NotMeasured`] with the reason, and it fails the run when
//! the SLO file marks it `required` (the default).

pub mod check;
pub mod floor;
pub mod spec;

pub use spec::{Destination, SloSpec, load_slo};
