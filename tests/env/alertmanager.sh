#!/usr/bin/env bash
# Builds the pinned Alertmanager from its Go module (cached) and prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/alertmanager-$ALERTMANAGER_VERSION
if [ ! -x "$cache/bin/alertmanager" ]; then
  printf '[alertmanager] building %s from the Go module proxy\n' "$ALERTMANAGER_VERSION" >&2
  mkdir -p "$cache"
  GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$cache/bin.tmp" \
    go install "github.com/prometheus/alertmanager/cmd/alertmanager@$ALERTMANAGER_VERSION" >&2
  rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
fi
echo "$cache/bin/alertmanager"
