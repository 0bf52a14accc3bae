"""SIGKILL the real train stage of `dvc repro` at several points; the next `dvc repro` resumes from the last
checkpoint and ends with the same weights and metrics as an unbroken run (CPU).

The kill is planted from outside the project: a `sitecustomize` module on PYTHONPATH hooks the train
stage's process only (an optimiser-step hook, torch.save, os.replace) and SIGKILLs it at the chosen point.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
import torch

from conftest import BIN, dvc_project, run

pytestmark = pytest.mark.slow

EXP = "seed003-unit-sparse"  # asl: batch norm statistics and RMSprop state must both survive the kill
EPOCHS, STEPS = 4, 15        # 1,500 training images in batches of 100

# FMNIST_FAULT = "<kind>:<n>": step:n kills after the n-th optimiser step; save:n half-way through
# writing the n-th checkpoint; saved:n right after the n-th checkpoint is in place; weights:1 half-way
# through writing the final weights.
PLANT = textwrap.dedent('''
    import os, signal, sys
    fault = os.environ.get("FMNIST_FAULT")
    if fault and sys.argv and sys.argv[0].endswith("stages/train.py"):
        import io
        import torch
        kind, n = fault.split(":")
        n, count = int(n), [0]

        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        if kind == "step":
            def after_step(optimizer, args, kwargs):
                count[0] += 1
                if count[0] == n:
                    die()
            from torch.optim.optimizer import register_optimizer_step_post_hook
            register_optimizer_step_post_hook(after_step)
        elif kind in ("save", "weights"):
            real_save = torch.save
            def save(obj, f, *args, **kwargs):
                target = str(getattr(f, "name", f))  # a path, or the open temp file the project writes through
                checkpoint = target.endswith("last.pt.tmp")
                if target.endswith(".tmp") and checkpoint == (kind == "save"):
                    count[0] += 1
                    if count[0] == n:
                        buffer = io.BytesIO()
                        real_save(obj, buffer, *args, **kwargs)
                        with open(target, "wb") as out:
                            out.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                            out.flush()
                        die()
                return real_save(obj, f, *args, **kwargs)
            torch.save = save
        elif kind == "saved":
            real_replace = os.replace
            def replace(src, dst, *args, **kwargs):
                real_replace(src, dst, *args, **kwargs)
                if str(dst).endswith("last.pt"):
                    count[0] += 1
                    if count[0] == n:
                        die()
            os.replace = replace
''')

FAULTS = [  # (id, fault, what the resumed run must print)
    ("early-in-epoch-1", "step:2", None),  # no checkpoint yet: starts afresh
    ("early-in-epoch-3", f"step:{2 * STEPS + 2}", "resuming after epoch 2"),
    ("between-epochs", "saved:1", "resuming after epoch 1"),
    ("while-saving-checkpoint", "save:3", "resuming after epoch 2"),
    ("while-saving-weights", "weights:1", f"resuming after epoch {EPOCHS}"),
]


def state_of(repo):
    weights = torch.load(repo / f"models/{EXP}.pt", weights_only=True)
    metrics = json.loads((repo / f"metrics/{EXP}.json").read_text())
    metrics.pop("train_seconds", None)
    return weights["state_dict"], metrics


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One asl experiment on tiny synthetic data, and the outputs of its unbroken `dvc repro`."""
    def shrink(params):
        params["data"].update(dataset="synthetic", synthetic={"train": 2000, "test": 300, "seed": 1})
        params["prepare"].update(val_size=500, normalisations=["unit"], encodings=["sparse"])
        params["train"].update(epochs=EPOCHS, batch_size=100)
        params["experiments"] = {EXP: params["experiments"][EXP]}

    repo, env = dvc_project(tmp_path_factory.mktemp("faults"), shrink)
    plant = tmp_path_factory.mktemp("plant")
    (plant / "sitecustomize.py").write_text(PLANT)
    env["PYTHONPATH"] = str(plant)
    run([str(BIN / "dvc"), "repro"], repo, env)
    return repo, env, state_of(repo)


def repro_after_kill(repo, env):
    """The next plain `dvc repro`. The unbroken run above left a run-cache entry from which DVC would
    restore the outputs without training; a first run that gets killed has none, so drop it."""
    shutil.rmtree(repo / ".dvc/cache/runs", ignore_errors=True)
    return run([str(BIN / "dvc"), "repro"], repo, env)


def assert_same(state, reference):
    weights, metrics = state
    assert weights.keys() == reference[0].keys()
    for key in weights:
        assert torch.equal(weights[key], reference[0][key]), key
    assert metrics == reference[1]


@pytest.mark.parametrize("fault,resumed", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_killed_train_stage_resumes_to_identical_results(project, fault, resumed):
    repo, env, reference = project
    killed = run([str(BIN / "dvc"), "repro", "-f", "-s", f"train@{EXP}"], repo, {**env, "FMNIST_FAULT": fault},
                 check=False)
    assert killed.returncode != 0, killed.stdout
    assert not (repo / f"models/{EXP}.pt").exists()  # nothing half-written stands as an output

    again = repro_after_kill(repo, env)
    if resumed:
        assert resumed in again.stdout
    else:
        assert "resuming" not in again.stdout
    assert not list(repo.glob("**/*.tmp")), "a temp file of the killed write was left behind"
    assert not (repo / f"checkpoints/{EXP}/last.pt").exists()
    assert_same(state_of(repo), reference)
    assert "up to date" in run([str(BIN / "dvc"), "status"], repo, env).stdout


def test_torn_checkpoint_is_never_loaded(project):
    """A checkpoint cut short (a write that was not atomic, a full disk) is refused, and training starts afresh."""
    repo, env, reference = project
    run([str(BIN / "dvc"), "repro", "-f", "-s", f"train@{EXP}"], repo, {**env, "FMNIST_FAULT": "saved:2"},
        check=False)
    checkpoint = repo / f"checkpoints/{EXP}/last.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    again = repro_after_kill(repo, env)
    assert "is unreadable" in again.stderr and "starting afresh" in again.stderr
    assert "resuming" not in again.stdout
    assert_same(state_of(repo), reference)


def test_mlflow_runs_of_killed_stages_are_continued_or_closed(project):
    """After the kills above, no MLflow run is left RUNNING: a resumed stage continued its run."""
    from mlflow.tracking import MlflowClient

    repo, env, _ = project
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("fmnist").experiment_id])
    statuses = sorted(r.info.status for r in runs)
    assert "RUNNING" not in statuses, statuses
    # each fault left one run; the torn checkpoint's restart closed the interrupted run as KILLED
    assert statuses.count("FINISHED") == 1 + len(FAULTS) + 1
