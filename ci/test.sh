#!/usr/bin/env bash
# The test command: installs everything the tests need on a fresh machine, then runs them.
#
#   ci/test.sh            all tests (Rust crates, Python, interop, bounded fuzz runs)
#   ci/test.sh -k NAME    extra arguments go to pytest
#
# It builds into .venv (created if missing) so it never changes the system Python, and gives
# python-axolotl its own .venv-axolotl because that package needs protobuf<3.21.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

echo "== system packages"
ci/install-system-packages.sh

echo "== Python environment (.venv)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test,bench]'

echo "== python-axolotl reference peer (.venv-axolotl)"
ci/axolotl-venv.sh

echo "== Rust crates"
cargo test -q --manifest-path core/Cargo.toml --workspace --exclude cipherpost-python

echo "== Rust decoder fuzzing (bounded)"
ci/fuzz-rust.sh

echo "== Python tests"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
