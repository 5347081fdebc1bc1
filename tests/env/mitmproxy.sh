#!/usr/bin/env bash
# Installs mitmproxy (PyPI, pinned) in its own venv, keyed by version, and prints the path of
# its mitmdump. Idempotent: an installed venv is reused. Tests run it in reverse mode in front
# of moto to answer what moto cannot (refused roles, throttling, dropped connections).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${BREAKGLASS_CACHE:-$HOME/.cache/breakglass}
venv=$cache/mitmproxy-$MITMPROXY_VERSION
if [ ! -f "$venv/.installed" ]; then
  printf '[mitmproxy] installing mitmproxy==%s into %s\n' "$MITMPROXY_VERSION" "$venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "mitmproxy==$MITMPROXY_VERSION" >&2
  touch "$venv/.installed" # written last: an interrupted install is redone
fi
echo "$venv/bin/mitmdump"
