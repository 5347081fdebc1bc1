#!/usr/bin/env bash
# Builds the pinned Helm from its Go module (cached) and prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/helm-$HELM_VERSION
if [ ! -x "$cache/bin/helm" ]; then
  printf '[helm] building %s from the Go module proxy\n' "$HELM_VERSION" >&2
  mkdir -p "$cache"
  GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$cache/bin.tmp" \
    go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
fi
echo "$cache/bin/helm"
