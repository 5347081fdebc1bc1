#!/usr/bin/env bash
# Installs what the local environment needs and a fresh machine may lack, idempotently:
# Debian packages for certificates and probes, and a Python with venv for moto. Toolchains
# (Go, Rust, Python) must already be installed; this says so clearly when one is missing.
set -euo pipefail
log() { printf '[deps] %s\n' "$*" >&2; }

missing=()
for tool in go cargo python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "missing toolchain(s): ${missing[*]} (need Go >= 1.24, Rust >= 1.89 with rustfmt and clippy, Python >= 3.9)"
  exit 1
fi

packages=()
command -v openssl >/dev/null || packages+=(openssl)
command -v curl >/dev/null || packages+=(curl ca-certificates)
command -v setsid >/dev/null || packages+=(util-linux)
# Argo CD runs health checks on Lua 5.1; the checks in examples/ are tested with it.
command -v lua5.1 >/dev/null || packages+=(lua5.1)
python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "please install: ${packages[*]}"
    exit 1
  fi
  log "installing ${packages[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >&2
fi

for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    log "installing rust component $component"
    rustup component add "$component" >&2
  fi
done
