"""bench/fingerprint.py: the same numbers give the same fingerprint; one changed bit of one tensor does not."""

from __future__ import annotations

import json

import torch

from conftest import bench_module

fingerprint = bench_module("fingerprint").fingerprint


def project(root, weight: torch.Tensor):
    (root / "metrics").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "metrics" / "e.json").write_text(json.dumps({"test_accuracy": 0.5, "test_loss": 1.0}))
    torch.save({"state_dict": {"w": weight, "b": torch.zeros(3)}}, root / "models" / "e.pt")
    return root


def test_a_changed_bit_changes_the_fingerprint(tmp_path):
    w = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    same = fingerprint(project(tmp_path / "a", w)), fingerprint(project(tmp_path / "b", w.clone()))
    assert same[0] == same[1] and same[0]["e"]["tensors"] == 2
    flipped = w.clone()
    flipped.view(torch.int32)[0, 0] ^= 1  # the lowest mantissa bit of one weight
    assert fingerprint(project(tmp_path / "c", flipped))["e"]["weights"] != same[0]["e"]["weights"]
