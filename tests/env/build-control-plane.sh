#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from the published Go modules of the pinned
# Kubernetes release, through a throw-away wrapper module, and caches them under
# ~/.cache/breakglass/<version>/bin. Prints that bin directory on stdout.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every k8s.io staging
# module with ./staging/... . The wrapper module replaces each of them with its published
# v0.<minor>.<patch> twin instead, derived from the release's own go.mod.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
k8s=$KUBERNETES_VERSION
staging_version=v0.${k8s#v1.}
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/kubernetes-$k8s
bin=$cache/bin

if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ -x "$bin/kubectl" ]; then
  echo "$bin"
  exit 0
fi

log() { printf '[build-control-plane] %s\n' "$*" >&2; }
command -v go >/dev/null || { log "go is not installed"; exit 1; }

work=$cache/wrapper
mkdir -p "$work" "$bin"
cd "$work"

log "fetching go.mod of k8s.io/kubernetes@$k8s"
gomod=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$gomod" ] || { log "could not download k8s.io/kubernetes@$k8s"; exit 1; }

# etcd: the server version the release itself depends on.
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$gomod")
[ -n "$etcd_version" ] || { log "no go.etcd.io/etcd/server/v3 in $gomod"; exit 1; }

go_directive=$(awk '$1 == "go" { print $2; exit }' "$gomod")
cat > go.mod <<GOMOD
module breakglass.local/controlplane

go $go_directive
GOMOD
rm -f go.sum

# Every `k8s.io/<m> => ./staging/...` line becomes `k8s.io/<m> => k8s.io/<m> v0.X.Y`.
staged=$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$gomod")
[ -n "$staged" ] || { log "found no staging replace directives in $gomod"; exit 1; }
edits=()
for m in $staged; do edits+=("-replace=$m=$m@$staging_version"); done
go mod edit "${edits[@]}"
log "replaced $(wc -w <<<"$staged") staging modules with $staging_version; etcd $etcd_version"

# Packages with explicit versions: a bare package path would mean @upgrade.
go get "k8s.io/kubernetes/cmd/kube-apiserver@$k8s" "k8s.io/kubernetes/cmd/kubectl@$k8s" \
  "go.etcd.io/etcd/server/v3@$etcd_version" >&2
got=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
[ "$got" = "$k8s" ] || { log "resolved k8s.io/kubernetes $got, wanted $k8s"; exit 1; }

minor=${k8s#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # <output> <package> [ldflags]
  log "building $1"
  go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$3" -o "$bin/$1.tmp" "$2" >&2
  mv "$bin/$1.tmp" "$bin/$1"
}
build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldflags"
build kubectl k8s.io/kubernetes/cmd/kubectl "$ldflags"
echo "$etcd_version" > "$cache/etcd-version"
echo "$bin"
