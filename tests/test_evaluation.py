"""Evaluation: metrics schema on a really trained tiny model, confusion rows, misclassification analysis."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from fmnist import evaluation
from fmnist.data.idx import write_idx
from fmnist.data.prepare import prepare_variant
from fmnist.data.classes import FASHION_CLASSES
from fmnist.params import ExperimentSettings
from fmnist.training import train_experiment


def striped_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noise plus a bright band whose height encodes the class: learnable in one epoch, not perfectly."""
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 90, (n, 28, 28))
    for i, c in enumerate(y):
        x[i, 2 * c:2 * c + 8, 4:24] += 140
    return np.clip(x, 0, 255).astype(np.uint8), y


def write_dataset(folder, train: int = 400, test: int = 150, synthetic: bool = True) -> None:
    """The four IDX files plus the dataset record the download stage would write."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("t10k", test)):
        x, y = striped_images(n, rng)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y)
    name = "Synthetic (generated, not Fashion-MNIST)" if synthetic else "Striped test set"
    (folder / "dataset.json").write_text(json.dumps(
        {"id": "synthetic" if synthetic else "idx-dir", "name": name, "synthetic": synthetic,
         "classes": FASHION_CLASSES}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny seed000-style model (mse on one-hot) trained for one epoch, and its evaluation."""
    root = tmp_path_factory.mktemp("evaluation")
    write_dataset(root / "raw")
    prepare_variant(root / "raw", root / "prepared", "unit", "onehot", val_size=100)
    cfg = ExperimentSettings(model="tiny", variant="unit-onehot", loss="mse", optimizer="adam", epochs=1, batch_size=20,
                             lr=3e-3, eval_batch_size=64)
    train_experiment("tiny-test", cfg, root / "prepared", root / "m.pt", root / "h.csv", root / "ck", progress=False)
    metrics = evaluation.evaluate_experiment(
        root / "m.pt", root / "prepared", root / "metrics.json", root / "confusion.csv",
        root / "misclassified.csv", root / "figures", card_path=root / "card.md",
        dataset_record=root / "raw" / "dataset.json")
    return root, metrics


def numbers_only(data) -> bool:
    """Every leaf a number (bools are not): what keeps `dvc exp show` and `dvc metrics diff` narrow."""
    if isinstance(data, dict):
        return all(numbers_only(v) for v in data.values())
    if isinstance(data, list):
        return all(numbers_only(v) for v in data)
    return isinstance(data, (int, float)) and not isinstance(data, bool)


def test_metrics_schema(trained):
    root, metrics = trained
    on_disk = json.loads((root / "metrics.json").read_text())
    info = json.loads((root / "figures" / "info.json").read_text())
    assert {**info, **on_disk} == metrics
    assert numbers_only(on_disk)
    types = {"test_accuracy": float, "test_accuracy_low": float, "test_accuracy_high": float, "test_loss": float,
             "macro_f1": float, "macro_f1_low": float, "macro_f1_high": float, "errors": int, "test_images": int,
             "calibration": dict, "parameters": int, "epochs": int, "per_class": dict}
    assert set(on_disk) == set(types)
    for key, kind in types.items():
        assert isinstance(on_disk[key], kind), key
    assert set(info) == {"experiment", "dataset", "synthetic", "model", "variant", "loss", "classes", "input_size",
                         "images", "settings", "trained_on", "calibration_note"}
    assert info["images"] == {"train": 300, "val": 100, "test": 150} and info["settings"]["epochs"] == 1
    assert info["dataset"] == "Synthetic (generated, not Fashion-MNIST)" and info["synthetic"] is True
    assert (info["experiment"], info["model"], info["loss"]) == ("tiny-test", "tiny", "mse")
    assert metrics["epochs"] == 1
    assert metrics["test_images"] == 150
    assert metrics["test_accuracy"] == pytest.approx(1 - metrics["errors"] / metrics["test_images"])
    assert 0 < metrics["errors"] < 150  # learned something, not everything: the tables below have content
    assert metrics["parameters"] == 20372
    per_class = metrics["per_class"]
    assert set(per_class) == {"precision", "recall", "f1", "support"}
    assert info["classes"] == FASHION_CLASSES
    for key in ("precision", "recall", "f1", "support"):
        assert len(per_class[key]) == 10
    assert sum(per_class["support"]) == 150


def test_confusion_csv_has_one_row_per_test_image(trained):
    root, metrics = trained
    with open(root / "confusion.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == metrics["test_images"]
    assert set(rows[0]) == {"actual", "predicted"}
    assert {r["actual"] for r in rows} <= set(FASHION_CLASSES)
    assert sum(r["actual"] != r["predicted"] for r in rows) == metrics["errors"]


def test_misclassification_csv_and_figures(trained):
    root, metrics = trained
    with open(root / "misclassified.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows] == FASHION_CLASSES
    assert sum(int(r["errors"]) for r in rows) == metrics["errors"]
    assert sum(float(r["error_share"]) for r in rows) == pytest.approx(1, abs=1e-5)
    recall = metrics["per_class"]["recall"]
    assert [float(r["accuracy"]) for r in rows] == pytest.approx(recall, abs=1e-6)
    for name in ("confusion.png", "misclassified.png", "misclassified_images.png"):
        assert (root / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_test_loss_is_the_experiments_loss():
    y = np.array([0, 1, 2, 1])
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]], dtype=np.float32)
    onehot = np.eye(3)[y]
    assert evaluation.test_loss(y, probs, "mse") == pytest.approx(np.mean((probs - onehot) ** 2))
    expected_ce = -np.mean(np.log([0.7, 0.8, 0.4, 0.3]))
    assert evaluation.test_loss(y, probs, "cross_entropy") == pytest.approx(expected_ce, rel=1e-5)


