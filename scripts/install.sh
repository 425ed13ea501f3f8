#!/usr/bin/env bash
# Installs what zeta-bench needs to run its native stack and its tests, from
# the Debian/Ubuntu packages: Prometheus (with promtool), Alertmanager (with
# amtool), PostgreSQL, Redis, the postgres, redis and node exporters, and,
# for the tests, Chromium (the report's browser test), Python (the
# component doubles) and strace (the dry run's test).
# Elsewhere it prints the exact command instead. Safe to run again: it
# installs only what is missing. The packages' own services are not used
# (zeta-bench starts its own instances on free loopback ports).
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && ! command -v alertmanager >/dev/null 2>&1; then
  need+=(prometheus-alertmanager)
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v prometheus-postgres-exporter >/dev/null 2>&1 || need+=(prometheus-postgres-exporter)
command -v prometheus-redis-exporter >/dev/null 2>&1 || need+=(prometheus-redis-exporter)
command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
# Headless Chromium checks the HTML report in a real browser (tests only).
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
# Python runs the Loki/Promtail/Jaeger/Grafana test doubles (tests only).
command -v python3 >/dev/null 2>&1 || need+=(python3)
# strace holds `run --dry-run` to starting nothing (tests only).
command -v strace >/dev/null 2>&1 || need+=(strace)

if ! command -v cargo >/dev/null 2>&1; then
  echo "install.sh: cargo is missing: install Rust 1.85 or newer (https://rustup.rs), then run this again." >&2
  exit 3
fi

# The Go-built components (Jaeger v2, Prometheus 3, Alertmanager 0.3x),
# after the packages, whatever they needed.
trap 'scripts/go-tools.sh' EXIT
cd "$(dirname "$0")/.."

if [ ${#need[@]} -eq 0 ]; then
  echo "install.sh: everything zeta-bench uses from the packages is installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install.sh: missing: ${need[*]}. This is not a Debian/Ubuntu machine; install them with your package manager, e.g.:" >&2
  echo "  dnf install golang-github-prometheus golang-github-prometheus-alertmanager postgresql-server redis   # Fedora" >&2
  echo "  brew install prometheus alertmanager postgresql redis                                                # macOS" >&2
  exit 3
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install.sh: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# --no-install-recommends: the packages' services are not wanted, zeta-bench
# starts its own instances on free ports.
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Where an init system runs, Debian starts the packaged services; stop them
# so that they hold no ports zeta-bench's tests expect to be free.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter prometheus-postgres-exporter prometheus-redis-exporter redis-server postgresql; do
    $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi
echo "install.sh: installed ${need[*]}"
