"""Files and datasets into a run: the history CSV and loss curve, evaluate's figures, the prepared splits."""

from __future__ import annotations

import hashlib
import tempfile
import warnings
from pathlib import Path

from fmnist.files import md5sum

TRAINING_DIR = "training"  # artifact folder: history CSV and loss curve
EVALUATION_DIR = "evaluation"  # artifact folder: evaluate's figures and tables


def loss_curve(rows: list[dict], title: str, path: Path) -> Path:
    """Loss and accuracy per epoch, train and validation (and test when tracked)."""
    from fmnist import plots

    fig, (left, right) = plots.plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [r["epoch"] for r in rows]
    for split in ("train", "val", "test"):
        if f"{split}_loss" in rows[0]:
            left.plot(epochs, [r[f"{split}_loss"] for r in rows], marker=".", label=split)
        if f"{split}_acc" in rows[0]:
            right.plot(epochs, [r[f"{split}_acc"] for r in rows], marker=".", label=split)
    for ax, what in ((left, "loss"), (right, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return plots.save(fig, path)


def log_training_artifacts(client, run_id: str, rows: list[dict], history_path, title: str) -> None:
    """The history CSV and a loss curve PNG, under training/."""
    client.log_artifact(run_id, str(history_path), TRAINING_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        client.log_artifact(run_id, str(loss_curve(rows, title, Path(tmp) / "loss_curve.png")), TRAINING_DIR)


def log_paths(client, run_id: str, paths, folder: str) -> None:
    for path in map(Path, paths):
        if path.is_dir():
            client.log_artifacts(run_id, str(path), folder)
        elif path.exists():
            client.log_artifact(run_id, str(path), folder)


def dataset_inputs(variant_dir, dataset: str, train_split: str = "train") -> list:
    """The prepared splits of a variant of `dataset` as MLflow dataset inputs (context training /
    validation / test).

    Each is named `<dataset> <variant> <split>`, its source is the variant's folder, its digest the MD5
    of its two .npy files (MLflow's own digest reads only the first few images) and its profile the
    array shapes, so the split sizes show in the UI. With train_split `all` the validation images
    are trained on too, so their context is training.
    """
    import numpy as np
    from mlflow.data import from_numpy
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    variant_dir = Path(variant_dir).resolve()
    contexts = {"train": "training", "val": "training" if train_split == "all" else "validation", "test": "test"}
    inputs = []
    for split, context in contexts.items():
        files = [variant_dir / f"{a}_{split}.npy" for a in ("x", "y")]
        digest = hashlib.md5("".join(md5sum(f) for f in files).encode()).hexdigest()
        x, y = (np.load(f, mmap_mode="r") for f in files)
        with warnings.catch_warnings():  # a local path matches two equivalent MLflow source kinds
            warnings.simplefilter("ignore", UserWarning)
            data = from_numpy(x, targets=y, source=str(variant_dir), digest=digest,
                              name=f"{dataset} {variant_dir.name} {split}")
        inputs.append(DatasetInput(data._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs
