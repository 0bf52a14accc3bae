"""Figures, read back from matplotlib's own objects: what a reader of the PNG sees on the axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from fmnist import plots
from fmnist.calibration import reliability_bins


def tick_labels(fig) -> list[str]:
    fig.canvas.draw()  # formatters run at draw time
    return [t.get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
            for t in axis.get_ticklabels(which="both") if t.get_text()]


def reliability():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(10, 0.1), size=20000)  # bin counts from a handful to thousands
    return plots.reliability_diagram({"served": reliability_bins(rng.integers(0, 10, 20000), probs)}, "t")


def curves():
    rows = [{"epoch": e, "train_loss": 3 / e, "train_acc": 0.5, "val_loss": 2.5 / e, "val_acc": 0.6} for e in range(1, 41)]
    return plots.training_curves({"x": rows}, "d")


@pytest.mark.parametrize("make", [reliability, curves])
def test_log_axes_are_labelled_in_plain_numbers(make):
    # mathtext is off (class names are literal text), and matplotlib's own labels of a log axis are formulas
    fig = make()
    try:
        log_axes = [ax for ax in fig.axes if ax.get_yscale() == "log"]
        assert log_axes
        labels = tick_labels(fig)
        assert not [label for label in labels if "$" in label or "mathdefault" in label]
        for ax in log_axes:
            numbers = [t.get_text() for t in ax.yaxis.get_ticklabels(which="both") if t.get_text()]
            assert numbers and all(float(n) > 0 for n in numbers)
    finally:
        plt.close(fig)
