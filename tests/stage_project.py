"""A tiny project folder the real stage scripts run in as subprocesses (no DVC): the repo's params.yaml shrunk to
one `tiny` experiment on a small structured IDX dataset, and a helper that runs one stage there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT, structured_images

STAGES = {  # stage -> its arguments
    "settings": [], "download": [], "describe": [], "prepare": ["unit-sparse"], "train": ["tiny"],
    "evaluate": ["tiny"], "report": [],
}


def make_project(root: Path, classes: list[str] | str = "fashion-mnist", epochs: int = 4, n_train: int = 600,
                 batch_size: int = 50) -> Path:
    """`root` holding params.yaml and, in src/, four IDX files of `n_train` + 100 structured images."""
    from fmnist.data.idx import write_idx

    source = root / "src"
    source.mkdir(parents=True, exist_ok=True)
    n_classes = 10 if isinstance(classes, str) else len(classes)
    for split, n, seed in (("train", n_train, 1), ("t10k", 100, 2)):
        x, y = structured_images(n, n_classes, seed)
        write_idx(source / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(source / f"{split}-labels-idx1-ubyte.gz", y)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="idx-dir", source=str(source), name="structured test images", classes=classes)
    params["prepare"].update(normalisations=["unit"], encodings=["sparse"], val_size=100)
    params["train"].update(epochs=epochs, batch_size=batch_size, device="cpu", eval_batch_size=500)
    params["experiments"] = {"tiny": {"model": "tiny", "variant": "unit-sparse", "optimizer": "adam"}}
    params["published"] = {}
    params["progress"] = False
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    return root


def stage_env(root: Path, **extra) -> dict:
    """The environment a stage runs in: MLflow in a sqlite file inside `root`, output unbuffered."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db", "PYTHONUNBUFFERED": "1",
           "GIT_DIR": str(root / "no-git"), **extra}
    for name in ("DVC_EXP_NAME", "DVC_ROOT", "FMNIST_TRACEBACK"):
        env.pop(name, None)
    return env


def command(name: str) -> list[str]:
    return [sys.executable, str(ROOT / "stages" / f"{name}.py"), *STAGES[name]]


def run_stage(root: Path, name: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(command(name), cwd=root, env=env or stage_env(root), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def start_stage(root: Path, name: str, env: dict | None = None) -> subprocess.Popen:
    """The stage started, its stdout and stderr piped as text."""
    return subprocess.Popen(command(name), cwd=root, env=env or stage_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_pipeline(root: Path, upto: str = "report", env: dict | None = None) -> None:
    for name in STAGES:
        run_stage(root, name, env)
        if name == upto:
            return
