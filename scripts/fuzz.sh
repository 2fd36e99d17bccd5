#!/usr/bin/env bash
# Fuzzes Lookout's parsers and decoders with cargo-fuzz (libFuzzer), one target after
# the other, SECONDS each (default 60):
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets (fuzz/fuzz_targets/): otlp_protobuf otlp_json pipeline_config rule_file
# promql template alertmanager_config. Each starts from its committed seeds
# (fuzz/seeds/TARGET), the saved crash inputs (fuzz/regressions/TARGET, replayed
# first) and the working corpus libFuzzer grows (fuzz/corpus/TARGET, not committed).
# Exits non-zero on the first crash, panic, timeout or out-of-memory, printing the
# input's path (under fuzz/artifacts/TARGET/); reproduce with
#   fuzz/target/x86_64-unknown-linux-gnu/release/TARGET fuzz/artifacts/TARGET/crash-…
#
# Only stable Rust is needed: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its flags, and
# no sanitizer is used (the project forbids unsafe code; the findings are panics,
# hangs and memory blow-ups). Needs `cargo install cargo-fuzz --locked`.
#
# Environment: FUZZ_PROFILE=release (default) or dev (faster build, slower runs);
# FUZZ_TIMEOUT seconds for one input (default 10); FUZZ_RSS_MB (default 2048);
# FUZZ_SKIP_REGRESSIONS=1 leaves fuzz/regressions out (known, unfixed crashes);
# FUZZ_FRESH_CORPUS=1 starts from the seeds only (a throwaway corpus: bounded time);
# FUZZ_KEEP_GOING=1 runs the remaining targets after a failure; FUZZ_NO_BUILD=1 runs
# the binaries already built; FUZZ_FORK=1 keeps fuzzing a target past crashes
# (libFuzzer -fork=1 -ignore_crashes=1 ...) to collect them all under fuzz/artifacts.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-60}
shift || true
ALL=(otlp_protobuf otlp_json pipeline_config rule_file promql template alertmanager_config)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
PROFILE=${FUZZ_PROFILE:-release}
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS_MB=${FUZZ_RSS_MB:-2048}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

case "$PROFILE" in
  # Optimised, with debug assertions and overflow checks (cargo-fuzz's default;
  # a bare --release would turn them off).
  release) profile_flag=(--release --debug-assertions); dir=release ;;
  dev) profile_flag=(--dev); dir=debug ;;
  *) echo "fuzz.sh: FUZZ_PROFILE must be release or dev" >&2; exit 2 ;;
esac

triple=$(rustc -vV | sed -n 's/^host: //p')
build_start=$(date +%s)
mkdir -p fuzz/artifacts
if [ -n "${FUZZ_NO_BUILD:-}" ]; then
  echo "fuzz.sh: FUZZ_NO_BUILD set: using the binaries already in fuzz/target"
elif ! (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer none "${profile_flag[@]}") >fuzz/artifacts/build.log 2>&1; then
  tail -40 fuzz/artifacts/build.log >&2
  echo "fuzz.sh: the fuzz targets do not build (log: fuzz/artifacts/build.log)" >&2
  exit 2
fi
echo "fuzz.sh: build took $(( $(date +%s) - build_start ))s"

if [ -n "${FUZZ_FRESH_CORPUS:-}" ]; then
  fresh=$(mktemp -d)
  trap 'rm -rf "$fresh"' EXIT
fi
status=0
for t in "${TARGETS[@]}"; do
  bin=$ROOT/fuzz/target/$triple/$dir/$t
  corpus=$ROOT/fuzz/corpus/$t
  if [ -n "${FUZZ_FRESH_CORPUS:-}" ]; then
    corpus=$fresh/$t
  fi
  artifacts=$ROOT/fuzz/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  dirs=("$corpus" "$ROOT/fuzz/seeds/$t")
  if [ -z "${FUZZ_SKIP_REGRESSIONS:-}" ] && [ -d "$ROOT/fuzz/regressions/$t" ]; then
    dirs+=("$ROOT/fuzz/regressions/$t")
  fi
  extra=()
  if [ -n "${FUZZ_FORK:-}" ]; then
    extra=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  log=$artifacts/last-run.log
  echo "fuzz.sh: $t for ${SECONDS_EACH}s"
  set +e
  "$bin" -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "${extra[@]}" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb' "$log" | tr '\n' ' ' || true
  echo
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz.sh: $t FAILED (exit $rc); log: $log" >&2
    grep -E -A1 'panicked at' "$log" | head -2 >&2 || true
    grep -E 'ERROR: libFuzzer' "$log" | head -1 >&2 || true
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [ -n "$artifact" ]; then
      echo "fuzz.sh: input: $artifact" >&2
      echo "fuzz.sh: reproduce: $bin $artifact" >&2
    fi
    [ -n "${FUZZ_KEEP_GOING:-}" ] || exit 1
  fi
done
exit $status
