"""Test-set evaluation: metrics, confusion data and misclassification analysis.

The functions on arrays are pure (labels and probabilities in, numbers out); `evaluate_experiment`
loads a trained model and its prepared test split and writes every evaluation file of one experiment.
"""

from __future__ import annotations

from pathlib import Path

import json

import numpy as np
import torch
from sklearn import metrics as skm

from fmnist import calibration, plots
from fmnist.data.prepare import class_numbers, load_variant
from fmnist.errors import DataError
from fmnist.files import write_csv, write_json, write_text
from fmnist.model_card import build_card
from fmnist.normalisation import Normalisation
from fmnist.served import load_served, predict_views, views_to_probabilities
from fmnist.stats import bootstrap_macro_f1, wilson_interval

TOP_MISTAKES = 3  # how many "mistaken for" classes the misclassification table names per class


def test_loss(y_true: np.ndarray, probs: np.ndarray, loss: str) -> float:
    """The experiment's own loss on predicted probabilities: `mse` is the seed's softmax-vs-one-hot
    mean squared error; anything else is cross-entropy (log loss)."""
    num_classes = probs.shape[1]
    probs = probs.astype(np.float64)
    if loss == "mse":
        onehot = np.eye(num_classes)[y_true]
        return float(np.mean((probs - onehot) ** 2))
    # float32 softmax rows sum to 1 only to ~1e-7; renormalise so log_loss takes them as they are.
    probs = probs / probs.sum(axis=1, keepdims=True)
    return float(skm.log_loss(y_true, probs, labels=np.arange(num_classes)))


def compute_metrics(y_true: np.ndarray, probs: np.ndarray, classes: list[str], loss: str) -> dict:
    """Accuracy and macro F1, each with its 95 % interval (Wilson; a seeded bootstrap over the test images),
    loss, error count and per-class precision/recall/F1 (one list entry per class)."""
    y_pred = probs.argmax(1)
    labels = np.arange(len(classes))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    n = len(y_true)
    errors = int((y_pred != y_true).sum())
    accuracy_low, accuracy_high = wilson_interval(n - errors, n)
    f1_low, f1_high = bootstrap_macro_f1(y_true, y_pred, len(classes))
    return {
        "test_accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "test_accuracy_low": round(accuracy_low, 6),
        "test_accuracy_high": round(accuracy_high, 6),
        "test_loss": round(test_loss(y_true, probs, loss), 6),
        # Over the classes the test split holds or the model predicts (scikit-learn's own default): a
        # class with no test image that is never predicted has no F1 to average, not an F1 of 0.
        "macro_f1": round(float(skm.f1_score(y_true, y_pred, labels=np.union1d(y_true, y_pred), average="macro",
                                             zero_division=0)), 6),
        "macro_f1_low": round(f1_low, 6),
        "macro_f1_high": round(f1_high, 6),
        "errors": errors,
        "test_images": n,
        # Lists, not a mapping per class: `dvc metrics show` leaves lists out of its table, so the
        # table stays one readable row per experiment while the numbers stay in the file.
        "per_class": {
            "class": list(classes),
            "precision": [round(float(v), 6) for v in precision],
            "recall": [round(float(v), 6) for v in recall],
            "f1": [round(float(v), 6) for v in f1],
            "support": [int(v) for v in support],
        },
    }


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> list[tuple[str, str]]:
    """One (actual, predicted) pair of class names per test image: what DVC's confusion templates count."""
    return [(classes[a], classes[p]) for a, p in zip(y_true, y_pred)]


