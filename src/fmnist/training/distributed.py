"""Data-parallel training with torch.distributed, launched by torchrun.

With `train.distributed.enabled`, the train stage starts itself again under
`torchrun --standalone --nproc_per_node=N` (one process per GPU; on CPU, N gloo processes). Every process
holds the whole dataset, draws the same permutation each epoch and trains on its shard of every batch;
DistributedDataParallel averages the gradients, so N processes take the same steps as one process with
the same (global) `batch_size`. Only rank 0 evaluates, writes outputs and checkpoints, and logs to MLflow.
Under a torchrun started by hand (several machines: see docs/scaling.md) the stage does not relaunch.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in the job: rank among `world` processes, `local` rank on its machine."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def current() -> Ranks:
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Ranks()


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run `python argv...` again as `nproc` processes under torchrun on this machine; its exit status."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *argv]
    print("launching: torchrun " + " ".join(cmd[3:]), flush=True)
    return subprocess.call(cmd)


@contextlib.contextmanager
def process_group(device_type: str):
    """Join the torchrun job for the duration (NCCL on GPUs, gloo on CPU); yields this process's Ranks.
    Outside torchrun it yields a single-process Ranks and does nothing."""
    if not under_torchrun():
        yield current()
        return
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    try:
        yield current()
    finally:
        dist.destroy_process_group()
