"""The synthetic Fashion-MNIST stand-in: reproducible, balanced, image-like, and a real (not trivial) task."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fmnist.data import synthetic
from fmnist.data.synthetic import CLASSES, generate, generate_splits

TOPS = [0, 2, 4, 6]  # T-shirt/top, Pullover, Coat, Shirt


def test_classes_follow_fashion_mnist_order():
    assert CLASSES == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def test_same_seed_same_bytes_and_other_seed_differs():
    x1, y1 = generate(300, 7)
    x2, y2 = generate(300, 7)
    assert x1.tobytes() == x2.tobytes() and y1.tobytes() == y2.tobytes()
    x3, y3 = generate(300, 8)
    assert not np.array_equal(x1, x3)
    assert not np.array_equal(y1, y3)


def test_result_does_not_depend_on_internal_batch_size(monkeypatch):
    x1, y1 = generate(250, 3)
    monkeypatch.setattr(synthetic, "_BATCH", 37)
    x2, y2 = generate(250, 3)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_splits_are_deterministic_and_disjoint():
    a = generate_splits(200, 100, 5)
    b = generate_splits(200, 100, 5)
    assert set(a) == {"train", "test"}
    for split in a:
        assert np.array_equal(a[split][0], b[split][0]) and np.array_equal(a[split][1], b[split][1])
    (xtr, _), (xte, _) = a["train"], a["test"]
    assert xtr.shape == (200, 28, 28) and xte.shape == (100, 28, 28)
    assert not set(map(bytes, xtr)) & set(map(bytes, xte))
    assert len(set(map(bytes, xtr))) == 200  # no duplicate images either


@pytest.mark.parametrize("n", [0, 7, 10, 1003])
def test_shapes_dtypes_and_balance(n):
    x, y = generate(n, 0)
    assert x.shape == (n, 28, 28) and x.dtype == np.uint8
    assert y.shape == (n,) and y.dtype == np.uint8
    counts = np.bincount(y, minlength=10)
    expected = [n // 10 + (c < n % 10) for c in range(10)]
    assert counts.tolist() == expected


def test_labels_are_shuffled():
    _, y = generate(500, 1)
    assert not np.all(np.diff(y.astype(int)) >= 0)
    assert len(set(y[:50].tolist())) >= 8


def test_values_look_like_fashion_mnist():
    x, y = generate(1000, 2)
    assert x.min() == 0 and x.max() >= 250
    assert len(np.unique(x)) > 200                           # grey levels, not a binary mask
    assert (x == 0).mean() > 0.3                             # dark background
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    assert (border == 0).mean() > 0.8                        # objects are centred
    assert (x.reshape(len(x), -1).max(1) > 30).all()          # every image shows something
    # Bright objects: the mean of the lit pixels sits in the upper half of the range for most images.
    lit_mean = np.array([img[img > 0].mean() for img in x])
    assert np.median(lit_mean) > 80


def test_progress_reports_up_to_the_total():
    seen = []
    generate(1200, 0, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (1200, 1200)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.fixture(scope="module")
def linear_baseline():
    """A logistic regression on raw pixels (5,000 train / 1,000 test): its accuracy and confusion matrix."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix

    s = generate_splits(5000, 1000, 0)
    (xtr, ytr), (xte, yte) = s["train"], s["test"]
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255  # noqa: E731 - float32 halves the fit time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(max_iter=200, tol=3e-3).fit(flat(xtr), ytr)
    pred = clf.predict(flat(xte))
    return (pred == yte).mean(), confusion_matrix(yte, pred, labels=range(10))


def test_linear_model_learns_but_does_not_solve_it(linear_baseline):
    acc, _ = linear_baseline
    assert 0.5 < acc < 0.95


def test_upper_body_garments_are_confused_among_themselves(linear_baseline):
    _, cm = linear_baseline
    errors = cm.copy()
    np.fill_diagonal(errors, 0)
    # Most mistakes are among T-shirt/Pullover/Coat/Shirt, and shirts are the hardest class, as in Fashion-MNIST.
    assert errors[np.ix_(TOPS, TOPS)].sum() > 0.5 * errors.sum()
    recall = cm.diagonal() / cm.sum(1)
    assert recall[6] == recall.min()
    # Footwear is confused within footwear rather than with clothes.
    shoes = [5, 7, 9]
    assert errors[np.ix_(shoes, shoes)].sum() >= errors[np.ix_(shoes, [0, 1, 2, 3, 4, 6, 8])].sum()
