#!/usr/bin/env bash
# Builds the pinned Helm from its Go module (cached) and prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=go-tool.sh
. "$here/go-tool.sh"
go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
