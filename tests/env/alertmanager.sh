#!/usr/bin/env bash
# Builds the pinned Alertmanager from its Go module (cached) and prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=go-tool.sh
. "$here/go-tool.sh"
go_tool alertmanager "$ALERTMANAGER_VERSION" github.com/prometheus/alertmanager/cmd/alertmanager
