"""One prepared run that measures the GPU path, step by step, within a fixed time (bench/README.md, "A lent GPU").

    python3 bench/gpu.py --device cuda --data .carry/fashion-mnist --json $OUT/cuda.json   # on a GPU, < 8 min
    python bench/gpu.py --device cpu --tiny --json /tmp/gpu.json     # the rehearsal on CPU (tests/test_gpu_script.py)
    python bench/gpu.py --keep FILE                                  # append a fetched record to bench/results/

In order:
  a. correctness: the tests that skip without CUDA; each model two epochs on tiny data, torch.compile off,
     then evaluation, the served model against the CPU's and `fmnist predict` on the device, then compile on;
  b. training throughput per model: seed-style, fmnist and the model alone (throughput.py);
  c. `resnet` at its defaults on the real images: test accuracy after every epoch against the training seconds;
  d. every experiment of params.yaml at its default epochs on the real images, through the library functions the
     stages call (no dvc or mlflow there), fewest optimiser steps first; `resnet` is step c's run;
  e. with time left: seed003 variants at more seeds, their test accuracy after every epoch.
Each step has a time budget and the whole run a deadline (--budget); a part that fails or runs out of time
records that and the run goes on. The record is written after every part and every epoch, so a run that is
killed keeps what it did. With --json, trained.tar.gz beside the record holds the weights, histories and timings of
the experiments steps c and d trained, laid out as in a project. --tiny shrinks the data and epochs (the CPU rehearsal; nothing measured means much).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from fmnist.data.prepare import load_raw, prepare_variant
from fmnist.data.sources import fetch_dataset
from fmnist.device import resolve_device
from fmnist.errors import FmnistError
from fmnist.evaluation import evaluate_experiment
from fmnist.files import write_json
from fmnist.params import Data, Synthetic, load_params
from fmnist.served import load_served, predict_proba
from fmnist.training import train_experiment

ROOT = Path(__file__).resolve().parents[1]
# The tests that skip without a CUDA device (the only ones that may skip).
CUDA_TESTS = ["tests/test_gpu.py", "tests/test_training.py::test_cuda_index_picks_that_gpu"]
CHECKED = {"tiny": "seed000", "asl": "seed003-unit-onehot", "resnet": "resnet"}  # step a's models and recipes
CAPS = {"a": 150, "b": 90, "c": 150, "d": None, "e": None}  # seconds per step at most; None: what is left
SPREAD = {"variants": ["seed003-unit-onehot", "seed003-raw-onehot"], "seeds": [1, 2, 3, 4, 5]}  # step e
REAL_NAME = "Fashion-MNIST, first-release split"
MIN_PART_S = 5  # a part with less time than this left is skipped
COMPILE_CAP_S = 30  # each model's two compiled epochs on tiny data; longer is itself the finding
TINY_D = 3  # --tiny trains the first three experiments of step d (each runs the same code)


class OutOfTime(BaseException):
    """A part's time ran out. A BaseException, so that no `except Exception` in the library swallows it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise OutOfTime in the main thread after `seconds` (SIGALRM), wherever the part then is."""
    def fire(signum, frame):
        raise OutOfTime()

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    return None


def child_env() -> dict:
    """The environment of a child python (pytest, `fmnist predict`): the project's src/ on its path, as here."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}


def load_runs(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


class Run:
    """The record of this run, its deadlines, and each part run under them."""

    def __init__(self, record: dict, path: Path | None, budget: float, device: torch.device):
        self.record, self.path, self.device = record, path, device
        self.started = time.perf_counter()
        self.deadline = self.started + budget
        self.step_deadline = self.deadline

    def save(self) -> None:
        """Write the record now (atomically), beside the other runs the file holds."""
        self.record["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        if self.path is not None:
            others = [r for r in load_runs(self.path) if r.get("timestamp") != self.record["timestamp"]]
            write_json(self.path, others + [self.record])

    def begin(self, step: str, cap: float | None) -> None:
        now = time.perf_counter()
        self.step_deadline = min(self.deadline, now + cap) if cap else self.deadline
        self.record["steps"].setdefault(step, {})
        print(f"== step {step}: {self.step_deadline - now:.0f} s", flush=True)

    def part(self, step: str, name: str, fn, cap: float | None = None) -> dict:
        """Run fn(entry) under the time left; entry, kept in the record, gets what fn puts in it, the status
        (ok, failed, out of time, skipped) and the seconds."""
        entry = {"status": "running"}
        self.record["steps"][step][name] = entry
        left = self.step_deadline - time.perf_counter()
        left = min(left, cap) if cap else left
        if left < MIN_PART_S:
            entry.update(status="skipped", reason="no time left")
            self.save()
            return entry
        self.save()
        started = time.perf_counter()
        try:
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            with time_limit(left):
                fn(entry)
            if entry["status"] == "running":
                entry["status"] = "ok"
        except OutOfTime:
            entry.update(status="out of time", limit_s=round(left, 1))
        except Exception as exc:  # noqa: BLE001 (a failed part is recorded, the run goes on)
            entry.update(status="failed", error=one_line(exc), traceback=traceback.format_exc()[-3000:])
        entry["seconds"] = round(time.perf_counter() - started, 2)
        if self.device.type == "cuda":
            with contextlib.suppress(RuntimeError):  # a CUDA error earlier in the part can leave the device unusable
                entry["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20)
        self.save()
        print(f"   {step} {name}: {entry['status']}, {entry['seconds']:.1f} s"
              + (f" ({entry.get('error') or entry.get('reason')})" if entry["status"] in ("failed", "skipped") else ""),
              flush=True)
        return entry


# --- training and data ------------------------------------------------------------------------

def train(run: Run, entry: dict, name: str, cfg, variant_dir: Path, out: Path, evaluate: bool = True) -> None:
    """Train one experiment, each epoch's row into entry['epochs'] as it ends (saved at once); then evaluate
    its test split (with TTA where the experiment uses it) on the same device."""
    rows = entry.setdefault("epochs", [])
    entry["planned_epochs"] = cfg.effective_epochs

    def on_epoch(row):
        rows.append({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()})
        entry["train_seconds"] = round(sum(r["seconds"] for r in rows), 3)
        run.save()

    out.mkdir(parents=True, exist_ok=True)
    train_experiment(name, cfg, variant_dir, out / f"{name}.pt", out / f"{name}.csv", out / f"{name}-checkpoints",
                     on_epoch=on_epoch, progress=False, timing_path=out / f"{name}.timing.json")
    entry["weights"] = str(out / f"{name}.pt")
    if evaluate:
        started = time.perf_counter()
        metrics = evaluate_experiment(weights_path=out / f"{name}.pt", variant_dir=variant_dir,
                                      metrics_path=out / f"{name}.metrics.json", confusion_csv=out / f"{name}.conf.csv",
                                      misclassified_csv=out / f"{name}.mis.csv", figures_dir=out / f"{name}-figures",
                                      device=run.device)
        entry["test_accuracy"] = round(metrics["test_accuracy"], 6)
        entry["eval_seconds"] = round(time.perf_counter() - started, 2)


def pack_trained(record: dict, dest: Path) -> None:
    """Every experiment steps c and d trained to the end, as a project lays it out (models/<e>.pt,
    plots/train/<e>.csv, plots/timing/<e>.json), in one archive: evaluate and report make the real-data results
    folder from it on any machine (bench/README.md, "A lent GPU")."""
    import tarfile

    members = {}
    for step in ("c", "d"):
        for name, entry in record["steps"].get(step, {}).items():
            if isinstance(entry, dict) and entry.get("status") == "ok" and "weights" in entry:
                weights = Path(entry["weights"])
                members.update({f"models/{name}.pt": weights, f"plots/train/{name}.csv": weights.with_suffix(".csv"),
                                f"plots/timing/{name}.json": weights.with_suffix(".timing.json")})
    if not members:
        return
    part = dest.with_name(dest.name + ".tmp")
    with tarfile.open(part, "w:gz") as tar:
        for arcname, path in sorted(members.items()):
            tar.add(path, arcname=arcname)
    part.replace(dest)
    record["trained"] = {"archive": dest.name, "experiments": sorted({Path(m).stem for m in members})}


def estimate(entry: dict) -> None:
    """For a training cut off: the epochs' mean seconds times the planned epochs (an estimate, named so)."""
    rows = entry.get("epochs") or []
    if entry["status"] == "out of time" and rows:
        entry["estimated_train_seconds"] = round(entry["train_seconds"] / len(rows) * entry["planned_epochs"], 1)


class Variants:
    """Prepared variants of one raw dataset, each made on first use (its seconds recorded)."""

    def __init__(self, raw: Path, folder: Path, val_size: int, seconds: dict):
        self.raw, self.folder, self.val_size, self.seconds = raw, folder, val_size, seconds

    def __call__(self, variant: str) -> Path:
        out = self.folder / variant
        if not out.exists():
            started = time.perf_counter()
            prepare_variant(self.raw, out, *variant.split("-"), self.val_size)
            self.seconds[variant] = round(time.perf_counter() - started, 2)
        return out


def synthetic(raw: Path, n_train: int, n_test: int) -> Path:
    fetch_dataset(Data(dataset="synthetic", synthetic=Synthetic(train=n_train, test=n_test)), raw)
    return raw


# --- the steps --------------------------------------------------------------------------------

class Steps:
    def __init__(self, run: Run, args, params, work: Path):
        self.run, self.args, self.params, self.work = run, args, params, work
        self.tiny, self.device = args.tiny, run.device
        self.real: Variants | None = None
        self.resnet_entry: dict | None = None

    def recipe(self, name: str, epochs: int | None = None, **changes):
        """The experiment's settings on this device; --tiny caps epochs, batches and evaluation batches."""
        cfg = dataclasses.replace(self.params.experiment(name), device=self.args.device, **changes)
        if epochs is not None:
            cfg = dataclasses.replace(cfg, epoch_limit=epochs)
        if self.tiny:  # resnet at width 4: the full width trains at about 50 images/s on 2 busy cores
            cfg = dataclasses.replace(cfg, epoch_limit=epochs or 1, batch_size=min(cfg.batch_size, 50),
                                      eval_batch_size=min(cfg.eval_batch_size, 500),
                                      model_config={**cfg.model_config, "width": 4} if cfg.model == "resnet" else cfg.model_config)
        return cfg

    # a. correctness on the device
    def a(self) -> None:
        run = self.run
        run.part("a", "tests", self.cuda_tests)
        n_train, n_val = (150, 50) if self.tiny else (2000, 500)
        raw = synthetic(self.work / "a-raw", n_train + n_val, n_val)
        variants = Variants(raw, self.work / "a-prepared", n_val, {})
        trained = {}
        for model, name in CHECKED.items():
            entry = run.part("a", f"{model}, compile off", lambda e, name=name: train(
                run, e, name, self.recipe(name, epochs=2), variants(self.params.experiment(name).variant),
                self.work / "a-off", evaluate=False))
            if entry["status"] == "ok":
                trained[name] = Path(entry["weights"])
        run.part("a", "evaluation", lambda e: self.evaluation(e, trained, variants))
        run.part("a", "served", lambda e: self.served(e, trained, raw))
        run.part("a", "predict", lambda e: self.predict(e, trained, raw))
        for model, name in CHECKED.items():
            if self.tiny and self.device.type == "cpu":  # 72 s for tiny alone on 2 cores: not in a rehearsal
                run.part("a", f"{model}, compile on", lambda e: e.update(
                    status="skipped", reason="torch.compile on CPU takes minutes: left out of the --tiny rehearsal"))
                continue
            run.part("a", f"{model}, compile on", lambda e, name=name: train(
                run, e, name, self.recipe(name, epochs=2, compile=True), variants(self.params.experiment(name).variant),
                self.work / "a-on", evaluate=False), cap=COMPILE_CAP_S)

    def cuda_tests(self, entry: dict) -> None:
        left = self.run.step_deadline - time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *CUDA_TESTS],
                              cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=max(left - 2, 1))
        lines = proc.stdout.strip().splitlines()
        entry.update(tests=CUDA_TESTS, returncode=proc.returncode, summary=lines[-1] if lines else "",
                     skipped=[line for line in lines if line.startswith("SKIPPED")])
        if proc.returncode != 0:
            entry.update(status="failed", error=entry["summary"], output=(proc.stdout + proc.stderr)[-4000:])

    def evaluation(self, entry: dict, trained: dict, variants: Variants) -> None:
        """Each model's test accuracy through evaluate_experiment on this device and on the CPU."""
        for name, weights in trained.items():
            accuracy = {}
            for device in dict.fromkeys([self.device.type, "cpu"]):
                out = self.work / "a-eval" / device
                metrics = evaluate_experiment(weights_path=weights, variant_dir=variants(self.params.experiment(name).variant),
                                              metrics_path=out / f"{name}.json", confusion_csv=out / f"{name}.csv",
                                              misclassified_csv=out / f"{name}.mis.csv", figures_dir=out / name,
                                              device=torch.device(device))
                accuracy[device] = round(metrics["test_accuracy"], 6)
            entry[name] = accuracy

    def served(self, entry: dict, trained: dict, raw: Path) -> None:
        """The served model (pixels in, probabilities out) on this device against the same on the CPU."""
        pixels = load_raw(raw)["test"][0][:, None].astype(np.float32)
        for name, weights in trained.items():
            probs = {device: predict_proba(load_served(weights, device)[0], pixels, pixels=True)
                     for device in dict.fromkeys([self.device.type, "cpu"])}
            here, cpu = probs[self.device.type], probs["cpu"]
            entry[name] = {"max_abs_diff": float(np.abs(here - cpu).max()),
                           "same_class": float((here.argmax(1) == cpu.argmax(1)).mean()),
                           "rows_sum_to_1": bool(np.allclose(here.sum(1), 1, atol=1e-3))}
            # bf16 on a GPU moves near-ties of a barely trained model: the classes are recorded, not required
            if not entry[name]["rows_sum_to_1"]:
                entry.update(status="failed", error=f"{name}: the served model's probabilities do not sum to 1")

    def predict(self, entry: dict, trained: dict, raw: Path) -> None:
        """`fmnist predict --device <this device>` on three test images saved as PNG files, with each model's weights."""
        from PIL import Image

        images = load_raw(raw)["test"][0][:3]
        files = []
        for i, image in enumerate(images):
            files.append(self.work / f"test{i}.png")
            Image.fromarray(image).save(files[-1])
        for name, weights in list(trained.items())[:1 if self.tiny else None]:  # each run imports torch again
            proc = subprocess.run([sys.executable, "-m", "fmnist.cli", "predict", *map(str, files), "--model", str(weights),
                                   "--device", self.device.type],
                                  cwd=self.work, env=child_env(), capture_output=True, text=True, timeout=120)
            entry[name] = {"returncode": proc.returncode, "lines": proc.stdout.strip().splitlines()[-3:],
                           "stderr": proc.stderr.strip()[-500:]}
            if proc.returncode != 0 or len(entry[name]["lines"]) != len(files):
                entry.update(status="failed", error=f"{name}: fmnist predict exited {proc.returncode}")

    # b. throughput
    def b(self) -> None:
        from throughput import main as throughput  # bench/, beside this script

        for model in CHECKED:
            if self.tiny and model != "tiny":  # a smoke run of resnet's seed-style path alone takes 45 s on 2 cores
                self.run.part("b", model, lambda e: e.update(status="skipped", reason="--tiny measures tiny only"))
                continue

            def measure(entry, model=model):
                argv = ["--device", self.args.device, "--models", model, "--json", str(self.work / "throughput.json")]
                result = throughput(argv + (["--quick"] if self.tiny else []))
                entry.update(result["models"][model])
                self.run.record["steps"]["b"].setdefault("machine", result["machine"])
            self.run.part("b", model, measure)

    # c. resnet at its defaults on the real images
    def real_data(self, entry: dict) -> None:
        started = time.perf_counter()
        raw = self.work / "real-raw"
        if self.tiny:  # no real images in a rehearsal: a small synthetic set in their place
            synthetic(raw, 200, 100)
            val_size = 50
        else:
            if not (self.args.data and Path(self.args.data, "train-images-idx3-ubyte.gz").exists()):
                raise FileNotFoundError(f"--data {self.args.data}: no IDX files there (make gpu-carry prepares them)")
            fetch_dataset(Data(dataset="idx-dir", source=str(self.args.data), name=REAL_NAME, classes="fashion-mnist"), raw)
            val_size = self.params.prepare.val_size
        entry.update(dataset="synthetic (--tiny)" if self.tiny else REAL_NAME, val_size=val_size,
                     load_seconds=round(time.perf_counter() - started, 2), prepare_seconds={})
        self.real = Variants(raw, self.work / "real-prepared", val_size, entry["prepare_seconds"])

    def c(self) -> None:
        self.run.part("c", "data", self.real_data)
        if self.real is None:
            return
        entry = self.run.part("c", "resnet", lambda e: train(self.run, e, "resnet", self.recipe("resnet", epochs=2 if self.tiny else None),
                                                             self.real("standard-sparse"), self.work / "c"))
        estimate(entry)
        reached = [r for r in entry.get("epochs", []) if r.get("test_acc", 0) >= 0.95]
        if reached:  # read off the curve: training seconds until the first epoch at 95 % test accuracy
            epoch = reached[0]["epoch"]
            entry["first_at_95"] = {"epoch": epoch, "train_seconds": round(sum(
                r["seconds"] for r in entry["epochs"][:epoch]), 2), "test_acc": reached[0]["test_acc"]}
        self.resnet_entry = entry  # step d's resnet, finished or not: training it again would not fit either
        self.run.save()

    # d. every experiment at its default epochs
    def d(self) -> None:
        if self.real is None:
            self.run.part("d", "data", self.real_data)
            if self.real is None:
                return
        names = list(self.params.experiments)

        def steps(name):  # optimiser steps of its default training: the cheapest first
            cfg = self.params.experiment(name)
            images = 60_000 if cfg.train_split == "all" else 60_000 - self.params.prepare.val_size
            return cfg.effective_epochs * math.ceil(images / cfg.batch_size)

        for i, name in enumerate(sorted(names, key=steps)):
            if self.tiny and i >= TINY_D:
                self.run.part("d", name, lambda e: e.update(status="skipped", reason=f"--tiny trains {TINY_D}"))
                continue
            if name == "resnet" and self.resnet_entry is not None:
                self.run.record["steps"]["d"][name] = {"from": "step c", **{
                    k: v for k, v in self.resnet_entry.items() if k in ("status", "train_seconds", "test_accuracy",
                                                                        "planned_epochs", "seconds", "estimated_train_seconds")}}
                continue
            entry = self.run.part("d", name, lambda e, name=name: train(
                self.run, e, name, self.recipe(name), self.real(self.params.experiment(name).variant), self.work / "d"))
            if entry["status"] == "ok":
                entry.pop("epochs")  # the figures are the totals; step c keeps resnet's curve
            else:
                estimate(entry)
        done = {n: e for n, e in self.run.record["steps"]["d"].items() if n in names and e["status"] == "ok"}
        self.run.record["steps"]["d"]["summary"] = {
            "experiments": len(names), "done": len(done), "complete": len(done) == len(names),
            "train_seconds": round(sum(e["train_seconds"] for e in done.values()), 1),
            "prepare_seconds": round(sum(self.real.seconds.values()), 1)}
        self.run.save()

    # e. more seeds
    def e(self) -> None:
        if self.real is None:
            self.run.part("e", "data", self.real_data)
            if self.real is None:
                return
        seeds = SPREAD["seeds"][:1] if self.tiny else SPREAD["seeds"]
        for seed in seeds:
            for name in SPREAD["variants"][:1] if self.tiny else SPREAD["variants"]:
                entry = self.run.part("e", f"{name} seed {seed}", lambda e, name=name, seed=seed: train(
                    self.run, e, name, self.recipe(name, seed=seed, track_test=True),
                    self.real(self.params.experiment(name).variant), self.work / "e" / str(seed), evaluate=False))
                entry["test_acc"] = [r["test_acc"] for r in entry.pop("epochs", [])]
                self.run.save()
                if entry["status"] != "ok":
                    return


