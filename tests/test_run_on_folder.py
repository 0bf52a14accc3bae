"""`make run DATA=folder NAME=... CLASSES=...`: the whole DAG offline on a folder of four IDX files, as a DVC
experiment whose params record the data, its name and its class names (the real-data command of the README)."""

from __future__ import annotations

import json

import yaml

from conftest import BIN, dvc_project, run, structured_images


def test_make_run_on_an_idx_folder(tmp_path):
    from fmnist.data.idx import write_idx

    folder = tmp_path / "my data"  # a space in the path, as users' folders have
    folder.mkdir()
    for split, n, seed in (("train", 300, 1), ("t10k", 100, 2)):
        x, y = structured_images(n, 10, seed)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y)

    def shrink(params):
        params["prepare"].update(val_size=100, normalisations=["unit"], encodings=["onehot"])
        params["train"]["epoch_limit"] = 1
        params["experiments"] = {"seed003-unit-onehot": params["experiments"]["seed003-unit-onehot"]}

    repo, env = dvc_project(tmp_path / "repo", shrink)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "shrunk"], repo, env, check=False)
    # The test's virtualenv stands in for .venv; a fresh stamp file tells make it is installed.
    stamp = tmp_path / "installed"
    stamp.touch()
    run(["make", "run", f"DATA={folder}", "NAME=Fashion-MNIST, a test copy", "CLASSES=fashion-mnist",
         f"VENV={BIN.parent}", f"STAMP={stamp}"], repo, env)

    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["dataset"] == "idx-dir" and params["data"]["source"] == str(folder)
    assert params["data"]["name"] == "Fashion-MNIST, a test copy" and params["data"]["classes"] == "fashion-mnist"
    record = json.loads((repo / "data/raw/dataset.json").read_text())
    assert record["name"] == "Fashion-MNIST, a test copy" and record["classes"][9] == "Ankle boot"
    metrics = json.loads((repo / "metrics/seed003-unit-onehot.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1
    report = (repo / "reports/report.md").read_text()
    assert "Fashion-MNIST, a test copy" in report and "Ankle boot" in report
    assert "Exact duplicate images" in report
    exps = run([str(BIN / "dvc"), "exp", "list", "--name-only"], repo, env).stdout.split()
    assert len(exps) == 1  # recorded as one DVC experiment
