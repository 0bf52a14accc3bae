"""`mlflow models serve` of the champion answers POST /invocations with the local model's probabilities."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

# Shared with the fast tracking tests: the tiny project, the in-process train stage, evaluate's metrics.
from test_tracking import (
    evaluate_like, evaluate_tracked, fresh_sqlite_uri, load_project, train_tracked, write_tiny_project,
)
from conftest import free_port

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def champion(tmp_path_factory, request):
    """The tiny experiment trained, evaluated and registered in a sqlite store; yields (root, uri)."""
    root = tmp_path_factory.mktemp("serve-project")
    write_tiny_project(root, {"tiny": {}})
    uri = fresh_sqlite_uri(getattr(request.config, "cache", None), root / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        train_tracked(root, "tiny")
        evaluate_like(root, "tiny")
        assert evaluate_tracked(root, "tiny", load_project(root))
    return root, uri


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_the_served_champion_answers_with_class_probabilities(champion, tmp_path):
    from fmnist.served import load_served, normalise, predict_proba

    root, uri = champion
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    log = open(tmp_path / "serve.log", "wb")
    server = subprocess.Popen(
        [BIN / "mlflow", "models", "serve", "-m", "models:/fmnist-tiny@champion", "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the model server did not answer within 180 s"
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).close()
                break
            time.sleep(0.5)

        pixels = np.random.default_rng(5).integers(0, 256, (4, 28, 28), dtype=np.uint8)
        answer = post(f"http://127.0.0.1:{port}/invocations", {"inputs": pixels[:, None].tolist()})
        probs = np.asarray(answer["predictions"], dtype=np.float32)

        served, weights = load_served(root / "models/tiny.pt")
        expected = predict_proba(served, normalise(pixels, weights))
        assert probs.shape == (4, 10)
        assert np.allclose(probs, expected, atol=1e-5)
        assert np.allclose(probs.sum(1), 1, atol=1e-5)

        # Another height and width is resized to the trained 28x28 inside the served graph.
        other = np.random.default_rng(6).integers(0, 256, (2, 1, 40, 30)).astype(float).tolist()
        resized = np.asarray(post(f"http://127.0.0.1:{port}/invocations", {"inputs": other})["predictions"])
        assert resized.shape == (2, 10) and np.allclose(resized.sum(1), 1, atol=1e-5)
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and its workers
        server.wait()
