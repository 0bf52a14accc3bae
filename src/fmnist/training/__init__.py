"""Training: one loop (loop.py) assembled from small parts (parts.py)."""

from fmnist.training.loop import train_experiment

__all__ = ["train_experiment"]
