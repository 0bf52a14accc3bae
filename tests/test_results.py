"""The committed real-data results: every folder under docs/results is well formed, and the README's Results
section is the one bench/results.py makes from them (no hand-edited figures)."""

from __future__ import annotations

import json
import math

import pytest

from conftest import ROOT, bench_module

results = bench_module("results")

FOLDERS = sorted(p for p in (ROOT / "docs" / "results").glob("*") if (p / "data/raw/dataset.json").exists())


def test_readme_results_section_is_generated():
    readme = (ROOT / "README.md").read_text()
    assert results.readme_section(readme) == results.render(), "run: python bench/results.py table --write"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_results_folder_is_complete(folder):
    record = json.loads((folder / "data/raw/dataset.json").read_text())
    assert record["synthetic"] is False and record["name"]
    for path in sorted((folder / "metrics").glob("*.json")):
        exp = path.stem
        m = json.loads(path.read_text())
        assert 0 < m["test_accuracy"] <= 1 and math.isfinite(m["test_loss"])
        run = json.loads((folder / "runs" / f"{exp}.json").read_text())
        timing = json.loads((folder / "plots/timing" / f"{exp}.json").read_text())
        assert run["device"] and run["torch"] and timing["train_seconds"] > 0
        history = (folder / "plots/train" / f"{exp}.csv").read_text().splitlines()
        assert len(history) == 1 + m["epochs"] == 1 + len(timing["epochs"])
        info = json.loads((folder / "plots/evaluate" / exp / "info.json").read_text())
        assert info["dataset"] == record["name"] and info["synthetic"] is False
        confusion = (folder / "plots/confusion" / f"{exp}.csv").read_text().splitlines()
        assert confusion[0] == "actual,predicted" and len(confusion) == 1 + m["test_images"]
        assert exp in (folder / "reports" / "report.md").read_text()
