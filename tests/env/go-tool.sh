# Sourced by the tool scripts: builds a Go command from its module at a pinned version
# into ~/.cache/breakglass/<name>-<version>/bin (once) and prints the binary's path.
go_tool() { # <name> <version> <package> [go install flags...]
  local name=$1 version=$2 package=$3
  shift 3
  local cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/$name-$version
  if [ ! -x "$cache/bin/$name" ]; then
    printf '[%s] building %s from the Go module proxy\n' "$name" "$version" >&2
    mkdir -p "$cache"
    GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$cache/bin.tmp" \
      go install "$@" "$package@$version" >&2
    rm -rf "$cache/bin" && mv "$cache/bin.tmp" "$cache/bin"
  fi
  echo "$cache/bin/$name"
}
