"""The CPU against its limit: each model's training step as achieved GFLOP/s and as a share of this machine's
fp32 matrix-multiply rate, both measured in the same run, and the slowest layer of each step.

    python bench/flops.py                                  # tiny, asl, resnet and quick; about 3 minutes on 2 cores
    python bench/flops.py --quick --models asl --json /tmp/f.json   # smoke run

The step is the model alone with fmnist's settings (knobs.StepLoop: channels_last, foreach optimisers, its
recipe's loss and optimiser, random tensors already in memory). Its FLOPs are counted once with
torch.utils.flop_counter.FlopCounterMode over one forward and backward pass (the matrix multiplies and
convolutions; element-wise work, batch norm and the optimiser count none). The limit is a 2048 x 2048 x 2048
fp32 matrix product (2 n^3 FLOPs), timed in blocks interleaved with the models' blocks of steps, so a machine
that slows down slows both alike; each figure is the median over --repeats rounds, and the share is the median
of each round's ratio. Then torch.profiler times every layer of a few steps, forward and backward (each backward
op is matched to the layer whose forward op made it), and names the slowest. The run is appended to
bench/results/<device>.json ("benchmark": "flops"); docs/performance.md shows the latest, with
what would lift each slowest layer (bench/table.py's `lift`).
"""

from __future__ import annotations

import argparse
import collections
import copy
import dataclasses
import datetime
import os
import statistics
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

from fmnist.device import resolve_device
from fmnist.models import build_model
from fmnist.params import load_params
from knobs import Knobs, StepLoop, restore_defaults  # bench/, beside this script
from measure import interleaved, load_average, load_change  # bench/

ROOT = Path(__file__).resolve().parents[1]
# label -> the params.yaml experiment whose model and recipe it is
MODELS = {"tiny": "seed000", "asl": "seed003-unit-onehot", "resnet": "resnet", "quick": "quick"}
BLOCK_STEPS = {"tiny": 10, "asl": 30, "resnet": 2, "quick": 10}  # about 1 s per block on 2 CPU cores
MATMUL_N, MATMUL_BLOCK = 2048, 3  # three products per block: about 0.35 s at 150 GFLOP/s
PROFILED_STEPS = 5
OUTSIDE = "(outside its layers)"


