"""The training step and what it works on: the splits as tensors on the device, the model with its optimiser,
schedule and losses (`Setup`), one step, one epoch of steps, and the loss and accuracy of a split.

The benchmarks time this same step (bench/knobs.py), so what they measure is what training runs.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn

from fmnist.data.prepare import class_numbers
from fmnist.device import Flags, autocast
from fmnist.params import ExperimentSettings
from fmnist.training import distributed
from fmnist.training.recipe import build_checked, loss_fn, make_optimizer, make_schedule


@dataclasses.dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor  # as the loss takes it (one-hot rows or class numbers)
    labels: torch.Tensor  # class numbers, for accuracy


def to_device(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, device: torch.device,
              flags: Flags = Flags()) -> Split:
    with warnings.catch_warnings():  # memory-mapped arrays are read-only; the loop never writes them
        warnings.simplefilter("ignore", UserWarning)
        xt = (x if isinstance(x, torch.Tensor) else torch.from_numpy(x)).to(device)
        yt = (y if isinstance(y, torch.Tensor) else torch.from_numpy(y)).to(device)
    if device.type == "cuda" and flags.channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    return Split(xt, yt, class_numbers(yt))


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
    flags: Flags

    @classmethod
    def build(cls, name: str, cfg: ExperimentSettings, num_classes: int, input_size, n_train: int, device,
              ranks: distributed.Ranks = distributed.Ranks(), flags: Flags = Flags()) -> Setup:
        """The experiment's model (its initial weights drawn from the global RNG) and its recipe."""
        model = build_checked(name, cfg, num_classes, input_size)
        return cls.of(model, cfg, -(-n_train // cfg.batch_size), device, ranks, flags)

    @classmethod
    def of(cls, model: nn.Module, cfg: ExperimentSettings, steps_per_epoch: int, device,
           ranks: distributed.Ranks = distributed.Ranks(), flags: Flags = Flags()) -> Setup:
        """`model` on the device with the recipe's optimiser, schedule and losses."""
        model = model.to(device)
        if ranks.active and device.type == "cuda":  # batch statistics over the global batch (GPU-only in PyTorch)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if flags.channels_last and device.type in ("cuda", "cpu"):
            model = model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(cfg, model.parameters(), foreach=flags.foreach)
        schedule = make_schedule(cfg, optimizer, steps_per_epoch)
        return cls(model, model, model, optimizer, schedule, loss_fn(cfg.loss, cfg.label_smoothing),
                   loss_fn(cfg.loss), flags)  # evaluation losses are unsmoothed

    def wrap(self, cfg: ExperimentSettings, device, ranks: distributed.Ranks = distributed.Ranks()) -> None:
        """After the checkpoint is loaded: DDP broadcasts rank 0's weights now and averages gradients in
        backward; torch.compile when asked."""
        train_model = self.model
        if ranks.active:
            train_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.step_model = torch.compile(train_model) if cfg.compile else train_model
        self.eval_model = self.model if ranks.active else self.step_model


def train_step(setup: Setup, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser and schedule step on a batch; its loss and logits."""
    with autocast(xb.device, setup.flags.cpu_bf16):
        logits = setup.step_model(xb)
    loss = setup.train_loss(logits, yb)
    setup.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    setup.optimizer.step()
    setup.schedule.step()
    return loss, logits


def train_epoch(setup: Setup, batches, labels: torch.Tensor, bar, progress: bool) -> dict:
    """One pass over `batches` (indices, images, targets): the history row's training loss and accuracy over
    all processes, and the epoch's seconds and images/s."""
    device = labels.device
    started = time.perf_counter()
    setup.model.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    for step, (idx, xb, yb) in enumerate(batches):
        loss, logits = train_step(setup, xb, yb)
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
