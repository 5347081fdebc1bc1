#!/usr/bin/env bash
# Starts a local control plane (etcd + kube-apiserver, real binaries built from the pinned
# Kubernetes release), the AWS emulator (moto server) and Flux's source-controller and
# kustomize-controller, all on 127.0.0.1, and writes target/env/env.sh. Idempotent: a
# running environment is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
env_dir=${BREAKGLASS_ENV_DIR:-$repo/target/env}
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}
log() { printf '[env-up] %s\n' "$*" >&2; }

alive() { # <pidfile entry name>: true when the recorded process still runs
  local pid
  pid=$(awk -v n="$1" '$1 == n { print $2 }' "$env_dir/pids" 2>/dev/null)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

install_automation_crds() { # the real CRDs of what policies pause; server-side: they are large
  local dir
  dir=$("$here/automation-crds.sh")
  KUBECONFIG=$env_dir/kubeconfig "$bin/kubectl" apply --server-side --force-conflicts \
    --field-manager breakglass-env -f "$dir" >/dev/null
  KUBECONFIG=$env_dir/kubeconfig "$bin/kubectl" wait --for condition=Established --timeout 60s \
    -f "$dir" >/dev/null
}

# Flux's source-controller and kustomize-controller, built from their modules, with their
# CRDs: the real reconciler the pause tests run against. Plain processes, no kubelet: the
# artifact server listens on 127.0.0.1 and both use the environment's admin kubeconfig.
# They are one Flux shard (`sharding.fluxcd.io/key`, Flux's own flag): they reconcile only
# the objects labelled for it, so tests that write a Flux status by hand are left alone.
FLUX_SHARD=breakglass-env
install_flux_crds() {
  KUBECONFIG=$env_dir/kubeconfig "$bin/kubectl" apply --server-side --force-conflicts \
    --field-manager breakglass-env -f "$flux/crds" >/dev/null
  KUBECONFIG=$env_dir/kubeconfig "$bin/kubectl" wait --for condition=Established --timeout 60s \
    -f "$flux/crds" >/dev/null
}

if [ -f "$env_dir/env.sh" ] && alive etcd && alive kube-apiserver && alive moto && alive faults \
  && alive source-controller && alive kustomize-controller; then
  bin=$("$here/build-control-plane.sh")
  install_automation_crds
  flux=$("$here/flux.sh")
  install_flux_crds
  "$here/alertmanager.sh" >/dev/null
  "$here/mitmproxy.sh" >/dev/null
  log "already running; source $env_dir/env.sh"
  exit 0
fi
if [ -f "$env_dir/pids" ]; then
  log "found a partial environment; stopping it first"
  "$here/down.sh"
fi

started=$(date +%s)
bin=$("$here/build-control-plane.sh")
flux=$("$here/flux.sh")
# The fault proxy tests put in front of moto (installed now, so parallel tests never race).
"$here/mitmproxy.sh" >/dev/null

# moto server in its own venv, keyed by version.
venv=$cache/moto-$MOTO_VERSION
if [ ! -f "$venv/.installed" ]; then
  log "installing moto[server]==$MOTO_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" >&2
  touch "$venv/.installed" # written last: an interrupted install is redone
fi

mkdir -p "$env_dir"/{certs,etcd,logs}
chmod 700 "$env_dir"
: > "$env_dir/pids"

free_ports() { # <count>: distinct free TCP ports on 127.0.0.1
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
read -r etcd_port etcd_peer_port api_port moto_port <<<"$(free_ports 4)"

# Serving certificate signed by a throw-away CA; service-account signing key; admin token.
certs=$env_dir/certs
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=breakglass-env-ca" \
  -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$certs/apiserver.key" -out "$certs/apiserver.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' > "$certs/san.ext"
openssl x509 -req -in "$certs/apiserver.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
  -CAcreateserial -days 2 -extfile "$certs/san.ext" -out "$certs/apiserver.crt" 2>/dev/null
openssl genrsa -out "$certs/sa.key" 2048 2>/dev/null
openssl rsa -in "$certs/sa.key" -pubout -out "$certs/sa.pub" 2>/dev/null
token=$(openssl rand -hex 24)
printf '%s,breakglass-admin,breakglass-admin,"system:masters"\n' "$token" > "$certs/tokens.csv"

start() { # <name> <command...>: run detached, record its pid
  local name=$1; shift
  setsid "$@" > "$env_dir/logs/$name.log" 2>&1 < /dev/null &
  echo "$name $!" >> "$env_dir/pids"
}

wait_for() { # <name> <seconds> <command...>
  local name=$1 limit=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      log "$name exited; last log lines:"; tail -n 20 "$env_dir/logs/$name.log" >&2; exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$name not ready after ${limit}s; last log lines:"; tail -n 20 "$env_dir/logs/$name.log" >&2; exit 1
    fi
    sleep 0.2
  done
}

start etcd "$bin/etcd" --name default --data-dir "$env_dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "default=http://127.0.0.1:$etcd_peer_port" \
  --unsafe-no-fsync --log-level warn
wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
  --cert-dir "$certs" --tls-cert-file "$certs/apiserver.crt" --tls-private-key-file "$certs/apiserver.key" \
  --client-ca-file "$certs/ca.crt" \
  --token-auth-file "$certs/tokens.csv" \
  --authorization-mode RBAC \
  --service-cluster-ip-range 10.0.0.0/24 \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "$certs/sa.pub" \
  --service-account-signing-key-file "$certs/sa.key" \
  --disable-admission-plugins ServiceAccount \
  --v 1
wait_for kube-apiserver 120 curl -sf --cacert "$certs/ca.crt" -H "Authorization: Bearer $token" \
  "https://127.0.0.1:$api_port/readyz"

# The recorder stays off until the bench turns it on; its file lives with the environment.
MOTO_RECORDER_FILEPATH=$env_dir/moto-recording.jsonl \
  start moto "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
wait_for moto 60 curl -sf "http://127.0.0.1:$moto_port/moto-api/"

cat > "$env_dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: breakglass-env
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(base64 -w0 < "$certs/ca.crt")
users:
- name: breakglass-admin
  user:
    token: $token
contexts:
- name: breakglass-env
  context: {cluster: breakglass-env, user: breakglass-admin}
current-context: breakglass-env
KUBECONFIG
chmod 600 "$env_dir/kubeconfig"

# The fault-injecting proxy in front of moto (mitmproxy, reverse mode): passes everything
# through until rules are written to faults.json (see faults.py). Tests that inject faults
# start their own; this one is for the chaos campaign and for trying things by hand.
mitmdump=$("$here/mitmproxy.sh")
read -r faults_port <<<"$(free_ports 1)"
echo '[]' > "$env_dir/faults.json"
start faults "$mitmdump" --mode "reverse:http://127.0.0.1:$moto_port" \
  --listen-host 127.0.0.1 --listen-port "$faults_port" -s "$here/faults.py" \
  --set "faults=$env_dir/faults.json" --set "confdir=$env_dir/mitmproxy" -q
wait_for faults 60 curl -sf "http://127.0.0.1:$faults_port/moto-api/"

cat > "$env_dir/env.sh" <<ENVSH
# Written by tests/env/up.sh. Source it: . $env_dir/env.sh
export KUBECONFIG=$env_dir/kubeconfig
export PATH=$bin:\$PATH
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true
export BREAKGLASS_ENV_DIR=$env_dir
# AWS through the fault proxy, and the rules file it reads (a JSON list; see faults.py).
export BREAKGLASS_FAULT_PROXY_URL=http://127.0.0.1:$faults_port
export BREAKGLASS_FAULT_RULES=$env_dir/faults.json
# The label that puts a Flux object in the shard the real Flux controllers reconcile.
export BREAKGLASS_FLUX_SHARD=sharding.fluxcd.io/key=$FLUX_SHARD
ENVSH
install_automation_crds
install_flux_crds
read -r artifact_port sc_metrics sc_health kc_metrics kc_health <<<"$(free_ports 5)"
mkdir -p "$env_dir/flux-artifacts"
KUBECONFIG=$env_dir/kubeconfig start source-controller "$flux/bin/source-controller" \
  --storage-path "$env_dir/flux-artifacts" --storage-addr "127.0.0.1:$artifact_port" \
  --storage-adv-addr "127.0.0.1:$artifact_port" --metrics-addr "127.0.0.1:$sc_metrics" \
  --health-addr "127.0.0.1:$sc_health" --enable-leader-election=false --log-level info \
  --watch-label-selector "sharding.fluxcd.io/key=$FLUX_SHARD"
KUBECONFIG=$env_dir/kubeconfig start kustomize-controller "$flux/bin/kustomize-controller" \
  --metrics-addr "127.0.0.1:$kc_metrics" --health-addr "127.0.0.1:$kc_health" \
  --enable-leader-election=false --log-level info \
  --watch-label-selector "sharding.fluxcd.io/key=$FLUX_SHARD"
wait_for source-controller 60 curl -sf "http://127.0.0.1:$sc_health/readyz"
wait_for kustomize-controller 60 curl -sf "http://127.0.0.1:$kc_health/readyz"
"$here/alertmanager.sh" >/dev/null # started by the webhook tests themselves
log "ready in $(( $(date +%s) - started ))s: Kubernetes $KUBERNETES_VERSION on https://127.0.0.1:$api_port, moto $MOTO_VERSION on http://127.0.0.1:$moto_port, Flux source-controller $FLUX_SOURCE_CONTROLLER_VERSION and kustomize-controller $FLUX_KUSTOMIZE_CONTROLLER_VERSION"
log "source $env_dir/env.sh"
