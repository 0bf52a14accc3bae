"""The README's pictures, taken in a real browser (Debian's headless Chromium) from a real run:

    .venv/bin/python bench/pictures.py docs/results/fashion-mnist-first-release --mlflow-db path/to/mlflow.db

docs/report.png: the top of the results folder's reports/report.html. docs/mlflow.png: the MLflow UI's compare
page of the experiment's runs, served by `mlflow ui` on 127.0.0.1 from the run's sqlite store.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def screenshot(url: str, png: Path, size: tuple[int, int], wait_ms: int = 0) -> None:
    """Chromium writes the picture into a fresh folder (it leaves an existing file alone); then it replaces `png`."""
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp}/profile", f"--screenshot={shot}",
               f"--window-size={size[0]},{size[1]}", *([f"--virtual-time-budget={wait_ms}"] if wait_ms else []), url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not shot.exists():
            sys.exit(f"error: chromium failed on {url}: {proc.stderr.strip().splitlines()[-1:]}")
        shutil.move(shot, png)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_chart(db: Path, experiment: str, png: Path) -> None:
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "ui", "--backend-store-uri",
                               f"sqlite:///{db.resolve()}", "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/ajax-api/2.0/mlflow/experiments/get-by-name?"
                                            f"experiment_name={experiment}", timeout=2) as r:
                    exp_id = json.load(r)["experiment"]["experiment_id"]
                break
            except OSError:
                time.sleep(1)
        else:
            sys.exit(f"error: mlflow ui on {base} did not answer within 2 minutes")
        request = urllib.request.Request(f"{base}/ajax-api/2.0/mlflow/runs/search", method="POST",
                                         data=json.dumps({"experiment_ids": [exp_id], "max_results": 100}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            runs = [run["info"]["run_id"] for run in json.load(r).get("runs", [])]
        # The compare page: every run's params and metrics side by side, with a parallel-coordinates plot.
        ids = urllib.parse.quote(json.dumps(runs, separators=(",", ":")))
        screenshot(f"{base}/#/compare-runs?runs={ids}&experiments={urllib.parse.quote(json.dumps([exp_id]))}",
                   png, (1800, 1400), wait_ms=60000)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="a folder under docs/results")
    parser.add_argument("--mlflow-db", type=Path, help="the run's sqlite MLflow store (mlflow.db)")
    parser.add_argument("--experiment", default="fmnist", help="the MLflow experiment (mlflow.experiment)")
    args = parser.parse_args(argv)
    report = args.results / "reports" / "report.html"
    screenshot(report.resolve().as_uri(), ROOT / "docs" / "report.png", (1280, 2000))
    print(f"docs/report.png from {report}")
    if args.mlflow_db:
        mlflow_chart(args.mlflow_db, args.experiment, ROOT / "docs" / "mlflow.png")
        print(f"docs/mlflow.png from {args.mlflow_db}")


if __name__ == "__main__":
    main()
