//! The feature tests that start no stack: decoders, hostile input, the
//! docs' and layers' maps, reports, shards, TLS and the stack files, one
//! module per subject, in one test binary (one link instead of nine).
//! Plain `cargo test` runs them. `tests/fuzz.rs` and
//! `tests/hostile_corpus.rs` stay binaries of their own: they bound the
//! memory of their process and of its children, which other tests in the
//! same process would count.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod docs;
mod drill_safety;
mod hostile_input;
mod input_errors;
mod layers;
mod load_shards;
mod report_browser;
mod stack_files;
mod tls;
