"""What the benchmarks share, torch's and Keras' alike (nothing here imports either): timing in interleaved
rounds, the machine's load around a run, and appending a run to a results file."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from pathlib import Path


def interleaved(measures: dict, repeats: int) -> dict:
    """{name: {"img_s": median, "runs": [each run]}} (the median of whatever each measure returns, images/s or
    GFLOP/s): one untimed run of each first (compilation, caches), then rounds A B C ... A B C ..., so a machine
    that slows down slows every measure alike."""
    for measure in measures.values():
        measure()
    runs = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            runs[name].append(measure())
    return {name: {"img_s": statistics.median(r), "runs": r} for name, r in runs.items()}


def load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


def load_change(machine: dict) -> str:
    """A run's load averages before and after it, as `1.3/1.8/1.9 -> 1.6/1.8/1.9`."""
    return " -> ".join("/".join(f"{x:.1f}" for x in machine[key] or []) for key in ("load_before", "load_after"))


def append_result(result: dict, path: Path) -> None:
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(runs, indent=2) + "\n")
    os.replace(tmp, path)  # readers never see half a file
