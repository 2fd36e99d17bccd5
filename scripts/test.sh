#!/usr/bin/env bash
# Lookout's test command. On a fresh machine it installs what the tests need into a
# local env (.venv: the OpenTelemetry Python SDK as a real OTLP client), builds the
# workspace and runs every test: unit tests of each crate and the end-to-end tests
# in tests/ that drive the built `lookout` binary over real sockets; then a short
# fuzzing smoke run (cargo-fuzz, installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Reference engines from Debian: promtool (rule unit tests oracle), Prometheus (remote
# datasource, sending alerts to Lookout), Alertmanager and amtool (the notifier's
# differential and API tests).
need=()
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
# VictoriaMetrics: a second remote-write receiver for the prometheus_remote_write sink.
command -v victoria-metrics >/dev/null || need+=(victoria-metrics)
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
# The web UI's browser tests: headless Chromium driven by playwright-core (Node.js).
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# docker-compose: validates the compose/ stacks (`config` needs no Docker engine).
{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; } || need+=(docker-compose)
# curl (the http_server source's e2e test posts as curl users do) and logger(1) from
# bsdutils (the syslog source's).
command -v curl >/dev/null || need+=(curl)
command -v logger >/dev/null || need+=(bsdutils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
export LOOKOUT_TEST_PYTHON="$PWD/.venv/bin/python"
# playwright-core (no browser download: the tests use Debian's chromium), pinned by
# tests/browser/package-lock.json.
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

cargo fmt --all --check
cargo build --workspace --locked
cargo test --workspace --locked --no-fail-fast

# Fuzzing smoke run: each cargo-fuzz target for a few seconds from its seeds, after
# replaying the saved regressions (long runs: scripts/fuzz.sh SECONDS).
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
scripts/fuzz-smoke.sh 5
