"""The train stage's training: `fit.train` with the files around it, read top to bottom in `train_experiment`.

The prepared arrays become tensors on the device once; `fit.train` trains on them; the checkpoint after every
epoch lets a cut-off run resume exactly, and the weights, history and timing files are written at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from fmnist.data.prepare import load_variant
from fmnist.device import resolve_device
from fmnist.errors import ParamsError
from fmnist.files import temp_of
from fmnist.models import min_side
from fmnist.normalisation import Normalisation
from fmnist.params import ExperimentSettings
from fmnist.temperature import validation_temperature
from fmnist.training import distributed
from fmnist.training.checkpoint import Checkpoint, fingerprint
from fmnist.training.fit import train
from fmnist.training.outputs import write_outputs
from fmnist.training.step import Split, to_device


def load_splits(variant_dir, cfg: ExperimentSettings, device: torch.device) -> tuple[dict, dict[str, Split]]:
    meta, a = load_variant(variant_dir, ("train", "val", "test") if cfg.track_test else ("train", "val"))
    x_train, y_train = a["x_train"], a["y_train"]
    if cfg.train_split == "all":  # seed000 trained on all training images
        x_train, y_train = np.concatenate([x_train, a["x_val"]]), np.concatenate([y_train, a["y_val"]])
    splits = {"train": to_device(x_train, y_train, device),
              "val": to_device(a["x_val"], a["y_val"], device)}
    if cfg.track_test:
        splits["test"] = to_device(a["x_test"], a["y_test"], device)
    return meta, splits


def start_device(cfg: ExperimentSettings, ranks: distributed.Ranks) -> torch.device:
    """The device of this process: under DDP on GPUs, the one of its local rank."""
    device = resolve_device(cfg.device)
    if device.type == "cuda" and ranks.active:
        device = torch.device("cuda", ranks.local)
    return device


def input_size_of(name: str, cfg: ExperimentSettings, meta: dict, variant_dir, n_train: int) -> tuple[int, int]:
    """(H, W) of the prepared images, refused when the model cannot take them or the batch exceeds the data."""
    if cfg.batch_size > n_train:
        raise ParamsError(f"params.yaml: batch_size {cfg.batch_size} of experiment {name} is larger than "
                          f"its training set ({n_train} images)")
    size = tuple(meta["splits"]["train"]["x"]["shape"][-2:])
    need = min_side(cfg.model)
    if min(size) < need:  # prepare checks too, but the model may have changed since
        raise ParamsError(f"params.yaml: model {cfg.model} of experiment {name} needs images of at least "
                          f"{need}x{need} pixels; {variant_dir} holds {size[0]}x{size[1]} (height x width)")
    return size


def train_experiment(name: str, cfg: ExperimentSettings, variant_dir, weights_path, history_path, checkpoint_dir,
                     on_epoch: Callable[[dict], None] | None = None, progress: bool = True,
                     timing_path=None) -> dict:
    """Train one experiment; write its weights, per-epoch history and timing file (default: beside the
    weights, <weights>.timing.json); return the final history row (timings included).

    Resumes from `checkpoint_dir/last.pt` when it matches the settings and data (see `fingerprint`).
    """
    ranks = distributed.current()
    device = start_device(cfg, ranks)
    meta, splits = load_splits(variant_dir, cfg, device)
    input_size = input_size_of(name, cfg, meta, variant_dir, len(splits["train"].x))
    checkpoint = Checkpoint(checkpoint_dir, fingerprint(cfg, meta), device)
    temp_of(Path(weights_path)).unlink(missing_ok=True)  # the temp file of a write that was killed half-way

    def resume(setup):
        return checkpoint.load_or_start(name, setup.model, setup.optimizer, setup.schedule, say=ranks.main)

    def after_epoch(setup, done):
        checkpoint.save(done, setup.model, setup.optimizer, setup.schedule)
        if on_epoch is not None:
            on_epoch(done.history[-1])

    setup, done = train(name, cfg, splits, len(meta["classes"]), Normalisation.of(meta["normalisation"]),
                        ranks=ranks, resume=resume, after_epoch=after_epoch, progress=progress)
    if not ranks.main:
        return done.history[-1] if done.history else {}
    # The validation images were trained on with train_split all: a temperature fitted on them would be no
    # estimate of anything, so there is none.
    temperature = None if cfg.train_split == "all" else validation_temperature(
        setup.model, splits["val"].x, splits["val"].labels, cfg.tta, cfg.eval_batch_size)
    write_outputs(name, cfg, meta, input_size, setup.model, done, device, ranks.world,
                  Path(weights_path), Path(history_path), Path(timing_path) if timing_path else None,
                  temperature=temperature)
    checkpoint.discard()
    return done.history[-1]
