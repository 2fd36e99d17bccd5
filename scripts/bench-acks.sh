#!/usr/bin/env bash
# The durability target's comparison: otlp → elasticsearch with a memory buffer versus a
# disk buffer with end-to-end acknowledgements, alternated ROUNDS times per protocol so
# that a machine whose speed drifts from minute to minute (a shared VM) affects both
# sides alike; prints each side's median events/s and events per CPU second, the ratio
# of the medians and of each pair, p99 and peak RSS.
#
#   scripts/bench-acks.sh [ROUNDS=4] [SECONDS=6] [PROTOCOLS="http grpc"]
#
# LOOKOUT=path/to/lookout measures another build of lookout (default: target/release/lookout);
# BENCH_ARGS adds options to both sides (e.g. "--concurrency 10").
# Needs the release build: cargo build --release -p lookout -p lookout-bench
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
seconds=${2:-6}
protocols=${3:-http grpc}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for p in $protocols; do
  for _ in $(seq "$rounds"); do
    for mode in "" "--buffer disk --acks"; do
      # shellcheck disable=SC2086
      taskset -c 1 target/release/bench ${LOOKOUT:+--lookout "$LOOKOUT"} --seconds "$seconds" --sink elasticsearch --protocols "$p" $mode ${BENCH_ARGS:-} 2>/dev/null | tail -1 >>"$out"
    done
  done
done
python3 - "$out" <<'PY'
import json, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for p in sorted({r["protocol"] for r in rows}):
    mem = [r for r in rows if r["protocol"] == p and r["buffer"] == "memory"]
    disk = [r for r in rows if r["protocol"] == p and r["buffer"] == "disk"]
    med = lambda rs, k: st.median(r[k] for r in rs)
    wall = med(disk, "events_per_sec") / med(mem, "events_per_sec")
    cpu = med(disk, "events_per_cpu_sec") / med(mem, "events_per_cpu_sec")
    pairs = [round(d["events_per_sec"] / m["events_per_sec"], 3) for m, d in zip(mem, disk)]
    print(f"{p}: memory {med(mem, 'events_per_sec'):,.0f} ev/s, disk+acks {med(disk, 'events_per_sec'):,.0f} ev/s: "
          f"ratio {wall:.1%} (pairs {pairs}), per CPU second {cpu:.1%}; "
          f"p99 disk+acks {min(r['latency_p99_ms'] for r in disk)}-{max(r['latency_p99_ms'] for r in disk)} ms; "
          f"peak RSS memory {max(r['peak_rss_mib'] for r in mem)} / disk+acks {max(r['peak_rss_mib'] for r in disk)} MiB; "
          f"lost {sum(r['lost'] for r in mem + disk)}")
PY