def machine(device: torch.device) -> dict:
    from throughput import machine_info  # bench/, beside this script

    info = machine_info(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu_memory_mb=round(props.total_memory / 2**20), multiprocessors=props.multi_processor_count,
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def summary(record: dict) -> str:
    lines = [f"gpu.py on {record['machine'].get('gpu') or record['machine']['cpu']}: {record['elapsed_s']:.0f} s"]
    for step, parts in record["steps"].items():
        for name, entry in parts.items():
            if not isinstance(entry, dict) or "status" not in entry:
                continue
            figures = [f"{k} {entry[k]:.4g}" for k in ("train_seconds", "test_accuracy", "fmnist_img_s", "ratio",
                                                        "estimated_train_seconds") if k in entry]
            lines.append(f"  {step} {name:<28} {entry['status']:<12} {entry.get('seconds', 0):7.1f} s  " + ", ".join(figures))
    if "summary" in record["steps"].get("d", {}):
        lines.append(f"  d: {record['steps']['d']['summary']}")
    return "\n".join(lines)


def keep(path: Path, results: Path = ROOT / "bench" / "results") -> int:
    """Append the runs of a fetched record to results/<device>.json (those not there yet)."""
    try:
        runs = load_runs(path) if path.exists() else None
    except ValueError:
        runs = None
    if not isinstance(runs, list) or not runs or any(not isinstance(r, dict) or r.get("benchmark") != "gpu" for r in runs):
        sys.exit(f"error: {path} holds no gpu.py record")
    for r in runs:
        target = results / f"{r['device']}.json"
        held = load_runs(target)
        if all(h.get("timestamp") != r["timestamp"] for h in held):
            write_json(target, held + [r])
            print(f"appended the run of {r['timestamp']} to {target}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--data", type=Path, default=ROOT / ".carry" / "fashion-mnist",
                        help="the folder of the four real IDX files (default: .carry/fashion-mnist)")
    parser.add_argument("--tiny", action="store_true", help="the rehearsal: tiny synthetic data, 1-2 epochs")
    parser.add_argument("--steps", default="abcde", help="which steps, in order (default: abcde)")
    parser.add_argument("--budget", type=float, help="seconds for the whole run (default: 450; --tiny 300)")
    parser.add_argument("--json", type=Path, help="where the record goes (default: bench/results/<device>.json; "
                        "a --tiny run only where --json says); with --json, trained.tar.gz beside it holds the "
                        "experiments steps c and d trained")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--keep", type=Path, metavar="FILE", help="append FILE's runs to bench/results/ and stop")
    args = parser.parse_args(argv)
    if args.keep:
        return keep(args.keep)
    if not set(args.steps) <= set(CAPS) or not args.steps:
        parser.error(f"--steps takes letters of {''.join(CAPS)}, got {args.steps!r}")
    budget = args.budget or (300 if args.tiny else 450)
    if budget <= 0:
        parser.error("--budget must be positive")

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda: no CUDA device is available here (--device cpu --tiny rehearses on CPU)")
    try:
        device = resolve_device(args.device)
        params = load_params(args.params)
    except FmnistError as exc:
        sys.exit(f"error: {exc}")
    path = args.json or (None if args.tiny else ROOT / "bench" / "results" / f"{device.type}.json")
    record = {"benchmark": "gpu", "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": device.type, "quick": args.tiny, "machine": machine(device),
              "settings": {"budget_s": budget, "caps_s": CAPS, "steps": args.steps, "commit": git_commit(),
                           "data": None if args.tiny else str(args.data), "torch_threads": torch.get_num_threads()},
              "steps": {}}
    run = Run(record, path, budget, device)
    with tempfile.TemporaryDirectory(prefix="fmnist-gpu-") as work:
        steps = Steps(run, args, params, Path(work))
        for step in args.steps:
            run.begin(step, CAPS[step])
            getattr(steps, step)()
            if args.json and step in "cd":  # the archive is as complete as the run when a timeout ends it
                pack_trained(record, args.json.parent / "trained.tar.gz")
                run.save()
    record["finished"] = True
    run.save()
    print(summary(record))
    if path:
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
