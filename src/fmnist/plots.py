"""Figures: every title carries the dataset's name, so a synthetic result is never taken for a real one."""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run in DVC and CI with no display
# Class and dataset names are literal text: a `$` in one starts no formula (an unbalanced one would fail the
# whole figure). No figure here writes a formula.
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402

from fmnist.files import atomic  # noqa: E402


# A name in a script the font lacks (CJK in DejaVu Sans) is drawn as boxes, and matplotlib warns once per glyph
# and per drawing: save() says it in one line per figure instead.
GLYPH = re.compile(r"Glyph (\d+) .*missing from font")
warnings.filterwarnings("ignore", message=GLYPH.pattern, category=UserWarning)


def log_y(ax) -> None:
    """A log y axis labelled in plain numbers at its powers of ten (0.1, 1, 10, 100): matplotlib's own labels
    for one are formulas, which read `$\\mathdefault{10^{0}}$` with mathtext off."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def save(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save atomically (temp file, then rename) and close the figure."""
    path = Path(path)
    try:
        with atomic(path) as tmp, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # the temp name hides the suffix: say the format
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    missing = {chr(int(m.group(1))) for w in caught if (m := GLYPH.search(str(w.message)))}
    for w in caught:
        if not GLYPH.search(str(w.message)):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if missing:
        print(f"warning: {path}: the figure's font has no glyph for {' '.join(sorted(missing))}; "
              "they are drawn as boxes", file=sys.stderr)
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


def confusion_matrix(matrix: np.ndarray, classes: list[str], title: str, accuracy: float):
    """A row-normalised confusion matrix: rows are the actual class, columns the prediction."""
    n = len(classes)
    size = max(5.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            value = matrix[i, j]
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7 if n > 8 else 9,
                    color="white" if value > 0.5 else ("black" if value >= 0.005 else "0.6"))
    ax.set_xticks(range(n), classes, rotation=40, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion matrix (share of each actual class)\n{title}\ntest accuracy {accuracy:.2%}",
                 fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def misclassification_bars(table: list[dict], classes: list[str], title: str):
    """Errors per true class (rows of `evaluation.misclassification_table`) as horizontal bars, each
    split by the classes it was most often mistaken for; the remaining errors are grey."""
    total = sum(r["errors"] for r in table)
    colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.6))
    y = np.arange(len(table))[::-1]  # first class on top, as in the table
    used = {}
    for row, yi in zip(table, y):
        left = 0
        k = 1
        while f"mistaken_for_{k}" in row:
            name, count = row[f"mistaken_for_{k}"], row[f"mistaken_for_{k}_count"]
            if count:
                colour = colours(classes.index(name) % colours.N)
                ax.barh(yi, count, left=left, color=colour, label=None if name in used else name)
                used[name] = True
                left += count
            k += 1
        rest = row["errors"] - left
        if rest:
            ax.barh(yi, rest, left=left, color="0.8", label=None if "other" in used else "other classes")
            used["other"] = True
        ax.text(row["errors"], yi, f"  {row['errors']} ({row['error_share']:.1%} of errors), "
                f"accuracy {row['accuracy']:.1%}", va="center", fontsize=8)
    ax.set_yticks(y, [r["class"] for r in table])
    ax.set_xlabel("misclassified test images (bar split by the predicted class)")
    ax.set_title(f"Misclassifications per true class - {title}\n{total} errors in all", fontsize=10)
    ax.set_xlim(0, max(1, max(r["errors"] for r in table)) * 1.6)  # room for the labels
    if used:
        handles, labels = ax.get_legend_handles_labels()
        rank = {name: i for i, name in enumerate(classes)}  # legend in class order; "other classes" last
        order = sorted(range(len(labels)), key=lambda i: rank.get(labels[i], len(classes)))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], title="mistaken for", fontsize=7,
                  title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig


