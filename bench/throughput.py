"""Training throughput: the seed notebooks' data path against fmnist's training loop.

For each model, on the current device, training images per second of

  (a) seed-style: a per-item Dataset (uint8 image -> PIL -> float tensor /255, a one-hot label built
      per item for the one-hot models) fed through DataLoader(shuffle=True); the model on the
      device, each batch moved to the device, `loss.item()` every step, as the notebooks did;
  (b) fmnist: `train_experiment` itself, on a synthetic dataset prepared by fmnist's own prepare
      step (whole tensors on the device, batches sliced by a permutation);
  (c) the model alone: fmnist's own training step (fmnist.training.step, with its device settings) on
      tensors already on the device, no data path, no augmentation, no bookkeeping (bench/knobs.py). No data
      path can beat it, so model-alone / seed-style is the most any faster loop could gain over the seed-style one.

Both train the same model with the experiment's recipe from params.yaml, for the same number of
steps. One untimed warm-up run of each comes first; then the runs alternate A B C A B C and each
figure is the median over --repeats. Results are appended to bench/results/<device>.json.

    python bench/throughput.py                 # all models, a few minutes on 2 CPU cores
    python bench/throughput.py --quick --json /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from fmnist.data.prepare import load_raw, load_variant, prepare_variant
from fmnist.training.keras_rmsprop import KerasRMSprop
from fmnist.data.sources import fetch_dataset
from fmnist.models import build_model
from fmnist.params import Data, ExperimentSettings, Synthetic, load_params
from fmnist.training import train_experiment
from fmnist.device import resolve_device
from knobs import EXPERIMENTS, Knobs, StepLoop  # bench/, beside this script
from measure import append_result, load_average, load_change  # bench/, beside this script

ROOT = Path(__file__).resolve().parents[1]

# Steps per timed run: about 5-15 s per run on 2 CPU cores; --steps overrides.
DEFAULT_STEPS = {"tiny": 30, "asl": 150, "resnet": 8}
QUICK_STEPS = {"tiny": 3, "asl": 5, "resnet": 2}
# On a GPU the fmnist loop is many times faster: more steps, so that its runs last long enough to time
# (the seed-style runs, about 50 us per image, take most of the time).
CUDA_STEPS = {"tiny": 60, "asl": 300, "resnet": 40}
EPOCH_IMAGES = 48_000  # one epoch of the resnet recipe: the training split without validation
VAL_SIZE = 100  # validation images of the benchmark data: evaluated between epochs, never timed


# --- (a) the seed notebooks' way --------------------------------------------------------------

class SeedStyleDataset(Dataset):
    """One item at a time: PIL image -> float tensor (what torchvision's ToTensor does), then the
    recipe's per-item transforms, and a one-hot label built per item for the one-hot losses."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, cfg: ExperimentSettings, norm: dict):
        self.images, self.labels, self.cfg = images, labels, cfg
        # fmnist's (x - shift) / scale in pixel units is Normalize(shift/255, scale/255) after ToTensor.
        self.mean, self.std = norm["shift"] / 255.0, norm["scale"] / 255.0
        self.background = (0.0 - self.mean) / self.std

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        pil = Image.fromarray(self.images[i])
        x = torch.tensor(np.asarray(pil)).unsqueeze(0).float().div(255)
        if self.cfg.normalisation == "raw":
            x = x * 255
        elif self.cfg.normalisation == "standard":
            x = (x - self.mean) / self.std
        x = augment_one(x, self.cfg.augment, self.background)
        label = int(self.labels[i])
        if self.cfg.encoding == "onehot":
            y = torch.zeros(10)  # as seed000's Dataset did
            y[label] = 1.0
            return x, y
        return x, label


def augment_one(x: torch.Tensor, aug, background: float) -> torch.Tensor:
    """Per-image random crop, flip and erase, as torchvision's transforms do them in a Dataset."""
    _, h, w = x.shape
    if aug.crop:
        p = aug.crop
        i, j = torch.randint(0, 2 * p + 1, (2,)).tolist()
        x = F.pad(x, (p, p, p, p), value=background)[:, i:i + h, j:j + w]
    if aug.flip and torch.rand(()) < 0.5:
        x = x.flip(-1)
    if aug.erase and torch.rand(()) < aug.erase:
        area = h * w * (0.02 + 0.23 * torch.rand(()).item())
        aspect = float(np.exp(np.log(3.0) * (2 * torch.rand(()).item() - 1)))
        eh = int(min(h, max(1, (area * aspect) ** 0.5)))
        ew = int(min(w, max(1, (area / aspect) ** 0.5)))
        y0, x0 = torch.randint(0, h - eh + 1, ()).item(), torch.randint(0, w - ew + 1, ()).item()
        x = x.clone()
        x[:, y0:y0 + eh, x0:x0 + ew] = background
    return x


def seed_style_optimizer(cfg: ExperimentSettings, model, steps: int):
    """The recipe's optimiser and schedule (None: constant), set up directly with torch."""
    params = model.parameters()
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-8)
    elif cfg.optimizer == "keras_rmsprop":  # Keras' RMSprop, as a notebook porting it would write it
        opt = KerasRMSprop(params, lr=cfg.lr, rho=0.9, eps=1e-7)
    elif cfg.optimizer == "rmsprop":
        opt = torch.optim.RMSprop(params, lr=cfg.lr, alpha=0.9, eps=1e-7)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                              weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"the benchmark has no seed-style {cfg.optimizer}")
    if cfg.schedule == "onecycle":
        return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    return opt, None


def run_seed_style(cfg: ExperimentSettings, images, labels, norm: dict, device: torch.device) -> float:
    """Train one pass over `images` the notebooks' way; return training images per second."""
    torch.manual_seed(cfg.seed)
    loader = DataLoader(SeedStyleDataset(images, labels, cfg, norm), batch_size=cfg.batch_size, shuffle=True)
    model = build_model(cfg.model, **cfg.model_config).to(device)
    optimizer, schedule = seed_style_optimizer(cfg, model, len(loader))
    if cfg.loss == "mse":
        criterion = lambda logits, y: F.mse_loss(torch.softmax(logits, dim=1), y)  # noqa: E731
    else:
        criterion = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    started = time.perf_counter()
    seen = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        loss.item()  # the notebooks logged every batch's loss; it also waits for the device
        seen += len(x)
    return seen / (time.perf_counter() - started)


# --- (b) fmnist's training loop -----------------------------------------------------------------

@contextlib.contextmanager
def restored_torch_flags():
    """train_experiment sets process-wide flags (deterministic algorithms on CPU; TF32 and cudnn
    benchmark on CUDA); put them back so the seed-style runs see torch's defaults, as the notebooks did."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.utils.deterministic.fill_uninitialized_memory,
             torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        (torch.utils.deterministic.fill_uninitialized_memory, torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark) = saved[2:]


def run_fmnist(cfg: ExperimentSettings, variant_dir: Path, work: Path) -> float:
    """One epoch of `train_experiment`; return the loop's own training images per second."""
    rows = []
    out = work / "out"
    with restored_torch_flags(), contextlib.redirect_stdout(io.StringIO()):
        train_experiment("bench", cfg, variant_dir, out / "w.pt", out / "h.csv", out / "ck",
                         on_epoch=rows.append, progress=False)
    # The loop times its training steps only (not evaluation or checkpoints); on CUDA its clock
    # stops after a device synchronisation, so every queued kernel is inside it.
    return rows[-1]["images_per_s"]


# --- data --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Prepared:
    variant: Path  # fmnist's prepared variant
    images: np.ndarray  # the same training images as uint8, for the seed-style Dataset
    labels: np.ndarray
    norm: dict


def prepare(cfg: ExperimentSettings, n_train: int, work: Path) -> Prepared:
    """Synthetic data with exactly `n_train` training images, downloaded and prepared by fmnist."""
    raw = work / "raw"
    fetch_dataset(Data(dataset="synthetic", synthetic=Synthetic(train=n_train + VAL_SIZE, test=10)), raw)
    meta = prepare_variant(raw, work / cfg.variant, cfg.normalisation, cfg.encoding, val_size=VAL_SIZE)
    images, labels = load_raw(raw)["train"]
    return Prepared(work / cfg.variant, images[:n_train], labels[:n_train], meta["normalisation"])


# --- the benchmark -----------------------------------------------------------------------------

def bench_model(model: str, cfg: ExperimentSettings, steps: int, warmup: int, repeats: int, device,
                work: Path) -> dict:
    n = steps * cfg.batch_size
    timed = prepare(cfg, n, work / "timed")
    warm = prepare(cfg, warmup * cfg.batch_size, work / "warmup")
    log(f"{model}: warm-up ({warmup} steps each)")
    run_seed_style(cfg, warm.images, warm.labels, warm.norm, device)
    run_fmnist(cfg, warm.variant, work / "warmup")
    torch.manual_seed(cfg.seed)
    _, arrays = load_variant(timed.variant, ("train",))  # the same images and targets as (b)
    alone = StepLoop(cfg, build_model(cfg.model, **cfg.model_config), Knobs(), steps, device,
                     data=(torch.from_numpy(np.array(arrays["x_train"])), torch.from_numpy(np.array(arrays["y_train"]))))
    with restored_torch_flags():
        alone.images_per_s()
    runs = {"seed_style": [], "fmnist": [], "model_alone": []}
    for r in range(repeats):
        runs["seed_style"].append(run_seed_style(cfg, timed.images, timed.labels, timed.norm, device))
        runs["fmnist"].append(run_fmnist(cfg, timed.variant, work / "timed"))
        with restored_torch_flags():
            runs["model_alone"].append(alone.images_per_s())
        log(f"{model} {r + 1}/{repeats}: seed-style {runs['seed_style'][-1]:,.0f} img/s, "
            f"fmnist {runs['fmnist'][-1]:,.0f} img/s, model alone {runs['model_alone'][-1]:,.0f} img/s")
    a, b, c = (statistics.median(runs[k]) for k in ("seed_style", "fmnist", "model_alone"))
    return {"experiment": EXPERIMENTS[model], "batch_size": cfg.batch_size, "steps": steps, "images": n,
            "seed_style_img_s": a, "fmnist_img_s": b, "ratio": b / a, "model_alone_img_s": c, "ceiling": c / a,
            "runs": runs}


