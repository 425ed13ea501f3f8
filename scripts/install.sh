#!/usr/bin/env bash
# Installs what zeta-bench needs to run its native stack and its tests:
# Prometheus (with promtool) and Alertmanager (with amtool) from the
# Debian/Ubuntu packages. Elsewhere it prints the exact command instead.
# Safe to run again: it installs only what is missing.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
if ! command -v prometheus-alertmanager >/dev/null 2>&1 && ! command -v alertmanager >/dev/null 2>&1; then
  need+=(prometheus-alertmanager)
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install.sh: cargo is missing: install Rust 1.85 or newer (https://rustup.rs), then run this again." >&2
  exit 3
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "install.sh: prometheus and alertmanager are installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install.sh: missing: ${need[*]}. This is not a Debian/Ubuntu machine; install them with your package manager, e.g.:" >&2
  echo "  dnf install golang-github-prometheus golang-github-prometheus-alertmanager   # Fedora" >&2
  echo "  brew install prometheus alertmanager                                          # macOS" >&2
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
# Debian starts the packaged services where an init system runs; zeta-bench
# never uses them (it starts its own on free loopback ports).
echo "install.sh: installed ${need[*]}"
