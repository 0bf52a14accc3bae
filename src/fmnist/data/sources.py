"""Get the four IDX files of a dataset into data/raw: from mirrors, a local folder or URL, a folder of
image files (image-folder), or a generator.

Every file lands atomically (temp file, checksum, rename), so data/raw never holds a partial or wrong
file. `data/raw/dataset.json` records which dataset the files are, its class names and their MD5s:
it is how the dataset's name travels to every later stage.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fmnist.console import progress_bars
from fmnist.data.idx import read_idx, write_idx
from fmnist.data.kinds import KINDS, Kind
from fmnist.errors import DataError, storage_fault
from fmnist.files import md5sum, write_json, writing
from fmnist.params import Data

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


SYNTHETIC_NAME = KINDS["synthetic"].name
OFFLINE_HINT = ("offline options: set data.source to a local folder or file:// URL holding the four "
                "files, or use data.dataset: synthetic (make demo)")


def describe(raw_dir: str | os.PathLike) -> dict:
    """The dataset record written by the download stage (name, classes, files)."""
    path = Path(raw_dir) / "dataset.json"
    if not path.exists():
        raise DataError(f"{path}: missing; run the download stage first (dvc repro download)")
    return json.loads(path.read_text())


def _write_record(raw_dir: Path, record: dict) -> None:
    record["files"] = {name: md5sum(raw_dir / name) for name in FILES.values()}
    write_json(raw_dir / "dataset.json", record)


def _is_current(raw_dir: Path, record: dict) -> bool:
    """True when data/raw already holds this dataset, every file matching its recorded MD5."""
    try:
        old = describe(raw_dir)
    except (DataError, ValueError):
        return False
    same = {k: v for k, v in old.items() if k not in ("files", "duplicates")} == record
    return same and all((raw_dir / n).exists() and md5sum(raw_dir / n) == m for n, m in old["files"].items())


# --- fetching -----------------------------------------------------------------------------------

def _fetch(url: str, dest: Path, timeout: float) -> None:
    """Stream `url` into `dest` with a progress bar."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with open(dest, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, leave=False,
                                           desc=dest.name.removesuffix(".tmp"), disable=not progress_bars()) as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                bar.update(len(chunk))


def _download_file(name: str, bases: list[str], md5: str | None, raw_dir: Path, data: Data) -> None:
    """Try each base URL in turn, `data.retries` times each; keep the file only if its MD5 matches."""
    tmp = raw_dir / (name + ".tmp")
    faults = []
    try:
        for base in bases:
            url = base.rstrip("/") + "/" + name
            for attempt in range(data.retries):
                try:
                    _fetch(url, tmp, data.timeout)
                except (urllib.error.URLError, OSError, TimeoutError) as exc:
                    if (full := storage_fault(exc, raw_dir / name)) is not None:
                        raise full from None  # our disk, not the mirror: no retry will help
                    reason = getattr(exc, "reason", exc)
                    faults.append(f"{url}: {reason}")
                    if isinstance(exc, urllib.error.HTTPError) and exc.code == 404:
                        break  # the file is not there; retrying will not help
                    if attempt + 1 < data.retries:
                        time.sleep(min(2 ** attempt, 4))
                    continue
                got = md5sum(tmp)
                if md5 is not None and got != md5:
                    faults.append(f"{url}: MD5 mismatch (got {got}, expected {md5})")
                    break  # a wrong file stays wrong on this mirror
                os.replace(tmp, raw_dir / name)
                return
    finally:
        tmp.unlink(missing_ok=True)
    raise DataError(f"{name}: could not be fetched: {'; '.join(faults[-3:])}; {OFFLINE_HINT}")


