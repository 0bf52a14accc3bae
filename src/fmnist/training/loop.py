"""One training loop for every model, read top to bottom in `train_experiment`.

The prepared arrays become tensors on the device once; each epoch's `Batches` draws a permutation and
slices batches by index; the checkpoint after every epoch lets a cut-off run resume exactly.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fmnist.data.prepare import class_numbers, load_variant
from fmnist.device import autocast, resolve_device
from fmnist.errors import ParamsError
from fmnist.files import temp_of
from fmnist.models import min_side
from fmnist.params import ExperimentSettings
from fmnist.temperature import validation_temperature
from fmnist.training import distributed
from fmnist.training.batches import Batches
from fmnist.training.checkpoint import Checkpoint, fingerprint
from fmnist.training.outputs import write_outputs
from fmnist.training.recipe import build_checked, loss_fn, make_optimizer, make_schedule


@dataclasses.dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor  # as the loss takes it (one-hot rows or class numbers)
    labels: torch.Tensor  # class numbers, for accuracy


def to_device(x: np.ndarray, y: np.ndarray, device: torch.device) -> Split:
    with warnings.catch_warnings():  # memory-mapped arrays are read-only; the loop never writes them
        warnings.simplefilter("ignore", UserWarning)
        xt = torch.from_numpy(x).to(device)
        yt = torch.from_numpy(y).to(device)
    if device.type == "cuda":
        xt = xt.contiguous(memory_format=torch.channels_last)
    return Split(xt, yt, class_numbers(yt))


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


@torch.inference_mode()
def evaluate_split(model, split: Split, loss, batch_size: int, device) -> tuple[float, float]:
    """Mean loss and accuracy over a split, in eval mode."""
    model.eval()
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for i in range(0, len(split.x), batch_size):
        with autocast(device):
            logits = model(split.x[i:i + batch_size])
        n = len(logits)
        total_loss += loss(logits, split.y[i:i + batch_size]).double() * n
        correct += (logits.argmax(1) == split.labels[i:i + batch_size]).sum()
    n = len(split.x)
    return (total_loss / n).item(), correct.item() / n


def start_device(cfg: ExperimentSettings, ranks: distributed.Ranks) -> torch.device:
    """The device of this process, seeded; bit-reproducible on CPU, TF32 and cuDNN autotuning on CUDA."""
    device = resolve_device(cfg.device)
    if device.type == "cuda" and ranks.active:
        device = torch.device("cuda", ranks.local)
    torch.manual_seed(cfg.seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN, up to 14 % of an asl step; no kernel of the
        # loop reads memory it has not written, so the results are the same bit for bit without it.
        torch.utils.deterministic.fill_uninitialized_memory = False
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
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


@dataclasses.dataclass
class Setup:
    """What one experiment trains with. `step_model` takes the training steps (DDP-wrapped and compiled
    when asked); `eval_model` evaluates (the plain model under DDP: rank 0 alone must not wait on others)."""
    model: nn.Module
    step_model: nn.Module
    eval_model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    train_loss: Callable
    eval_loss: Callable
    background: float  # the normalised value of a black pixel: what crops pad with and erasing paints

    @classmethod
    def build(cls, name: str, cfg: ExperimentSettings, meta: dict, input_size, n_train: int, device, ranks) -> Setup:
        model = build_checked(name, cfg, len(meta["classes"]), input_size).to(device)
        if ranks.active and device.type == "cuda":  # batch statistics over the global batch (GPU-only in PyTorch)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if device.type in ("cuda", "cpu"):  # NHWC: faster convolutions and pooling on both (1.2-1.3x on CPU)
            model = model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(cfg, model.parameters())
        schedule = make_schedule(cfg, optimizer, -(-n_train // cfg.batch_size))
        norm = meta["normalisation"]
        return cls(model, model, model, optimizer, schedule, loss_fn(cfg.loss, cfg.label_smoothing),
                   loss_fn(cfg.loss), (0.0 - norm["shift"]) / norm["scale"])  # evaluation losses are unsmoothed

    def wrap(self, cfg: ExperimentSettings, device, ranks) -> None:
        """After the checkpoint is loaded: DDP broadcasts rank 0's weights now and averages gradients in
        backward; torch.compile when asked."""
        train_model = self.model
        if ranks.active:
            train_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.step_model = torch.compile(train_model) if cfg.compile else train_model
        self.eval_model = self.model if ranks.active else self.step_model


def train_epoch(setup: Setup, batches: Batches, labels: torch.Tensor, bar: tqdm, progress: bool) -> dict:
    """One pass over `batches`: the history row's training loss and accuracy over all processes, and the
    epoch's seconds and images/s."""
    device = labels.device
    started = time.perf_counter()
    setup.model.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    for step, (idx, xb, yb) in enumerate(batches):
        with autocast(device):
            logits = setup.step_model(xb)
        loss = setup.train_loss(logits, yb)
        setup.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        setup.optimizer.step()
        setup.schedule.step()
        loss_sum += loss.detach().double() * len(idx)
        correct += (logits.detach().argmax(1) == labels[idx]).sum()
        seen += len(idx)
        bar.update()
        if progress and step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{seen / max(time.perf_counter() - started, 1e-9):,.0f}")
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the clock must include the kernels still queued
    if batches.ranks.active:  # the epoch's totals over all processes
        totals = torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), device=device, dtype=torch.float64)])
        torch.distributed.all_reduce(totals)
        loss_sum, correct, seen = totals[0], totals[1].long(), int(totals[2].item())
    seconds = time.perf_counter() - started
    return {"train_loss": (loss_sum / seen).item(), "train_acc": correct.item() / seen,
            "seconds": seconds, "images_per_s": seen / seconds}


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
    train = splits["train"]
    input_size = input_size_of(name, cfg, meta, variant_dir, len(train.x))
    setup = Setup.build(name, cfg, meta, input_size, len(train.x), device, ranks)
    checkpoint = Checkpoint(checkpoint_dir, fingerprint(cfg, meta), device)
    temp_of(Path(weights_path)).unlink(missing_ok=True)  # the temp file of a write that was killed half-way
    done = checkpoint.load_or_start(name, setup.model, setup.optimizer, setup.schedule, say=ranks.main)
    setup.wrap(cfg, device, ranks)

    epochs = cfg.effective_epochs
    for epoch in range(done.epoch + 1, epochs + 1):
        started = time.perf_counter()  # the total counts evaluation too; the row's seconds only training
        with tqdm(total=-(-len(train.x) // cfg.batch_size), desc=f"{name} {epoch}/{epochs}", unit="batch",
                  leave=False, disable=not (progress and ranks.main), mininterval=0.5) as bar:
            batches = Batches(train, cfg, epoch, setup.background, ranks)
            row = {"epoch": epoch, **train_epoch(setup, batches, train.labels, bar, progress)}
        if not ranks.main:  # the other processes go on training; rank 0 evaluates, records and saves
            done.history.append(row)
            continue
        timing = {k: row.pop(k) for k in ("seconds", "images_per_s")}
        row = {**row, **evaluate_row(setup, splits, cfg, device), **timing}
        done.epoch, done.seconds = epoch, done.seconds + time.perf_counter() - started
        done.history.append(row)
        say_epoch(name, epochs, row)
        checkpoint.save(done, setup.model, setup.optimizer, setup.schedule)
        if on_epoch is not None:
            on_epoch(row)

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
