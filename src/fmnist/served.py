"""The trained model as it is served: loaded from its weights file, pixels in, class probabilities out.

`Served` is the one place where prepare's normalisation, the resize to the training size, the mirror-image
average (TTA) and, with `calibrate: true`, the fitted temperature are applied: evaluation, the MLflow model and
`fmnist predict` all go through it.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from fmnist.device import autocast
from fmnist.models import build_model
from fmnist.normalisation import Normalisation
from fmnist.weights import Weights


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, Weights]:
    """The model in eval mode and its weights record (classes, normalisation, dataset, settings)."""
    weights = Weights.load(path, device)
    model = build_model(weights.model, num_classes=len(weights.classes), input_size=tuple(weights.input_size),
                        **weights.model_config)
    model.load_state_dict(weights.state_dict)
    return model.to(device).eval(), weights


def logit_views(model: torch.nn.Module, x: torch.Tensor, tta: bool) -> list[torch.Tensor]:
    """The model's logits of the prepared inputs, and of their mirror images when the experiment uses TTA."""
    views = [model(x)]
    if tta:
        views.append(model(x.flip(-1)))
    return views


def views_to_probabilities(views, temperature: float = 1.0) -> torch.Tensor:
    """Softmax of each view's logits divided by the temperature, averaged over the views (the TTA mean)."""
    def softmax(logits):
        logits = logits.float()
        return torch.softmax(logits if temperature == 1.0 else logits / temperature, dim=1)

    probs = softmax(views[0])
    if len(views) > 1:
        probs = (probs + softmax(views[1])) / 2
    return probs


class Served(torch.nn.Module):
    """The model as served: pixels 0..255, float32 (N, 1, H, W) in, class probabilities (N, C) out.

    A bilinear resize to the training images' size (the identity at that size), prepare's normalisation,
    when the experiment uses TTA the mirror-image average, and when it sets `calibrate: true` the temperature
    fitted on its validation split are part of the graph, so a client needs nothing but the pixels.
    `probabilities` takes inputs already prepared (normalised at the training size).
    """

    def __init__(self, model: torch.nn.Module, weights: Weights):
        super().__init__()
        self.model = model
        self.size = tuple(weights.input_size)
        self.normalisation = Normalisation.of(weights.normalisation)
        self.tta = weights.tta
        self.temperature = weights.served_temperature

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(pixels, size=self.size, mode="bilinear", antialias=True)
        return self.probabilities(self.normalisation.inputs_of_tensor(x))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return views_to_probabilities(logit_views(self.model, x, self.tta), self.temperature)


def load_served(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Served, Weights]:
    model, weights = load_model(path, device)
    return Served(model, weights).eval(), weights


def normalise(images_uint8: np.ndarray, weights: Weights) -> np.ndarray:
    """Raw 0..255 images (N, H, W) to the model's input (N, 1, H, W), as prepare did."""
    return Normalisation.of(weights.normalisation).inputs(images_uint8)[:, None]


@torch.inference_mode()
def predict_proba(served: Served, x, batch_size: int = 2000, pixels: bool = False) -> np.ndarray:
    """Class probabilities (N, C) of prepared inputs (N, 1, H, W), or of raw pixels when `pixels`, in batches."""
    device = next(served.parameters()).device
    served.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.array(x[i:i + batch_size], dtype=np.float32)).to(device)  # a copy: x may be a memmap
        with autocast(device):
            probs = served(xb) if pixels else served.probabilities(xb)
        out.append(probs.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


@torch.inference_mode()
def predict_views(model: torch.nn.Module, x, tta: bool, batch_size: int = 2000) -> np.ndarray:
    """The logits (V, N, C), V = 2 with TTA, of prepared inputs (N, 1, H, W), in batches, as float32."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        if isinstance(x, torch.Tensor):  # a split the training loop holds on its device
            xb = x[i:i + batch_size].to(device)
        else:
            xb = torch.from_numpy(np.array(x[i:i + batch_size], dtype=np.float32)).to(device)  # a copy: x may be a memmap
        with autocast(device):
            views = logit_views(model, xb, tta)
        out.append(torch.stack([v.float() for v in views]).cpu().numpy())
    return np.concatenate(out, axis=1)
