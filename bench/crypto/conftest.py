"""Benchmark fixtures: make the test helpers (tests/peers) importable from bench/crypto."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TESTS_DIR = BENCH_DIR.parents[1] / "tests"

for path in (str(BENCH_DIR), str(TESTS_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)
