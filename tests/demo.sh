#!/usr/bin/env bash
# `make demo`: on a fresh machine, install what is missing, start the local control plane
# and AWS emulator, install the CRDs, run the controller and walk the example grant from
# Active to Ended with the AWS side and the paused Argo CD / Flux automation shown (Flux's
# real controllers: a repair made during the grant survives, then the end state). The
# environment stays up afterwards so you can explore; `make env-down` stops it.
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

step "Building breakglass and the kubectl plugin (kubectl-breakglass)"
cargo build --locked --quiet -p breakglass-operator -p breakglass-plugin
export PATH=$repo/target/debug:$PATH

step "Installing the CRDs"
printf '$ breakglass crds | kubectl apply --server-side -f -\n'
./target/debug/breakglass crds | kubectl apply --server-side -f -
show kubectl wait --for condition=Established --timeout 60s \
  crd/breakglassgrants.breakglass.dev crd/breakglasspolicies.breakglass.dev

step "Who may ask: the admission policy (the API server checks requestedBy and user) and RBAC for people"
# The controller runs as this identity here: the policy's operator identity (in a cluster,
# its ServiceAccount), the one that may write breakglass.dev/ labels and annotations.
operator=$(kubectl auth whoami -o jsonpath='{.status.userInfo.username}')
printf '$ breakglass admission-policy --operator-username %s | kubectl apply --server-side -f -\n' "$operator"
./target/debug/breakglass admission-policy --operator-username "$operator" | kubectl apply --server-side -f -
show kubectl apply -f examples/namespace.yaml -f examples/people.yaml

. "$here/env/versions.env"
aws_side() { "${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/moto-$MOTO_VERSION/bin/python" "$here/env/aws_side.py" "$1" \
  arn:aws:iam::111111111111:role/breakglass-write d-1234567890 breakglass-prod-admin "${@:2}"; }

aws_assignments() { "${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/moto-$MOTO_VERSION/bin/python" "$here/env/aws_side.py" assignments \
  arn:aws:iam::111111111111:role/breakglass-write d-1234567890 BreakGlassReadOnly 222222222222 333333333333; }

step "Seeding IAM Identity Center (moto) with the example's user, group and permission set"
aws_side seed alice@example.com

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
webhook_port=$(free_port); admin_port=$(free_port); am_port=$(free_port)
token_file=$env_dir/webhook-token
head -c 24 /dev/urandom | base64 > "$token_file"

step "Starting the controller with the Alertmanager webhook on 127.0.0.1:$webhook_port (log: $env_dir/logs/controller.log)"
./target/debug/breakglass controller --admin-addr "127.0.0.1:$admin_port" \
  --webhook-addr "127.0.0.1:$webhook_port" --webhook-token-file "$token_file" \
  > "$env_dir/logs/controller.log" 2>&1 &
controller=$!
trap 'kill $controller ${alertmanager:-} 2>/dev/null || true' EXIT

paused_targets() {
  show kubectl get bgg -n incidents inc-4211-alice -o jsonpath='{range .status.pausedTargets[*]}{.kind}{"\t"}{.name}{"\t"}{.state}{"\t"}{.message}{"\n"}{end}'
}
auto_sync() {
  show kubectl get application -n argocd payments -o jsonpath='{.spec.syncPolicy.automated}{"  annotations: "}{.metadata.annotations}{"\n"}'
}

step "The automation a repair must not be fought by: an Argo CD app that auto-syncs, a Flux Kustomization"
kubectl delete bgg -n incidents inc-4211-alice --ignore-not-found --wait=true >/dev/null 2>&1 || true
show kubectl apply --server-side --force-conflicts -f examples/automation.yaml
auto_sync

step "Flux for real: source-controller and kustomize-controller apply ConfigMap checkout/settings from a bucket"
# The bucket is on the AWS emulator's S3; a commit is a new object in it. Both Flux objects
# carry tier=prod (the prod-admin policy pauses those) and the env's Flux shard label.
bucket=breakglass-demo-checkout
s3() { curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$@"; }
s3 -X PUT "$AWS_ENDPOINT_URL/$bucket" >/dev/null || true # exists when the env is reused
commit() { # <mode>
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: checkout}\ndata: {mode: %s}\n' "$1" \
    | s3 -X PUT -H 'Content-Type: application/yaml' --data-binary @- "$AWS_ENDPOINT_URL/$bucket/checkout/settings.yaml" >/dev/null
}
commit normal
shard_key=${BREAKGLASS_FLUX_SHARD%%=*}; shard_value=${BREAKGLASS_FLUX_SHARD#*=}
kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: checkout}
---
apiVersion: v1
kind: Secret
metadata: {name: checkout-bucket, namespace: flux-system}
stringData: {accesskey: $AWS_ACCESS_KEY_ID, secretkey: $AWS_SECRET_ACCESS_KEY}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: Bucket
metadata: {name: checkout, namespace: flux-system, labels: {$shard_key: $shard_value}}
spec: {provider: generic, bucketName: $bucket, endpoint: "${AWS_ENDPOINT_URL#http://}", insecure: true, region: us-east-1, interval: 2s, secretRef: {name: checkout-bucket}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: checkout, namespace: flux-system, labels: {tier: prod, $shard_key: $shard_value}}
spec: {interval: 2s, path: ./checkout, prune: true, sourceRef: {kind: Bucket, name: checkout}}
YAML
for i in $(seq 300); do
  [ "$(kubectl get configmap -n checkout settings -o jsonpath='{.data.mode}' 2>/dev/null)" = normal ] && break
  [ "$i" = 300 ] && { kubectl get bucket,kustomization -n flux-system checkout >&2; echo "Flux never applied checkout/settings" >&2; exit 1; }
  sleep 0.2
