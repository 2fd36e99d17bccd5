#!/usr/bin/env bash
# A short fuzzing smoke run for the test command: builds the cargo-fuzz targets
# (fuzz/, stable Rust, its own target dir fuzz/target) and runs each one for a few
# seconds from its seeds, replaying the saved regressions first. Fails on a crash,
# printing the input's path. Long runs: scripts/fuzz.sh SECONDS.
#
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 5)
#
# Build: the dev profile by default (a much shorter cold build than release; the
# targets still run thousands of inputs a second). FUZZ_PROFILE=release to share the
# binaries of scripts/fuzz.sh. FUZZ_SKIP_REGRESSIONS=1 while a saved crash is unfixed.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_PROFILE=${FUZZ_PROFILE:-dev}
# Seeds and regressions only, not the corpus long runs grew: the time stays bounded.
export FUZZ_FRESH_CORPUS=1
exec scripts/fuzz.sh "${1:-5}"
