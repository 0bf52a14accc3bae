"""Run-to-run spread: an experiment trained again with other seeds, its accuracies after every epoch.

A seed notebook printed one run's final test accuracy. How far another run of the same recipe lands from it,
and how much the accuracy moves from one epoch to the next, says how close a port can be expected to come.
Each seed trains the experiment exactly as params.yaml sets it (only `seed` differs) and records the test and
validation accuracy after each epoch (evaluation only: it changes no weight and draws no random number the
training uses) and the training accuracy over each epoch's batches, as Keras' fit() reports it. Nothing here
chooses a setting, so reading the test split is measurement, not tuning.

    python bench/seeds.py RUN_DIR EXPERIMENT SEED [SEED ...] [--out FOLDER]

RUN_DIR is a project folder whose prepared data the experiment needs (data/prepared/<variant>); each seed's
curves go to FOLDER/seeds/<experiment>-seed<N>.json (default: docs/results/fashion-mnist-first-release).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_seed(run_dir: Path, experiment: str, seed: int) -> dict:
    from fmnist import tables
    from fmnist.params import load_params
    from fmnist.training import train_experiment

    params = load_params(run_dir / "params.yaml")
    cfg = dataclasses.replace(params.experiment(experiment), seed=seed, track_test=True, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        train_experiment(f"{experiment} seed {seed}", cfg, run_dir / "data" / "prepared" / cfg.variant,
                         out / "w.pt", out / "h.csv", out / "ck", progress=False)
        history = tables.read_history(out / "h.csv")
    return {"seed": seed, "commit": code_commit(), "torch": torch_version(), "optimizer": cfg.optimizer,
            **{key: [round(float(a), 6) for a in history[key]] for key in ("test_acc", "val_acc", "train_acc")}}


def code_commit() -> str | None:
    """The commit of the fmnist code that trained (its checkout, wherever RUN_DIR is), '+' if it was edited."""
    import subprocess

    import fmnist

    where = Path(fmnist.__file__).parent
    try:
        head = subprocess.run(["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def torch_version() -> str:
    import torch

    return torch.__version__


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("experiment")
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "fashion-mnist-first-release")
    args = parser.parse_args(argv)
    for seed in args.seeds:  # one file per seed: seeds may run in processes side by side
        entry = run_seed(args.run_dir, args.experiment, seed)
        path = args.out / "seeds" / f"{args.experiment}-seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entry, indent=1) + "\n")
        print(f"{args.experiment} seed {seed}: test accuracy {100 * entry['test_acc'][-1]:.2f} % after "
              f"{len(entry['test_acc'])} epochs", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
