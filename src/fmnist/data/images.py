"""The image-folder dataset: `root/<class>/*.png|jpg|jpeg` (torchvision's ImageFolder layout) as IDX arrays.

Every image becomes greyscale at `data.image_size`, fitted as `fmnist predict` fits an image (aspect
kept, centred on black), so prediction sees what training saw. The train/test split is
`root/train/<class>/` and `root/test/<class>/` when both folders exist, else a seeded split that holds
out `data.test_fraction` of each class. Labels number the classes in sorted folder-name order (or in
the order `data.classes` gives). Hidden files and files of other types are ignored; an image that
cannot be decoded is a bad file: refused or skipped as `data.bad_files` says, each listed on a line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from fmnist.errors import DataError, FmnistError
from fmnist.params import Data

EXTENSIONS = (".png", ".jpg", ".jpeg")


def class_files(folder: Path) -> dict[str, list[Path]]:
    """{class name: its image files, sorted}, from the class folders of `folder` (searched recursively)."""
    return {
        sub.name: sorted(f for f in sub.rglob("*") if f.suffix.lower() in EXTENSIONS and f.is_file()
                         and not any(part.startswith(".") for part in f.relative_to(sub).parts))
        for sub in sorted(folder.iterdir()) if sub.is_dir() and not sub.name.startswith(".")
    }


def _class_order(found: list[str], data: Data, root: Path) -> list[str]:
    if data.classes is None:
        return found
    if sorted(data.classes) != sorted(found) or len(set(data.classes)) != len(data.classes):
        raise DataError(f"{root}: data.classes ({', '.join(data.classes)}) must name each class folder once "
                        f"(found: {', '.join(found)})")
    return list(data.classes)


def _decode(files: list[Path], data: Data) -> tuple[list[np.ndarray | None], list[tuple[str, str]]]:
    """Each file as uint8 (H, W), or None for a bad one; the bad ones as (path, one-line fault naming it)."""
    from fmnist.data.picture import load_image  # PIL, loaded only for this dataset

    images, bad = [], []
    for path in files:
        try:
            images.append(load_image(path, size=tuple(data.image_size)))
        except FmnistError as exc:
            images.append(None)
            bad.append((str(path), str(exc)))
    return images, bad


def _split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A test mask holding out round(n * fraction) images of each class, always leaving one to train on."""
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_test = min(len(members) - 1, round(len(members) * fraction))
        test[rng.permutation(members)[:n_test]] = True
    return test


def _class_groups(root: Path) -> dict[str, dict[str, list[Path]]]:
    """The image files per class folder: of train/ and test/ when `root` has both, else {'all': ...}."""
    if not root.is_dir():
        raise DataError(f"{root}: data.source is not a folder (image-folder needs a folder of class folders)")
    has = {split: (root / split).is_dir() for split in ("train", "test")}
    if has["train"] != has["test"]:
        one, other = ("train", "test") if has["train"] else ("test", "train")
        raise DataError(f"{root}: has a {one}/ folder but no {other}/ folder; give both, or neither (then "
                        f"data.test_fraction of each class is held out for test)")
    if has["train"]:
        return {split: class_files(root / split) for split in ("train", "test")}
    return {"all": class_files(root)}


def _decode_groups(groups: dict, classes: list[str], data: Data, root: Path) -> tuple[dict, list]:
    """Every group's (image, label) pairs and the files that could not be decoded, refused or skipped as
    data.bad_files says."""
    files = {g: [(classes.index(c), f) for c in classes for f in per_class.get(c, [])] for g, per_class in groups.items()}
    decoded, bad = {}, []
    for group, items in files.items():
        images, faults = _decode([f for _, f in items], data)
        bad += faults
        decoded[group] = [(image, label) for image, (label, _) in zip(images, items) if image is not None]
    if bad and data.bad_files == "refuse":
        for _, line in bad:
            print(f"error: {line}", file=sys.stderr)
        raise DataError(f"{root}: {len(bad)} image file(s) could not be decoded (listed above); fix or remove "
                        f"them, or set data.bad_files: skip to leave them out")
    for _, line in bad:
        print(f"warning: {line}; skipped (data.bad_files: skip)", file=sys.stderr)
    return decoded, bad


def read_image_folder(data: Data) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], list[str]]:
    """({'train': (images, labels), 'test': (...)}, class names, skipped files) of the folder `data.source`.

    Everything is decoded before anything is written, so a refusal leaves data/raw as it was.
    """
    root = Path(data.source)
    groups = _class_groups(root)
    found = sorted(set().union(*groups.values()))
    if not found:
        raise DataError(f"{root}: no class folders (expected {root}/<class>/*.png or .jpg)")
    classes = _class_order(found, data, root)
    if len(classes) > 256:
        raise DataError(f"{root}: {len(classes)} class folders; IDX labels take at most 256")
    for name in found:
        if not any(files.get(name) for files in groups.values()):
            raise DataError(f"{root}: class folder {name} holds no PNG or JPEG image")
    decoded, bad = _decode_groups(groups, classes, data, root)

    h, w = data.image_size
    rng = np.random.default_rng(data.split_seed)

    def arrays(pairs):
        images = np.stack([p[0] for p in pairs]) if pairs else np.zeros((0, h, w), np.uint8)
        return images, np.array([p[1] for p in pairs], np.uint8)

    if "all" in decoded:
        images, labels = arrays(decoded["all"])
        test = _split(labels, data.test_fraction, rng)
        splits = {"train": (images[~test], labels[~test]), "test": (images[test], labels[test])}
    else:
        splits = {split: arrays(decoded[split]) for split in ("train", "test")}
    for split, (images, labels) in splits.items():
        if not len(labels):
            raise DataError(f"{root}: no {split} images" + (
                "" if "all" not in groups else f" (every class has too few images to hold out "
                                        f"data.test_fraction {data.test_fraction})"))
    missing = sorted(set(range(len(classes))) - set(splits["train"][1].tolist()))
    if missing:
        raise DataError(f"{root}: no training image of class {', '.join(classes[i] for i in missing)}")
    # Shuffled (seeded): prepare validates on the LAST training images, which must not be one class.
    splits = {s: (x[order], y[order]) for s, (x, y) in splits.items() for order in [rng.permutation(len(y))]}
    return splits, classes, [path for path, _ in bad]
