"""`fmnist predict IMAGE...`: classify image files with a trained model.

The model is a weights file (models/<experiment>.pt) or an MLflow model URI
(models:/fmnist-resnet@champion). Any PNG or JPEG works, of any size and mode: it becomes a
greyscale image of the size the model was trained on (28x28 for Fashion-MNIST), fitted like
Fashion-MNIST's (aspect kept, centred, light garment on a dark ground; `--invert` for the usual
dark-on-light photo). A file that is not an image gets a one-line
error naming it; the other files are still classified, and the exit status is then 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from fmnist.data.picture import SIZE, load_image  # noqa: F401  (the command's image fitting)
from fmnist.errors import DataError, FmnistError
from fmnist.escaping import terminal

class Predictor:
    """Class probabilities for raw images (N, H, W) uint8 of `self.size`, from a weights file or an MLflow model."""

    def __init__(self, source: str, device: str = "cpu"):
        self.source, self.device = source, device  # where a weights file's model runs
        self.note = None  # a line for stderr, e.g. that the model was trained on synthetic data
        if source.startswith(("models:/", "runs:/")) or "://" in source:
            self._from_mlflow(source)
        else:
            self._from_weights(source)

    def _from_weights(self, path: str) -> None:
        from fmnist.served import load_served, predict_proba

        served, weights = load_served(path, self.device)
        self.classes = list(weights.classes)
        self.size = tuple(weights.input_size)
        self._predict = lambda pixels: predict_proba(served, pixels[:, None], pixels=True)
        if weights.synthetic:
            self.note = f"note: {path} was trained on {weights.dataset}, not on Fashion-MNIST"

    def _from_mlflow(self, uri: str) -> None:
        import mlflow
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        from fmnist.params import load_params
        from fmnist.tracking import tracking_uri

        settings = load_params().mlflow if Path("params.yaml").exists() else None
        mlflow.set_tracking_uri(tracking_uri(settings))
        try:
            model = mlflow.pyfunc.load_model(uri)
        except (MlflowException, OSError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"{uri}: cannot load the model ({message})") from None
        meta = (model.metadata.metadata or {}) if model.metadata else {}
        self.classes = list(meta.get("classes") or [])
        self.size = tuple(meta.get("input_size") or (SIZE, SIZE))  # models logged before sizes were recorded
        # The logged model takes pixels 0..255 and returns probabilities (fmnist.served.Served).
        self._predict = lambda pixels: np.asarray(model.predict(pixels[:, None].astype(np.float32)))
        if meta.get("synthetic"):
            self.note = f"note: {uri} was trained on {meta.get('dataset')}, not on Fashion-MNIST"

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        probs = self._predict(pixels)
        if not self.classes:
            self.classes = [str(i) for i in range(probs.shape[1])]
        return probs


def device_of(name: str):
    """The torch device `name` asks for, or None when it is unknown or absent here."""
    from fmnist.device import resolve_device

    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        return None
    try:
        return resolve_device(name)
    except FmnistError:
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fmnist predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or JPEG files")
    parser.add_argument("--model", default="models/resnet.pt",
                        help="a weights file or an MLflow model URI (default: %(default)s)")
    parser.add_argument("--invert", action="store_true", help="the images are dark on a light ground (photos)")
    parser.add_argument("--top", type=int, default=1, metavar="K", help="show the K most likely classes")
    parser.add_argument("--device", default="cpu",
                        help="where a weights file's model runs: cpu (default), cuda, cuda:N, mps or auto")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error("--top must be at least 1")
    device = device_of(args.device)
    if device is None:
        parser.error(f"--device {args.device}: not a device here (cpu, cuda, cuda:N, mps or auto)")

    predictor = Predictor(args.model, device)  # first: the images become the size the model was trained on
    if predictor.note:
        print(predictor.note, file=sys.stderr)
    images, failed = {}, []
    for path in args.images:
        try:
            images[path] = load_image(path, invert=args.invert, size=predictor.size)
        except FmnistError as exc:
            failed.append(path)
            print(f"error: {exc}", file=sys.stderr)
    if images:
        probs = predictor(np.stack(list(images.values())))
        for path, p in zip(images, probs):
            best = np.argsort(-p)[:args.top]
            print(f"{terminal(path)}: " + ", ".join(f"{terminal(predictor.classes[i])} {p[i]:.3f}" for i in best))
    if failed:
        sys.exit(2)
    return 0
