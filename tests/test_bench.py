"""The benchmarks run end to end (smoke runs, CPU) and write well-formed results; the Performance section
of docs/performance.md is the one bench/table.py makes from bench/results. No test asserts a timing."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from conftest import ROOT, bench_module

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
        for key in ("batch_size", "steps", "images", "seed_style_img_s", "fmnist_img_s", "ratio",
                    "model_alone_img_s", "ceiling"):
            assert positive(r[key]), (model, key, r[key])
        assert r["images"] == r["steps"] * r["batch_size"]
        assert r["ratio"] == r["fmnist_img_s"] / r["seed_style_img_s"]
        assert r["ceiling"] == r["model_alone_img_s"] / r["seed_style_img_s"]
        for impl in ("seed_style", "fmnist", "model_alone"):
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


def test_knobs_smoke_run_measures_every_variant_and_restores_torch(tmp_path):
    out = tmp_path / "knobs.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "knobs.py"), "--quick", "--models", "tiny",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = json.loads(out.read_text())
    assert run["benchmark"] == "knobs" and run["quick"] is True and set(run["models"]) == {"tiny"}
    knobs = bench_module("knobs")
    tiny = run["models"]["tiny"]
    assert list(tiny["train"]) == list(knobs.VARIANTS) and list(tiny["eval"]) == [str(b) for b in knobs.EVAL_BATCHES]
    assert tiny["train"]["fmnist"]["vs_fmnist"] == 1.0
    for row in [*tiny["train"].values(), *tiny["eval"].values()]:
        assert positive(row["img_s"]) and len(row["runs"]) == 1

    # In-process, the knobs are put back: a later training in the same process sees torch's defaults.
    import torch
    threads = torch.get_num_threads()
    knobs.restore_defaults(threads)
    loop = knobs.StepLoop(knobs.ExperimentSettings(model="tiny", variant="unit-sparse", batch_size=4), knobs.build_model("tiny"),
                          knobs.Knobs(threads=1, fill=True), 1, torch.device("cpu"))
    assert positive(loop.images_per_s()) and torch.get_num_threads() == 1
    knobs.restore_defaults(threads)
    assert not torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == threads


def test_flops_smoke_run_counts_each_step_against_the_matmul_rate(tmp_path):
    out = tmp_path / "flops.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "flops.py"), "--quick", "--models", "tiny", "asl",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [run] = json.loads(out.read_text())
    assert run["benchmark"] == "flops" and run["quick"] is True and set(run["models"]) == {"tiny", "asl"}
    assert positive(run["peak"]["gflop_s"]) and run["peak"]["runs"] == [run["peak"]["gflop_s"]]
    # forward and backward of asl at 28x28: the three convolutions and two linear layers, by hand
    convs = [(1, 75, 28 * 28, False), (75, 50, 14 * 14, True), (50, 25, 7 * 7, True)]  # input needs no gradient
    mflop = sum(2 * i * o * 9 * px * (3 if grad else 2) for i, o, px, grad in convs) + 2 * 3 * (400 * 512 + 512 * 10)
    asl = run["models"]["asl"]
    assert math.isclose(asl["mflop_per_image"], mflop / 1e6)
    assert math.isclose(asl["gflop_s"], asl["img_s"] * asl["mflop_per_image"] / 1e3)
    assert math.isclose(asl["share_of_peak"], asl["gflop_s"] / run["peak"]["gflop_s"])
    for r in run["models"].values():
        layers = r["profile"]["layers"]
        assert layers == sorted(layers, key=lambda x: -x["ms"]) and r["slowest_layer"] == layers[0]
        assert 0 < r["slowest_layer"]["share_of_step"] <= 1
        # every FLOP of the step belongs to one layer (tiny's convolutions run outside its layers on CPU)
        assert math.isclose(sum(x["mflop_per_step"] for x in layers), r["mflop_per_image"] * r["batch_size"])
    [outside] = [x for x in run["models"]["tiny"]["profile"]["layers"] if x["layer"] == "(outside its layers)"]
    assert outside["mflop_per_step"] > 0
    # docs/performance.md names each slowest layer and what would lift it
    table = bench_module("table")
    rows = [line for line in table.flops_table(run) if line.startswith("| `")]
    assert len(rows) == 2 and all(row.count("|") == 10 and r["slowest_layer"]["module"] in row
                                  for row, r in zip(rows, run["models"].values()))
    assert "| unmeasured |" in rows[1]  # asl's Keras cell, with no bench/keras_step.py run
    # bench/keras_step.py's run beside asl: its images/s and its share of TensorFlow's own matmul rate
    keras = {"keras": "3.0", "tensorflow": "2.0", "timestamp": "2026-01-01T00:00:00+00:00",
             "settings": {"batch_size": 32, "repeats": 5, "block_steps": 100},
             "peak": {"what": "2048x2048x2048 fp32 matmul (TensorFlow)", "gflop_s": 100.0},
             "machine": {"cores": 2, "load_before": [0.1, 0.1, 0.1], "load_after": [1.0, 0.5, 0.2]},
             "models": {"asl": {"img_s": 1234.0}}}
    lines = table.flops_table(run, keras)
    [row] = [line for line in lines if line.startswith("| `asl`")]
    assert f"| 1,234 ({1234 * asl['mflop_per_image'] / 1e3 / 100:.0%})* |" in row
    assert lines[-1].startswith("*Keras 3.0 on TensorFlow 2.0") and "100 GFLOP/s" in lines[-1]


def test_performance_page_section_matches_the_results():
    table = bench_module("table")
    assert table.PAGE == ROOT / "docs" / "performance.md"
    section = table.readme_section(table.PAGE.read_text())
    assert section is not None, "docs/performance.md lacks the Performance markers"
    assert section == table.render(), "docs/performance.md is stale: run `python bench/table.py --write`"


@pytest.mark.slow
def test_pipeline_smoke_run_times_every_stage(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "pipeline.py"), "--images", "1200", "--experiments",
                           "seed000", "--device", "cpu", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run, = json.loads(out.read_text())
    assert run["benchmark"] == "pipeline" and run["quick"] is True and run["device"] == "cpu"
    stages = run["stages"]
    expected = ["settings", "download", "describe", *(f"prepare@{n}-{e}" for n in ("unit", "raw", "standard")
                                          for e in ("onehot", "sparse")), "train@seed000", "evaluate@seed000", "report"]
    assert list(stages) == expected
    for name, row in stages.items():
        assert positive(row["wall_s"]) and positive(row["peak_rss_mb"]), name
    assert positive(stages["train@seed000"]["epoch_s"])
    assert stages["train@seed000"]["epoch_s"] < stages["train@seed000"]["wall_s"]
    summary = run["summary"]
    assert positive(summary["noop_repro_s"]) and positive(summary["prepare_all_s"])
    assert summary["max_peak_rss_mb"] == max(row["peak_rss_mb"] for row in stages.values())
    # a bad argument is one line and exit 2
    bad = subprocess.run([sys.executable, str(ROOT / "bench" / "pipeline.py"), "--experiments", "nope"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown experiments nope" in bad.stderr
