"""Pixels to model inputs and back: input = (pixel - shift) / scale.

prepare fits it on the training split and writes it into the variant's meta.json; the weights record carries
it, and training, evaluation, serving and the MLflow model all apply it through this object. Each method
keeps the arithmetic its callers have always used (float32 operands, a black pixel in double precision), so
the numbers are the same bit for bit wherever it is applied.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Normalisation:
    kind: str
    shift: float
    scale: float

    @classmethod
    def fit(cls, kind: str, x_train: np.ndarray) -> Normalisation:
        """`unit` /255, `raw` as is, `standard` by the training pixels' mean and standard deviation."""
        if kind == "unit":
            return cls(kind, 0.0, 255.0)
        if kind == "raw":
            return cls(kind, 0.0, 1.0)
        if kind == "standard":
            pixels = x_train.astype(np.float64)
            return cls(kind, float(pixels.mean()), float(pixels.std()))
        raise ValueError(f"unknown normalisation '{kind}'")

    @classmethod
    def of(cls, record: dict) -> Normalisation:
        """From its record in meta.json or a weights file."""
        return cls(record.get("kind", ""), float(record["shift"]), float(record["scale"]))

    def record(self) -> dict:
        return {"kind": self.kind, "shift": self.shift, "scale": self.scale}

    @property
    def background(self) -> float:
        """A black pixel as an input: what crops pad with and erasing paints."""
        return (0.0 - self.shift) / self.scale

    def inputs(self, pixels: np.ndarray) -> np.ndarray:
        """0..255 pixels (any shape) to float32 inputs."""
        return (pixels.astype(np.float32) - np.float32(self.shift)) / np.float32(self.scale)

    def inputs_of_tensor(self, pixels):
        """The same on a float32 torch tensor, inside a graph (the served model's first operation)."""
        return (pixels - self.shift) / self.scale

    def pixels(self, inputs: np.ndarray) -> np.ndarray:
        """Inputs back to 0..255 pixels as float32, rounded and clipped: for pictures and input examples."""
        return np.clip(np.asarray(inputs, np.float32) * np.float32(self.scale) + np.float32(self.shift), 0, 255).round()
