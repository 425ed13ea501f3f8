//! Reading the user's YAML files so that every mistake can be pointed at.
//!
//! serde's derive stops at the first error and forgets where values came
//! from. zeta-bench's input files are small and written by hand, and users fix
//! them from the error message alone, so instead we keep a tree of YAML nodes
//! with their positions ([`yaml`]), decode it with a [`decode::Decoder`] that
//! collects *every* problem as a [`diag::Diagnostic`], and parse the value
//! types (durations, rates, percentages) in [`units`].

pub mod decode;
pub mod diag;
pub mod units;
pub mod yaml;

pub use decode::{Decoder, MapReader};
pub use diag::{Diagnostic, Diagnostics, Located};
pub use yaml::{Node, NodeKind, Pos};
