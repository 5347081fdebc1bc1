#!/usr/bin/env bash
# `make demo`: on a fresh machine, install what is missing, start the local control plane
# and AWS emulator, install the CRDs, apply the examples and show them. The environment
# stays up afterwards so you can explore; `make env-down` stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
env_dir=${BREAKGLASS_ENV_DIR:-$repo/target/env}
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

"$here/env/deps.sh"
step "Starting the local control plane (etcd + kube-apiserver) and the AWS emulator"
"$here/env/up.sh"
# shellcheck disable=SC1091
. "$env_dir/env.sh"

step "Building breakglass"
cargo build --locked --quiet

step "Installing the CRDs"
printf '$ breakglass crds | kubectl apply --server-side -f -\n'
./target/debug/breakglass crds | kubectl apply --server-side -f -
show kubectl wait --for condition=Established --timeout 60s \
  crd/breakglassgrants.breakglass.dev crd/breakglasspolicies.breakglass.dev

step "Applying the examples"
show kubectl apply -f examples/namespace.yaml
show kubectl apply -f examples/policy.yaml -f examples/policy-account-assignment.yaml -f examples/grant.yaml

step "Policies and grants"
show kubectl get breakglasspolicies
show kubectl get bgg -n incidents -o wide
show kubectl get breakglass -A

step "The API server refuses an invalid grant (no reason, 36h)"
printf '$ kubectl apply -f - <<< "...spec: {policy: prod-admin, user: alice@example.com, reason: \\"\\", duration: 36h}"\n'
if kubectl apply -f - <<'YAML'
apiVersion: breakglass.dev/v1alpha1
kind: BreakGlassGrant
metadata: {name: too-long, namespace: incidents}
spec: {policy: prod-admin, user: alice@example.com, reason: "", duration: 36h}
YAML
then
  echo "unexpected: the invalid grant was accepted" >&2
  exit 1
fi

step "Done"
cat <<MSG
The environment keeps running. To use it from your shell:
  . $env_dir/env.sh && kubectl get bgg -A
Stop it with: make env-down
MSG
