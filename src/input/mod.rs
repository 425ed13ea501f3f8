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

/// The largest scenario or SLO file read: hand-written files are a few KB.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// A hand-written input file, refused before reading when it is larger
/// than `limit` bytes (a mistake, or an attempt to exhaust memory).
pub fn read_capped(path: &std::path::Path, limit: u64) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    let read = file
        .take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if read as u64 > limit {
        return Err(format!(
            "the file is larger than {} KiB; an input file this big is not a hand-written scenario or SLO file",
            limit / 1024
        ));
    }
    Ok(text)
}
