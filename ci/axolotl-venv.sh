#!/usr/bin/env bash
# Create .venv-axolotl with python-axolotl 0.2.3, the independent Signal-protocol peer of the
# interop tests. It needs protobuf<3.21 (the pure-Python backend), which must not reach the
# main environment, so the tests drive it through a subprocess (tests/peers/axolotl_peer.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! .venv-axolotl/bin/python -c 'import axolotl' 2>/dev/null; then
    "$PYTHON" -m venv .venv-axolotl
    .venv-axolotl/bin/pip install -q 'python-axolotl==0.2.3' 'protobuf<3.21'
fi