def misclassified_grid(images: np.ndarray, titles: list[str], suptitle: str, cols: int = 6):
    """Misclassified images with their true and predicted labels; a note when there are none."""
    if len(images) == 0:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified test images", ha="center", va="center")
        fig.suptitle(suptitle, fontsize=10)
        return fig
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(np.asarray(image).squeeze(), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(h_pad=1.5)  # room for the two-line titles between rows
    return fig


def training_curves(histories: dict, dataset: str):
    """Every experiment's loss (left, log scale: mse and cross-entropy differ by orders of magnitude)
    and accuracy (right) per epoch, overlaid; solid validation, dashed train, dotted test."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(13, 5))
    colours = plt.get_cmap("tab10")
    styles = {"val": "-", "train": "--", "test": ":"}
    for k, (name, rows) in enumerate(histories.items()):
        colour = colours(k % colours.N)
        epochs = [r["epoch"] for r in rows]
        marker = "o" if len(rows) < 15 else None  # a one- or few-epoch run is still visible
        for split, style in styles.items():
            if f"{split}_loss" not in rows[0]:
                continue
            label = f"{name} ({split})"
            ax_loss.plot(epochs, [r[f"{split}_loss"] for r in rows], style, color=colour, marker=marker,
                         markersize=3, label=label)
            ax_acc.plot(epochs, [r[f"{split}_acc"] for r in rows], style, color=colour, marker=marker,
                        markersize=3, label=label)
    log_y(ax_loss)
    ax_loss.set_ylabel("loss (each experiment's own: mse or cross-entropy)")
    ax_acc.set_ylabel("accuracy")
    last = max((r["epoch"] for rows in histories.values() for r in rows), default=1)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, last + 0.5)
        ax.grid(alpha=0.3)
    ax_loss.set_title("Loss per epoch", fontsize=10)
    ax_acc.set_title("Accuracy per epoch", fontsize=10)
    handles, labels = ax_loss.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=min(4, len(labels) or 1),
               fontsize=8, frameon=False)
    fig.suptitle(f"Training curves, all experiments - {dataset}", fontsize=11)
    fig.tight_layout()
    return fig


def accuracy_against_time(curves: dict, dataset: str):
    """Each experiment's held-out accuracy after every epoch against its training seconds so far (log
    scale: seconds to hours). `curves` maps a name to (seconds, accuracies, split), split naming the
    held-out images the accuracies are on (validation, or test for a run that trains on validation)."""
    fig, ax = plt.subplots(figsize=(9, 5))
    colours = plt.get_cmap("tab10")
    for k, (name, (seconds, accuracies, split)) in enumerate(curves.items()):
        style = ("-" if split == "val" else ":") + ("o" if len(seconds) <= 40 else "")  # points while few
        ax.plot(seconds, accuracies, style, color=colours(k % colours.N), markersize=3, label=f"{name} ({split})")
    ax.set_xscale("log")
    ax.set_xlabel("training seconds (cumulative, log scale)")
    ax.set_ylabel("accuracy after each epoch")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Accuracy against training time - {dataset}", fontsize=11)
    fig.tight_layout()
    return fig


def reliability_diagram(curves: dict, title: str):
    """Accuracy against mean confidence per confidence bin (calibration.reliability_bins), one line per set of
    probabilities (`curves`: label -> bins; the first also as bars), the diagonal being perfect calibration;
    below, the first set's images per bin (log scale: a good classifier puts most of them in the top bin)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    top.plot([0, 1], [0, 1], "--", color="0.5", linewidth=1, label="perfect calibration")
    first = next(iter(curves.values()))
    centres, widths = (first["low"] + first["high"]) / 2, first["high"] - first["low"]
    used = first["count"] > 0
    top.bar(centres[used], first["accuracy"][used], widths[used], color="tab:blue", alpha=0.25, edgecolor="tab:blue")
    for k, (label, bins) in enumerate(curves.items()):
        shown = bins["count"] > 0
        top.plot(bins["confidence"][shown], bins["accuracy"][shown], "o-" if k == 0 else "s--", markersize=4,
                 color=plt.get_cmap("tab10")(k), label=label)
    top.set_ylabel("accuracy in the bin")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.grid(alpha=0.3)
    top.legend(fontsize=8, loc="upper left")
    bars = bottom.bar(centres, np.maximum(first["count"], 0), widths, color="tab:blue", alpha=0.6)
    bottom.bar_label(bars, labels=[str(int(c)) if c else "" for c in first["count"]], fontsize=6, padding=1)
    if first["count"].max() > 0:
        log_y(bottom)
        bottom.set_ylim(0.8, first["count"].max() * 4)
    bottom.set_xlabel(f"confidence (top class probability), {len(centres)} equal-width bins")
    bottom.set_ylabel("test images")
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