def normalised_confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are the actual class and sum to 1 (a class absent from the test set gives a zero row)."""
    labels = np.arange(num_classes)
    counts = skm.confusion_matrix(y_true, y_pred, labels=labels).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def misclassification_table(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str],
                            top: int = TOP_MISTAKES) -> list[dict]:
    """Per TRUE class: its images, accuracy, errors, share of all errors and the `top` classes it is
    most often mistaken for (the seed003 notebook's mis_cls_stats, counted by true class)."""
    counts = skm.confusion_matrix(y_true, y_pred, labels=np.arange(len(classes)))
    total_errors = int(counts.sum() - np.trace(counts))
    rows = []
    for i, name in enumerate(classes):
        images = int(counts[i].sum())
        errors = images - int(counts[i, i])
        wrong = [(int(counts[i, j]), j) for j in range(len(classes)) if j != i and counts[i, j] > 0]
        wrong.sort(key=lambda t: (-t[0], t[1]))  # most often first; ties in class order
        row = {
            "class": name,
            "images": images,
            "accuracy": round(1 - errors / images, 6) if images else 0.0,
            "errors": errors,
            "error_share": round(errors / total_errors, 6) if total_errors else 0.0,
        }
        for k in range(top):
            count, j = wrong[k] if k < len(wrong) else (0, None)
            row[f"mistaken_for_{k + 1}"] = classes[j] if j is not None else ""
            row[f"mistaken_for_{k + 1}_count"] = count
        rows.append(row)
    return rows


def confident_mistakes(y_true: np.ndarray, probs: np.ndarray, limit: int = 12) -> np.ndarray:
    """Indices of misclassified images, the most confidently wrong first (often ambiguous or mislabelled)."""
    y_pred = probs.argmax(1)
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = probs[wrong, y_pred[wrong]]
    order = np.lexsort((wrong, -confidence))  # confidence descending, then index: deterministic
    return wrong[order][:limit]


def denormalise(x: np.ndarray, normalisation: dict) -> np.ndarray:
    """Prepared inputs back to 0..255 greyscale (N, H, W) for display."""
    pixels = Normalisation.of(normalisation).pixels(x)
    return pixels.astype(np.uint8).reshape(len(x), *np.shape(x)[-2:])


# --- writers ------------------------------------------------------------------------------------

def probabilities(views: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of logit views (V, N, C) as the served model computes them (fmnist.served)."""
    return views_to_probabilities(torch.from_numpy(views), temperature).numpy()


def calibration_metrics(y_true: np.ndarray, views: np.ndarray, probs: np.ndarray, temperature) -> dict:
    """ECE, NLL and Brier score of the probabilities as served; with a fitted temperature, also the
    temperature and the test ECE before (T = 1) and after scaling by it."""
    section = calibration.calibration_scores(y_true, probs)
    if temperature is not None:
        section["temperature"] = round(float(temperature), 6)
        section["ece_before_scaling"] = round(calibration.expected_calibration_error(y_true, probabilities(views)), 6)
        section["ece_after_scaling"] = round(calibration.expected_calibration_error(
            y_true, probabilities(views, float(temperature))), 6)
    return section


def calibration_note(weights, val_images: int) -> str:
    """Where the served probabilities' temperature comes from, in words (info.json, the card, the report)."""
    if weights.temperature is None:
        if weights.train.get("train_split") == "all":
            return ("no temperature: this experiment trains on its validation images (train_split: all), so none "
                    "is fitted on them; the probabilities are served unscaled")
        return "no temperature: these weights were trained before temperature scaling; the probabilities are unscaled"
    applied = ("applied to the served probabilities (calibrate: true)" if weights.served_temperature != 1.0
               else "not applied to the served probabilities (calibrate: false)")
    return f"temperature {weights.temperature:.4f}, fitted on the {val_images:,} validation images; {applied}"


def evaluation_info(weights, meta: dict) -> dict:
    """What was evaluated: experiment, data, model, the settings it was trained with, the split sizes."""
    images = {split: int(meta["splits"][split]["x"]["shape"][0]) for split in ("train", "val", "test")}
    return {
        "experiment": weights.experiment,
        "dataset": weights.dataset,
        "synthetic": bool(weights.synthetic),
        "model": weights.model,
        "variant": weights.variant,
        "loss": weights.train["loss"],  # the loss test_loss is measured in
        "classes": list(weights.classes),  # the order of the per_class lists
        "input_size": list(weights.input_size),
        "images": images,
        "settings": weights.train,
        "trained_on": {"device": weights.device, "processes": weights.processes, "torch": weights.torch},
        "calibration_note": calibration_note(weights, images["val"]),
    }


def write_figures(figures_dir: Path, weights, x_test, y_true, probs, views, metrics, table) -> None:
    """confusion.png, misclassified.png, misclassified_images.png, reliability.png and reliability.csv."""
    classes, name, dataset = list(weights.classes), weights.experiment, weights.dataset
    y_pred = probs.argmax(1)
    plots.save(plots.confusion_matrix(normalised_confusion(y_true, y_pred, len(classes)), classes,
                                      f"{name} - {dataset}", metrics["test_accuracy"]),
               figures_dir / "confusion.png")
    plots.save(plots.misclassification_bars(table, classes, f"{name} - {dataset}"),
               figures_dir / "misclassified.png")
    picks = confident_mistakes(y_true, probs)
    images = denormalise(np.asarray(x_test[picks]), weights.normalisation)
    titles = [f"true {classes[y_true[i]]}\npred {classes[y_pred[i]]} {probs[i, y_pred[i]]:.0%}" for i in picks]
    plots.save(plots.misclassified_grid(images, titles, f"Most confident mistakes - {name} - {dataset}"),
               figures_dir / "misclassified_images.png")
    write_csv(figures_dir / "reliability.csv", ["bin_low", "bin_high", "count", "confidence", "accuracy"],
              calibration.reliability_rows(y_true, probs))
    served_t, curves = weights.served_temperature, {}
    for t in dict.fromkeys([served_t, 1.0, weights.temperature]):  # the served curve first
        if t is not None:
            p = probs if t == served_t else probabilities(views, float(t))
            label = "T = 1 (unscaled)" if t == 1.0 else f"T = {t:.3f} (fitted)"
            ece = calibration.expected_calibration_error(y_true, p)
            curves[f"{label}{', served' if t == served_t else ''}, ECE {ece:.4f}"] = \
                calibration.reliability_bins(y_true, p)
    plots.save(plots.reliability_diagram(curves, f"Reliability - {name} - {dataset}"), figures_dir / "reliability.png")


def evaluate_experiment(weights_path, variant_dir, metrics_path, confusion_csv, misclassified_csv,
                        figures_dir, device: str = "cpu", info_path=None, card_path=None, dataset_record=None) -> dict:
    """Evaluate one trained experiment on its test split and write all of its evaluation files:

    metrics JSON (numbers only, so `dvc exp show` and `dvc metrics diff` stay narrow), info JSON (what
    was evaluated: experiment, dataset, model, variant, loss, class names, split sizes, training settings;
    default `figures_dir/info.json`), confusion CSV (one row per test image), misclassification CSV, the
    figures and reliability bins in `figures_dir` (see write_figures), and with `card_path` the model card
    (`dataset_record`: the download stage's dataset.json, which says where the data came from).
    Returns the info and the metrics in one dict.
    """
    served, weights = load_served(weights_path, device)
    meta, arrays = load_variant(variant_dir)
    if meta["dataset_id"] != weights.dataset_id or list(meta["classes"]) != list(weights.classes):
        raise DataError(f"{weights_path} was trained on {weights.dataset} but {variant_dir} holds "
                        f"{meta['dataset']}; run dvc repro to retrain")
    classes = list(weights.classes)
    # A writable in-memory copy: torch warns about tensors made from the read-only memory map.
    x_test, y_true = np.array(arrays["x_test"]), class_numbers(np.asarray(arrays["y_test"]))
    views = predict_views(served.model, x_test, served.tta, weights.train.get("eval_batch_size", 2000))
    probs = probabilities(views, served.temperature)
    y_pred = probs.argmax(1)

    scores = compute_metrics(y_true, probs, classes, weights.train["loss"])
    info = evaluation_info(weights, meta)
    metrics = {
        **{k: v for k, v in scores.items() if k != "per_class"},
        "calibration": calibration_metrics(y_true, views, probs, weights.temperature),
        "parameters": int(weights.parameters["trainable"]),
        "epochs": int(weights.epochs),
        "per_class": {k: v for k, v in scores["per_class"].items() if k != "class"},
    }
    write_json(info_path or Path(figures_dir) / "info.json", info)
    write_json(metrics_path, metrics)
    write_csv(confusion_csv, ["actual", "predicted"], confusion_rows(y_true, y_pred, classes))
    table = misclassification_table(y_true, y_pred, classes)
    write_csv(misclassified_csv, list(table[0]), [list(r.values()) for r in table])
    write_figures(Path(figures_dir), weights, x_test, y_true, probs, views, metrics, table)
    if card_path is not None:
        record = json.loads(Path(dataset_record).read_text()) if dataset_record and Path(dataset_record).exists() \
            else None
        write_text(card_path, build_card(info, metrics, table, record))
    return {**info, **metrics}
