#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from their published Go modules
# at the pinned releases, through a throw-away wrapper module per controller (each release's
# go.mod replaces its own api module with ./api, so `go install` refuses it), and caches
# them with the releases' CRDs under ~/.cache/breakglass/flux-<versions>/.
# Prints that directory on stdout: bin/{source-controller,kustomize-controller}, crds/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/flux-source-$FLUX_SOURCE_CONTROLLER_VERSION-kustomize-$FLUX_KUSTOMIZE_CONTROLLER_VERSION
if [ -f "$cache/.complete" ]; then
  echo "$cache"
  exit 0
fi
log() { printf '[flux] %s\n' "$*" >&2; }
command -v go >/dev/null || { log "go is not installed"; exit 1; }

build() { # <name> <version>: github.com/fluxcd/<name>@<version> into $cache/bin/<name>
  local name=$1 version=$2 module=github.com/fluxcd/$1 json gomod dir work
  json=$(go mod download -json "$module@$version")
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$json")
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  [ -f "$gomod" ] && [ -d "$dir" ] || { log "could not download $module@$version"; exit 1; }
  work=$cache/wrapper-$name
  rm -rf "$work" && mkdir -p "$work"
  printf 'module breakglass.local/%s\n\ngo %s\n' "$name" "$(awk '$1 == "go" { print $2; exit }' "$gomod")" > "$work/go.mod"
  # The release's replace directives: ./api becomes the published api module of the same
  # version; the others are kept as they are.
  local edits=()
  while read -r old new newversion; do
    if [ "${new#./}" != "$new" ]; then edits+=("-replace=$old=$old@$version")
    else edits+=("-replace=$old=$new${newversion:+@$newversion}"); fi
  done < <(awk '
    /^replace \($/ { block = 1; next }
    block && /^\)/ { block = 0; next }
    /^replace / { sub(/^replace /, ""); line = 1 }
    (block || line) && /=>/ {
      split($0, side, "=>"); split(side[1], l, " "); n = split(side[2], r, " ")
      print l[1], r[1], (n > 1 ? r[2] : "")
    }
    { line = 0 }' "$gomod")
  (cd "$work" && go mod edit "${edits[@]}" && go get "$module@$version" >&2)
  log "building $name $version"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$cache/bin/$name" "$module") >&2
  cp "$dir"/config/crd/bases/*.yaml "$cache/crds/"
}
rm -rf "$cache/bin" "$cache/crds" && mkdir -p "$cache/bin" "$cache/crds"
build source-controller "$FLUX_SOURCE_CONTROLLER_VERSION"
build kustomize-controller "$FLUX_KUSTOMIZE_CONTROLLER_VERSION"
chmod 644 "$cache"/crds/*.yaml
rm -rf "$cache"/wrapper-*
touch "$cache/.complete"
echo "$cache"
