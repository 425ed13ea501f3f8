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
pub mod nesting;
pub mod quiet;
pub mod units;
pub mod yaml;

pub use decode::{Decoder, MapReader};
pub use diag::{Diagnostic, Diagnostics, Located};
pub use yaml::{Node, NodeKind, Pos};

/// The largest scenario or SLO file read: hand-written files are a few KB.
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Size limits on every file zeta-bench reads, by kind; each is far above
/// what a real file of the kind holds, and far below what would exhaust
/// memory. Listed in `docs/scenarios.md` ("Limits on input").
pub mod limits {
    /// A run's `result.json`, a load shard (`load --out`), a `--baseline`.
    pub const RESULT: u64 = 64 << 20;
    /// A stack file: Prometheus or Alertmanager config, a rule file, a
    /// datasources file, a template, a rendered component config.
    pub const STACK_FILE: u64 = 8 << 20;
    /// A Grafana dashboard (generated ones run to a few MB).
    pub const DASHBOARD: u64 = 16 << 20;
    /// A PEM bundle given as `--ca-cert`.
    pub const CA_CERT: u64 = 1 << 20;
    /// A secrets or state file the harness wrote itself.
    pub const SMALL: u64 = 1 << 20;
}

/// The bytes of a file of at most `limit` bytes. Anything that is not a
/// regular file once links are followed (a device such as `/dev/zero`, a
/// FIFO, a directory) is refused before reading, and so is a file over
/// the limit: a mistake, or an attempt to exhaust memory. The error is in
/// words, without the path (callers name it).
pub fn read_bounded(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(
            "not a regular file (a device, FIFO or directory cannot be an input file)".into(),
        );
    }
    let too_big = || {
        format!(
            "the file is larger than the {} limit for a file of this kind",
            human_bytes(limit)
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let read = file
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if read as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_bounded_text(path: &std::path::Path, limit: u64) -> Result<String, String> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

/// A hand-written input file, refused before reading when it is larger
/// than `limit` bytes (a mistake, or an attempt to exhaust memory).
pub fn read_capped(path: &std::path::Path, limit: u64) -> Result<String, String> {
    read_bounded_text(path, limit).map_err(|e| {
        if e.starts_with("the file is larger") {
            format!(
                "the file is larger than {} KiB; an input file this big is not a hand-written scenario or SLO file",
                limit / 1024
            )
        } else {
            e
        }
    })
}