def _from_folder(folder: Path, name: str, raw_dir: Path, md5: str | None) -> None:
    """Copy `name` (or its uncompressed twin) from a local folder, gzipping plain IDX files."""
    gz, plain = folder / name, folder / name.removesuffix(".gz")
    tmp = raw_dir / (name + ".tmp")
    if md5 is None and (gz.exists() or plain.exists()):  # no checksum: it must read as IDX; a fault names it
        read_idx(gz if gz.exists() else plain, ndim=1 if "-labels-" in name else 3)
    try:
        with writing(raw_dir / name):  # a full disk names the file, not the folder read from
            if gz.exists():
                shutil.copyfile(gz, tmp)
            elif plain.exists():
                with open(plain, "rb") as src, open(tmp, "wb") as raw, \
                        gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0) as dst:
                    shutil.copyfileobj(src, dst)
            else:
                raise DataError(f"{gz}: missing from data.source (expected {name} or {plain.name})")
            if md5 is not None and (got := md5sum(tmp)) != md5:
                raise DataError(f"{gz}: MD5 mismatch (got {got}, expected {md5})")
            os.replace(tmp, raw_dir / name)
    finally:
        tmp.unlink(missing_ok=True)


def count_duplicates(train: np.ndarray, test: np.ndarray) -> dict[str, int]:
    """Exact duplicate images: within each split (images beyond the first of each set of twins) and
    across (test images with a twin among the training images), the leakage a test score hides."""
    def digests(images):
        return [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images]

    train_d, test_d = digests(train), digests(test)
    seen = set(train_d)
    return {"within_train": len(train_d) - len(seen), "within_test": len(test_d) - len(set(test_d)),
            "across": sum(d in seen for d in test_d)}


def _check_pairs(raw_dir: Path) -> tuple[int, int, int, dict[str, int]]:
    """Read the four files back: headers, lengths and image/label counts must agree; count duplicates."""
    counts, images_of = {}, {}
    for split in ("train", "test"):
        images = images_of[split] = read_idx(raw_dir / FILES[f"{split}_images"], ndim=3)
        labels = read_idx(raw_dir / FILES[f"{split}_labels"], ndim=1)
        if len(images) != len(labels):
            raise DataError(f"{raw_dir / FILES[f'{split}_labels']}: {len(labels)} labels for "
                            f"{len(images)} images in {FILES[f'{split}_images']}")
        if not len(labels):  # nothing to train on, or nothing to measure the model on
            raise DataError(f"{raw_dir / FILES[f'{split}_labels']}: the {split} split has no images")
        counts[split] = len(labels)
        counts["classes"] = max(counts.get("classes", 0), int(labels.max()) + 1 if len(labels) else 0)
    duplicates = count_duplicates(images_of["train"], images_of["test"])
    return counts["train"], counts["test"], counts["classes"], duplicates


def _check_label_names(folder: Path, raw_dir: Path, classes: list[str]) -> None:
    """idx-dir: every label value must have a class name (label k is the k-th name), and there must be
    two classes at least. Names beyond the labels are classes with no image (prepare refuses those)."""
    for split in ("train", "test"):
        name = FILES[f"{split}_labels"]
        top = int(read_idx(raw_dir / name, ndim=1).max())
        if top >= len(classes):
            raise DataError(f"{folder / name}: label {top} has no class name: data.classes names "
                            f"{len(classes)} classes (labels 0 to {len(classes) - 1}); name every label")
    if len(classes) < 2:
        raise DataError(f"{folder / FILES['train_labels']}: every label is 0, so there is one class and "
                        "nothing to tell apart; a classifier needs two classes or more")


def _quarantine(raw_dir: Path, md5: dict[str, str]) -> None:
    """After a fault, leave data/raw holding only whole files (with the published MD5, if any)."""
    for name in FILES.values():
        path = raw_dir / name
        if not path.exists():
            continue
        if name in md5:
            if md5sum(path) != md5[name]:
                path.unlink()
            continue
        try:
            read_idx(path)
        except DataError:
            path.unlink()
    (raw_dir / "dataset.json").unlink(missing_ok=True)


