"""Whether a model's probabilities mean what they say: expected calibration error, negative log-likelihood,
Brier score and the reliability diagram's bins (Guo et al. 2017, "On Calibration of Modern Neural Networks").

Pure numpy on labels (N,) and class probabilities (N, C); the temperature is fitted in fmnist.temperature.
"""

from __future__ import annotations

import numpy as np

BINS = 15  # equal-width confidence bins, as Guo et al. use for ECE


def reliability_bins(y_true: np.ndarray, probs: np.ndarray, bins: int = BINS) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin ((m-1)/M, m/M]: its edges, image count, mean confidence and accuracy
    (confidence: the top class's probability; accuracy: how often the top class is right). An empty bin has
    count 0 and NaN for both means."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(y_true)).astype(np.float64)
    # Bin m holds confidences in ((m-1)/M, m/M]: ceil puts a confidence of exactly m/M into bin m.
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    edges = np.arange(bins + 1) / bins
    return {"low": edges[:-1], "high": edges[1:], "count": count, "confidence": mean_conf, "accuracy": accuracy}


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = BINS) -> float:
    """ECE = sum over bins of |bin| / N * |accuracy(bin) - confidence(bin)|; 0 for a calibrated model."""
    b = reliability_bins(y_true, probs, bins)
    used = b["count"] > 0
    weights = b["count"][used] / b["count"].sum()
    return float(np.sum(weights * np.abs(b["accuracy"][used] - b["confidence"][used])))


def negative_log_likelihood(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean -log p(true class); rows renormalised (float32 softmax sums to 1 only to ~1e-7) and a zero
    probability floored at 1e-15, as scikit-learn's log_loss does, so one certain mistake stays finite."""
    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)
    picked = probs[np.arange(len(probs)), np.asarray(y_true)]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def brier_score(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Brier's multi-class score: mean over images of the squared distance between the probabilities and the
    one-hot label, summed over classes (0 is perfect, 2 the worst). seed000's MSE loss is it divided by C."""
    probs = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(probs.shape[1])[np.asarray(y_true)]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def calibration_scores(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    return {"ece": round(expected_calibration_error(y_true, probs), 6),
            "nll": round(negative_log_likelihood(y_true, probs), 6),
            "brier": round(brier_score(y_true, probs), 6)}


def reliability_rows(y_true: np.ndarray, probs: np.ndarray, bins: int = BINS) -> list[list]:
    """The bins as CSV rows (bin_low, bin_high, count, confidence, accuracy); an empty bin's means are blank."""
    b = reliability_bins(y_true, probs, bins)
    return [[f"{lo:.6g}", f"{hi:.6g}", int(n), "" if n == 0 else f"{c:.6f}", "" if n == 0 else f"{a:.6f}"]
            for lo, hi, n, c, a in zip(b["low"], b["high"], b["count"], b["confidence"], b["accuracy"])]
