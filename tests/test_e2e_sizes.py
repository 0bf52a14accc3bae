"""End to end at other image sizes: the real `dvc repro` through every stage on a folder of 32x32 PNG/JPEG
files (image-folder) and on IDX files of non-square 20x36 images (idx-dir), with three experiments (one per
model), then `fmnist predict` with the trained weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import BIN, dvc_project, run

CLASSES = ["boot", "coat", "shirt"]


def bars(n: int, size: tuple[int, int], seed: int):
    """Easy images of `size` (H, W): a bright bar whose row depends on the class, on noise."""
    h, w = size
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 60, (n, h, w))
    for c in range(3):
        row = c * h // 3
        x[y == c, row:row + max(1, h // 8), w // 6:w - w // 6] += 180
    return x.astype(np.uint8), y.astype(np.uint8)


def shrink(dataset: str, **data):
    """params.yaml cut to a one-epoch run of one experiment per model on the given dataset."""
    def edit(params):
        params["data"].update(dataset=dataset, **data)
        params["prepare"].update(normalisations=["unit", "standard"], val_size=24)
        params["train"]["epoch_limit"] = 1
        exps = params["experiments"]
        params["experiments"] = {"seed000": {**exps["seed000"], "batch_size": 32},
                                 "seed003-unit-sparse": exps["seed003-unit-sparse"],
                                 "resnet": {**exps["resnet"], "batch_size": 32, "model_config": {"width": 8}}}
    return edit


def check_outputs(repo, size, n_test, name):
    h, w = size
    record = json.loads((repo / "data/raw/dataset.json").read_text())
    assert record["name"] == name and record["classes"] == CLASSES
    for variant in ("unit-onehot", "unit-sparse", "standard-onehot", "standard-sparse"):
        meta = json.loads((repo / "data/prepared" / variant / "meta.json").read_text())
        assert meta["splits"]["test"]["x"]["shape"] == [n_test, 1, h, w]
    for exp in ("seed000", "seed003-unit-sparse", "resnet"):
        weights = torch.load(repo / f"models/{exp}.pt", weights_only=True)
        assert weights["input_size"] == [h, w] and weights["epochs"] == 1
        metrics = json.loads((repo / f"metrics/{exp}.json").read_text())
        assert metrics["test_images"] == n_test and 0 <= metrics["test_accuracy"] <= 1
        assert json.loads((repo / f"models/{exp}.run.json").read_text())["run_id"]  # logged, model included
    assert name in (repo / "reports/report.md").read_text()


def test_repro_on_a_folder_of_32x32_images(tmp_path):
    x, y = bars(120, (32, 32), seed=0)
    for i, (image, label) in enumerate(zip(x, y)):
        folder = tmp_path / "clothes" / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).convert("RGB").save(folder / f"{i:03d}.{'png' if i % 2 else 'jpg'}", quality=95)
    repo, env = dvc_project(tmp_path / "repo", shrink("image-folder", source=str(tmp_path / "clothes"),
                                                      image_size=[32, 32], test_fraction=0.2))
    run([str(BIN / "dvc"), "repro"], repo, env)
    check_outputs(repo, (32, 32), 24, "clothes")
    # A photo of another size is fitted to 32x32 and classified with the folder's class names.
    Image.fromarray(np.repeat(np.repeat(x[1], 3, 0), 3, 1)).save(tmp_path / "big.png")
    proc = run([str(BIN / "fmnist"), "predict", str(tmp_path / "big.png"), "--model", "models/resnet.pt"], repo, env)
    label = proc.stdout.strip().split(": ")[1].rsplit(" ", 1)[0]
    assert label in CLASSES


@pytest.fixture
def wide_idx_dir(tmp_path):
    from fmnist.data.idx import write_idx

    folder = tmp_path / "wide"
    folder.mkdir()
    for split, n, seed in (("train", 120, 1), ("t10k", 24, 2)):
        x, y = bars(n, (20, 36), seed)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y)
    return folder


def test_repro_on_idx_files_of_non_square_images(tmp_path, wide_idx_dir):
    repo, env = dvc_project(tmp_path / "repo", shrink("idx-dir", source=str(wide_idx_dir), name="wide",
                                                      classes=CLASSES))
    run([str(BIN / "dvc"), "repro"], repo, env)
    check_outputs(repo, (20, 36), 24, "wide")
