#!/usr/bin/env python3
"""Keras reference for fmnist's port of the seed003 notebook (CNN on Fashion-MNIST).

Runs the notebook's own model, compile() and fit() in Keras, changed only in how the data is
loaded: from a folder of the four IDX files instead of keras.datasets. Records train, validation
and test loss/accuracy after every epoch in one JSON per (variant, seed). Needs TensorFlow, which
is never a dependency of fmnist: run it from its own virtualenv (see bench/README.md).

    python bench/keras_reference.py IDX_DIR --variant unit-onehot --seed 0
    TF_USE_LEGACY_KERAS=1 python bench/keras_reference.py ...   # Keras 2 (tf_keras)
"""
import argparse
import gzip
import hashlib
import json
import os
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter off
LEGACY = os.environ.get("TF_USE_LEGACY_KERAS") == "1"
if LEGACY:
    import tf_keras as keras  # what tensorflow.keras is under TF_USE_LEGACY_KERAS=1
else:
    import keras
import tensorflow as tf

FILES = {  # name -> IDX magic number
    "train-images": ("train-images-idx3-ubyte", 0x803),
    "train-labels": ("train-labels-idx1-ubyte", 0x801),
    "test-images": ("t10k-images-idx3-ubyte", 0x803),
    "test-labels": ("t10k-labels-idx1-ubyte", 0x801),
}
VARIANTS = ("unit-onehot", "unit-sparse", "raw-onehot", "raw-sparse")
# where bench/fidelity.py reads Keras' runs
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs/results/fashion-mnist-first-release/fidelity/keras"
BATCH_ORDER = "a new permutation every epoch"  # what the runs' files record; see ReshuffledEveryEpoch
NUM_CATEGORIES = 10


def find_idx(folder, name):
    for path in (folder / f"{name}.gz", folder / name):
        if path.exists():
            return path
    raise SystemExit(f"{folder}: neither {name}.gz nor {name}")


def read_idx(path, magic):
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        data = gzip.decompress(data)
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise SystemExit(f"{path}: IDX magic {found:#010x}, expected {magic:#010x}")
    ndim = magic & 0xFF
    dims = np.frombuffer(data, ">u4", ndim, offset=4).astype(int)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_data(folder, variant, val_size, limit):
    """The notebook's split (last val_size training images validate) and encodings."""
    paths = {key: find_idx(folder, name) for key, (name, _) in FILES.items()}
    arrays = {key: read_idx(paths[key], FILES[key][1])[:limit] for key in FILES}
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths.values()}
    X, Y = arrays["train-images"].reshape(-1, 28, 28, 1), arrays["train-labels"]
    x_test, y_test = arrays["test-images"].reshape(-1, 28, 28, 1), arrays["test-labels"]
    n = len(X) - val_size
    if n <= 0:
        raise SystemExit(f"--val-size {val_size} leaves no training image of {len(X)}")
    xs, ys = [X[:n], X[n:], x_test], [Y[:n], Y[n:], y_test]
    if variant.startswith("unit"):
        # The notebook divides in float64; rounding that to float32 gives the float32 quotient.
        xs = [(x / 255).astype(np.float32) for x in xs]
    else:
        xs = [x.astype(np.float32) for x in xs]  # what Keras casts the notebook's uint8 to
    if variant.endswith("onehot"):
        ys = [keras.utils.to_categorical(y, NUM_CATEGORIES) for y in ys]
    return list(zip(xs, ys)), md5


def CNN_FMNST_model():
    """The notebook's model, line for line (it passes input_shape to the first Conv2D)."""
    Sequential = keras.models.Sequential
    L = keras.layers
    Dense, Conv2D, MaxPool2D, Flatten, Dropout, BatchNormalization = (
        L.Dense, L.Conv2D, L.MaxPool2D, L.Flatten, L.Dropout, L.BatchNormalization)
    num_categories = NUM_CATEGORIES

    model = Sequential()
    model.add(Conv2D(75, (3, 3), strides=1, padding="same", activation="relu",
                     input_shape=(28, 28, 1)))
    model.add(BatchNormalization())
    model.add(MaxPool2D((2, 2), strides=2, padding="same"))
    model.add(Conv2D(50, (3, 3), strides=1, padding="same", activation="relu"))
    model.add(Dropout(0.2))
    model.add(BatchNormalization())
    model.add(MaxPool2D((2, 2), strides=2, padding="same"))
    model.add(Conv2D(25, (3, 3), strides=1, padding="same", activation="relu"))
    model.add(BatchNormalization())
    model.add(MaxPool2D((2, 2), strides=2, padding="same"))
    model.add(Flatten())
    model.add(Dense(units=512, activation="relu"))
    model.add(Dropout(0.3))
    model.add(Dense(units=num_categories, activation="softmax"))
    return model


