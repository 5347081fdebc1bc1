#!/usr/bin/env bash
# Stops exactly the processes tests/env/up.sh started (by recorded pid, checked against the
# executable it started) and removes the environment's state directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
env_dir=${BREAKGLASS_ENV_DIR:-$repo/target/env}
log() { printf '[env-down] %s\n' "$*" >&2; }

if [ -f "$env_dir/pids" ]; then
  # Reverse order: the fault proxy, moto, then the API server, then etcd beneath it.
  tac "$env_dir/pids" | while read -r name pid; do
    [ -n "$pid" ] || continue
    # A recycled pid belongs to someone else: only signal the process we started.
    if ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name\|moto_server"; then
      continue
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name ($pid) ignored SIGTERM; killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name ($pid)"
  done
fi
rm -rf "$env_dir"
