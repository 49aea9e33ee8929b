"""Turn pytest-benchmark JSON files from bench/crypto into the markdown table of BENCHMARKS.md.

    python bench/crypto/report.py RESULTS.json [MORE.json ...]

Rates are messages (or setups) per second: `extra_info["messages"]` divided by the time of the
fastest round (pytest-benchmark's `min`), or by the fastest of `extra_info["peer_seconds"]`
where the loop timed itself (python-axolotl in its own environment). With several files
(repeated runs) each cell takes the best run. The fastest round is the one least disturbed by
other processes, which matters on a shared 2-vCPU machine where means move by tens of percent
between runs. Ratios are cipherpost's rate over each other library's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

WORKS = ["setup", "one_direction", "ping_pong", "group"]
WORK_TITLES = {
    "setup": "session setup (setups/s)",
    "one_direction": "one direction (msgs/s)",
    "ping_pong": "ping-pong, DH step per message (msgs/s)",
    "group": "Sender Keys / Megolm (msgs/s)",
}
LIBRARIES = ["cipherpost", "vodozemac", "python-olm", "x3dh+doubleratchet", "python-axolotl"]


def rates(results: dict[str, Any]) -> dict[tuple[str, str], float]:
    table: dict[tuple[str, str], float] = {}
    for bench in results["benchmarks"]:
        info = bench["extra_info"]
        seconds = min(info["peer_seconds"]) if info.get("peer_seconds") else bench["stats"]["min"]
        table[(bench["group"], info["library"])] = info["messages"] / seconds
    return table


def render(table: dict[tuple[str, str], float]) -> str:
    others = LIBRARIES[1:]
    header = ["work", *LIBRARIES, *(f"cipherpost ÷ {name}" for name in others)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for work in WORKS:
        ours = table.get((work, "cipherpost"))
        cells = [WORK_TITLES[work]]
        for library in LIBRARIES:
            rate = table.get((work, library))
            cells.append("n/a" if rate is None else f"{rate:,.0f}")
        for library in others:
            rate = table.get((work, library))
            cells.append("n/a" if rate is None or ours is None else f"{ours / rate:.2f}×")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def best_rates(paths: list[str]) -> dict[tuple[str, str], float]:
    runs = [rates(json.loads(Path(path).read_text())) for path in paths]
    cells = {cell for run in runs for cell in run}
    return {cell: max(run[cell] for run in runs if cell in run) for cell in cells}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: report.py RESULTS.json [MORE.json ...]", file=sys.stderr)
        return 2
    print(render(best_rates(argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
