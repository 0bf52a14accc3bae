"""Uncertainty of the figures the project reports: intervals for one run, spread over several seeds.

Pure numpy, no torch: the report, the README tables and evaluate share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson 1927): unlike the normal approximation it stays
    inside [0, 1] and keeps its coverage near 0 and 1, where a good classifier's error rate lives."""
    if n <= 0:
        raise ValueError("an interval needs at least one trial")
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes in {n} trials")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At 0 or n successes one end is exactly 0 or 1; rounding would leave it a hair inside.
    low = 0.0 if successes == 0 else centre - half
    high = 1.0 if successes == n else centre + half
    return low, high


@dataclass(frozen=True)
class Spread:
    """Several runs' values of one figure: mean, sample standard deviation (n - 1), min, max, n."""

    mean: float
    std: float
    min: float
    max: float
    n: int

    def as_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "min": self.min, "max": self.max, "n": self.n}


def spread(values: Sequence[float]) -> Spread:
    """Mean and spread of one figure over runs; the standard deviation of a single run is 0, not NaN."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("a spread needs at least one value")
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return Spread(mean, std, min(values), max(values), n)


def pooled_std(a: Spread, b: Spread) -> float:
    """The pooled standard deviation of two groups of runs (each weighted by its degrees of freedom)."""
    dof = (a.n - 1) + (b.n - 1)
    if dof == 0:
        return 0.0
    return math.sqrt(((a.n - 1) * a.std ** 2 + (b.n - 1) * b.std ** 2) / dof)
