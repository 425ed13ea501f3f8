#!/usr/bin/env bash
# The project's test command: installs what the tests need, then formatting,
# lints, and every test (unit, and end to end against the real Prometheus
# and Alertmanager). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