class ReshuffledEveryEpoch(getattr(keras.utils, "PyDataset", None) or keras.utils.Sequence):
    """The training images in batches, in a new order every epoch, as the notebook's unseeded
    fit(shuffle=True) has them. Seeded, a Keras 3 fit() on arrays draws one order and repeats it every
    epoch: its tf.random.shuffle sits in a tf.data map that starts again from the seed each epoch
    (bench/README.md). The permutations come from NumPy, seeded by --seed."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.x[idx], self.y[idx]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


class EpochLog(keras.callbacks.Callback):
    """Evaluates the test split after each epoch and prints the epoch's line. Measurement only:
    evaluate() runs the model in inference mode (no dropout draw, no batch-norm update) over
    unshuffled data, so training sees the same weights and random numbers as without it."""

    def __init__(self, test, epochs):
        super().__init__()
        self.test, self.epochs = test, epochs
        self.test_loss, self.test_acc, self.eval_seconds = [], [], 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        t0 = time.perf_counter()
        loss, acc = self.model.evaluate(*self.test, verbose=0)
        self.eval_seconds += time.perf_counter() - t0
        self.test_loss.append(loss)
        self.test_acc.append(acc)
        print(f"epoch {epoch + 1}/{self.epochs}  train {logs['loss']:.4f} {logs['accuracy']:.4f}"
              f"  val {logs['val_loss']:.4f} {logs['val_accuracy']:.4f}  test {loss:.4f} {acc:.4f}"
              f"  {time.perf_counter() - self.start - self.eval_seconds:.0f} s", flush=True)


def cpu_device():
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
             if line.startswith("model name")]
    # cores: the machine's; cores_used: those this process may run on (fewer under taskset)
    return {"cpu": names[0] if names else "unknown", "cores": os.cpu_count(),
            "cores_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}


def write_json(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)  # readers never see half a file


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("idx_dir", type=Path, help="folder of the four Fashion-MNIST IDX files")
    p.add_argument("--variant", choices=VARIANTS, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--epochs", type=int, help="default: 20, 10 for raw-sparse (as the notebook)")
    p.add_argument("--val-size", type=int, default=12000, help="last N training images validate")
    p.add_argument("--limit", type=int, help="use only the first N train and test images (smoke runs)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--dataset-name", default="Fashion-MNIST, first-release split")
    args = p.parse_args()
    if args.epochs is None:
        args.epochs = 10 if args.variant == "raw-sparse" else 20
    return args


def main():
    args = parse_args()
    keras.utils.set_random_seed(args.seed)  # Python, NumPy and TensorFlow generators
    tf.config.experimental.enable_op_determinism()  # same seed, same figures
    (train, val, test), md5 = load_data(args.idx_dir, args.variant, args.val_size, args.limit)

    # Keras 3 warns about input_shape in a layer; the notebook's code passes it, and it works.
    warnings.filterwarnings("ignore", message=".*input_shape.*", category=UserWarning)
    model = CNN_FMNST_model()
    # The notebook's compile(): the default optimizer (RMSprop), its loss, accuracy.
    loss = "categorical_crossentropy" if args.variant.endswith("onehot") \
        else "sparse_categorical_crossentropy"
    model.compile(loss=loss, metrics=["accuracy"])

    log = EpochLog(test, args.epochs)
    t0 = time.perf_counter()
    # The notebook's fit(): batch_size left at its default, 32; a new order every epoch (shuffle=False
    # only keeps Keras from shuffling the batches' order on top).
    history = model.fit(ReshuffledEveryEpoch(*train, batch_size=32, seed=args.seed), epochs=args.epochs,
                        verbose=0, shuffle=False, validation_data=val, callbacks=[log])
    seconds = time.perf_counter() - t0 - log.eval_seconds  # training + validation, not test
    h = history.history

    def r(values):
        return [round(float(v), 6) for v in values]

    record = {
        "framework": "keras", "keras": keras.__version__, "tensorflow": tf.__version__,
        "backend": keras.backend.backend(), "legacy_keras": LEGACY,
        "variant": args.variant, "seed": args.seed, "epochs": args.epochs, "batch_order": BATCH_ORDER,
        "dataset": args.dataset_name, "idx_md5": md5,
        "train_images": len(train[0]), "val_images": len(val[0]), "test_images": len(test[0]),
        "train_loss": r(h["loss"]), "train_acc": r(h["accuracy"]),
        "val_loss": r(h["val_loss"]), "val_acc": r(h["val_accuracy"]),
        "test_loss": r(log.test_loss), "test_acc": r(log.test_acc),
        "seconds": round(seconds, 1), "device": cpu_device(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = args.out / f"{args.variant}-seed{args.seed}.json"
    write_json(path, record)
    print(f"{args.variant} seed {args.seed}: test accuracy {record['test_acc'][-1]:.4f} after "
          f"{args.epochs} epochs, {seconds:.0f} s of fit ({len(train[0]) * args.epochs / seconds:.0f} "
          f"img/s); wrote {path}")


if __name__ == "__main__":
    main()
