"""Make the real-image sample the demo trains on, from the four IDX files of Fashion-MNIST's first release.

    .venv/bin/python data/sample/make.py /path/to/fashion-mnist [--train-per-class 600] [--test-per-class 100]

Takes, in file order, the first N training and the first M test images of each class (so the sample is
balanced, as the dataset is) and writes them as the four IDX files in data/sample/fashion-mnist-sample/,
gzip with no timestamp, so the same source gives the same bytes. The source is the first-release split
(README.md here says how to tell it); images and labels are Fashion-MNIST's, MIT-licensed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from fmnist.data.idx import read_idx, write_idx

OUT = Path(__file__).resolve().parent / "fashion-mnist-sample"
SPLITS = {"train": "train", "test": "t10k"}


def balanced(labels: np.ndarray, per_class: int) -> np.ndarray:
    """The indices of the first `per_class` images of each class, in file order."""
    picked = [np.flatnonzero(labels == k)[:per_class] for k in np.unique(labels)]
    short = [int(k) for k, p in zip(np.unique(labels), picked) if len(p) < per_class]
    if short:
        sys.exit(f"error: classes {short} have fewer than {per_class} images")
    return np.sort(np.concatenate(picked))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of the four IDX files (.gz or not)")
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    for split, prefix in SPLITS.items():
        per_class = args.train_per_class if split == "train" else args.test_per_class
        images = read_idx(args.source / f"{prefix}-images-idx3-ubyte.gz", ndim=3)
        labels = read_idx(args.source / f"{prefix}-labels-idx1-ubyte.gz", ndim=1)
        keep = balanced(labels, per_class)
        write_idx(OUT / f"{prefix}-images-idx3-ubyte.gz", images[keep], compresslevel=9)
        write_idx(OUT / f"{prefix}-labels-idx1-ubyte.gz", labels[keep], compresslevel=9)
        print(f"{split}: {len(keep)} images ({per_class} per class) of {len(labels)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
