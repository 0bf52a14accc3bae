"""The checkpoint a cut-off run resumes from: written after every epoch, matched to the settings and data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import torch

from fmnist import interrupts
from fmnist.files import atomic, temp_of
from fmnist.params import ExperimentSettings
from fmnist.training.fit import Progress


def fingerprint(cfg: ExperimentSettings, meta: dict) -> str:
    """What a checkpoint must match to be resumed: the settings and the data it was trained on."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("device", "eval_batch_size")}
    blob = json.dumps({"cfg": settings, "data": meta}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temp file, then rename: a kill mid-write never leaves a half file in place. Through a file
    object: given a path, torch reports a full disk as `unexpected pos`, with no OSError behind it to name."""
    with atomic(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


class Checkpoint:
    """`folder/last.pt`: model, optimiser and schedule state after the last finished epoch."""

    def __init__(self, folder, key: str, device: torch.device):
        self.path = Path(folder) / "last.pt"
        self.key, self.device = key, device
        self.name = ""

    def _doing(self, epoch: int) -> None:
        """What an interrupt says from now on: where `dvc repro` takes training up again."""
        interrupts.doing(f"training {self.name}",
                         f"`dvc repro` resumes it from its checkpoint after epoch {epoch}" if epoch else
                         "no epoch is checkpointed yet: `dvc repro` trains it from epoch 1")

    def load_or_start(self, name: str, model, optimizer, schedule, say: bool) -> Progress:
        """Restore the state when the checkpoint matches `key`; else a fresh start. `say`: print which."""
        self.name = name
        self._doing(0)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp_of(self.path).unlink(missing_ok=True)  # the temp file of a write that was killed half-way
        state = self._read()
        if state is None:
            return Progress()
        if state.get("fingerprint") != self.key:
            if say:
                print(f"{name}: {self.path} is from other settings or data; starting afresh")
            return Progress()
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if say:
            print(f"{name}: resuming after epoch {state['epoch']} from {self.path}")
        self._doing(state["epoch"])
        return Progress(state["epoch"], state["history"], state["seconds"])

    def save(self, progress: Progress, model, optimizer, schedule) -> None:
        save_atomic({"fingerprint": self.key, "epoch": progress.epoch, "seconds": progress.seconds,
                     "history": progress.history, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "schedule": schedule.state_dict()}, self.path)
        self._doing(progress.epoch)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        # Said as it is: an interrupt from here on (the MLflow run's end) fails the stage with no checkpoint left.
        interrupts.doing(f"finishing {self.name} (its weights are written)",
                         "`dvc repro` runs the stage again, training it from epoch 1")

    def _read(self) -> dict | None:
        """The checkpoint, or None when there is none or it cannot be read (then with a warning)."""
        if not self.path.exists():
            return None
        try:
            return torch.load(self.path, map_location=self.device, weights_only=True)
        except Exception as exc:  # a torn or foreign file: never trust it, train afresh
            print(f"warning: {self.path} is unreadable ({type(exc).__name__}: {str(exc)[:120]}); starting afresh",
                  file=sys.stderr)
            return None
