#!/usr/bin/env bash
# Run the Signal-protocol benchmarks of every library in one pytest run and print the table.
#
#   bench/crypto/run.sh [RESULTS.json]     default: .benchmarks/crypto.json
#
# Needs .venv with the bench extra and .venv-axolotl (ci/axolotl-venv.sh). Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-.benchmarks/crypto.json}
mkdir -p "$(dirname "$OUT")"
.venv/bin/python -m pytest bench/crypto/test_crypto_bench.py -q -p no:cacheprovider \
    --benchmark-only --benchmark-max-time=1.0 --benchmark-min-rounds=5 \
    --benchmark-json="$OUT" --benchmark-columns=mean,ops,rounds >&2
.venv/bin/python bench/crypto/report.py "$OUT"
