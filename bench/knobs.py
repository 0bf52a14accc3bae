"""What each setting does to a training step: the model alone (its recipe's loss, optimiser and schedule on
tensors already on the device, no data path), one setting changed at a time from the way fmnist trains.

    python bench/knobs.py                        # tiny, asl and resnet; about 6 minutes on 2 CPU cores
    python bench/knobs.py --models asl --quick --json /tmp/k.json   # smoke run

Every variant trains its own copy of the same initial model; blocks of steps alternate between the variants
(A B C ... A B C ...) and each figure is the median over --repeats blocks, so a machine that slows down
slows every variant alike. Results are appended to bench/results/<device>.json ("benchmark": "knobs").
Evaluation speed at a few `eval_batch_size` values is measured the same way.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import time
from pathlib import Path

import torch

from fmnist.device import Flags, resolve_device
from fmnist.models import build_model
from fmnist.params import ExperimentSettings, load_params
from fmnist.training.step import Setup, Split, evaluate_split, to_device, train_step
from measure import interleaved, load_average  # bench/, beside this script

ROOT = Path(__file__).resolve().parents[1]
# model -> the params.yaml experiment whose recipe it is benchmarked with (throughput.py too)
EXPERIMENTS = {"tiny": "seed000", "asl": "seed003-unit-onehot", "resnet": "resnet"}
BLOCK_STEPS = {"tiny": 10, "asl": 30, "resnet": 2}  # about 1 s per block on 2 CPU cores
EVAL_BATCHES = (500, 2000, 10000)
EVAL_IMAGES = 10000


@dataclasses.dataclass(frozen=True)
class Knobs:
    """fmnist's settings on CPU by default (fmnist.device.Flags), one changed at a time."""
    channels_last: bool = True
    deterministic: bool = True
    fill: bool = False  # deterministic mode's NaN-filling of every new tensor
    foreach: bool = True
    threads: int | None = None  # None: torch's default, one per core
    compile: bool = False
    bf16: bool = False  # other arithmetic: shown for reference, not a way to the same results
    flush_denormal: bool = False  # other arithmetic where denormal numbers occur


VARIANTS = {
    "fmnist": Knobs(),
    "NCHW (not channels_last)": Knobs(channels_last=False),
    "NaN-filling of new tensors": Knobs(fill=True),
    "for-loop optimiser (no foreach)": Knobs(foreach=False),
    "deterministic algorithms off": Knobs(deterministic=False),
    "1 thread": Knobs(threads=1),
    "torch.compile (inductor)": Knobs(compile=True),
    "bf16 autocast (other arithmetic)": Knobs(bf16=True),
    "flush denormals (other arithmetic)": Knobs(flush_denormal=True),
}
SAME_ARITHMETIC = [name for name, k in VARIANTS.items() if not (k.bf16 or k.flush_denormal)]


class StepLoop:
    """The library's training step (fmnist.training.step) with `knobs`, on `steps` batches of `data` (images,
    targets as the loss takes them; default random images) held on the device."""

    def __init__(self, cfg: ExperimentSettings, model: torch.nn.Module, knobs: Knobs, steps: int, device,
                 data: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.cfg = dataclasses.replace(cfg, compile=knobs.compile)
        self.knobs, self.steps, self.device = knobs, steps, device
        self.device_flags = Flags(channels_last=knobs.channels_last, foreach=knobs.foreach,
                                  deterministic=knobs.deterministic, fill=knobs.fill,
                                  threads=knobs.threads or torch.get_num_threads(), cpu_bf16=knobs.bf16,
                                  flush_denormal=knobs.flush_denormal)
        n = steps * cfg.batch_size
        if data is None:
            generator = torch.Generator().manual_seed(cfg.seed)
            labels = torch.randint(0, 10, (n,), generator=generator)
            data = torch.randn(n, 1, 28, 28, generator=generator), (
                torch.eye(10)[labels] if cfg.encoding == "onehot" else labels)
        self.split = to_device(data[0][:n], data[1][:n], device, self.device_flags)
        # Its own copy of the model; a schedule that never runs out, however many blocks
        self.setup = Setup.of(copy.deepcopy(model), self.cfg, 10**9, device, flags=self.device_flags)
        self.setup.wrap(self.cfg, device)
        self.x, self.y = self.split.x, self.split.y
        self.model, self.optimizer, self.loss = self.setup.model, self.setup.optimizer, self.setup.train_loss

    def flags(self) -> None:
        """Set this variant's process-wide settings (the variants' blocks alternate)."""
        self.device_flags.apply(self.device)

    def images_per_s(self) -> float:
        self.flags()
        self.model.train()
        bs = self.cfg.batch_size
        started = time.perf_counter()
        for i in range(0, len(self.x), bs):
            train_step(self.setup, self.x[i:i + bs], self.y[i:i + bs])
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return len(self.x) / (time.perf_counter() - started)

    def eval_images_per_s(self, batch_size: int) -> float:
        """The evaluation training runs between epochs (loss and accuracy of a split)."""
        self.flags()
        split = Split(self.x[:EVAL_IMAGES], self.y[:EVAL_IMAGES], self.split.labels[:EVAL_IMAGES])
        started = time.perf_counter()
        evaluate_split(self.setup.eval_model, split, self.setup.eval_loss, batch_size, self.device)
        return len(split.x) / (time.perf_counter() - started)


def restore_defaults(threads: int) -> None:
    torch.use_deterministic_algorithms(False)
    torch.utils.deterministic.fill_uninitialized_memory = True
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)


