"""Loader for `signal-v3.json`, the libsignal v3 known-answer vectors.

The file contains facts recomputed from libsignal's and python-axolotl's tests; byte values are hex
strings. `load()` returns each section as a dictionary with hex already decoded, except for the
fields that are text or numbers (ids, notes, digit strings, iteration counts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS_PATH = Path(__file__).with_name("signal-v3.json")

# Fields that are not hex-encoded bytes.
TEXT_FIELDS = frozenset(
    {"note", "local_id", "remote_id", "display", "local_half", "remote_half", "iterations"}
)


def _decode_section(section: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if key in TEXT_FIELDS else bytes.fromhex(value) for key, value in section.items()
    }


def load() -> dict[str, dict[str, Any]]:
    """Return every section of the vectors file, keyed by section name."""
    raw = json.loads(VECTORS_PATH.read_text())
    return {name: _decode_section(section) for name, section in raw.items() if name != "source"}
