"""The throughput benchmark runs end to end (--quick, CPU) and writes a well-formed result; no timing asserts."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from conftest import ROOT

MODELS = {"tiny": "seed000", "asl": "seed003-unit-onehot", "resnet": "resnet"}


def positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def test_quick_run_writes_a_result(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "throughput.py"), "--quick", "--device", "cpu",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fmnist/seed" in proc.stdout and "resnet recipe" in proc.stdout

    runs = json.loads(out.read_text())
    assert isinstance(runs, list) and len(runs) == 1
    run = runs[0]
    assert run["device"] == "cpu" and run["quick"] is True and run["timestamp"]
    machine = run["machine"]
    assert machine["cpu"] and positive(machine["cores"]) and machine["torch"]
    for key in ("load_before", "load_after"):  # 1, 5 and 15 minute load averages
        assert len(machine[key]) == 3 and all(x >= 0 for x in machine[key])
    assert run["settings"]["repeats"] == 1

    assert set(run["models"]) == set(MODELS)
    for model, r in run["models"].items():
        assert r["experiment"] == MODELS[model]
        for key in ("batch_size", "steps", "images", "seed_style_img_s", "fmnist_img_s", "ratio"):
            assert positive(r[key]), (model, key, r[key])
        assert r["images"] == r["steps"] * r["batch_size"]
        assert r["ratio"] == r["fmnist_img_s"] / r["seed_style_img_s"]
        for impl in ("seed_style", "fmnist"):
            assert len(r["runs"][impl]) == 1 and all(positive(v) for v in r["runs"][impl])

    recipe = run["resnet_recipe"]
    assert recipe["epoch_images"] == 48_000
    assert positive(recipe["img_s"]) and positive(recipe["epoch_s"])
    assert recipe["img_s"] == run["models"]["resnet"]["fmnist_img_s"]

    # A second run appends to the same file.
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "throughput.py"), "--quick", "--device", "cpu",
                           "--models", "tiny", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(out.read_text())
    assert len(runs) == 2 and set(runs[1]["models"]) == {"tiny"} and "resnet_recipe" not in runs[1]