def shipped(kind: Kind) -> Path:
    """The folder a kind's files ship in: under the project root the stage runs in, else beside this package's
    own repository (a test or a script run from elsewhere)."""
    here = Path(kind.folder)
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / kind.folder


def fetch_dataset(data: Data, raw_dir: str | os.PathLike) -> dict:
    """Make `raw_dir` hold the four IDX .gz files of `data.dataset` plus dataset.json; return the record."""
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _fetch_dataset(data, raw_dir)
    except BaseException:
        _quarantine(raw_dir, KINDS[data.dataset].md5)
        raise


def _fetch_dataset(data: Data, raw_dir: Path) -> dict:
    fetched = FETCH.get(data.dataset, _known_files)(data, raw_dir)
    if fetched is not None:  # None: the raw files already hold what these settings ask for
        record, checked = fetched  # checked: what _check_pairs found, where the kind needed it early
        record["duplicates"] = (checked or _check_pairs(raw_dir))[3]
        _write_record(raw_dir, record)
    return describe(raw_dir)


def _write_splits(raw_dir: Path, splits: dict) -> None:
    for split, (images, labels) in splits.items():
        write_idx(raw_dir / FILES[f"{split}_images"], images)
        write_idx(raw_dir / FILES[f"{split}_labels"], labels)


def _synthetic(data: Data, raw_dir: Path):
    record = {"id": "synthetic", "name": SYNTHETIC_NAME, "synthetic": True,
              "classes": KINDS["synthetic"].classes, "config": vars(data.synthetic)}
    if _is_current(raw_dir, record):
        return None
    from fmnist.data.synthetic import generate_splits  # numpy-heavy; only when asked for

    _write_splits(raw_dir, generate_splits(data.synthetic.train, data.synthetic.test, data.synthetic.seed))
    return record, None


def _idx_dir(data: Data, raw_dir: Path):
    folder = Path(data.source)
    if not folder.is_dir():
        raise DataError(f"{folder}: data.source is not a folder (idx-dir needs the folder of four IDX files)")
    for name in FILES.values():
        _from_folder(folder, name, raw_dir, md5=None)
    checked = _check_pairs(raw_dir)
    classes = data.classes or [str(i) for i in range(checked[2])]
    _check_label_names(folder, raw_dir, classes)
    return {"id": "idx-dir", "name": data.name or folder.name, "synthetic": False, "classes": classes,
            "config": {"source": str(folder)}}, checked


def _image_folder(data: Data, raw_dir: Path):
    from fmnist.data.images import read_image_folder  # PIL; only when asked for

    splits, classes, skipped = read_image_folder(data)
    _write_splits(raw_dir, splits)
    folder = Path(data.source)
    return {"id": "image-folder", "name": data.name or folder.resolve().name, "synthetic": False,
            "classes": classes, "skipped": skipped,
            "config": {"source": str(folder), "image_size": list(data.image_size), "test_fraction": data.test_fraction,
                       "split_seed": data.split_seed, "bad_files": data.bad_files}}, None


def _known_files(data: Data, raw_dir: Path):
    """A kind with known files: from data.source, the repository or its mirrors, MD5s checked."""
    spec = KINDS[data.dataset]
    record = {"id": data.dataset, "name": spec.name, "synthetic": False, "classes": spec.classes, "config": {}}
    if _is_current(raw_dir, record):
        return None
    source = data.source or (str(shipped(spec)) if spec.folder else None)
    for name, md5 in spec.md5.items():
        if (raw_dir / name).exists() and md5sum(raw_dir / name) == md5:
            continue  # present and valid
        if source and "://" not in source:
            _from_folder(Path(source), name, raw_dir, md5)
        else:
            _download_file(name, [source] if source else list(spec.mirrors), md5, raw_dir, data)
    return record, None


# The kinds whose files are made or read in their own way; every other kind has known files (KINDS).
FETCH = {"synthetic": _synthetic, "idx-dir": _idx_dir, "image-folder": _image_folder}
