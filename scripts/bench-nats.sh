#!/usr/bin/env bash
# Throughput per worker of the scale-out layout (docs/scaling-out.md): one ingest worker
# (OTLP with acknowledgements → nats sink) and one processing worker (nats source →
# enrich → file), each a release build on one runtime thread pinned to its own core, with
# Debian's nats-server -js between them. Prints one JSON line per protocol: events/s end
# to end, each worker's CPU seconds, events per CPU second and peak RSS, and `lost`
# (accepted but never written: must be 0).
#   scripts/bench-nats.sh [SECONDS]        # default 10 s per protocol
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || {
  echo "nats-server is not installed (Debian: apt-get install nats-server)" >&2
  exit 1
}
export PATH="$PATH:/usr/sbin"
cargo build --release --locked -p lookout -p lookout-bench
# Every request waits for JetStream's publish ack: keep enough of them in flight.
exec target/release/bench --topology nats --protocols http,grpc --seconds "$seconds" \
  --concurrency 16 --cpu 0 --processing-cpu 1
