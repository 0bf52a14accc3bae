"""Augmentation of whole batches on their device: random crop, horizontal flip, random erasing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fmnist.params import Augment


def augment(x: torch.Tensor, aug: Augment, background: float, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero-padded by `aug.crop` pixels), horizontal flip and random erasing of a whole
    batch at once, on its device: index arithmetic instead of a per-image transform."""
    n, c, h, w = x.shape
    dev = x.device
    rand = lambda *shape: torch.rand(*shape, generator=generator, device=dev)  # noqa: E731
    if aug.crop:
        p = aug.crop
        padded = F.pad(x, (p, p, p, p), value=background)
        dy = (rand(n) * (2 * p + 1)).long()
        dx = (rand(n) * (2 * p + 1)).long()
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        x = padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                   rows, cols]
    if aug.flip:
        x = torch.where(rand(n, 1, 1, 1) < 0.5, x.flip(-1), x)
    if aug.erase > 0:
        # One rectangle per chosen image, 2-25 % of the area, aspect ratio 1/3 to 3.
        area = (0.02 + 0.23 * rand(n)) * h * w
        aspect = torch.exp((rand(n) * 2 - 1) * torch.log(torch.tensor(3.0, device=dev)))
        eh = (area * aspect).sqrt().clamp(1, h).long()
        ew = (area / aspect).sqrt().clamp(1, w).long()
        y0 = (rand(n) * (h - eh + 1)).long()
        x0 = (rand(n) * (w - ew + 1)).long()
        ys = torch.arange(h, device=dev)[None, :]
        xs = torch.arange(w, device=dev)[None, :]
        inside = (((ys >= y0[:, None]) & (ys < (y0 + eh)[:, None]))[:, :, None]
                  & ((xs >= x0[:, None]) & (xs < (x0 + ew)[:, None]))[:, None, :])
        chosen = (rand(n) < aug.erase)[:, None, None]
        x = x.masked_fill((inside & chosen)[:, None], background)
    return x
