//! The feature tests that start no stack: decoders, hostile input, the
//! docs' and layers' maps, reports, shards, TLS and the stack files, one
//! module per subject, in one test binary (one link instead of eleven).
//! Plain `cargo test` runs them.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod docs;
mod drill_safety;
mod fuzz;
mod hostile_corpus;
mod hostile_input;
mod input_errors;
mod layers;
mod load_shards;
mod report_browser;
mod stack_files;
mod tls;
