#!/usr/bin/env bash
# Lookout's test command. On a fresh machine it installs what the tests need into a
# local env (.venv: the OpenTelemetry Python SDK as a real OTLP client), builds the
# workspace and runs every test: unit tests of each crate and the end-to-end tests
# in tests/ that drive the built `lookout` binary over real sockets.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
export LOOKOUT_TEST_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all --check
cargo build --workspace --locked
cargo test --workspace --locked
