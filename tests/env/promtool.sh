#!/usr/bin/env bash
# Prints the path of promtool (Prometheus's rule checker and rule unit-test runner), for
# tests/alerts.rs. One on PATH is used as it is; otherwise the promtool of Debian's
# `prometheus` package, taken out of the package into the cache once (installing the
# package would also install, and on systemd hosts start, a Prometheus server).
set -euo pipefail
log() { printf '[promtool] %s\n' "$*" >&2; }

if command -v promtool >/dev/null; then
  command -v promtool
  exit 0
fi
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}/promtool
if [ -x "$cache/promtool" ]; then
  echo "$cache/promtool"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  log "please install promtool (Debian/Ubuntu package: prometheus; or a Prometheus release)"
  exit 1
fi
# One download at a time (tests call this in parallel); the first one in fills the cache.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -x "$cache/promtool" ]; then
  echo "$cache/promtool"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
download() { (cd "$tmp" && apt-get download -qq prometheus) >&2 2>&1; }
if ! download; then
  if [ "$(id -u)" -ne 0 ]; then
    log "apt-get download prometheus failed; as root run apt-get update, or install promtool"
    exit 1
  fi
  log "apt-get update"
  apt-get update -qq >&2
  download
fi
log "taking promtool out of $(basename "$tmp"/prometheus_*.deb)"
dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
# A rename within the cache: a reader never sees half a binary.
mv -f "$tmp/root/usr/bin/promtool" "$cache/promtool.$$"
mv -f "$cache/promtool.$$" "$cache/promtool"
"$cache/promtool" --version >&2
echo "$cache/promtool"
