"""bench/seeds.py: an experiment trained again with another seed, exactly as params.yaml sets it otherwise,
with its test accuracy after every epoch; the seed's own run is reproduced bit for bit."""

from __future__ import annotations

import json

import yaml

from conftest import ROOT, bench_module

seeds = bench_module("seeds")


def test_a_seed_run_records_its_curves(prepared, tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["experiments"]["seed003-unit-onehot"]["epochs"] = 2
    run_dir = tmp_path / "run"
    (run_dir / "data" / "prepared").mkdir(parents=True)
    (run_dir / "params.yaml").write_text(yaml.safe_dump(params))
    (run_dir / "data" / "prepared" / "unit-onehot").symlink_to(prepared / "unit-onehot")

    assert seeds.main([str(run_dir), "seed003-unit-onehot", "1", "2", "--out", str(tmp_path / "out")]) == 0
    one, two = (json.loads((tmp_path / "out" / "seeds" / f"seed003-unit-onehot-seed{s}.json").read_text())
                for s in (1, 2))
    assert one["seed"] == 1 and len(one["test_acc"]) == len(one["val_acc"]) == len(one["train_acc"]) == 2
    assert all(0 <= a <= 1 for a in one["test_acc"] + one["val_acc"] + one["train_acc"])
    assert one != two  # another seed, another run
    assert seeds.run_seed(run_dir, "seed003-unit-onehot", 1) == one  # the same seed, the same run
