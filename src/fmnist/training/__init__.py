"""Training: the step (step.py) over batches (batches.py) with the recipe (recipe.py) and augmentation
(augment.py); `fit.train` trains on tensors; `train_experiment` (loop.py) is that with the train stage's files
around it: the checkpoint (checkpoint.py) and the outputs (outputs.py)."""

from fmnist.training.fit import train
from fmnist.training.loop import train_experiment

__all__ = ["train", "train_experiment"]
