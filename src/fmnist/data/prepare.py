"""Split, normalise and encode the raw IDX files into arrays the trainer memory-maps.

Validation is the LAST `val_size` training images (as the seed notebook did); the test set is
untouched. One variant = one normalisation x one encoding, written as .npy files plus meta.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from fmnist.data.idx import read_idx
from fmnist.data.sources import FILES, describe
from fmnist.errors import DataError
from fmnist.files import read_json, write_text, writing
from fmnist.normalisation import Normalisation

SPLITS = ("train", "val", "test")


def load_raw(raw_dir: str | os.PathLike) -> dict:
    """The raw uint8 images and labels with the dataset record: {'record', 'train': (x, y), 'test': (x, y)}."""
    raw_dir = Path(raw_dir)
    out = {"record": describe(raw_dir)}
    for split in ("train", "test"):
        x = read_idx(raw_dir / FILES[f"{split}_images"], ndim=3)
        y = read_idx(raw_dir / FILES[f"{split}_labels"], ndim=1)
        if len(x) != len(y):
            raise DataError(f"{raw_dir / FILES[f'{split}_labels']}: {len(y)} labels for {len(x)} images")
        if len(y) and int(y.max()) >= len(out["record"]["classes"]):
            raise DataError(f"{raw_dir / FILES[f'{split}_labels']}: label {int(y.max())} has no class name in "
                            f"{raw_dir / 'dataset.json'} ({len(out['record']['classes'])} classes); "
                            "run the download stage again")
        out[split] = (x, y)
    return out


def check_training_classes(raw: dict, y_train: np.ndarray, val_size: int, raw_dir) -> None:
    """A model cannot learn a class it never sees. A class absent from the training file is a fault
    of the data (a skipped label number, a name too many): refused. A class whose training images all
    fall among the last `val_size` (a file sorted by class, or a tiny training set) gets a warning."""
    classes = raw["record"]["classes"]
    seen = np.bincount(y_train, minlength=len(classes)) > 0
    if seen.all():
        return
    in_file = np.bincount(raw["train"][1], minlength=len(classes)) > 0

    def named(which):
        shown = [f"'{classes[i]}' (label {i})" for i in which[:3]]
        return ", ".join(shown) + (f" and {len(which) - 3} more" if len(which) > 3 else "")

    path = Path(raw_dir) / FILES["train_labels"]
    absent = np.flatnonzero(~in_file)
    if len(absent):
        raise DataError(f"{path}: no training image of class {named(absent)}; every class needs training "
                        "images (number the labels 0 to K-1 without gaps, and name only those in data.classes)")
    late = np.flatnonzero(~seen)
    print(f"warning: {path}: class {named(late)} has images only among the last {val_size}, which validate "
          "(prepare.val_size), so the model cannot learn it; shuffle the training file or lower prepare.val_size",
          file=sys.stderr)


def split_train_val(x: np.ndarray, y: np.ndarray, val_size: int):
    """The last `val_size` images are the validation split."""
    if not 0 < val_size < len(x):
        raise DataError(f"prepare.val_size must be between 1 and {len(x) - 1} (the training set "
                        f"has {len(x)} images), got {val_size}")
    cut = len(x) - val_size
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def encode(y: np.ndarray, encoding: str, num_classes: int) -> np.ndarray:
    if encoding == "onehot":
        return np.eye(num_classes, dtype=np.float32)[y]
    if encoding == "sparse":
        return y.astype(np.int64)
    raise ValueError(f"unknown encoding '{encoding}'")


def class_numbers(y):
    """Class numbers from either encoding (one-hot rows or int64 class numbers), of numpy arrays or torch tensors."""
    return y.argmax(1) if y.ndim == 2 else y


def prepare_variant(raw_dir: str | os.PathLike, out_dir: str | os.PathLike, normalisation: str,
                    encoding: str, val_size: int, check_size=None) -> dict:
    """Write one variant to `out_dir` atomically (a temp folder renamed at the end); return its meta.

    `check_size((H, W))`, when given, may refuse the image size before anything is written.
    """
    raw = load_raw(raw_dir)
    if check_size is not None:
        check_size(raw["train"][0].shape[1:])
    record = raw["record"]
    num_classes = len(record["classes"])
    (x_tr, y_tr), (x_va, y_va) = split_train_val(*raw["train"], val_size)
    check_training_classes(raw, y_tr, val_size, raw_dir)
    splits = {"train": (x_tr, y_tr), "val": (x_va, y_va), "test": raw["test"]}
    norm = Normalisation.fit(normalisation, x_tr)

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    meta = {"dataset": record["name"], "dataset_id": record["id"], "synthetic": record["synthetic"],
            "classes": record["classes"], "normalisation": norm.record(), "encoding": encoding,
            "variant": f"{normalisation}-{encoding}", "splits": {}}
    try:
        with writing(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        for split, (x, y) in splits.items():
            # (N, 1, H, W) float32: the layout the models take, so training maps it without a copy.
            xs = norm.inputs(x)[:, None]
            ys = encode(y, encoding, num_classes)
            for name, array in ((f"x_{split}.npy", xs), (f"y_{split}.npy", ys)):
                with writing(tmp / name):
                    np.save(tmp / name, array)
            meta["splits"][split] = {
                "x": {"shape": list(xs.shape), "dtype": str(xs.dtype)},
                "y": {"shape": list(ys.shape), "dtype": str(ys.dtype)},
                "stats": {"mean": float(xs.mean()), "std": float(xs.std()), "min": float(xs.min()),
                          "max": float(xs.max())},
            }
        write_text(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")
        with writing(out_dir):
            shutil.rmtree(out_dir, ignore_errors=True)
            os.replace(tmp, out_dir)
    finally:  # a write that failed (a full disk) leaves no half variant taking the space
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def load_variant(variant_dir: str | os.PathLike, splits=SPLITS) -> tuple[dict, dict]:
    """Memory-map a prepared variant's `splits`: (meta, {'x_train': ..., 'y_train': ..., ...})."""
    variant_dir = Path(variant_dir)
    meta_path = variant_dir / "meta.json"
    if not meta_path.exists():
        raise DataError(f"{meta_path}: missing; run the prepare stage first (dvc repro)")
    meta = read_json(meta_path)
    return meta, {f"{a}_{s}": _array(variant_dir / f"{a}_{s}.npy") for s in splits for a in "xy"}


def _array(path: Path) -> np.ndarray:
    """A prepared array, memory-mapped; a DataError naming the file when it is missing or damaged."""
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise DataError(f"{path}: missing; run the prepare stage again (dvc repro)") from None
    except (ValueError, OSError) as exc:  # a truncated header or body, not an .npy file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a readable array ({reason}); run the prepare stage again (dvc repro)") from None


def label_counts(raw: dict, val_size: int) -> list[dict]:
    """Rows of (class, split, count) for the train / val / test splits."""
    classes = raw["record"]["classes"]
    (_, y_tr), (_, y_va) = split_train_val(*raw["train"], val_size)
    rows = []
    for split, y in (("train", y_tr), ("val", y_va), ("test", raw["test"][1])):
        counts = np.bincount(y, minlength=len(classes))
        rows += [{"class": c, "split": split, "count": int(n)} for c, n in zip(classes, counts)]
    return rows
