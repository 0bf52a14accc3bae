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
    info = json.loads((repo / "plots/evaluate/one/info.json").read_text())  # the names beside the metrics
    assert info["classes"] == ["0", "1", "2"]
    assert len(json.loads((repo / "metrics/one.json").read_text())["per_class"]["f1"]) == 3
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
            ([0, 1, 2], "data.classes must be a list of strings or a string or null, got [0, 1, 2]; quote names YAML reads "
                        "as numbers or booleans, e.g. ['0', '1']"),
            (["a", "b", "a"], "data.classes names 'a' more than once"),
            (["a", " "], "data.classes holds an empty name"),
            ("a, b", "data.classes must be a list of class names or one of fashion-mnist, mnist; got 'a, b'")):
        raw["data"]["classes"] = classes
        with pytest.raises(ParamsError) as err:
            parse_params(raw)
        assert str(err.value) == "params.yaml: " + message


# --- labels against class names ------------------------------------------------------------------

def idx_folder(root, train_labels, test_labels, size=28):
    """Four IDX files with these labels (random pixels) in root/idx."""
    from fmnist.data.idx import write_idx

    folder = root / "idx"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for split, labels in (("train", train_labels), ("t10k", test_labels)):
        labels = np.asarray(labels, dtype=np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (len(labels), size, size), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder


def fetch(root, classes=None, **labels):
    from fmnist.data.sources import fetch_dataset
    from fmnist.params import Data

    folder = idx_folder(root, **labels)
    return fetch_dataset(Data(dataset="idx-dir", source=str(folder), classes=classes), root / "raw")


def prepare(root, val_size=4):
    from fmnist.data.prepare import prepare_variant

    return prepare_variant(root / "raw", root / "unit-sparse", "unit", "sparse", val_size)


def only_whole_files(raw):
    """data/raw after a refusal: no dataset.json, no temp file, every IDX file readable."""
    from fmnist.data.idx import read_idx

    assert not (raw / "dataset.json").exists()
    for path in raw.iterdir():
        assert not path.name.endswith(".tmp"), path
        read_idx(path)


def one_line(exc) -> str:
    assert "\n" not in str(exc)
    return str(exc)


def test_more_label_values_than_class_names_is_refused(tmp_path):
    from fmnist.errors import DataError

    with pytest.raises(DataError) as err:
        fetch(tmp_path, classes=["a", "b", "c"], train_labels=[0, 1, 2, 3] * 5, test_labels=[0, 1, 2] * 2)
    assert one_line(err.value) == (f"{tmp_path}/idx/train-labels-idx1-ubyte.gz: label 3 has no class name: "
                                   "data.classes names 3 classes (labels 0 to 2); name every label")
    only_whole_files(tmp_path / "raw")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 5 has no class name"):
        fetch(tmp_path, classes=["a", "b", "c"], train_labels=[0, 1, 2] * 5, test_labels=[0, 1, 5])


def test_class_names_beyond_the_labels_are_classes_with_no_image(tmp_path):
    """Documented: download keeps every name (describe shows the extra ones with zero images), and prepare
    refuses a class with no training image, naming it."""
    from fmnist.data.prepare import label_counts, load_raw
    from fmnist.errors import DataError

    record = fetch(tmp_path, classes=["a", "b", "c", "d"], train_labels=[0, 1, 2] * 6, test_labels=[0, 1, 2] * 2)
    assert record["classes"] == ["a", "b", "c", "d"]
    counts = {(r["class"], r["split"]): r["count"] for r in label_counts(load_raw(tmp_path / "raw"), 4)}
    assert counts[("d", "train")] == counts[("d", "val")] == counts[("d", "test")] == 0
    with pytest.raises(DataError) as err:
        prepare(tmp_path)
    assert one_line(err.value) == (
        f"{tmp_path}/raw/train-labels-idx1-ubyte.gz: no training image of class 'd' (label 3); every class "
        "needs training images (number the labels 0 to K-1 without gaps, and name only those in data.classes)")
    assert not (tmp_path / "unit-sparse").exists() and not (tmp_path / "unit-sparse.tmp").exists()


def test_a_class_only_in_the_test_split_is_refused(tmp_path):
    from fmnist.errors import DataError

    record = fetch(tmp_path, train_labels=[0, 1] * 8, test_labels=[0, 1, 2, 2])
    assert record["classes"] == ["0", "1", "2"]
    with pytest.raises(DataError, match=r"no training image of class '2' \(label 2\)"):
        prepare(tmp_path)


def test_a_class_only_among_the_validation_images_is_a_warning(tmp_path, capsys):
    """Documented: a class whose training images all validate (a file sorted by class, or a tiny training
    set) is prepared with a one-line warning naming it, not refused."""
    fetch(tmp_path, train_labels=[0, 1] * 8 + [2] * 4, test_labels=[0, 1, 2])  # sorted: class 2 comes last
    capsys.readouterr()
    assert prepare(tmp_path, val_size=4)["splits"]["val"]["y"]["shape"] == [4]
    assert capsys.readouterr().err == (
        f"warning: {tmp_path}/raw/train-labels-idx1-ubyte.gz: class '2' (label 2) has images only among the "
        "last 4, which validate (prepare.val_size), so the model cannot learn it; shuffle the training file or "
        "lower prepare.val_size\n")
    prepare(tmp_path, val_size=3)
    assert capsys.readouterr().err == ""


def test_labels_that_skip_a_number_are_refused_at_prepare(tmp_path):
    """Without data.classes the names are the label numbers 0 to the largest: a skipped number is a class
    with no image, which prepare refuses naming it (with more than three, it counts the rest)."""
    from fmnist.errors import DataError

    record = fetch(tmp_path, train_labels=[0, 1, 3] * 6, test_labels=[0, 1, 3])
    assert record["classes"] == ["0", "1", "2", "3"]
    with pytest.raises(DataError, match=r"no training image of class '2' \(label 2\); every class"):
        prepare(tmp_path)
    fetch(tmp_path, train_labels=[0, 9] * 6, test_labels=[0, 9])
    with pytest.raises(DataError, match=r"class '1' \(label 1\), '2' \(label 2\), '3' \(label 3\) and 5 more;"):
        prepare(tmp_path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_a_split_with_no_images_is_refused(tmp_path, split):
    from fmnist.errors import DataError

    labels = {"train_labels": [0, 1] * 5, "test_labels": [0, 1]}
    labels[f"{split}_labels"] = []
    with pytest.raises(DataError) as err:
        fetch(tmp_path, **labels)
    name = {"train": "train", "test": "t10k"}[split]
    assert one_line(err.value) == f"{tmp_path}/raw/{name}-labels-idx1-ubyte.gz: the {split} split has no images"
    only_whole_files(tmp_path / "raw")


def test_one_class_is_refused(tmp_path):
    from fmnist.errors import DataError

    with pytest.raises(DataError, match=r"every label is 0, so there is one class and nothing to tell apart"):
        fetch(tmp_path, train_labels=[0] * 10, test_labels=[0, 0])
    raw = yaml.safe_load(yaml.safe_dump(__import__("test_params").BASE))
    raw["data"].update(dataset="idx-dir", source="/x", classes=["only"])
    from fmnist.errors import ParamsError
    from fmnist.params import parse_params

    with pytest.raises(ParamsError, match=r"^params.yaml: data.classes must name two classes or more, got \['only'\]$"):
        parse_params(raw)


def test_a_dataset_record_naming_too_few_classes_is_refused(tmp_path):
    """dataset.json edited by hand (or left by an older download) with fewer names than the labels use."""
    from fmnist.data.prepare import load_raw
    from fmnist.errors import DataError

    fetch(tmp_path, train_labels=[0, 1, 2] * 5, test_labels=[0, 1, 2])
    record = json.loads((tmp_path / "raw/dataset.json").read_text())
    record["classes"] = ["a", "b"]
    (tmp_path / "raw/dataset.json").write_text(json.dumps(record))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: label 2 has no class name in .*dataset.json "
                                        r"\(2 classes\); run the download stage again$"):
        load_raw(tmp_path / "raw")


def test_a_class_with_no_test_image_is_left_out_of_macro_f1():
    """Documented: a class the test split lacks shows 0 test images; macro F1 averages over the classes
    the test split holds or the model predicts (as scikit-learn does by default)."""
    from fmnist.evaluation import compute_metrics, misclassification_table

    y_true = np.array([0, 0, 1, 1])
    probs = np.eye(3, dtype=np.float32)[[0, 1, 1, 1]] * 0.9 + 0.1 / 3
    m = compute_metrics(y_true, probs, ["a", "b", "c"], "cross_entropy")
    assert m["per_class"]["support"] == [2, 2, 0]
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2, abs=1e-6)
    assert misclassification_table(y_true, probs.argmax(1), ["a", "b", "c"])[2]["images"] == 0


def test_stages_refuse_label_faults_in_one_line(tmp_path, env_with_venv):
    """Through the stage scripts: exit status 2 and one line, no traceback."""
    from conftest import ROOT

    folder = idx_folder(tmp_path, train_labels=[0, 1] * 8, test_labels=[0, 1, 2])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(dataset="idx-dir", source=str(folder))
    params["prepare"]["val_size"] = 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ok = subprocess.run([str(BIN / "python"), str(ROOT / "stages/download.py"), "--params", "params.yaml"],
                        cwd=tmp_path, capture_output=True, text=True, env=env_with_venv)
    assert ok.returncode == 0, ok.stderr
    proc = subprocess.run([str(BIN / "python"), str(ROOT / "stages/prepare.py"), "unit-sparse", "--params",
                           "params.yaml"], cwd=tmp_path, capture_output=True, text=True, env=env_with_venv)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: data/raw/train-labels-idx1-ubyte.gz: no training image of class '2' (label 2); every class needs "
        "training images (number the labels 0 to K-1 without gaps, and name only those in data.classes)"]
    assert not (tmp_path / "data/prepared").exists() or not any((tmp_path / "data/prepared").iterdir())
