#!/usr/bin/env bash
# `make test`: lint, then every test, unit and integration, against a real local control
# plane and AWS emulator. Reuses a running environment (`make env-up`); otherwise starts
# one for this run and stops it afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
env_dir=${BREAKGLASS_ENV_DIR:-$repo/target/env}
log() { printf '[test] %s\n' "$*" >&2; }

"$here/env/deps.sh"

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --locked --workspace --all-targets --all-features -- -D warnings
bash "$here/layers.sh"
log "helm lint + template (charts/breakglass-operator)"
make --no-print-directory chart

# Stop the environment afterwards only if this run started it.
[ -f "$env_dir/env.sh" ] || trap '"$here/env/down.sh"' EXIT
"$here/env/up.sh" # starts it, or verifies a running one (restarting it if it died)
# shellcheck disable=SC1091
. "$env_dir/env.sh"

log "cargo test"
cargo test --locked --workspace --all-targets --all-features --no-fail-fast

# The Dockerfile's build stage, run as written (no container engine here).
log "release build (the Dockerfile's build command)"
make --no-print-directory release
