"""One epoch's training batches: the permutation, this process's shard of each batch, the augmentation."""

from __future__ import annotations

import torch

from fmnist.params import ExperimentSettings
from fmnist.training import distributed
from fmnist.training.augment import augment


def epoch_seed(cfg: ExperimentSettings, epoch: int) -> int:
    return cfg.seed * 100_003 + epoch


def process_seed(cfg: ExperimentSettings, epoch: int, ranks: distributed.Ranks) -> int:
    """The seed of this process's own draws in `epoch`: its dropout (the global RNG) and, under DDP, its
    augmentation."""
    return epoch_seed(cfg, epoch) + 1_000_003 * ranks.rank


class Batches:
    """Iterates (indices, images, targets) of one epoch, drawn on the device.

    Every random draw of epoch e depends on (seed, e) only, so a run resumed after epoch e-1 replays epoch e
    exactly as an unbroken run would; the loop seeds the global RNG (dropout) with `process_seed` as each epoch
    begins. The permutation is the same on every process; each takes its shard of every batch, and draws its own
    dropout and augmentation.
    """

    def __init__(self, split, cfg: ExperimentSettings, epoch: int, background: float, ranks: distributed.Ranks):
        self.split, self.cfg, self.background, self.ranks = split, cfg, background, ranks
        device = split.x.device
        generator = torch.Generator(device=device).manual_seed(epoch_seed(cfg, epoch))
        self.aug_generator = generator if not ranks.active else torch.Generator(device=device).manual_seed(
            process_seed(cfg, epoch, ranks))
        self.perm = torch.randperm(len(split.x), generator=generator, device=device)
        self.augmenting = bool(cfg.augment.crop or cfg.augment.flip or cfg.augment.erase)

    def __len__(self) -> int:
        return -(-len(self.perm) // self.cfg.batch_size)

    def __iter__(self):
        size, ranks = self.cfg.batch_size, self.ranks
        for i in range(0, len(self.perm), size):
            idx = self.perm[i:i + size]
            # A last batch too small to give each process 2 images (batch norm needs 2) is seen next epoch.
            if len(idx) < 2 * ranks.world and i:
                continue
            idx = idx[ranks.rank::ranks.world]
            xb = self.split.x[idx]
            if self.augmenting:
                xb = augment(xb, self.cfg.augment, self.background, self.aug_generator)
            yield idx, xb, self.split.y[idx]
