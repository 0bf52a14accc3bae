"""DVC remote storage, for real: `dvc push` a reproduced project to a local remote, `git clone` it, `dvc
pull` in the clone, and the clone has every output, byte for byte, with nothing left to re-run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import BIN, dvc_project, run

pytestmark = pytest.mark.slow

DVC = str(BIN / "dvc")
KEEP = ("seed000", "seed003-unit-onehot")  # the tiny model and one asl one: both read unit-onehot


def shrink(params):
    """As small as the pipeline goes: 1,000 synthetic images, one prepared variant, two experiments."""
    params["data"].update(dataset="synthetic", synthetic={"train": 1000, "test": 200, "seed": 0})
    params["prepare"].update(normalisations=["unit"], encodings=["onehot"], val_size=200)
    params["train"]["epoch_limit"] = 1
    params["experiments"] = {k: v for k, v in params["experiments"].items() if k in KEEP}
    params["mlflow"]["register"] = False  # the registry is not what travels through the remote


def files_under(root: Path, *folders: str) -> dict[str, bytes]:
    """Every file below the folders, by path relative to root, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes()
            for folder in folders for p in sorted((root / folder).rglob("*")) if p.is_file()}


def test_push_clone_pull_reproduces_nothing(tmp_path):
    repo, env = dvc_project(tmp_path / "origin", shrink)
    run([DVC, "repro"], repo, env)
    # What git keeps (dvc.lock, the cache: false outs, the .gitignore files dvc wrote) goes in a commit;
    # mlflow.db, checkpoints and the DVC-cached outs are git-ignored.
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "repro"], repo, env)
    tracked = run(["git", "ls-files"], repo, env).stdout.splitlines()
    assert "dvc.lock" in tracked and "metrics/seed000.json" in tracked and "reports/report.md" in tracked
    assert not any(p.startswith(("models/seed", "data/raw/", "data/prepared/")) for p in tracked), tracked

    storage = tmp_path / "storage"
    run([DVC, "remote", "add", "-d", "storage", str(storage)], repo, env)
    run(["git", "add", ".dvc/config"], repo, env)
    run(["git", "commit", "-qm", "remote"], repo, env)
    run([DVC, "push"], repo, env)
    assert any((storage / "files" / "md5").rglob("*")), "dvc push stored nothing"
    cloud = run([DVC, "status", "--cloud"], repo, env)
    assert "are in sync" in cloud.stdout, cloud.stdout

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{clone}/mlflow.db"}  # its own store, were anything to run
    assert not (clone / ".dvc" / "cache").exists() and not (clone / "models" / "seed000.pt").exists()
    run([DVC, "pull"], clone, env)

    # DVC-cached outs come from the remote, the others from git: all equal to the original's.
    cached = ("data/raw", "data/prepared", "models")
    theirs, ours = files_under(repo, *cached), files_under(clone, *cached)
    assert {f"models/{e}{s}" for e in KEEP for s in (".pt", ".run.json")} <= set(ours)
    assert "data/prepared/unit-onehot/x_train.npy" in ours and "data/raw/dataset.json" in ours
    assert ours.keys() == theirs.keys() and all(ours[k] == theirs[k] for k in ours), \
        sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    assert (clone / "models/seed000.pt").stat().st_nlink >= 2  # cache.type hardlink: linked, not copied
    in_git = ("metrics", "plots", "reports")
    assert files_under(clone, *in_git) == files_under(repo, *in_git)

    status = run([DVC, "status"], clone, env)
    assert status.stdout.strip() == "Data and pipelines are up to date.", status.stdout
    again = run([DVC, "repro"], clone, env)
    assert "Running stage" not in again.stdout, again.stdout
    assert run(["git", "status", "--porcelain"], clone, env).stdout == ""  # dvc.lock unchanged
    assert not (clone / "mlflow.db").exists()  # no stage ran, so nothing was tracked

    # The clone restores from its own cache as well: a deleted output comes back by `dvc checkout`.
    shutil.rmtree(clone / "data" / "prepared")
    run([DVC, "checkout"], clone, env)
    assert files_under(clone, "data/prepared") == files_under(repo, "data/prepared")
