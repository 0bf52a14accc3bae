"""Training on tensors: a recipe and the splits already on the device in, the trained model and its per-epoch
history out. No paths: the train stage's checkpoint and outputs come in through `resume` and `after_epoch`
(training/loop.py); the benchmarks and a notebook call `train` as it is.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch
from tqdm import tqdm

from fmnist.device import Flags
from fmnist.normalisation import Normalisation
from fmnist.params import ExperimentSettings
from fmnist.training import distributed
from fmnist.training.batches import Batches, process_seed
from fmnist.training.step import Setup, Split, evaluate_split, train_epoch

# Per-epoch timings: they differ on every run, so they go to the timing file (and MLflow), never into
# the weights, the history CSV or the metrics, which two identical runs must write byte for byte.
TIMING = ("seconds", "images_per_s")


@dataclasses.dataclass
class Progress:
    """Where training stands: the epochs done, their history rows and the training seconds so far."""
    epoch: int = 0
    history: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0


def evaluate_row(setup: Setup, splits: dict[str, Split], cfg: ExperimentSettings, device) -> dict:
    """Validation (and, with track_test, test) loss and accuracy, and the learning rate the epoch ended at."""
    row = {}
    for split in ("val", "test"):
        if split in splits:
            row[f"{split}_loss"], row[f"{split}_acc"] = evaluate_split(
                setup.eval_model, splits[split], setup.eval_loss, cfg.eval_batch_size, device)
    return {**row, "lr": setup.optimizer.param_groups[0]["lr"]}


def say_epoch(name: str, epochs: int, row: dict) -> None:
    print(f"{name} epoch {row['epoch']}/{epochs}: " + ", ".join(
        f"{k} {v:.4f}" for k, v in row.items() if k.endswith(("loss", "acc"))) + f", {row['images_per_s']:,.0f} img/s")


def run_epoch(name: str, cfg: ExperimentSettings, setup: Setup, split: Split, epoch: int, background: float,
              ranks: distributed.Ranks, progress: bool) -> dict:
    """Epoch `epoch`'s training steps, its random draws seeded by (seed, epoch, rank) alone."""
    with tqdm(total=-(-len(split.x) // cfg.batch_size), desc=f"{name} {epoch}/{cfg.effective_epochs}", unit="batch",
              leave=False, disable=not (progress and ranks.main), mininterval=0.5) as bar:
        torch.manual_seed(process_seed(cfg, epoch, ranks))  # dropout
        batches = Batches(split, cfg, epoch, background, ranks)
        return train_epoch(setup, batches, split.labels, bar, progress)


def train(name: str, cfg: ExperimentSettings, splits: dict[str, Split], num_classes: int, norm: Normalisation, *,
          ranks: distributed.Ranks = distributed.Ranks(), flags: Flags = Flags(),
          resume: Callable[[Setup], Progress] | None = None,
          after_epoch: Callable[[Setup, Progress], None] | None = None,
          progress: bool = True) -> tuple[Setup, Progress]:
    """Train a fresh model of recipe `cfg` on `splits` (train, val and, with track_test, test, on one device) up to
    cfg.effective_epochs. Returns the setup, which holds the trained model, and the progress, which holds the
    history rows (under DDP rank 0's have the validation figures). `resume` may restore a saved state into the
    setup before the first step; `after_epoch` sees every finished epoch on rank 0."""
    train_split = splits["train"]
    device = train_split.x.device
    flags.apply(device)
    torch.manual_seed(cfg.seed)  # the initial weights
    setup = Setup.build(name, cfg, num_classes, tuple(train_split.x.shape[-2:]), len(train_split.x), device,
                        ranks, flags)
    done = resume(setup) if resume is not None else Progress()
    setup.wrap(cfg, device, ranks)

    epochs = cfg.effective_epochs
    for epoch in range(done.epoch + 1, epochs + 1):
        started = time.perf_counter()  # the total counts evaluation too; the row's seconds only training
        row = {"epoch": epoch, **run_epoch(name, cfg, setup, train_split, epoch, norm.background, ranks, progress)}
        if not ranks.main:  # the other processes go on training; rank 0 evaluates, records and saves
            done.history.append(row)
            continue
        timing = {k: row.pop(k) for k in TIMING}
        row = {**row, **evaluate_row(setup, splits, cfg, device), **timing}
        done.epoch, done.seconds = epoch, done.seconds + time.perf_counter() - started
        done.history.append(row)
        say_epoch(name, epochs, row)
        if after_epoch is not None:
            after_epoch(setup, done)
    return setup, done
