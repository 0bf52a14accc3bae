"""Timing in interleaved rounds, shared by the benchmarks (torch's and Keras' alike: nothing here imports either)."""

from __future__ import annotations

import statistics


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
