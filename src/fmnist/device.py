"""Which device runs the work, in which precision, and with which torch settings (`Flags`)."""

from __future__ import annotations

import contextlib
import dataclasses

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


def autocast(device: torch.device, cpu_bf16: bool = False):
    """bf16 autocast on CUDA; full precision elsewhere (CPU results stay bit-reproducible). `cpu_bf16`: bf16 on
    CPU too, other arithmetic (the benchmark's reference only)."""
    if device.type == "cuda" or (cpu_bf16 and device.type == "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclasses.dataclass(frozen=True)
class Flags:
    """How training runs on its device; the defaults are fmnist's, the rest are for the benchmark to compare.

    On CPU the steps are bit-reproducible: deterministic algorithms, without deterministic mode's NaN-filling of
    every new tensor (up to 14 % of an asl step; no kernel of the loop reads memory it has not written, so the
    results are the same bit for bit without it). On CUDA: TF32 and cuDNN autotuning. channels_last (NHWC)
    makes convolutions and pooling faster on both (1.2-1.3x on CPU); `foreach` optimisers update all tensors per
    operation, the same arithmetic with fewer dispatches."""
    channels_last: bool = True
    foreach: bool = True
    deterministic: bool = True  # CPU
    fill: bool = False  # CPU: deterministic mode's NaN-filling of new tensors
    threads: int | None = None  # CPU threads; None: as the process has them
    cpu_bf16: bool = False  # other arithmetic
    flush_denormal: bool = False  # other arithmetic where denormal numbers occur

    def apply(self, device: torch.device) -> None:
        """Set the process-wide settings for `device`."""
        if device.type == "cpu":
            torch.use_deterministic_algorithms(self.deterministic, warn_only=True)
            torch.utils.deterministic.fill_uninitialized_memory = self.fill
            torch.set_flush_denormal(self.flush_denormal)
            if self.threads:
                torch.set_num_threads(self.threads)
        else:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
