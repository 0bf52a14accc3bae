"""Parallel experiments, for real: two `dvc exp run --queue` experiments run by `dvc queue start -j 2`;
both land in `dvc exp show` with their params and metrics, and both in the one MLflow store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, dvc_project, run

pytestmark = pytest.mark.slow

DVC = str(BIN / "dvc")
# name -> the params it sets; seed000 does not pin seed or lr, so train.* reaches it
QUEUED = {"q-seed1": {"train.seed": 1, "train.lr": 0.001}, "q-seed2": {"train.seed": 2, "train.lr": 0.002}}
TIMEOUT = 15 * 60  # seconds for both experiments; about one minute on 2 idle cores


def shrink(params):
    """The smallest pipeline: 1,000 synthetic images, one prepared variant, the tiny experiment, 1 epoch."""
    params["data"].update(dataset="synthetic", synthetic={"train": 1000, "test": 200, "seed": 0})
    params["prepare"].update(normalisations=["unit"], encodings=["onehot"], val_size=200)
    params["train"]["epoch_limit"] = 1
    params["experiments"] = {"seed000": params["experiments"]["seed000"]}
    params["mlflow"]["register"] = False


def queue_status(repo, env) -> dict[str, str]:
    """Experiment name -> Queued | Running | Success | Failed, from `dvc queue status`'s table."""
    out = run([DVC, "queue", "status"], repo, env).stdout
    rows = [line.split() for line in out.splitlines()]
    return {row[1]: row[-1] for row in rows if len(row) >= 4 and row[1] in QUEUED}


def alive_dvc(pid: int) -> bool:
    """Whether `pid` still runs a dvc process (a pid file may outlive its process, and pids get reused)."""
    try:
        return b"dvc" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_workers(repo, env):
    """Stop the queue's workers and tasks; then make sure every process DVC recorded for them is gone."""
    run([DVC, "queue", "stop", "--kill"], repo, env, check=False)
    exps = repo / ".dvc" / "tmp" / "exps"
    pids = []
    for pidfile in [*exps.glob("celery/*.pid"), *exps.glob("run/*/*.pid")]:  # workers, experiments
        try:
            pids.append(int(pidfile.read_text()))
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 60  # stopped or idle workers exit on their own within ~15 s
    while (pids := [p for p in pids if alive_dvc(p)]) and time.monotonic() < deadline:
        time.sleep(1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_queued_experiments_run_in_parallel(tmp_path):
    repo, env = dvc_project(tmp_path / "repo", shrink)
    uri = env["MLFLOW_TRACKING_URI"]  # absolute: the runs of every temp copy under .dvc/tmp/exps land here
    # No MLflow store yet: the two parallel stages create it (and the experiment) at once, as on a fresh clone.
    for name, settings in QUEUED.items():
        sets = [arg for key, value in settings.items() for arg in ("-S", f"{key}={value}")]
        run([DVC, "exp", "run", "--queue", *sets, "--name", name], repo, env)
    assert set(queue_status(repo, env).values()) == {"Queued"}

    try:
        # The workers are daemons that inherit stdout: a pipe would stay open until they exit.
        with open(tmp_path / "queue-start.log", "w") as log:
            subprocess.run([DVC, "queue", "start", "-j", "2"], cwd=repo, env=env, stdout=log,
                           stderr=subprocess.STDOUT, check=True, timeout=120)
        deadline = time.monotonic() + TIMEOUT
        both_running = False
        while True:
            status = queue_status(repo, env)
            both_running |= list(status.values()) == ["Running"] * len(QUEUED)
            if status.keys() == QUEUED.keys() and set(status.values()) <= {"Success", "Failed"}:
                break
            assert time.monotonic() < deadline, f"queue not done after {TIMEOUT} s: {status}"
            time.sleep(3)
        failed = {n: run([DVC, "queue", "logs", n], repo, env, check=False).stdout[-3000:]
                  for n, s in status.items() if s != "Success"}
        assert not failed, failed
    finally:
        stop_workers(repo, env)

    # dvc exp show: both experiments of the baseline commit, each with its params and metrics.
    shown = json.loads(run([DVC, "exp", "show", "--json"], repo, env).stdout)
    exps = {r["name"]: r["data"] for baseline in shown for e in baseline.get("experiments") or [] for r in e["revs"]}
    assert QUEUED.keys() <= exps.keys(), list(exps)
    dvc_accuracy = {}
    for name, settings in QUEUED.items():
        train = exps[name]["params"]["params.yaml"]["data"]["train"]
        assert (train["seed"], train["lr"]) == (settings["train.seed"], settings["train.lr"])
        metrics = exps[name]["metrics"]["metrics/seed000.json"]["data"]
        assert metrics["epochs"] == 1 and metrics["test_images"] == 200
        dvc_accuracy[name] = metrics["test_accuracy"]

    # MLflow: one finished run per experiment, tagged with its name, with its params and test metrics.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("fmnist")
    runs = client.search_runs([experiment.experiment_id])
    by_name = {r.data.tags.get("dvc.exp_name"): r for r in runs}
    assert QUEUED.keys() <= by_name.keys(), [r.data.tags for r in runs]
    for name, settings in QUEUED.items():
        mlrun = by_name[name]
        assert mlrun.info.status == "FINISHED" and mlrun.data.tags["group"] == name
        assert mlrun.data.params["seed"] == str(settings["train.seed"])
        assert float(mlrun.data.params["lr"]) == settings["train.lr"]
        assert mlrun.data.metrics["test_accuracy"] == pytest.approx(dvc_accuracy[name], abs=1e-6)

    # Both ran at once (two workers), and neither touched the workspace.
    assert both_running, "the two experiments never ran at the same time"
    assert run(["git", "status", "--porcelain"], repo, env).stdout == ""
