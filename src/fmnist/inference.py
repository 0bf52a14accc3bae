"""Load trained weights (models/<experiment>.pt) and predict class probabilities."""

from __future__ import annotations

import os

import numpy as np
import torch

from fmnist.device import autocast
from fmnist.errors import DataError
from fmnist.models import build_model


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """The model in eval mode and its record (classes, normalisation, dataset, settings)."""
    try:
        record = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: no such weights file (train it with dvc repro)") from None
    except Exception as exc:  # a damaged or foreign file: say which
        raise DataError(f"{path}: not a weights file this project wrote ({exc.__class__.__name__})") from None
    model = build_model(record["model"], num_classes=len(record["classes"]),
                        input_size=input_size(record), **record["model_config"])
    model.load_state_dict(record["state_dict"])
    return model.to(device).eval(), record


def input_size(record: dict) -> tuple[int, int]:
    """(H, W) of the images the model was trained on (28x28 for weights that do not record it)."""
    return tuple(record.get("input_size", (28, 28)))


def normalise(images_uint8: np.ndarray, record: dict) -> np.ndarray:
    """Raw 0..255 images (N, H, W) to the model's input (N, 1, H, W), as prepare did."""
    norm = record["normalisation"]
    x = (images_uint8.astype(np.float32) - np.float32(norm["shift"])) / np.float32(norm["scale"])
    return x[:, None]


@torch.inference_mode()
def predict_proba(model: torch.nn.Module, x, batch_size: int = 2000, tta: bool = False) -> np.ndarray:
    """Softmax probabilities (N, C) for prepared inputs (N, 1, H, W); `tta` averages in the mirror image."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.array(x[i:i + batch_size])).to(device)  # a copy: x may be a read-only memmap
        with autocast(device):
            logits = model(xb).float()
            probs = torch.softmax(logits, dim=1)
            if tta:
                probs = (probs + torch.softmax(model(xb.flip(-1)).float(), dim=1)) / 2
        out.append(probs.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
