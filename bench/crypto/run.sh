#!/usr/bin/env bash
# Run the Signal-protocol benchmarks of every library side by side and print the table.
#
#   bench/crypto/run.sh [OUT_DIR]      default OUT_DIR: .benchmarks/crypto
#   RUNS=5 bench/crypto/run.sh         number of repeated runs (default 3); cells take the best
#
# Needs .venv with the bench extra and .venv-axolotl (ci/axolotl-venv.sh). One run takes about
# 20 s on a 2-vCPU machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${1:-.benchmarks/crypto}
RUNS=${RUNS:-3}
mkdir -p "$OUT_DIR"
files=()
for run in $(seq 1 "$RUNS"); do
    file="$OUT_DIR/run-$run.json"
    .venv/bin/python -m pytest bench/crypto/test_crypto_bench.py -q -p no:cacheprovider \
        --benchmark-only --benchmark-max-time=1.0 --benchmark-min-rounds=5 \
        --benchmark-json="$file" --benchmark-columns=mean,ops,rounds >&2
    files+=("$file")
done
.venv/bin/python bench/crypto/report.py "${files[@]}"
