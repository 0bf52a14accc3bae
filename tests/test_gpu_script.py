"""bench/gpu.py, the run a lent GPU gets, rehearsed on CPU (--tiny) so that it cannot rot: every step runs, its
record is written and well formed; a part that fails or runs out of time is recorded and the run goes on."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

from conftest import ROOT, bench_module

STATUSES = {"ok", "failed", "out of time", "skipped"}


def test_the_tiny_rehearsal_runs_every_step(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cpu", "--tiny", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [run] = json.loads(out.read_text())
    assert run["benchmark"] == "gpu" and run["device"] == "cpu" and run["quick"] is True and run["finished"] is True
    steps = run["steps"]
    assert list(steps) == list("abcde")
    for step, parts in steps.items():
        for name, entry in parts.items():
            if "status" in entry:
                assert entry["status"] in STATUSES and entry["status"] != "failed", (step, name, entry)

    a = steps["a"]
    gpu = bench_module("gpu")
    assert a["tests"]["tests"] == gpu.CUDA_TESTS and "skipped" in a["tests"]["summary"]  # no CUDA here
    for model in gpu.CHECKED:
        rows = a[f"{model}, compile off"]["epochs"]
        assert [r["epoch"] for r in rows] == [1, 2] and all(math.isfinite(r["train_loss"]) for r in rows)
        assert a[f"{model}, compile on"]["status"] == "skipped"  # minutes on a CPU
    for name in gpu.CHECKED.values():
        assert 0 <= a["evaluation"][name]["cpu"] <= 1
        served = a["served"][name]
        assert served["max_abs_diff"] == 0 and served["same_class"] == 1 and served["rows_sum_to_1"]
    [(name, predicted)] = [(k, v) for k, v in a["predict"].items() if isinstance(v, dict)]
    assert predicted["returncode"] == 0 and len(predicted["lines"]) == 3

    assert steps["b"]["tiny"]["fmnist_img_s"] > 0 and steps["b"]["tiny"]["seed_style_img_s"] > 0

    resnet = steps["c"]["resnet"]
    assert [r["epoch"] for r in resnet["epochs"]] == [1, 2] and all(0 <= r["test_acc"] <= 1 for r in resnet["epochs"])
    assert resnet["train_seconds"] == round(sum(r["seconds"] for r in resnet["epochs"]), 3)
    assert 0 <= resnet["test_accuracy"] <= 1

    d = steps["d"]
    summary = d["summary"]
    assert summary["experiments"] == 7 and summary["done"] == gpu.TINY_D and summary["complete"] is False
    assert d["resnet"]["from"] == "step c" and d["resnet"]["train_seconds"] == resnet["train_seconds"]
    done = [n for n, e in d.items() if n != "summary" and e["status"] == "ok"]
    assert summary["train_seconds"] == round(sum(d[n]["train_seconds"] for n in done), 1)

    [(name, seed)] = steps["e"].items()
    assert name.endswith("seed 1") and len(seed["test_acc"]) == 1

    # what steps c and d trained comes back as a project lays it out, whole and loadable
    import tarfile

    from fmnist import tables
    from fmnist.weights import Weights

    trained = sorted({"resnet", *done})
    assert run["trained"] == {"archive": "trained.tar.gz", "experiments": trained}
    with tarfile.open(tmp_path / "trained.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(f"{folder}/{e}.{ext}" for e in trained for folder, ext in (
            ("models", "pt"), ("plots/train", "csv"), ("plots/timing", "json")))
        tar.extractall(tmp_path / "project", filter="data")
    for e in trained:
        assert Weights.load(tmp_path / "project" / "models" / f"{e}.pt").train["model"]
        rows = tables.read_history(tmp_path / "project" / "plots" / "train" / f"{e}.csv")
        assert len(rows) == (2 if e == "resnet" else 1)
        assert json.loads((tmp_path / "project" / "plots" / "timing" / f"{e}.json").read_text())["train_seconds"] > 0

    # docs/performance.md's rows for such a record: one per part, and the GPU targets read from steps c and d
    table = bench_module("table")
    rows = table.gpu_section(run)
    parts = [(step, name) for step, p in steps.items() for name, e in p.items() if "status" in e]
    assert len([r for r in rows if r.startswith("| ") and not r.startswith("| step")]) == len(parts)
    targets = dict((row[0], row[2:]) for row in table.targets(table.load("cpu"), {"throughput": None, "gpu": run}))
    assert targets["default training of all experiments, GPU"] == (f"{summary['train_seconds'] / 60:.1f} min (3 of 7)",
                                                                    "incomplete")
    assert targets["`resnet` test accuracy in <= 60 s of training, one H100/H200"][1] in ("met", "**not met**")


def test_a_part_that_fails_or_runs_out_of_time_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    import torch

    gpu = bench_module("gpu")
    monkeypatch.setattr(gpu, "MIN_PART_S", 0.05)
    path = tmp_path / "run.json"
    path.write_text(json.dumps([{"benchmark": "throughput", "timestamp": "earlier"}]))  # another run in the file stays
    record = {"timestamp": "now", "steps": {}}
    run = gpu.Run(record, path, budget=0.6, device=torch.device("cpu"))
    run.begin("a", None)

    def slow(entry):
        entry["epochs"] = [1]
        time.sleep(5)

    assert run.part("a", "slow", slow)["status"] == "out of time"
    failed = run.part("a", "broken", lambda entry: 1 / 0)
    assert failed["status"] == "skipped"  # the deadline has passed
    run.deadline = time.perf_counter() + 5
    run.begin("b", None)
    failed = run.part("b", "broken", lambda entry: 1 / 0)
    assert failed["status"] == "failed" and failed["error"] == "ZeroDivisionError: division by zero"
    assert run.part("b", "fine", lambda entry: entry.update(x=1))["status"] == "ok"

    earlier, saved = json.loads(path.read_text())
    assert earlier["timestamp"] == "earlier"
    slow = saved["steps"]["a"]["slow"]  # what the part had done before its time ran out is kept
    assert slow["status"] == "out of time" and slow["epochs"] == [1] and slow["seconds"] < 5 and slow["limit_s"] <= 0.6
    assert saved["steps"]["b"]["fine"]["x"] == 1 and saved["steps"]["b"]["fine"]["status"] == "ok"


def test_keep_appends_a_fetched_record_once(tmp_path):
    gpu = bench_module("gpu")
    fetched = tmp_path / "cuda.json"
    fetched.write_text(json.dumps([{"benchmark": "gpu", "device": "cuda", "timestamp": "t1", "steps": {}}]))
    results = tmp_path / "results"
    results.mkdir()
    (results / "cuda.json").write_text(json.dumps([{"benchmark": "throughput", "timestamp": "t0"}]))
    gpu.keep(fetched, results)
    gpu.keep(fetched, results)
    assert [r["timestamp"] for r in json.loads((results / "cuda.json").read_text())] == ["t0", "t1"]


def test_bad_arguments_are_one_line(tmp_path):
    script = str(ROOT / "bench" / "gpu.py")
    (tmp_path / "other.json").write_text("[]")
    for argv, message in ((["--steps", "ax"], "--steps takes letters of abcde, got 'ax'"),
                          (["--keep", str(tmp_path / "other.json")], "holds no gpu.py record"),
                          (["--keep", str(tmp_path / "none.json")], "holds no gpu.py record")):
        proc = subprocess.run([sys.executable, script, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and message in proc.stderr.strip().splitlines()[-1], (argv, proc.stderr)


def test_every_package_the_gpu_run_imports_is_on_the_device_or_carried():
    """The device is offline with its own packages (bench/carry.py's DEVICE_HAS); the rest travel as wheels
    (WHEELS). The run imports the library but its MLflow tracking, and these bench scripts."""
    import ast
    import importlib.metadata

    carry = bench_module("carry")
    scripts = [ROOT / "bench" / f"{name}.py" for name in ("gpu", "throughput", "knobs", "measure", "flops")]
    files = [p for p in (ROOT / "src" / "fmnist").rglob("*.py") if "tracking" not in p.parts] + scripts
    local = {"fmnist", *(p.stem for p in (ROOT / "bench").glob("*.py"))}
    modules = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    modules -= local | set(sys.stdlib_module_names)
    known = importlib.metadata.packages_distributions()
    normal = lambda name: name.lower().replace("_", "-").replace(".", "-")  # noqa: E731
    found = {module: {normal(d) for d in known.get(module, [])} for module in modules}
    allowed = set(carry.WHEELS) | set(carry.DEVICE_HAS) | {"mlflow"}  # mlflow: predict's MLflow URIs only
    assert all(found.values()), f"imports of no installed package: {[m for m, d in found.items() if not d]}"
    missing = {m: d for m, d in found.items() if not d & allowed}
    assert not missing, f"imported, neither on the device nor carried (bench/carry.py): {missing}"
