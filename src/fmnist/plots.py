"""Figures: every title carries the dataset's name, so a synthetic result is never taken for a real one."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run in DVC and CI with no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save atomically (temp file, then rename) and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def label_counts_chart(rows: list[dict], dataset: str):
    """Grouped bars: images per class for each split."""
    classes = list(dict.fromkeys(r["class"] for r in rows))
    splits = list(dict.fromkeys(r["split"] for r in rows))
    counts = {(r["class"], r["split"]): r["count"] for r in rows}
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(splits)
    x = np.arange(len(classes))
    for i, split in enumerate(splits):
        values = [counts[(c, split)] for c in classes]
        bars = ax.bar(x + (i - (len(splits) - 1) / 2) * width, values, width, label=split)
        ax.bar_label(bars, fontsize=6, rotation=90, padding=2)
    ax.set_xticks(x, classes, rotation=30, ha="right")
    ax.set_ylabel("images")
    ax.set_title(f"Label counts per split - {dataset}")
    ax.legend()
    ax.margins(y=0.15)
    return fig


def image_grid(images: np.ndarray, titles: list[str], suptitle: str, cols: int = 3):
    """A grid of greyscale 28x28 images with a title each (the seed notebook's 3x3 sample grid)."""
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(np.asarray(image).squeeze(), cmap="gray")
        ax.set_title(title, fontsize=9)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
