"""The weights file a training run writes (models/<experiment>.pt): the trained tensors and what serving them needs."""

from __future__ import annotations

import copy
import dataclasses
import os

import torch

from fmnist.errors import DataError
from fmnist.files import atomic


@dataclasses.dataclass
class Weights:
    """Saved as a plain dict of these fields, in this order (so `torch.load(..., weights_only=True)` reads it
    without this class, and two identical runs write identical bytes)."""
    experiment: str
    model: str
    model_config: dict
    input_size: list  # (H, W): predict and the served model resize images to it
    state_dict: dict
    classes: list
    dataset: str
    dataset_id: str
    synthetic: bool
    variant: str
    normalisation: dict  # {"shift", "scale"}: model input = (pixel - shift) / scale
    train: dict  # the experiment's settings (fmnist.params.ExperimentSettings as a dict)
    epochs: int
    parameters: dict  # {"trainable": n}
    device: str
    processes: int
    torch: str
    # Fitted on the validation split after training (fmnist.temperature); None where the experiment trains on
    # its validation images (train_split: all). Applied only with the experiment's `calibrate: true`.
    temperature: float | None = None

    # What files written before a field existed hold instead.
    DEFAULTS = {"model_config": {}, "input_size": [28, 28], "processes": 1, "temperature": None}

    def save(self, path: str | os.PathLike) -> None:
        """To a temp file, then renamed: a kill mid-write never leaves a half file in place."""
        with atomic(path) as tmp, open(tmp, "wb") as out:  # a file object: a full disk surfaces as its OSError
            torch.save({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, out)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Weights:
        """The record at `path`; a missing, damaged or foreign file is a DataError naming it."""
        try:
            record = torch.load(path, map_location=device, weights_only=True)
        except FileNotFoundError:
            raise DataError(f"{path}: no such weights file (train it with dvc repro)") from None
        except Exception as exc:  # a damaged or foreign file: say which
            raise DataError(f"{path}: not a weights file this project wrote ({exc.__class__.__name__})") from None
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in cls.DEFAULTS and n not in record] if isinstance(record, dict) else names
        if missing:
            raise DataError(f"{path}: not a weights file this project wrote (it lacks {', '.join(missing)})")
        return cls(**{n: record[n] if n in record else copy.copy(cls.DEFAULTS[n]) for n in names})

    @property
    def tta(self) -> bool:
        """Whether predictions average in the mirror image, as the experiment was evaluated."""
        return bool(self.train.get("tta", False))

    @property
    def served_temperature(self) -> float:
        """What the served model divides its logits by: the fitted temperature with `calibrate: true`, else 1."""
        if self.train.get("calibrate") and self.temperature is not None:
            return float(self.temperature)
        return 1.0