done
show kubectl get configmap -n checkout settings -o jsonpath='{"mode: "}{.data.mode}{"  applied by: "}{.metadata.managedFields[?(@.operation=="Apply")].manager}{"\n"}'

step "Applying the examples: two policies, and alice asks for a grant (as herself: --as)"
show kubectl apply -f examples/policies/prod-admin.yaml -f examples/policy-account-assignment.yaml
show kubectl apply --as alice@example.com -f examples/grant.yaml
show kubectl wait -n incidents bgg/inc-4211-alice --for jsonpath='{.status.phase}'=Active --timeout 60s
show kubectl wait -n incidents bgg/inc-4211-alice --for condition=AutomationPaused --timeout 60s
show kubectl get bgg -n incidents -o wide
aws_side members
show kubectl get bgg -n incidents inc-4211-alice -o jsonpath='{.status.aws}{"\n"}{.status.access}{"\n"}'

step "While the grant is Active, auto-sync is off (prune/selfHeal kept) and Flux is suspended"
auto_sync
show kubectl get kustomization -n flux-system infra -o jsonpath='{"suspend: "}{.spec.suspend}{"\n"}'
paused_targets

step "The repair: alice fixes checkout/settings by hand; Flux is suspended, so it survives"
show kubectl patch configmap -n checkout settings --field-manager kubectl-edit --type merge -p '{"data":{"mode":"hotfix"}}'
sleep 6 # three of the Kustomization's 2 s intervals
show kubectl get configmap -n checkout settings -o jsonpath='{"mode after 6s: "}{.data.mode}{"\n"}'

step "Resolving the incident: access is removed, then the automation is restored exactly"
show kubectl patch bgg -n incidents inc-4211-alice --as alice@example.com --type merge -p '{"spec":{"resolved":true}}'
show kubectl wait -n incidents bgg/inc-4211-alice --for jsonpath='{.status.phase}'=Ended --timeout 60s
show kubectl get bgg -n incidents
aws_side members
auto_sync
show kubectl get kustomization -n flux-system infra -o jsonpath='{"suspend: "}{.spec.suspend}{"  annotations: "}{.metadata.annotations}{"\n"}'
paused_targets
step "The end state Flux was given back in, read from the live objects (restore: Auto gives back at once)"
show kubectl get bgg -n incidents inc-4211-alice -o jsonpath='{range .status.pausedTargets[?(@.name=="checkout")]}{.drift.summary}{"\n"}{range .drift.resources[*]}{"  "}{.kind}{" "}{.namespace}{"/"}{.name}{": "}{.status}{"\n"}{end}{end}'
for _ in $(seq 150); do
  [ "$(kubectl get configmap -n checkout settings -o jsonpath='{.data.mode}')" = normal ] && break; sleep 0.2
done
printf '# kustomize-controller reconciles again and the source wins: codify a repair first, or\n'
printf '# use restore: WhenInSync, which holds until the source matches (docs/pausing.md)\n'
show kubectl get configmap -n checkout settings -o jsonpath='{"mode: "}{.data.mode}{"\n"}'
show kubectl get events -n incidents --field-selector involvedObject.name=inc-4211-alice

step "The record: kubectl breakglass report (Markdown for the post-mortem)"
show kubectl breakglass report -n incidents inc-4211-alice

step "Account assignments with the kubectl plugin: alice asks for read-only on two accounts and waits"
show kubectl breakglass request -n incidents --as alice@example.com --policy audit-readonly \
  --reason "GuardDuty finding on the audit trail bucket" --incident SEC-311 \
  --account 222222222222 --account 333333333333 --wait
sec=$(kubectl get bgg -n incidents -o jsonpath='{range .items[?(@.spec.policy=="audit-readonly")]}{.metadata.name}{"\n"}{end}' | tail -1)
show kubectl breakglass list -n incidents
show kubectl get bgg -n incidents "$sec" -o jsonpath='{range .status.access.accountAssignments[*]}{.accountId}{"\t"}{.state}{"\t"}{.permissionSetArn}{"\n"}{end}'
aws_assignments
step "Bob may not ask for alice (the admission policy says why); carol, the incident commander, may"
if kubectl breakglass request -n incidents --as bob@example.com --policy prod-admin --reason "for alice" --for alice@example.com; then
  echo "unexpected: bob asked for alice" >&2
  exit 1
fi
show kubectl breakglass request -n incidents --as carol@example.com --policy prod-admin \
  --reason "rolling back for alice" --for alice@example.com --incident INC-4212 --wait
