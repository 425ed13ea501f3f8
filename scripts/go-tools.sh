#!/usr/bin/env bash
# Builds the Go components pinned in tools/*/go.mod (Jaeger v2, Prometheus 3
# with promtool, Alertmanager 0.3x with amtool, Toxiproxy) into zeta-bench's install
# cache, from the Go module proxy. Grafana, Loki and k6 are AGPL and never
# built. A second run with the same pins and Go version reuses the build.
# Where Go is missing, or the build fails, it says how to get the binaries
# and exits 0: native runs then use Debian's Prometheus and Alertmanager and
# report trace_coverage through Jaeger as not measured.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${ZETA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zeta-bench/tools}"
bins=(jaeger prometheus promtool alertmanager amtool toxiproxy-server)

if ! command -v go >/dev/null 2>&1; then
  echo "go-tools.sh: Go is not installed, so Jaeger v2, Prometheus 3 and Alertmanager 0.3x are not built." >&2
  echo "  Install Go 1.24 or newer (https://go.dev/dl/) and run scripts/go-tools.sh, or put the binaries" >&2
  echo "  (jaeger, prometheus, promtool, alertmanager, amtool) in $dir/bin, or pass --bin NAME=PATH." >&2
  exit 0
fi

# One module per component, so that each builds with the dependency
# versions its own release was tested with (one shared module would let
# the three trees raise each other's dependencies). Alertmanager is pinned
# at 0.31.1: from 0.32 on its web UI is generated at release time and is
# not in the module, so it cannot be built from the module proxy.
want="$(cat tools/*/go.mod tools/*/go.sum | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
have_all=true
for b in "${bins[@]}"; do [ -x "$dir/bin/$b" ] || have_all=false; done
if $have_all && [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$want" ]; then
  echo "go-tools.sh: ${bins[*]} already built in $dir/bin (same pins, same Go)"
  exit 0
fi

mkdir -p "$dir/bin"
start=$(date +%s)
echo "go-tools.sh: building ${bins[*]} from tools/*/go.mod into $dir/bin (a fresh machine takes several minutes)"
ok=true
# The version each binary reports (their release builds set it the same
# way), read from the pinned module version: Prometheus' module v0.3XX.Y is
# Prometheus 3.XX.Y.
modver() { (cd "tools/$1" && go list -m -f '{{.Version}}' "$2"); }
for m in jaeger prometheus alertmanager toxiproxy; do
  case $m in
    jaeger) v=$(modver jaeger github.com/jaegertracing/jaeger)
      flags="-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$v" ;;
    prometheus) v=$(modver prometheus github.com/prometheus/prometheus | sed -E 's/^v0\.3([0-9]{2})\./3.\1./; s/^3\.0([0-9])/3.\1/')
      flags="-X github.com/prometheus/common/version.Version=$v -X github.com/prometheus/common/version.Branch=module" ;;
    alertmanager) v=$(modver alertmanager github.com/prometheus/alertmanager | sed 's/^v//')
      flags="-X github.com/prometheus/common/version.Version=$v -X github.com/prometheus/common/version.Branch=module" ;;
    toxiproxy) v=$(modver toxiproxy github.com/Shopify/toxiproxy/v2)
      flags="-X github.com/Shopify/toxiproxy/v2.Version=$v" ;;
  esac
  (cd "tools/$m" && GOBIN="$dir/bin" GOFLAGS=-mod=readonly go install -ldflags "$flags" tool) || ok=false
  # Toxiproxy's server command is `server`; it is installed under its
  # release name.
  if [ "$m" = toxiproxy ] && [ -x "$dir/bin/server" ]; then mv -f "$dir/bin/server" "$dir/bin/toxiproxy-server"; fi
done
if $ok; then
  echo "$want" > "$dir/stamp"
  echo "go-tools.sh: built in $(( $(date +%s) - start ))s:"
  for b in "${bins[@]}"; do
    printf '  %-13s %s\n' "$b" "$("$dir/bin/$b" --version 2>&1 | head -1)"
  done
else
  echo "go-tools.sh: BUILD FAILED after $(( $(date +%s) - start ))s; native runs go on with Debian's Prometheus and" >&2
  echo "  Alertmanager and without Jaeger. Run scripts/go-tools.sh again to see the error." >&2
fi
