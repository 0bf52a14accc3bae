"""Shared fixtures: the repo root, the real label files (tests/fixtures), and tiny datasets written as IDX files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the virtualenv running the tests: dvc and python live here


def run(cmd, cwd, env, check=True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def copy_repo(dest: Path) -> Path:
    """The files git would commit (tracked and untracked-not-ignored), as a fresh clone would have them."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def dvc_project(dest: Path, edit) -> tuple[Path, dict]:
    """A committed copy of the repo in `dest` whose params.yaml `edit(params)` changed in place, and the
    environment to run its `dvc` in (this virtualenv first on PATH, MLflow in a sqlite file inside)."""
    import yaml

    repo = copy_repo(dest)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    edit(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{repo}/mlflow.db", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("DVC_EXP_NAME", None)
    run(["git", "init", "-q"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "copy"], repo, env)
    return repo, env


def bench_module(name: str):
    """A script of bench/ as a module (its siblings import each other as bench/ scripts do when run)."""
    import importlib

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "bench"))


def apt_install(package: str) -> None:
    """`apt-get update` and `apt-get install -y <package>` (Debian's), one test worker at a time: two workers
    installing at once would meet on dpkg's lock. Fails the test, saying why, when apt-get cannot."""
    from filelock import FileLock

    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{package} is missing and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with FileLock(Path(tempfile.gettempdir()) / "fmnist-tests-apt.lock"):
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as exc:
                pytest.fail(f"installing {package}: `{' '.join(cmd)}` could not run: {exc}")
            if proc.returncode != 0:
                pytest.fail(f"installing {package}: `{' '.join(cmd)}` failed ({proc.returncode}):\n"
                            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


def free_port() -> int:
    """A loopback port nobody listens on now: for a test server, or as a dead tracking server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def shared_labels() -> Path:
    """The two official Fashion-MNIST label files, shipped in tests/fixtures (35 KB)."""
    return ROOT / "tests" / "fixtures" / "fashion-mnist-labels"


@pytest.fixture
def tiny_idx_dir(tmp_path) -> Path:
    """Four IDX files of a tiny random 3-class dataset (images and labels of matching counts)."""
    from fmnist.data.idx import write_idx

    rng = np.random.default_rng(0)
    folder = tmp_path / "idx"
    folder.mkdir()
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 3).astype(np.uint8))
    return folder


@pytest.fixture
def env_with_venv():
    """The environment for subprocesses: the test's virtualenv first on PATH (stage commands call python)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("DVC_EXP_NAME", None)
    return env


def structured_images(n: int, classes: int, seed: int):
    """Easy-to-learn images: a bright bar whose row depends on the class, plus noise."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % classes).astype(np.uint8)
    rng.shuffle(y)
    x = rng.integers(0, 60, (n, 28, 28))
    for c in range(classes):
        row = 2 + c * (24 // classes)
        x[y == c, row:row + 3, 4:24] += 180
    return x.astype(np.uint8), y


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """A tiny 10-class dataset (500 train incl. 100 validation, 100 test), prepared in three variants."""
    from fmnist.data.idx import write_idx
    from fmnist.data.prepare import prepare_variant
    from fmnist.data.sources import fetch_dataset
    from fmnist.params import Data

    root = tmp_path_factory.mktemp("prepared")
    src = root / "src"
    src.mkdir()
    for split, n, seed in (("train", 500, 1), ("t10k", 100, 2)):
        x, y = structured_images(n, 10, seed)
        write_idx(src / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(src / f"{split}-labels-idx1-ubyte.gz", y)
    fetch_dataset(Data(dataset="idx-dir", source=str(src), name="structured-test"), root / "raw")
    for variant in ("unit-onehot", "unit-sparse", "standard-sparse"):
        norm, enc = variant.split("-")
        prepare_variant(root / "raw", root / variant, norm, enc, val_size=100)
    return root
