"""Shared pytest setup: make tests/ importable, so suites can use tests/peers and tests/vectors.

pytest's default import mode already puts this directory on sys.path; this keeps the helpers
importable under `--import-mode=importlib` too.
"""

import sys
from pathlib import Path

TESTS_DIR = str(Path(__file__).resolve().parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)
