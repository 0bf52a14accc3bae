"""A write the machine refuses (a full disk, a quota, a read-only or foreign folder) is one line naming the file and
the cause, exit 2, nothing half-written, the previous checkpoint whole; once space is freed, training resumes.

Full and read-only disks are real: a small tmpfs mounted over a stage's output folder (as root; skipped where
mounting is refused). A quota and a folder not ours to write are planted: a `sitecustomize` module on
PYTHONPATH makes every open-for-writing under the folder fail with EDQUOT or EACCES (root is never refused one).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

from stage_project import STAGES, make_project, run_pipeline, run_stage, stage_env

pytestmark = pytest.mark.slow

CAUSES = {"ENOSPC": "no space left on the device (ENOSPC)", "EROFS": "read-only file system (EROFS)",
          "EDQUOT": "disk quota exceeded (EDQUOT)", "EACCES": "permission denied (EACCES)"}
# Where each stage writes first (or soonest): the folder the fault is put on.
OUTPUT = {"settings": "settings", "download": "data/raw", "describe": "plots/data", "prepare": "data/prepared",
          "train": "checkpoints", "evaluate": "metrics", "report": "reports"}

PLANT = textwrap.dedent('''
    import builtins, errno, io, os
    fault = os.environ.get("FMNIST_WRITE_FAULT")  # "<ERRNO>:<folder>"
    if fault:
        code, folder = fault.split(":", 1)
        number, real_open = getattr(errno, code), io.open

        def refusing_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") \\
                    and os.path.abspath(os.fspath(file)).startswith(folder + os.sep):
                raise OSError(number, os.strerror(number), os.fspath(file))
            return real_open(file, mode, *args, **kwargs)

        builtins.open = io.open = refusing_open
''')


def can_mount() -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")


@contextlib.contextmanager
def tmpfs(folder: Path, size: str, read_only: bool = False):
    """A fresh tmpfs over `folder` (hiding what it holds) while the block runs."""
    can_mount()
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path) -> None:
    """Leave no byte free on the disk of `folder`."""
    fd = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def fault_on(folder: Path, cause: str, env: dict):
    """The environment of a stage whose writes under `folder` meet `cause`; what the folder held is back after."""
    if cause in ("ENOSPC", "EROFS"):
        with tmpfs(folder, "64k", read_only=cause == "EROFS"):
            if cause == "ENOSPC":
                fill(folder)
            yield env
        return
    aside = folder.with_name(folder.name + ".aside")  # empty, so the stage has everything to write
    folder.rename(aside)
    try:
        yield {**env, "FMNIST_WRITE_FAULT": f"{cause}:{folder}"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        aside.rename(folder)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The tiny project through every stage (so that each has its inputs), and its trained weights."""
    root = make_project(tmp_path_factory.mktemp("storage"), epochs=3)
    plant = tmp_path_factory.mktemp("plant")
    (plant / "sitecustomize.py").write_text(PLANT)
    env = stage_env(root, OMP_NUM_THREADS="1", PYTHONPATH=str(plant))
    run_pipeline(root, env=env)
    state = torch.load(root / "models/tiny.pt", weights_only=True)["state_dict"]
    return root, env, state


def assert_one_line(proc, path: str, cause: str):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}") and f"cannot write: {cause}" in lines[0], lines[0]


def test_a_full_disk_keeps_the_last_checkpoint_and_training_resumes_once_space_is_freed(project):
    root, env, reference = project
    with tmpfs(root / "checkpoints", "384k") as checkpoints:  # one checkpoint (~256 KB) fits, not two
        failed = run_stage(root, "train", env, check=False)
        assert_one_line(failed, "checkpoints/tiny/last.pt", CAUSES["ENOSPC"])
        assert "free some space, then run `dvc repro` again" in failed.stderr
        assert not list(checkpoints.glob("**/*.tmp")), "the temp file of the refused write is still there"
        assert torch.load(checkpoints / "tiny/last.pt", weights_only=True)["epoch"] == 1  # the previous one, whole

        subprocess.run(["mount", "-o", "remount,size=8m", str(checkpoints)], check=True)  # space freed
        again = run_stage(root, "train", env)
        assert "tiny: resuming after epoch 1 from" in again.stdout
    resumed = torch.load(root / "models/tiny.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)


@pytest.mark.parametrize("cause", list(CAUSES))
@pytest.mark.parametrize("name", list(STAGES))
def test_every_stage_names_the_file_it_cannot_write(project, name, cause):
    root, env, _ = project
    folder = root / OUTPUT[name]
    with fault_on(folder, cause, env) as faulty:
        failed = run_stage(root, name, faulty, check=False)
        assert_one_line(failed, OUTPUT[name] + "/", CAUSES[cause])
        assert not list(root.glob("**/*.tmp")), "a temp file of the refused write is still there"
