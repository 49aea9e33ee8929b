"""A bounded atheris run over the decoders of untrusted bytes (tests/fuzz/crypto_decoders.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_TARGET = Path(__file__).with_name("fuzz") / "crypto_decoders.py"

# Wall-clock bound of the run; CIPHERPOST_FUZZ_SECONDS overrides it for longer local runs.
FUZZ_SECONDS = int(os.environ.get("CIPHERPOST_FUZZ_SECONDS", "20"))
# Memory bound for libFuzzer; the target keeps a few small sessions only.
FUZZ_RSS_LIMIT_MB = 1024


@pytest.mark.slow
def test_decoders_fuzz(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris installs on Linux x86_64 only")
    corpus = tmp_path / "corpus"
    result = subprocess.run(
        [
            sys.executable,
            str(FUZZ_TARGET),
            f"-max_total_time={FUZZ_SECONDS}",
            f"-rss_limit_mb={FUZZ_RSS_LIMIT_MB}",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
        cwd=FUZZ_TARGET.parents[2],
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"fuzz run found a failure:\n{output[-6000:]}"
    assert "Done" in output, f"fuzz run did not finish normally:\n{output[-3000:]}"
