"""A real `mlflow server` on 127.0.0.1: the train stage logs to it through MLFLOW_TRACKING_URI, evaluate
adds its test metrics, the model is registered with the alias champion; a server stopped mid-run
costs nothing but a warning, and `fmnist mlflow sync` completes the run once it is back."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# Shared with the fast tracking tests: the tiny project, the in-process train stage, evaluate's metrics.
from test_tracking import (
    evaluate_like, evaluate_tracked, fresh_sqlite_uri, load_project, train_tracked, write_tiny_project,
)
from conftest import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class Server:
    """`mlflow server` with a sqlite backend (or `backend_uri`) and an artifact folder in `folder`, bound
    to 127.0.0.1."""

    def __init__(self, folder: Path, port: int, backend_uri: str | None = None):
        self.folder, self.port = folder, port
        self.backend_uri = backend_uri or f"sqlite:///{folder / 'mlflow.db'}"
        self.uri = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self) -> "Server":
        log = open(self.folder / "server.log", "ab")
        self.process = subprocess.Popen(
            [BIN / "mlflow", "server", "--backend-store-uri", self.backend_uri,
             "--artifacts-destination", str(self.folder / "artifacts"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # its own group: stop() ends workers too
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.folder / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.uri}/health", timeout=2).close()
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("mlflow server did not answer within 120 s")

    def stop(self) -> None:
        """Kill the server and its workers at once, as a crash would (sqlite survives that)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def new_server(tmp: Path, cache) -> Server:
    tmp.mkdir(parents=True, exist_ok=True)
    fresh_sqlite_uri(cache, tmp)  # an initialised database: the server starts in seconds
    return Server(tmp, free_port())


@contextlib.contextmanager
def train_and_evaluate(root: Path, uri: str):
    """The tiny project in `root`: its train stage script run against the tracking server at `uri`, then
    evaluate's tracking completing the same run. Yields the stage's process and whether evaluate logged."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("DVC_EXP_NAME", None)
    env.pop("DVC_ROOT", None)
    stage = subprocess.run([sys.executable, ROOT / "stages/train.py", "tiny", "--no-progress"], cwd=root,
                           env=env, capture_output=True, text=True, timeout=300)
    assert stage.returncode == 0, stage.stderr
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        evaluate_like(root, "tiny")
        logged = evaluate_tracked(root, "tiny", load_project(root))
        yield stage, logged


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, request):
    """The tiny project trained by the real stage script against a real server, then evaluated."""
    root = tmp_path_factory.mktemp("served-project")
    write_tiny_project(root, {"tiny": {}})
    server = new_server(tmp_path_factory.mktemp("server"), getattr(request.config, "cache", None)).start()
    try:
        with train_and_evaluate(root, server.uri) as (stage, logged):
            yield {"root": root, "server": server, "stage": stage, "logged": logged}
    finally:
        server.stop()


def test_the_train_stage_logs_its_run_to_the_server(tracked):
    from mlflow import MlflowClient

    client = MlflowClient(tracked["server"].uri)
    record = json.loads((tracked["root"] / "models/tiny.run.json").read_text())
    assert record["status"] == "logged" and record["tracking_uri"] == tracked["server"].uri
    run = client.get_run(record["run_id"])
    assert run.info.run_name == "tiny" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "fmnist-test"
    assert run.data.params["batch_size"] == "50" and run.data.tags["dataset"] == "bands"
    for key in ("train_loss", "val_loss", "val_acc"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [1, 2]
    assert "warning" not in tracked["stage"].stderr


def test_evaluation_metrics_and_the_champion_are_on_the_server(tracked):
    import mlflow.pyfunc
    import numpy as np
    from mlflow import MlflowClient

    assert tracked["logged"] is True
    client = MlflowClient(tracked["server"].uri)
    run_id = json.loads((tracked["root"] / "models/tiny.run.json").read_text())["run_id"]
    metrics = client.get_run(run_id).data.metrics
    expected = json.loads((tracked["root"] / "metrics/tiny.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(expected["test_accuracy"]) and "macro_f1" in metrics
    artifacts = {a.path for a in client.list_artifacts(run_id, "training")}
    assert artifacts == {"training/tiny.csv", "training/loss_curve.png"}
    champion = client.get_model_version_by_alias("fmnist-tiny", "champion")
    assert champion.run_id == run_id
    mlflow.set_tracking_uri(tracked["server"].uri)  # artifacts come through the server's proxy
    probs = mlflow.pyfunc.load_model("models:/fmnist-tiny@champion").predict(
        np.zeros((3, 1, 28, 28), np.float32))
    assert probs.shape == (3, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_a_server_stopped_mid_run_costs_a_warning_and_sync_completes_the_run(tmp_path, request, monkeypatch):
    from mlflow import MlflowClient

    from fmnist import tracking

    root = tmp_path / "project"
    root.mkdir()
    write_tiny_project(root, {"tiny": {"epochs": 3}})
    server = new_server(tmp_path / "server", getattr(request.config, "cache", None)).start()
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once once the server is gone
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)

    log_epoch = tracking.EpochLog.log_epoch

    def stop_after_first_epoch(self, row):
        log_epoch(self, row)
        if row["epoch"] == 1:
            server.stop()

    monkeypatch.setattr(tracking.EpochLog, "log_epoch", stop_after_first_epoch)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            train_tracked(root, "tiny")
            evaluate_like(root, "tiny")
        warnings = [line for line in stderr.getvalue().splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "epoch metrics from epoch 2 on" in warnings[0]
        assert (root / "models/tiny.pt").exists() and len((root / "plots/train/tiny.csv").read_text().splitlines()) == 4
        record = json.loads((root / "models/tiny.run.json").read_text())
        assert record["status"] == "incomplete" and record["run_id"]

        server.start()  # back, same database
        report = tracking.sync(load_project(root), root=root)
        assert "2 epochs" in report["tiny"] and "model" in report["tiny"] and "test metrics" in report["tiny"]
        client = MlflowClient(server.uri)
        run = client.get_run(record["run_id"])
        assert run.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2, 3]
        assert client.get_model_version_by_alias("fmnist-tiny", "champion").run_id == run.info.run_id
        assert "nothing to log" in tracking.sync(load_project(root), root=root)["tiny"]
        assert len(client.search_runs([run.info.experiment_id])) == 1
    finally:
        server.stop()
        shutil.rmtree(tmp_path / "server" / "artifacts", ignore_errors=True)
