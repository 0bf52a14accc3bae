"""The report: built by the real stage scripts from a tiny trained project; links, banner, self-containment."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from fmnist.data.prepare import prepare_variant
from fmnist.errors import DataError
from fmnist.params import parse_params
from fmnist.report import PUBLISHED_LABEL, build_report
from fmnist.training import train_experiment
from test_evaluation import write_dataset

# Two of the real experiments, shrunk to the tiny model and one epoch (the seed000 one trains on all
# images and tracks test loss, as in params.yaml).
EXPERIMENTS = ("seed000", "seed003-unit-sparse")


def shrunk_params() -> dict:
    """The real params.yaml with two experiments, the tiny model, one epoch, small batches."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="synthetic", synthetic={"train": 400, "test": 150, "seed": 0})
    params["prepare"].update(val_size=100, normalisations=["unit"])
    params["train"].update(epoch_limit=1, eval_batch_size=64, device="cpu")
    params["experiments"] = {name: params["experiments"][name] for name in EXPERIMENTS}
    for exp in params["experiments"].values():
        exp.update(model="tiny", batch_size=20, lr=0.01, optimizer="adam")
    return params


def run_stage(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder as `dvc repro` leaves it, made by the library (train) and the stage scripts."""
    root = tmp_path_factory.mktemp("project")
    raw = dict(shrunk_params())
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = parse_params(raw)
    write_dataset(root / "data" / "raw", train=400, test=150)
    run_stage("describe.py", root)
    for name, cfg in params.experiments.items():
        variant = root / "data" / "prepared" / cfg.variant
        if not variant.exists():
            prepare_variant(root / "data" / "raw", variant, *cfg.variant.split("-"), params.prepare.val_size)
        train_experiment(name, cfg, variant, root / "models" / f"{name}.pt", root / "plots" / "train" / f"{name}.csv",
                         root / "checkpoints" / name, progress=False, timing_path=root / "plots" / "timing" / f"{name}.json")
        run_stage("evaluate.py", root, name)
    run_stage("report.py", root)
    return root


def markdown_targets(text: str) -> list[str]:
    """Every link and image target of a Markdown text."""
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_stage_outputs_exist(project):
    for name in EXPERIMENTS:
        assert (project / "metrics" / f"{name}.json").exists()
        assert (project / "plots" / "confusion" / f"{name}.csv").exists()
        assert (project / "plots" / "misclassified" / f"{name}.csv").exists()
        for png in ("confusion.png", "misclassified.png", "misclassified_images.png", "reliability.png"):
            assert (project / "plots" / "evaluate" / name / png).exists()
        assert (project / "reports" / "model_cards" / f"{name}.md").exists()
    for out in ("report.md", "report.html", "training_curves.png", "accuracy_time.png"):
        assert (project / "reports" / out).stat().st_size > 0


def test_report_names_every_experiment_with_published_figures(project):
    md = (project / "reports" / "report.md").read_text()
    html = (project / "reports" / "report.html").read_text()
    for text in (md, html):
        for name in EXPERIMENTS:
            assert name in text
        assert PUBLISHED_LABEL in text
        assert "91.63 %" in text  # seed003-unit-sparse's published accuracy
        assert "not published" in text  # seed000's
    # Our accuracy is in the table, as the metrics file has it.
    metrics = json.loads((project / "metrics" / "seed000.json").read_text())
    assert f"{100 * metrics['test_accuracy']:.2f} %" in md


def test_published_figures_come_from_the_params(project, tmp_path):
    params = parse_params(yaml.safe_load((project / "params.yaml").read_text()))
    assert params.published["seed003-unit-sparse"] == 0.9163  # the real params.yaml's, kept by shrunk_params
    md = build_report(project, params.experiments, tmp_path, {"seed003-unit-sparse": 0.9})["markdown"].read_text()
    assert "90.00 %" in md and "91.63 %" not in md
    assert "| n/a (not a seed notebook) |" in md and "| not published |" not in md  # seed000: not in the figures


def test_synthetic_banner_comes_first(project):
    md = (project / "reports" / "report.md").read_text()
    first_section = md.index("## ")
    assert md.index("Synthetic data") < first_section
    assert "NOT on Fashion-MNIST" in md[:first_section]
    html = (project / "reports" / "report.html").read_text()
    assert html.index('class="banner"') < html.index("<h2>")


def test_markdown_links_only_existing_files(project):
    reports = project / "reports"
    targets = markdown_targets((reports / "report.md").read_text())
    assert len(targets) == 2 + 2 + 4 * len(EXPERIMENTS)  # two curves, data figures, four per experiment
    for target in targets:
        assert not re.match(r"^[a-z]+:", target), f"{target}: the report links only local files"
        assert (reports / target).resolve().is_file(), f"{target}: missing"


def test_html_is_self_contained(project):
    html = (project / "reports" / "report.html").read_text()
    sources = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", html)
    assert sources, "the report has images"
    assert all(s.startswith("data:image/png;base64,") for s in sources), "every src is an embedded image"
    assert not re.search(r"<script|<link|@import|url\(", html, re.I)
    assert html.count("<img") == len(markdown_targets((project / "reports" / "report.md").read_text()))


def test_real_dataset_has_no_banner(project, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("reports"))
    for path in (copy / "metrics").glob("*.json"):
        metrics = json.loads(path.read_text())
        metrics.update(dataset="Fashion-MNIST", dataset_id="fashion-mnist", synthetic=False)
        path.write_text(json.dumps(metrics))
    params = parse_params(yaml.safe_load((copy / "params.yaml").read_text()))
    paths = build_report(copy, params.experiments)
    md = paths["markdown"].read_text()
    assert "Synthetic data" not in md and 'class="banner"' not in paths["html"].read_text()
    assert md.startswith("# Experiment report - Fashion-MNIST")


def test_missing_metrics_is_one_line_error(project, tmp_path):
    params = parse_params(yaml.safe_load((project / "params.yaml").read_text()))
    with pytest.raises(DataError, match=r"metrics/seed000\.json: missing; run the evaluate stage"):
        build_report(tmp_path, params.experiments)


def test_dvc_yaml_declares_metrics_and_folder_plots():
    """Top-level metrics; the curves and the normalised confusion matrix (rows = actual) as one plot per folder,
    so that no experiment is named in dvc.yaml's plots."""
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert "metrics" in dvc["metrics"]
    plots = {next(iter(p)): p[next(iter(p))] for p in dvc["plots"]}
    assert set(plots) == {"plots/train", "plots/confusion"}
    normalised = plots["plots/confusion"]
    assert normalised["template"] == "confusion_normalized"
    assert (normalised["x"], normalised["y"]) == ("predicted", "actual")  # y is the row axis
    assert plots["plots/train"]["y"] == ["train_loss", "val_loss", "train_acc", "val_acc"]
    outs = dvc["stages"]["evaluate"]["do"]["outs"]
    assert {"metrics/${key}.json": {"cache": False}} in outs


def test_results_give_intervals_and_calibration(project):
    md = (project / "reports" / "report.md").read_text()
    assert "| Test accuracy (95 % interval) | Macro F1 (95 % interval) | ECE |" in md
    for name in EXPERIMENTS:
        m = json.loads((project / "metrics" / f"{name}.json").read_text())
        low, high = 100 * m["test_accuracy_low"], 100 * m["test_accuracy_high"]
        assert f"| {100 * m['test_accuracy']:.2f} % ({low:.2f}-{high:.2f}) |" in md
        assert f"| {m['macro_f1']:.4f} ({m['macro_f1_low']:.4f}-{m['macro_f1_high']:.4f}) |" in md
        assert f"ECE {m['calibration']['ece']:.4f} (15 bins)" in md
        assert f"Model card: `reports/model_cards/{name}.md`" in md
    # seed000 trains on its validation images: the report says so instead of giving a temperature
    seed000 = md[md.index("### seed000"):md.index("### seed003-unit-sparse")]
    assert "train_split: all" in seed000 and "temperature" not in seed000.split("no temperature")[1]


def test_metrics_files_without_intervals_still_make_a_report(project, tmp_path):
    """Files evaluated before intervals and calibration existed (the committed real-data results)."""
    from fmnist.stats import wilson_interval

    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("reports"))
    for path in (copy / "metrics").glob("*.json"):
        m = json.loads(path.read_text())
        for key in ("test_accuracy_low", "test_accuracy_high", "macro_f1_low", "macro_f1_high", "calibration"):
            m.pop(key)
        path.write_text(json.dumps(m))
    params = parse_params(yaml.safe_load((copy / "params.yaml").read_text()))
    md = build_report(copy, params.experiments)["markdown"].read_text()
    m = json.loads((copy / "metrics" / "seed000.json").read_text())
    low, high = wilson_interval(m["test_images"] - m["errors"], m["test_images"])
    assert f"({100 * low:.2f}-{100 * high:.2f}) | {m['macro_f1']:.4f} | - |" in md  # Wilson from the counts
    assert "Calibration on the test images" not in md
