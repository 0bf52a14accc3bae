"""One training loop for every model.

The prepared arrays become tensors on the device once; each epoch draws a permutation and slices
batches by index. All randomness of epoch e comes from generators seeded with (seed, e), so a run
resumed from the checkpoint after epoch e-1 replays epoch e exactly as an unbroken run would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fmnist.data.prepare import load_variant
from fmnist.device import autocast, resolve_device
from fmnist.errors import ParamsError
from fmnist.files import atomic, temp_of, write_json, write_text
from fmnist.models import count_parameters, min_side
from fmnist.training import distributed
from fmnist.training.parts import augment, build_checked, class_indices, loss_fn, make_optimizer, make_schedule
from fmnist.params import Train


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
    return Split(xt, yt, class_indices(yt))


def load_splits(variant_dir, cfg: Train, device: torch.device) -> tuple[dict, dict[str, Split]]:
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


def fingerprint(cfg: Train, meta: dict) -> str:
    """What a checkpoint must match to be resumed: the settings and the data it was trained on."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("device", "eval_batch_size")}
    blob = json.dumps({"cfg": settings, "data": meta}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temp file, then rename: a kill mid-write never leaves a half file in place."""
    with atomic(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The checkpoint at `path`, or None when there is none or it cannot be read (then with a warning)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # a torn or foreign file: never trust it, train afresh
        print(f"warning: {path} is unreadable ({type(exc).__name__}: {str(exc)[:120]}); starting afresh",
              file=sys.stderr)
        return None


# Per-epoch timings: they differ on every run, so they go to the timing file (and MLflow), never into
# the weights, the history CSV or the metrics, which two identical runs must write byte for byte.
TIMING = ("seconds", "images_per_s")


def write_history(rows: list[dict], path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k not in TIMING} for row in rows]
    lines = [",".join(rows[0])] + [",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values())
                                   for row in rows]
    write_text(path, "\n".join(lines) + "\n")


def write_timing(rows: list[dict], seconds: float, device: torch.device, processes: int, path: Path) -> None:
    """The timing file: total training seconds and each epoch's seconds and images/s."""
    record = {"train_seconds": round(seconds, 3), "device": str(device), "processes": processes,
              "epochs": [{"epoch": r["epoch"], **{k: round(r[k], 3) for k in TIMING if k in r}} for r in rows]}
    write_json(path, record)


def train_experiment(name: str, cfg: Train, variant_dir, weights_path, history_path, checkpoint_dir,
                     on_epoch: Callable[[dict], None] | None = None, progress: bool = True,
                     timing_path=None) -> dict:
    """Train one experiment; write its weights, per-epoch history and timing file (default: beside the
    weights, <weights>.timing.json); return the final history row (timings included).

    Resumes from `checkpoint_dir/last.pt` when it matches the settings and data (see `fingerprint`).
    """
    ranks = distributed.current()
    device = resolve_device(cfg.device)
    if device.type == "cuda" and ranks.active:
        device = torch.device("cuda", ranks.local)
    torch.manual_seed(cfg.seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    meta, splits = load_splits(variant_dir, cfg, device)
    train = splits["train"]
    n_train = len(train.x)
    if cfg.batch_size > n_train:
        raise ParamsError(f"params.yaml: batch_size {cfg.batch_size} of experiment {name} is larger than "
                          f"its training set ({n_train} images)")

    classes = meta["classes"]
    input_size = tuple(meta["splits"]["train"]["x"]["shape"][-2:])  # (H, W) of the prepared images
    if min(input_size) < min_side(cfg.model):  # prepare checks too, but the model may have changed since
        need = min_side(cfg.model)
        raise ParamsError(f"params.yaml: model {cfg.model} of experiment {name} needs images of at least "
                          f"{need}x{need} pixels; {variant_dir} holds {input_size[0]}x{input_size[1]} (height x width)")
    model = build_checked(name, cfg, len(classes), input_size).to(device)
    if ranks.active and device.type == "cuda":  # batch statistics over the global batch (GPU-only in PyTorch)
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if device.type in ("cuda", "cpu"):  # NHWC: faster convolutions and pooling on both (1.2-1.3x on CPU)
        model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = -(-n_train // cfg.batch_size)
    optimizer = make_optimizer(cfg, model.parameters())
    schedule = make_schedule(cfg, optimizer, steps_per_epoch)
    train_loss = loss_fn(cfg.loss, cfg.label_smoothing)
    eval_loss = loss_fn(cfg.loss)  # validation and test losses are unsmoothed
    background = (0.0 - meta["normalisation"]["shift"]) / meta["normalisation"]["scale"]

    checkpoint_dir, weights_path, history_path = Path(checkpoint_dir), Path(weights_path), Path(history_path)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint_dir / "last.pt"
    key = fingerprint(cfg, meta)
    history, start, seconds = [], 0, 0.0
    for stale in (checkpoint, weights_path):  # the temp file of a write that was killed half-way
        temp_of(stale).unlink(missing_ok=True)
    state = load_checkpoint(checkpoint, device)
    if state is not None:
        if state.get("fingerprint") == key:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            history, start, seconds = state["history"], state["epoch"], state["seconds"]
            if ranks.main:
                print(f"{name}: resuming after epoch {start} from {checkpoint}")
        elif ranks.main:
            print(f"{name}: {checkpoint} is from other settings or data; starting afresh")
    # DDP broadcasts rank 0's weights now and averages gradients in backward; evaluation runs on the
    # plain model (rank 0 only: no collective may wait for the others there).
    train_model = (nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                       else None) if ranks.active else model)
    step_model = torch.compile(train_model) if cfg.compile else train_model
    eval_model = model if ranks.active else step_model

    epochs = cfg.effective_epochs
    for epoch in range(start + 1, epochs + 1):
        # Every random draw of this epoch depends on (seed, epoch) only: resumes replay it exactly.
        epoch_seed = cfg.seed * 100_003 + epoch
        gen = torch.Generator(device=device).manual_seed(epoch_seed)  # the permutation: the same on every rank
        torch.manual_seed(epoch_seed + 1_000_003 * ranks.rank)  # dropout: each rank its own draws
        aug_gen = gen if not ranks.active else torch.Generator(device=device).manual_seed(
            epoch_seed + 1_000_003 * ranks.rank)
        model.train()
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        perm = torch.randperm(n_train, generator=gen, device=device)
        bar = tqdm(range(0, n_train, cfg.batch_size), desc=f"{name} {epoch}/{epochs}", unit="batch",
                   leave=False, disable=not (progress and ranks.main), mininterval=0.5)
        for step, i in enumerate(bar):
            idx = perm[i:i + cfg.batch_size]
            # A last batch too small to give each process 2 images (batch norm needs 2) is seen next epoch.
            if len(idx) < 2 * ranks.world and seen:
                continue
            idx = idx[ranks.rank::ranks.world]  # this process's shard of the batch
            xb, yb = train.x[idx], train.y[idx]
            if cfg.augment.crop or cfg.augment.flip or cfg.augment.erase:
                xb = augment(xb, cfg.augment, background, aug_gen)
            with autocast(device):
                logits = step_model(xb)
            loss = train_loss(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach().double() * len(idx)
            correct += (logits.detach().argmax(1) == train.labels[idx]).sum()
            seen += len(idx)
            if progress and step % 20 == 0:
                elapsed = time.perf_counter() - started
                bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{seen / max(elapsed, 1e-9):,.0f}")
        bar.close()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the clock must include the kernels still queued
        if ranks.active:  # the epoch's totals over all processes
            totals = torch.stack([loss_sum, correct.double(), torch.tensor(float(seen), device=device,
                                                                           dtype=torch.float64)])
            torch.distributed.all_reduce(totals)
            loss_sum, correct, seen = totals[0], totals[1].long(), int(totals[2].item())
        train_seconds = time.perf_counter() - started
        row = {"epoch": epoch, "train_loss": (loss_sum / seen).item(), "train_acc": correct.item() / seen}
        if not ranks.main:  # the other processes go on training; rank 0 evaluates, records and saves
            history.append(row)
            continue
        for split in ("val", "test"):
            if split in splits:
                row[f"{split}_loss"], row[f"{split}_acc"] = evaluate_split(
                    eval_model, splits[split], eval_loss, cfg.eval_batch_size, device)
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = train_seconds
        row["images_per_s"] = seen / train_seconds
        seconds += time.perf_counter() - started
        history.append(row)
        print(f"{name} epoch {epoch}/{epochs}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in row.items() if k.endswith(("loss", "acc"))) +
            f", {row['images_per_s']:,.0f} img/s")
        save_atomic({"fingerprint": key, "epoch": epoch, "seconds": seconds, "history": history,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "schedule": schedule.state_dict()}, checkpoint)
        if on_epoch is not None:
            on_epoch(row)

    if not ranks.main:
        return history[-1] if history else {}
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    history_path.parent.mkdir(parents=True, exist_ok=True)
    write_history(history, history_path)
    write_timing(history, seconds, device, ranks.world,
                 Path(timing_path) if timing_path else weights_path.with_suffix(".timing.json"))
    save_atomic({
        "experiment": name,
        "model": cfg.model,
        "model_config": dict(cfg.model_config),
        "input_size": list(input_size),  # (H, W): predict and the served model resize images to it
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "classes": list(classes),
        "dataset": meta["dataset"],
        "dataset_id": meta["dataset_id"],
        "synthetic": meta["synthetic"],
        "variant": cfg.variant,
        "normalisation": meta["normalisation"],
        "train": json.loads(json.dumps(dataclasses.asdict(cfg))),
        "epochs": epochs,
        "parameters": count_parameters(model),
        "device": str(device),
        "processes": ranks.world,
        "torch": str(torch.__version__),
    }, weights_path)
    checkpoint.unlink(missing_ok=True)
    return history[-1]