def bench_model(name: str, cfg: ExperimentSettings, steps: int, repeats: int, device) -> dict:
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_config)
    loops = {label: StepLoop(cfg, model, knobs, steps, device) for label, knobs in VARIANTS.items()}
    train = interleaved({label: loop.images_per_s for label, loop in loops.items()}, repeats)
    fmnist = loops["fmnist"]
    evaluation = interleaved({str(b): (lambda b=b: fmnist.eval_images_per_s(b)) for b in EVAL_BATCHES}, repeats)
    base = train["fmnist"]["img_s"]
    for row in train.values():
        row["vs_fmnist"] = row["img_s"] / base
    return {"experiment": EXPERIMENTS[name], "batch_size": cfg.batch_size, "block_steps": steps,
            "train": train, "eval": evaluation}


def table(result: dict) -> str:
    lines = [f"device {result['device']} | {result['machine']['cpu']} | {result['machine']['cores']} cores | "
             f"torch {result['machine']['torch']} | median of {result['settings']['repeats']}"
             + (" | QUICK (smoke run)" if result["quick"] else "")]
    models = result["models"]
    lines.append(f"{'training images/s':<36}" + "".join(f"{m:>16}" for m in models))
    for label in VARIANTS:
        lines.append(f"{label:<36}" + "".join(
            f"{r['train'][label]['img_s']:>9,.0f} {r['train'][label]['vs_fmnist']:>5.2f}x" for r in models.values()))
    lines.append(f"{'evaluation images/s, eval batch':<36}" + "".join(f"{m:>16}" for m in models))
    for b in EVAL_BATCHES:
        lines.append(f"{b:<36}" + "".join(f"{r['eval'][str(b)]['img_s']:>16,.0f}" for r in models.values()))
    return "\n".join(lines)


def main(argv=None) -> dict:
    from throughput import log, machine_info, record

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks of each variant (median)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1-step blocks, 1 repeat")
    parser.add_argument("--json", type=Path, help="append the result here (default: bench/results/<device>.json; "
                        "a --quick run is only written where --json says)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="where the recipes come from")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    device = resolve_device(args.device)
    params = load_params(args.params)
    threads = torch.get_num_threads()
    result = {"benchmark": "knobs", "device": device.type, "quick": args.quick,
              "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(device), "settings": {"repeats": args.repeats}, "models": {}}
    try:
        for name in args.models:
            log(f"{name}: {len(VARIANTS)} training variants, {len(EVAL_BATCHES)} evaluation batch sizes")
            cfg = dataclasses.replace(params.experiment(EXPERIMENTS[name]), epochs=1, epoch_limit=None)
            result["models"][name] = bench_model(name, cfg, 1 if args.quick else BLOCK_STEPS[name], args.repeats, device)
    finally:
        restore_defaults(threads)
    result["machine"]["load_after"] = load_average()
    print(table(result))
    record(result, args.json)
    return result


if __name__ == "__main__":
    main()
