#!/usr/bin/env bash
# The project's test command: installs what the tests need (the Debian
# packages and the Go-built components), then formatting, lints, the unit
# and feature tests (plain `cargo test`), the end-to-end tests against the
# real components (the ignored ones: `cargo test -- --ignored`), and at
# the end how many tests were skipped and why (a skip never shows as a
# pass; under CI a missing requirement fails instead). Then the version
# matrix: the end-to-end detection tests again on the
# Go-built Prometheus 3 and Alertmanager 0.31, two at a time like the
# stage before it (one at a time until the load engine's own HTTP/1.1
# connection: two stacks side by side on 2 cores had once starved the
# older engine past the load SLO's 100 ms send lateness).
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all -- --check
else
  echo "test.sh: WARNING: rustfmt is not installed; formatting NOT CHECKED" >&2
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --all-targets --locked -- -D warnings
else
  echo "test.sh: WARNING: clippy is not installed; lints NOT CHECKED" >&2
fi
skipped="target/tmp/skipped-tests.txt"
mkdir -p target/tmp
: > "$skipped"
report_skips() {
  n=$(grep -c . "$skipped" 2>/dev/null || true)
  if [ "${n:-0}" -gt 0 ]; then
    echo "test.sh: $n test(s) SKIPPED, not passed:"
    sed 's/^/  /' "$skipped"
  else
    echo "test.sh: 0 tests skipped"
  fi
}
trap report_skips EXIT

cargo test --all-targets --locked
cargo test --tests --locked -- --ignored

tools="${ZETA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zeta-bench/tools}/bin"
if [ -x "$tools/prometheus" ] && [ -x "$tools/alertmanager" ]; then
  echo "test.sh: version matrix: the end-to-end detection tests on $("$tools/prometheus" --version 2>&1 | head -1) and $("$tools/alertmanager" --version 2>&1 | head -1)"
  ZETA_BIN="prometheus=$tools/prometheus,promtool=$tools/promtool,alertmanager=$tools/alertmanager,amtool=$tools/amtool" \
    cargo test --locked --test e2e -- --ignored --test-threads=2 service_down:: detection:: attribution::
else
  echo "test.sh: WARNING: the Go-built Prometheus 3 and Alertmanager are not in $tools (see scripts/go-tools.sh): the version matrix was NOT RUN" >&2
fi
