"""Training: one loop (loop.py) over batches (batches.py), with the recipe (recipe.py), augmentation (augment.py), checkpoint (checkpoint.py) and outputs (outputs.py)."""

from fmnist.training.loop import train_experiment

__all__ = ["train_experiment"]
