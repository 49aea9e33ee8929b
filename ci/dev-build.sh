#!/usr/bin/env bash
# Rebuild the Rust core and the Cython modules in place after an edit, for a checkout that was
# installed with `pip install -e .`. Faster than reinstalling: it skips dependency resolution.
set -euo pipefail
cd "$(dirname "$0")/.."
python setup.py -q build_rust --inplace --release
python setup.py -q build_ext --inplace