def test_misclassification_table_counts_by_true_class():
    classes = ["a", "b", "c", "d"]
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 3])
    y_pred = np.array([0, 1, 1, 2, 1, 1, 0, 0, 3, 3])
    table = {r["class"]: r for r in evaluation.misclassification_table(y_true, y_pred, classes)}
    a = table["a"]
    assert (a["images"], a["errors"], a["accuracy"]) == (4, 3, 0.25)
    assert (a["mistaken_for_1"], a["mistaken_for_1_count"]) == ("b", 2)
    assert (a["mistaken_for_2"], a["mistaken_for_2_count"]) == ("c", 1)
    assert (a["mistaken_for_3"], a["mistaken_for_3_count"]) == ("", 0)
    assert table["c"]["mistaken_for_1"] == "a" and table["c"]["error_share"] == pytest.approx(3 / 6)
    assert table["b"]["errors"] == 0 and table["b"]["mistaken_for_1"] == ""
    assert sum(r["error_share"] for r in table.values()) == pytest.approx(1)


def test_confident_mistakes_and_denormalise():
    y = np.array([0, 1, 1, 0])
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.95, 0.05], [0.2, 0.8]])
    assert evaluation.confident_mistakes(y, probs).tolist() == [2, 3, 1]  # most confidently wrong first
    norm = {"kind": "standard", "shift": 72.9, "scale": 90.0}
    pixels = np.array([[0, 128, 255]], dtype=np.uint8).reshape(1, 1, 1, 3)
    prepared = (pixels.astype(np.float32) - norm["shift"]) / norm["scale"]
    assert evaluation.denormalise(prepared, norm).tolist() == [[[0, 128, 255]]]


def test_every_accuracy_and_f1_has_its_interval(trained):
    from fmnist.stats import bootstrap_macro_f1, wilson_interval

    root, metrics = trained
    right = metrics["test_images"] - metrics["errors"]
    assert (metrics["test_accuracy_low"], metrics["test_accuracy_high"]) == pytest.approx(
        wilson_interval(right, metrics["test_images"]), abs=1e-6)
    assert metrics["test_accuracy_low"] < metrics["test_accuracy"] < metrics["test_accuracy_high"]
    assert metrics["macro_f1_low"] <= metrics["macro_f1"] <= metrics["macro_f1_high"]
    with open(root / "confusion.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    index = {name: i for i, name in enumerate(FASHION_CLASSES)}
    y = [index[r["actual"]] for r in rows]
    pred = [index[r["predicted"]] for r in rows]
    assert (metrics["macro_f1_low"], metrics["macro_f1_high"]) == pytest.approx(
        bootstrap_macro_f1(y, pred, 10), abs=1e-6)  # seeded: the same interval from the same predictions


def test_calibration_is_measured_and_the_temperature_fitted_on_validation(trained):
    import torch

    from fmnist.calibration import expected_calibration_error
    from fmnist.served import load_served, predict_proba
    from fmnist.weights import Weights

    root, metrics = trained
    c = metrics["calibration"]
    assert set(c) == {"ece", "nll", "brier", "temperature", "ece_before_scaling", "ece_after_scaling"}
    weights = Weights.load(root / "m.pt")
    assert c["temperature"] == pytest.approx(weights.temperature, abs=1e-6) and weights.temperature > 0
    assert c["ece"] == c["ece_before_scaling"]  # calibrate is off: served unscaled
    info = json.loads((root / "figures" / "info.json").read_text())
    note = info["calibration_note"]
    assert note.startswith("temperature ") and "100 validation images" in note and "not applied" in note
    # the served probabilities give the same ECE as the metrics file
    from fmnist.data.prepare import class_numbers, load_variant

    served, _ = load_served(root / "m.pt")
    _, arrays = load_variant(root / "prepared")
    probs = predict_proba(served, arrays["x_test"])
    y = class_numbers(np.asarray(arrays["y_test"]))
    assert expected_calibration_error(y, probs) == pytest.approx(c["ece"], abs=1e-6)
    # and with calibrate on, the served model divides by the fitted temperature
    weights.train["calibrate"] = True
    from fmnist.served import Served

    scaled = predict_proba(Served(served.model, weights), arrays["x_test"])
    logits = served.model(torch.from_numpy(np.array(arrays["x_test"]))).detach()
    assert np.allclose(scaled, torch.softmax(logits / weights.temperature, 1).numpy(), atol=1e-6)


def test_reliability_diagram_and_bins(trained):
    root, metrics = trained
    with open(root / "figures" / "reliability.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15 and sum(int(r["count"]) for r in rows) == metrics["test_images"]
    assert (root / "figures" / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_model_card_holds_every_section_and_names_the_dataset(trained):
    from fmnist.model_card import SECTIONS

    root, metrics = trained
    card = (root / "card.md").read_text()
    headings = [line[3:] for line in card.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    assert card.startswith("# Model card: tiny-test")
    assert "Synthetic (generated, not Fashion-MNIST)" in card and "generated images" in card
    assert f"{100 * metrics['test_accuracy']:.2f} %" in card and "(Wilson)" in card and "(bootstrap)" in card
    assert f"{metrics['calibration']['ece']:.4f}" in card and "20,372 trainable parameters" in card
    assert "`fmnist predict --invert`" in card and "Ankle boot" in card
    assert "300 training images, 100 validation images" in card
