#!/usr/bin/env bash
# `make chaos`: the fault campaign (benches/chaos) against the local environment, with a
# release build of the controller. ROUNDS rounds (default 20); SEED replays a campaign (the
# run prints its seed). Writes target/chaos/latest.json and prints a table; exits non-zero
# when the checker finds a leak or anything stuck, or a round fires no fault even when drawn
# again. Starts the environment if it is not running ($BREAKGLASS_ENV_DIR, default
# target/env) and leaves it running (`make env-down` stops it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
env_dir=${BREAKGLASS_ENV_DIR:-$repo/target/env}

"$here/env/deps.sh"
"$here/env/up.sh"
# shellcheck disable=SC1091
. "$env_dir/env.sh"
export CHAOS_ROUNDS=${ROUNDS:-20}
[ -z "${SEED:-}" ] || export CHAOS_SEED=$SEED
cargo bench --locked --features failpoints --bench chaos
