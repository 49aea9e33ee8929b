"""The README's crypto example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def crypto_example() -> str:
    section = README.read_text().split("## Using the crypto API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "README has no python block under 'Using the crypto API'"
    return match.group(1)


def test_readme_crypto_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-c", crypto_example()],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    groups = result.stdout.split()
    assert len(groups) == 12
    assert all(len(group) == 5 and group.isdigit() for group in groups)