def machine_info(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(device if device.type == "cuda" else 0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
            # Other work on the machine slows both implementations (see bench/README.md)
            "load_before": load_average()}


def table(result: dict) -> str:
    m = result["machine"]
    load = load_change(m)
    lines = [f"device {result['device']} | {m['gpu'] if result['device'] == 'cuda' else m['cpu']} | {m['cores']} cores"
             f" | torch {m['torch']} | median of {result['settings']['repeats']} | load average {load}"
             + (" | QUICK (smoke run)" if result["quick"] else ""),
             f"{'model':<8}{'experiment':<21}{'batch':>6}{'steps':>7}{'seed-style img/s':>18}"
             f"{'fmnist img/s':>14}{'fmnist/seed':>13}{'model alone':>13}{'alone/seed':>12}"]
    for model, r in result["models"].items():
        lines.append(f"{model:<8}{r['experiment']:<21}{r['batch_size']:>6}{r['steps']:>7}"
                     f"{r['seed_style_img_s']:>18,.0f}{r['fmnist_img_s']:>14,.0f}{r['ratio']:>12.2f}x"
                     f"{r['model_alone_img_s']:>13,.0f}{r['ceiling']:>11.2f}x")
    if "resnet_recipe" in result:
        rr = result["resnet_recipe"]
        lines.append(f"resnet recipe (fmnist): {rr['img_s']:,.0f} img/s, {rr['epoch_s']:,.1f} s per epoch "
                     f"of {rr['epoch_images']:,} images")
    return "\n".join(lines)


def record(result: dict, path: Path | None = None) -> None:
    """Append a benchmark run to `path`, by default to bench/results/<device>.json; a quick (smoke or partial)
    run is only written where `path` says."""
    path = path or (None if result["quick"] else ROOT / "bench" / "results" / f"{result['device']}.json")
    if path is not None:
        append_result(result, path)
        print(f"appended to {path}")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--models", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--steps", type=int, help="timed steps per run for every model "
                        f"(default per model: {', '.join(f'{k} {v}' for k, v in DEFAULT_STEPS.items())}; "
                        f"on CUDA {', '.join(f'{k} {v}' for k, v in CUDA_STEPS.items())})")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each implementation (median)")
    parser.add_argument("--warmup", type=int, default=2, help="steps of the untimed warm-up run")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core)")
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps, 1 repeat")
    parser.add_argument("--json", type=Path, help="append the result here (default: bench/results/<device>.json; "
                        "a --quick run is only written where --json says)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="where the recipes come from")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 1, 1
    for name in ("steps", "repeats", "warmup", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    params = load_params(args.params)
    result = {"benchmark": "throughput", "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": device.type, "quick": args.quick, "machine": machine_info(device),
              "settings": {"repeats": args.repeats, "warmup_steps": args.warmup,
                           # OpenMP's settings change CPU figures a lot on a busy machine
                           "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}},
              "models": {}}
    with tempfile.TemporaryDirectory(prefix="fmnist-bench-") as tmp:
        for model in args.models:
            cfg = dataclasses.replace(params.experiment(EXPERIMENTS[model]), epochs=1, epoch_limit=None,
                                      train_split="train", track_test=False, device=args.device)
            steps = args.steps if args.steps is not None else (
                QUICK_STEPS if args.quick else CUDA_STEPS if device.type == "cuda" else DEFAULT_STEPS)[model]
            result["models"][model] = bench_model(model, cfg, steps, args.warmup, args.repeats, device,
                                                  Path(tmp) / model)
    result["machine"]["load_after"] = load_average()
    if "resnet" in result["models"]:
        img_s = result["models"]["resnet"]["fmnist_img_s"]
        result["resnet_recipe"] = {"img_s": img_s, "epoch_images": EPOCH_IMAGES, "epoch_s": EPOCH_IMAGES / img_s}

    print(table(result))
    record(result, args.json)
    return result


if __name__ == "__main__":
    main()
