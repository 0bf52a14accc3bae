"""Uncertainty of the figures the project reports: intervals for one run, spread over several seeds.

Pure numpy, no torch: the report, the README tables and evaluate share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %
RESAMPLES = 1000  # bootstrap resamples of the test images
BOOTSTRAP_SEED = 0


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


def macro_f1_of_counts(counts: np.ndarray) -> np.ndarray:
    """Macro F1 of confusion counts (..., K, K) (rows true, columns predicted): per class 2 TP / (2 TP + FP + FN),
    averaged over the classes that occur as a true or a predicted label (scikit-learn's default labels)."""
    tp = np.diagonal(counts, axis1=-2, axis2=-1).astype(np.float64)
    denominator = counts.sum(-1) + counts.sum(-2)  # true + predicted = 2 TP + FP + FN
    present = denominator > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=present)
    return f1.sum(-1) / np.maximum(present.sum(-1), 1)


def bootstrap_macro_f1(y_true, y_pred, num_classes: int, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED,
                       level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of macro F1: the test images resampled with replacement `resamples`
    times (seeded, so the interval is reproducible), each resample's confusion counts made with one bincount."""
    codes = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    n, cells = len(codes), num_classes * num_classes
    if n == 0:
        raise ValueError("a bootstrap needs at least one image")
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)  # resamples per block: about 16 MB of indices at a time
    values = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        flat = (np.arange(b)[:, None] * cells + codes[rng.integers(0, n, (b, n))]).ravel()
        counts = np.bincount(flat, minlength=b * cells).reshape(b, num_classes, num_classes)
        values.append(macro_f1_of_counts(counts))
    tail = (1 - level) / 2
    low, high = np.quantile(np.concatenate(values), [tail, 1 - tail])
    return float(low), float(high)
