"""Which device runs the work, and in which precision."""

from __future__ import annotations

import contextlib

import torch

from fmnist.errors import ParamsError


def resolve_device(name: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; `cuda:N` the N-th GPU; asking for an absent accelerator is a
    params fault."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name.startswith("cuda"):  # cuda or cuda:N
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            have = f"only cuda:0 to cuda:{count - 1} are" if count else "no CUDA device is"
            raise ParamsError(f"params.yaml: train.device is {name} but {have} available; use auto or cpu")
    if name == "mps" and not has_mps:
        raise ParamsError("params.yaml: train.device is mps but no MPS device is available; use auto or cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision elsewhere (CPU results stay bit-reproducible)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
