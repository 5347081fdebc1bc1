#!/usr/bin/env bash
# The crate boundaries, checked from the dependency graph: the core holds no Kubernetes or
# AWS code, and the kubectl plugin links no AWS SDK and no operator.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
check() { # crate, forbidden pattern, why
  local tree found
  tree=$(cargo tree --locked -p "$1" -e normal --prefix none) || { echo "[layers] cargo tree -p $1 failed" >&2; exit 1; }
  found=$(grep -E "$2" <<<"$tree" | sort -u || true)
  if [ -n "$found" ]; then
    printf '[layers] %s must not depend on %s (%s):\n%s\n' "$1" "$2" "$3" "$found" >&2
    fail=1
  fi
}
check breakglass-core '^(kube|k8s-openapi|aws-|tokio|breakglass-(api|aws|operator|plugin)) ' "pure: decisions only"
check breakglass-api '^(aws-|breakglass-(aws|operator|plugin)) ' "the API types"
check breakglass-aws '^(kube|k8s-openapi|breakglass-(operator|plugin)) ' "AWS I/O only"
check breakglass-plugin '^(aws-sdk|aws-config|breakglass-(aws|operator)) ' "the kubectl plugin"
[ "$fail" = 0 ] && echo "[layers] crate boundaries hold" >&2
exit "$fail"
