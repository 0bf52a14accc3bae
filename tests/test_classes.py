"""Class names are strings everywhere, and labels that do not fit the class names are a one-line error.

The end-to-end case is the one a new user meets first: `idx-dir` without `data.classes`, so the class
names are the label numbers "0", "1", "2", through every stage of the real `dvc repro` to the report
and `fmnist predict`.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import BIN, dvc_project, run
from fmnist import tables


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    """`dvc repro` on a tiny 3-class idx-dir dataset with no data.classes: one experiment, one epoch."""
    from fmnist.data.idx import write_idx

    root = tmp_path_factory.mktemp("numbered")
    folder = root / "idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 3).astype(np.uint8))

    def edit(params):
        params["data"].update(dataset="idx-dir", source=str(folder), classes=None)
        params["prepare"].update(val_size=15, normalisations=["unit"], encodings=["sparse"])
        params["train"].update(epoch_limit=1, device="cpu")
        params["experiments"] = {"one": {"model": "tiny", "variant": "unit-sparse", "batch_size": 15}}

    repo, env = dvc_project(root / "repo", edit)
    proc = run([str(BIN / "dvc"), "repro"], repo, env)
    return repo, env, proc


def test_numbered_classes_run_through_the_report(numbered):
    repo, env, proc = numbered
    assert "Traceback" not in proc.stderr
    assert json.loads((repo / "data/raw/dataset.json").read_text())["classes"] == ["0", "1", "2"]
    assert json.loads((repo / "data/prepared/unit-sparse/meta.json").read_text())["classes"] == ["0", "1", "2"]
    metrics = json.loads((repo / "metrics/one.json").read_text())
    assert metrics["per_class"]["class"] == ["0", "1", "2"]
    table = tables.read_misclassified(repo / "plots/misclassified/one.csv")
    assert table["class"].tolist() == ["0", "1", "2"]
    assert all(isinstance(v, str) for v in table["mistaken_for_1"])
    history = tables.read_history(repo / "plots/train/one.csv")
    assert history["epoch"].tolist() == [1] and str(history["epoch"].dtype) == "int64"
    report = (repo / "reports/report.md").read_text()
    for name in ("0", "1", "2"):
        assert f"\n| {name} | " in report  # a row of the per-class table
    assert "True class" in (repo / "reports/report.html").read_text()


def test_predict_names_numbered_classes_as_strings(numbered, tmp_path):
    repo, env, _ = numbered
    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)).save(image)
    out = run([str(BIN / "fmnist"), "predict", str(image), "--model", "models/one.pt", "--top", "3"], repo, env)
    names = [part.split()[0] for part in out.stdout.strip().split(": ", 1)[1].split(", ")]
    assert sorted(names) == ["0", "1", "2"]
    # The model the train stage logged to MLflow carries the same names, as strings.
    code = ("import json; from fmnist.predict import Predictor; "
            "print(json.dumps(Predictor('models:/fmnist-one/1').classes))")
    served = subprocess.run([str(BIN / "python"), "-c", code], cwd=repo, env=env, capture_output=True, text=True)
    assert served.returncode == 0, served.stderr[-2000:]
    assert json.loads(served.stdout.strip().splitlines()[-1]) == ["0", "1", "2"]


def test_params_keep_class_names_strings():
    from fmnist.errors import ParamsError
    from fmnist.params import parse_params

    from test_params import BASE

    raw = yaml.safe_load(yaml.safe_dump(BASE))
    raw["data"].update(dataset="idx-dir", source="/x", classes=["007", "NA", "1e3", "null", "true"])
    assert parse_params(raw).data.classes == ["007", "NA", "1e3", "null", "true"]
    for classes, message in (
            ([0, 1, 2], "data.classes must be a list of strings or null, got [0, 1, 2]; quote names YAML reads "
                        "as numbers or booleans, e.g. ['0', '1']"),
            (["a", "b", "a"], "data.classes names 'a' more than once"),
            (["a", " "], "data.classes holds an empty name"),
            ("a, b", "data.classes must be a list of strings or null, got 'a, b'")):
        raw["data"]["classes"] = classes
        with pytest.raises(ParamsError) as err:
            parse_params(raw)
        assert str(err.value) == "params.yaml: " + message