def matmul_block(n: int = MATMUL_N, reps: int = MATMUL_BLOCK):
    """A measure: GFLOP/s of `reps` n x n x n fp32 products (random operands: zeros can run faster)."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
    out = torch.empty(n, n)

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        return 2 * n**3 * reps / (time.perf_counter() - started) / 1e9
    return measure


def one_step(loop: StepLoop, backward: bool = True, optimise: bool = True) -> None:
    bs = loop.cfg.batch_size
    loss = loop.loss(loop.model(loop.x[:bs]), loop.y[:bs])
    if backward:
        loop.optimizer.zero_grad(set_to_none=True)
        loss.backward()
    if optimise:
        loop.optimizer.step()


def step_flops(loop: StepLoop) -> tuple[float, dict[str, float]]:
    """FLOPs per training image of one forward and backward pass, and each layer's part of them.

    Counted on the meta device (shapes only, nothing computed), where every model runs its plain layers: on CPU
    tiny runs its convolutions as one grouped convolution over the batch, the same arithmetic, whose backward
    the counter's formulas overcount. A layer's part is its forward and backward counted alone, at the input
    shape it had in the step (the counter's own attribution to modules goes astray in backward)."""
    model = copy.deepcopy(loop.model).to("meta").train()
    bs = loop.cfg.batch_size
    x, y = (torch.empty_like(t[:bs], device="meta") for t in (loop.x, loop.y))
    seen = {}

    def keep_input(module, args, out):  # returns None: the output stays as it is
        seen.setdefault(names[module], (module, args[0]))
    names = {m: name for name, m in model.named_modules() if name and not list(m.children())}
    handles = [m.register_forward_hook(keep_input) for m in names]
    with FlopCounterMode(display=False) as counter:
        loop.loss(model(x), y).backward()
    for h in handles:
        h.remove()
    per_layer = {}
    for name, (module, inp) in seen.items():
        if any(p.requires_grad for p in module.parameters(recurse=False)):
            alone = torch.empty_like(inp, device="meta").requires_grad_(inp.requires_grad)  # the input: no gradient
            with FlopCounterMode(display=False) as one:
                module(alone).sum().backward()
            per_layer[name] = one.get_total_flops() / bs
    per_layer[OUTSIDE] = counter.get_total_flops() / bs - sum(per_layer.values())
    return counter.get_total_flops() / bs, per_layer


def describe(module: torch.nn.Module) -> str:
    if isinstance(module, torch.nn.Conv2d):
        return f"{type(module).__name__}({module.in_channels}->{module.out_channels}, {'x'.join(map(str, module.kernel_size))})"
    if isinstance(module, torch.nn.Linear):
        return f"Linear({module.in_features}->{module.out_features})"
    if isinstance(module, torch.nn.BatchNorm2d):
        return f"{type(module).__name__}({module.num_features})"
    return type(module).__name__


def layer_profile(loop: StepLoop, steps: int = PROFILED_STEPS) -> dict:
    """Milliseconds per step of every layer, forward and backward, from torch.profiler; the slowest first.

    Each leaf module's forward runs inside a record_function range; a backward op carries the sequence number
    of the forward op that made it, which names its layer. What the model's forward does outside its layers
    (tiny's per-image convolutions on CPU) counts as the model's own; the loss and optimiser apart."""
    model = loop.model
    leaves = {name: m for name, m in model.named_modules() if name and not list(m.children())}
    leaves[OUTSIDE] = model
    ranges, shapes, handles = {}, {}, []
    for name, module in leaves.items():
        label = f"layer::{name}"

        def enter(mod, args, label=label):
            ranges[label] = record_function(label)
            ranges[label].__enter__()

        def leave(mod, args, out, label=label, name=name):
            ranges.pop(label).__exit__(None, None, None)
            shapes[name] = list(out.shape) if isinstance(out, torch.Tensor) else None
        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        loop.flags()
        model.train()
        one_step(loop)  # warm: oneDNN primitives, optimiser state
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                one_step(loop, optimise=False)
                with record_function("step::optimiser"):
                    loop.optimizer.step()
    finally:
        for h in handles:
            h.remove()
    events = prof.events()
    forward, backward, owner = collections.Counter(), collections.Counter(), {}

    def claim(event, name):  # every forward op under a layer's range, nested ranges included, unless claimed
        for child in event.cpu_children:
            if child.name.startswith("layer::"):
                continue
            if child.sequence_nr >= 0:
                owner.setdefault(child.sequence_nr, name)
            claim(child, name)

    for event in sorted((e for e in events if e.name.startswith("layer::")), key=lambda e: e.name == f"layer::{OUTSIDE}"):
        name = event.name[len("layer::"):]
        inner = sum(c.cpu_time_total for c in event.cpu_children if c.name.startswith("layer::"))
        forward[name] += event.cpu_time_total - inner
        claim(event, name)
    for event in events:
        if event.name.startswith("autograd::engine::evaluate_function"):
            backward[owner.get(event.sequence_nr, "(loss)")] += event.cpu_time_total
    top = [e for e in events if e.cpu_parent is None]
    step_us = sum(e.cpu_time_total for e in top) / steps
    optimiser_us = sum(e.cpu_time_total for e in top if e.name == "step::optimiser") / steps
    layers = [{"layer": name, "module": describe(leaves[name]) if name in leaves else name, "output": shapes.get(name),
               "forward_ms": forward[name] / steps / 1e3, "backward_ms": backward[name] / steps / 1e3}
              for name in dict.fromkeys([*leaves, *backward]) if forward[name] or backward[name]]
    for layer in layers:
        layer["ms"] = layer["forward_ms"] + layer["backward_ms"]
        layer["share_of_step"] = layer["ms"] * 1e3 / step_us
    layers.sort(key=lambda r: -r["ms"])
    return {"profiled_steps": steps, "step_ms": step_us / 1e3, "optimiser_ms": optimiser_us / 1e3, "layers": layers}


def bench(names: list[str], repeats: int, device, quick: bool, params) -> dict:
    torch.manual_seed(0)
    loops, flops = {}, {}
    for name in names:
        cfg = dataclasses.replace(params.experiment(MODELS[name]), epochs=1, epoch_limit=None)
        torch.manual_seed(cfg.seed)
        steps = 1 if quick else BLOCK_STEPS[name]
        loops[name] = StepLoop(cfg, build_model(cfg.model, **cfg.model_config), Knobs(), steps, device)
        flops[name] = step_flops(loops[name])
    # the limit and every model, block by block: A B C ... A B C ...
    timed = interleaved({"matmul": matmul_block(), **{n: loops[n].images_per_s for n in names}}, repeats)
    peak = timed.pop("matmul")
    models = {}
    for name in names:
        per_image, per_module = flops[name]
        runs = timed[name]["runs"]
        rates = [img_s * per_image / 1e9 for img_s in runs]
        profiled = layer_profile(loops[name], 1 if quick else PROFILED_STEPS)
        timed_layers = {layer["layer"] for layer in profiled["layers"]}
        # a layer the forward never called as a module (tiny's convolutions on CPU) did its arithmetic outside
        per_module[OUTSIDE] += sum(n for layer, n in per_module.items() if layer not in timed_layers)
        for layer in profiled["layers"]:  # the layer's own FLOPs per step and the rate it reached in the profile
            layer["mflop_per_step"] = per_module.get(layer["layer"], 0.0) * loops[name].cfg.batch_size / 1e6
            layer["gflop_s"] = layer["mflop_per_step"] / layer["ms"] if layer["ms"] else None
        models[name] = {
            "experiment": MODELS[name], "model": loops[name].cfg.model, "model_config": loops[name].cfg.model_config,
            "batch_size": loops[name].cfg.batch_size, "block_steps": loops[name].steps,
            "mflop_per_image": per_image / 1e6, "img_s": timed[name]["img_s"], "runs": runs,
            "gflop_s": statistics.median(rates),
            "share_of_peak": statistics.median(r / p for r, p in zip(rates, peak["runs"])),
            "profile": profiled, "slowest_layer": profiled["layers"][0]}
    return {"peak": {"what": f"{MATMUL_N}x{MATMUL_N}x{MATMUL_N} fp32 matmul", "gflop_s": peak["img_s"],
                     "runs": peak["runs"]}, "models": models}


def table(result: dict) -> str:
    peak = result["peak"]
    lines = [f"device {result['device']} | {result['machine']['cpu']} | {result['machine']['cores']} cores | torch "
             f"{result['machine']['torch']} | median of {result['settings']['repeats']} | load average "
             + load_change(result["machine"])
             + (" | QUICK (smoke run)" if result["quick"] else ""),
             f"limit: {peak['what']} {peak['gflop_s']:,.0f} GFLOP/s",
             f"{'model':<8}{'batch':>6}{'MFLOP/img':>11}{'img/s':>9}{'GFLOP/s':>9}{'share':>7}  slowest layer"]
    for name, r in result["models"].items():
        s = r["slowest_layer"]
        lines.append(f"{name:<8}{r['batch_size']:>6}{r['mflop_per_image']:>11.1f}{r['img_s']:>9,.0f}{r['gflop_s']:>9.1f}"
                     f"{r['share_of_peak']:>7.0%}  {s['layer']} {s['module']}: {s['share_of_step']:.0%} of the step "
                     f"({s['forward_ms']:.1f} ms forward, {s['backward_ms']:.1f} ms backward)")
    return "\n".join(lines)


def main(argv=None) -> dict:
    from throughput import log, machine_info, record  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu"], help="the CPU (the GPU's limit is another)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--repeats", type=int, default=5, help="rounds of blocks (median)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core); on a machine "
                        "shared with other work one thread waits on nothing but its own work")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1-step blocks, 1 round, 1 profiled step")
    parser.add_argument("--json", type=Path, help="append the result here (default: bench/results/<device>.json; "
                        "a --quick run is only written where --json says)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="where the recipes come from")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    for name in ("repeats", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    device = resolve_device(args.device)
    threads = torch.get_num_threads()
    if args.threads:  # StepLoop keeps the count it finds (Knobs.threads is None)
        torch.set_num_threads(args.threads)
    result = {"benchmark": "flops", "device": device.type, "quick": args.quick,
              "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(device), "settings": {"repeats": args.repeats, "matmul_n": MATMUL_N, "threads": torch.get_num_threads(),
                           # OpenMP's settings change CPU figures a lot on a busy machine
                           "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}}}
    log(f"flops: {', '.join(args.models)} and the {MATMUL_N}^3 matmul, {args.repeats} interleaved rounds")
    try:
        result.update(bench(args.models, args.repeats, device, args.quick, load_params(args.params)))
    finally:
        restore_defaults(threads)
    result["machine"]["load_after"] = load_average()
    print(table(result))
    record(result, args.json)
    return result


if __name__ == "__main__":
    main()
