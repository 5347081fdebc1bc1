#!/usr/bin/env bash
# `make demo`: on a fresh machine, install what is missing, start the local control plane
# and AWS emulator, install the CRDs, run the controller and walk the example grant from
# Active to Ended with the AWS side shown. The environment stays up afterwards so you can
# explore; `make env-down` stops it.
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

. "$here/env/versions.env"
aws_side() { "${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/moto-$MOTO_VERSION/bin/python" "$here/env/aws_side.py" "$1" \
  arn:aws:iam::111111111111:role/breakglass-write d-1234567890 breakglass-prod-admin "${@:2}"; }

step "Seeding IAM Identity Center (moto) with the example's user and group"
aws_side seed alice@example.com

step "Starting the controller (log: $env_dir/logs/controller.log)"
./target/debug/breakglass controller > "$env_dir/logs/controller.log" 2>&1 &
controller=$!
trap 'kill $controller 2>/dev/null || true' EXIT

step "Applying the examples: two policies and a grant for alice"
show kubectl apply -f examples/namespace.yaml
kubectl delete bgg -n incidents inc-4211-alice --ignore-not-found --wait=true >/dev/null
show kubectl apply -f examples/policy.yaml -f examples/policy-account-assignment.yaml -f examples/grant.yaml
show kubectl wait -n incidents bgg/inc-4211-alice --for jsonpath='{.status.phase}'=Active --timeout 60s
show kubectl get bgg -n incidents -o wide
aws_side members
show kubectl get bgg -n incidents inc-4211-alice -o jsonpath='{.status.aws}{"\n"}{.status.access}{"\n"}'

step "Resolving the incident: access is removed"
show kubectl patch bgg -n incidents inc-4211-alice --type merge -p '{"spec":{"resolved":true}}'
show kubectl wait -n incidents bgg/inc-4211-alice --for jsonpath='{.status.phase}'=Ended --timeout 60s
show kubectl get bgg -n incidents
aws_side members
show kubectl get events -n incidents --field-selector involvedObject.name=inc-4211-alice

step "Policies"
show kubectl get breakglasspolicies

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
