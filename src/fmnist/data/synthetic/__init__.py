"""A seeded generator of Fashion-MNIST-like images (28x28 greyscale, same 10 classes).

Every class is a small scene of convex polygons, ellipses and rings laid out in
a canonical garment frame (x to the right, y downwards; shoes point left, as in
Fashion-MNIST). A batch of images of one class is built at once, with its own
parameters per image (sleeve length, heel height, handle size, ...), then
rasterised by evaluating approximate signed distances on the pixel grid of all
images together (numpy broadcasting). Distances in pixels give anti-aliased
edges without supersampling.

As in the real data set, each object is scaled so that its longest side nearly
fills the frame and is centred, bright on a black background (Fashion-MNIST's
images are negatives of product photos).

The classes that look alike in the real data are built to overlap here too:
T-shirts, shirts, pullovers and coats share one torso model and differ only in
the distributions of sleeve length, body length, collar, opening and buttons;
sandals, sneakers and ankle boots share a shoe profile (sole, toe, heel).

Reproducibility: all randomness comes from numpy's PCG64 streams, labels,
shape parameters and pixel noise from three independent ones, each consumed in
a fixed order. Only IEEE-exact operations touch the pixels (+ - * / sqrt floor
min max; no sin, cos or exp, whose results may differ between CPUs), so the
same arguments give byte-identical arrays on any machine, whatever the chunk
size used internally.

The package: scene.py (parameter draws, primitives), raster.py (placement,
signed distances, coverage), tops.py, garments.py and footwear.py (the class
recipes), render.py (one class's images, shaded and noised); this module draws
the labels and streams and renders them batch by batch.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from fmnist.data.synthetic.raster import SIZE
from fmnist.data.synthetic.render import _N_GENERIC, _N_SHAPE, _render

CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_BATCH = 512             # images rendered together: large enough to amortise numpy's call overhead, small enough for the cache

Progress = Callable[[int, int], None]


def _generate(n: int, seq: np.random.SeedSequence, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n images and labels from seq's three spawned streams (labels, shape parameters, pixel noise)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    label_seq, param_seq, noise_seq = seq.spawn(3)
    labels = np.random.Generator(np.random.PCG64(label_seq)).permutation(np.arange(n) % len(CLASSES))
    labels = labels.astype(np.uint8)
    params = np.random.Generator(np.random.PCG64(param_seq))
    noises = np.random.Generator(np.random.PCG64(noise_seq))
    images = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    # Render class by class (one scene model per batch); both streams are read in this fixed
    # order, a batch at a time, so the result does not depend on the batch size.
    order = np.argsort(labels, kind="stable")
    for start in range(0, n, _BATCH):
        idx = order[start:start + _BATCH]
        u = params.random((len(idx), _N_GENERIC + _N_SHAPE))
        noise = noises.random((len(idx), SIZE, SIZE), dtype=np.float32)
        lab = labels[idx]
        for c in np.unique(lab):
            sel = lab == c
            images[idx[sel]] = _render(int(c), u[sel], noise[sel])
        if progress is not None:
            progress(min(start + _BATCH, n), n)
    return images, labels


def generate(n: int, seed: int, *, progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n images (uint8, shape (n, 28, 28)) and labels (uint8, shape (n,)).

    Balanced: each class gets n // 10 images, the first n % 10 classes one more; the order is
    shuffled. Fully determined by (n, seed). progress(done, total) is called after each batch.
    """
    return _generate(n, np.random.SeedSequence(seed), progress)


def generate_splits(n_train: int, n_test: int, seed: int, *,
                    progress: Progress | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (images, labels), "test": (images, labels)} from two independent streams derived from seed."""
    train_seq, test_seq = np.random.SeedSequence(seed).spawn(2)
    train = _generate(n_train, train_seq, progress)
    test = _generate(n_test, test_seq, progress)
    return {"train": train, "test": test}
