#!/usr/bin/env bash
# `make bench`: the outside-in benchmark (benches/outside) against the local environment,
# with a release build of the controller. N grants (default 1000). Writes
# target/bench/latest.json and prints a table. Starts the environment if it is not running
# and leaves it running (`make env-down` stops it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
env_dir=${BREAKGLASS_ENV_DIR:-$repo/target/env}

"$here/env/deps.sh"
"$here/env/up.sh"
# shellcheck disable=SC1091
. "$env_dir/env.sh"
# The bench profile is the release profile: this binary is the one the bench runs.
BENCH_N=${N:-1000} cargo bench --locked --bench outside
