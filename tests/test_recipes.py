"""bench/recipes.py: a recipe search trains on train, scores on validation, never sees the test split,
keeps what it made, and docs/recipes.md holds the table made from the committed results."""

from __future__ import annotations

import json
import shutil

from conftest import ROOT, bench_module

recipes = bench_module("recipes")

TRIES = {"w4-e2": {**recipes.QUICK_BASE, "model_config": {"width": 4}, "epochs": 2, "batch_size": 50},
         "w4-e1": {**recipes.QUICK_BASE, "model_config": {"width": 4}, "epochs": 1, "batch_size": 50}}


def test_docs_table_is_generated_from_the_results():
    text = (ROOT / "docs" / "recipes.md").read_text()
    begin, end = "<!-- recipes: made by bench/recipes.py table --write -->", "<!-- /recipes -->"
    assert text[text.index(begin) + len(begin):text.index(end)].strip() == recipes.table().strip()


def test_a_search_records_validation_curves_and_skips_what_it_made(prepared, tmp_path, monkeypatch):
    # The variant without its test split: a try reads train and validation only, or it fails here.
    variant = tmp_path / "standard-sparse"
    shutil.copytree(prepared / "standard-sparse", variant, ignore=shutil.ignore_patterns("*_test.npy"))
    done = recipes.run("quick", variant, TRIES, tmp_path)
    assert set(done) == set(TRIES)
    for name, entry in done.items():
        curve = entry["curve"]
        assert [p["epoch"] for p in curve] == list(range(1, entry["epochs"] + 1))
        assert curve[-1]["val_acc"] == entry["val_acc"] and 0 <= entry["val_acc"] <= 1
        assert all(a["seconds"] < b["seconds"] for a, b in zip(curve, curve[1:]))
    saved = json.loads((tmp_path / "quick.json").read_text())
    assert saved == json.loads(json.dumps(done))
    monkeypatch.setattr(recipes, "train_settings", lambda changes: (_ for _ in ()).throw(AssertionError("re-ran")))
    assert recipes.run("quick", variant, TRIES, tmp_path) == saved  # made once, kept
    rows = recipes.table(tmp_path).splitlines()[2:]
    assert [r.split(" | ")[1] for r in rows] == list(TRIES)
    assert all("model_config" in r and "%" in r for r in rows)