onbehalf=$(kubectl get bgg -n incidents -o jsonpath='{range .items[?(@.spec.requestedBy=="carol@example.com")]}{.metadata.name}{"\n"}{end}' | tail -1)
show kubectl breakglass resolve -n incidents --as carol@example.com "$onbehalf"
show kubectl wait -n incidents "bgg/$onbehalf" --for jsonpath='{.status.phase}'=Ended --timeout 60s
show kubectl breakglass resolve -n incidents --as alice@example.com "$sec"
show kubectl wait -n incidents "bgg/$sec" --for jsonpath='{.status.phase}'=Ended --timeout 60s
show kubectl get bgg -n incidents "$sec" -o jsonpath='{range .status.access.accountAssignments[*]}{.accountId}{"\t"}{.state}{"\n"}{end}'
aws_assignments

step "An incident opened by an alert: Alertmanager -> webhook -> grant -> AWS"
am_dir=$env_dir/alertmanager && rm -rf "$am_dir" && mkdir -p "$am_dir"
cat > "$am_dir/alertmanager.yml" <<YAML
route:
  receiver: breakglass
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: breakglass
    webhook_configs:
      - url: http://127.0.0.1:$webhook_port/v1/alertmanager
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials_file: $token_file}
YAML
"$("$here/env/alertmanager.sh")" --config.file="$am_dir/alertmanager.yml" --storage.path="$am_dir/data" \
  --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= > "$env_dir/logs/alertmanager.log" 2>&1 &
alertmanager=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$am_port/-/ready" >/dev/null && break; sleep 0.1; done
starts_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
alert() { # [endsAt]
  local ends=""; [ -n "${1:-}" ] && ends=", \"endsAt\": \"$1\""
  printf '$ curl -X POST http://127.0.0.1:%s/api/v2/alerts -d %s\n' "$am_port" "'[{labels: {alertname: HighErrorRate, severity: critical, breakglass_user: alice@example.com}, ...$ends}]'"
  curl -sf -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$am_port/api/v2/alerts" -d "[{
    \"labels\": {\"alertname\": \"HighErrorRate\", \"severity\": \"critical\", \"breakglass_user\": \"alice@example.com\"},
    \"annotations\": {\"summary\": \"Checkout 5xx above 5%\"}, \"startsAt\": \"$starts_at\"$ends}]"
}
alert
# This firing's grant under prod-admin (a reused environment may hold older ones, and
# test policies that match the same alert).
this_firing() {
  local name
  for name in $(kubectl get bgg -n incidents -l breakglass.dev/source=alertmanager \
      -o jsonpath='{range .items[?(@.spec.policy=="prod-admin")]}{.metadata.name}{" "}{end}' 2>/dev/null); do
    [ "$(kubectl get bgg -n incidents "$name" -o jsonpath='{.metadata.annotations.breakglass\.dev/alert-starts-at}')" = "$starts_at" ] \
      && { echo "breakglassgrant.breakglass.dev/$name"; return 0; }
  done
  return 0
}
for _ in $(seq 100); do
  grant=$(this_firing)
  [ -n "$grant" ] && break; sleep 0.1
done
[ -n "$grant" ] || { echo "no grant from the alert; see $env_dir/logs/controller.log" >&2; exit 1; }
show kubectl wait -n incidents "$grant" --for jsonpath='{.status.phase}'=Active --timeout 60s
show kubectl get -n incidents "$grant" -o wide
show kubectl get -n incidents "$grant" -o jsonpath='{.spec.incident}{"\n"}'
aws_side members

step "The alert resolves: Alertmanager sends 'resolved', the grant ends, access goes"
alert "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
show kubectl wait -n incidents "$grant" --for jsonpath='{.status.phase}'=Ended --timeout 60s
show kubectl get -n incidents "$grant"
aws_side members
printf '$ curl http://127.0.0.1:%s/metrics | grep breakglass_\n' "$admin_port"
curl -s "http://127.0.0.1:$admin_port/metrics" | grep '^breakglass_' || true

step "The webhook refuses a wrong token (401, nothing created)"
printf '$ curl -X POST -H "Authorization: Bearer wrong" http://127.0.0.1:%s/v1/alertmanager -d {...}\n' "$webhook_port"
curl -s -w '  (HTTP %{http_code})\n' -X POST -H 'Authorization: Bearer wrong' "http://127.0.0.1:$webhook_port/v1/alertmanager" -d '{"version":"4","alerts":[]}'

step "Policies"
show kubectl get breakglasspolicies prod-admin audit-readonly

step "The API server refuses an invalid grant (no reason, 36h)"
printf '$ kubectl apply -f - <<< "...spec: {policy: prod-admin, user: alice@example.com, reason: \\"\\", duration: 36h}"\n'
if kubectl apply --as alice@example.com -f - <<'YAML'
apiVersion: breakglass.dev/v1alpha1
kind: BreakGlassGrant
metadata: {name: too-long, namespace: incidents}
spec: {policy: prod-admin, user: alice@example.com, requestedBy: alice@example.com, reason: "", duration: 36h}
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
