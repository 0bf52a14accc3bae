"""A model card per experiment (after Mitchell et al. 2019, "Model Cards for Model Reporting"), written by evaluate
from what it measured: the model, the data, the training settings, the metrics with their intervals, per-class
accuracy and confusions, calibration, known limits and intended uses. Markdown; evaluate also logs it into the
experiment's MLflow run and makes it the registered model version's description (fmnist.tracking.model)."""

from __future__ import annotations

import re

from fmnist import tables
from fmnist.data.classes import FASHION_CLASSES
from fmnist.data.kinds import KINDS
from fmnist.escaping import markdown as md  # names are user input: literal text in the card
from fmnist.stats import BOOTSTRAP_SEED, RESAMPLES

SECTIONS = ("Model", "Data", "Training", "Metrics", "Per class", "Calibration", "Known limits", "Intended uses",
            "Out-of-scope uses")
# Fashion-MNIST's first release (Aug 2017) as the download stage counts it: exact duplicate images within the
# training file, within the test file, and test images with a twin among the training images.
FIRST_RELEASE_DUPLICATES = {"within_train": 43, "within_test": 1, "across": 10}
LOSSES = {"mse": "softmax + mean squared error", "cross_entropy": "cross-entropy"}


def origin(record: dict | None) -> str:
    kind = KINDS.get((record or {}).get("id"))
    return kind.origin if kind else "origin not recorded"


def pct(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


def first_release(record: dict | None) -> bool:
    """Fashion-MNIST's images in the split of its first release: the official label files, image files that are
    not the official ones, and exactly that release's duplicate counts."""
    if not record or list(record.get("classes", [])) != FASHION_CLASSES:
        return False
    official, files = KINDS["fashion-mnist"].md5, record.get("files", {})
    labels = all(files.get(name) == md5 for name, md5 in official.items() if "labels" in name)
    images = all(files.get(name) == md5 for name, md5 in official.items() if "images" in name)
    counts = {k: (record.get("duplicates") or {}).get(k) for k in FIRST_RELEASE_DUPLICATES}
    return labels and not images and counts == FIRST_RELEASE_DUPLICATES


def _model(info: dict, metrics: dict) -> list[str]:
    h, w = info.get("input_size", (28, 28))
    s = info["settings"]
    return [f"`{info['model']}`, {metrics['parameters']:,} trainable parameters; its MLflow registered model "
            f"is `fmnist-{info['experiment']}`. Input: greyscale pixels 0..255 as float32 (N, 1, {h}, {w}); other sizes "
            f"are resized to {h}x{w}, then normalised as the `{info['variant']}` variant was. Output: the probabilities "
            f"of {len(info['classes'])} classes" + (", averaged over the image and its mirror image (TTA)"
                                                    if s.get("tta") else "") + "."]


def _data(info: dict, record: dict | None) -> list[str]:
    n = info["images"]
    held = "trained on too (train_split: all)" if info["settings"].get("train_split") == "all" else "held out"
    lines = [f"**{md(info['dataset'])}**: {origin(record)}. "
             f"{n['train']:,} training images, {n['val']:,} validation images (the last of the training file; "
             f"{held}), {n['test']:,} test images."]
    if info.get("synthetic"):
        lines += ["", "Synthetic data: every figure here is about generated images, not about Fashion-MNIST."]
    if first_release(record):
        lines += ["",
            "These are Fashion-MNIST's real images with the official labels, in the split of its first release "
            "(August 2017), not today's official test set: 43 duplicate images within the training file, 1 within "
            "the test file and 10 test images with a twin among the training images (the release of 31 August 2017 "
            "replaced them). The test accuracy here estimates the score on the official test set; it is not that "
            "score."]
    elif (record or {}).get("duplicates"):
        d = record["duplicates"]
        lines += ["", f"Exact duplicate images: {d['within_train']:,} within the training file, "
                      f"{d['within_test']:,} within the test file, {d['across']:,} test images with a twin among the "
                      "training images."]
    return lines


def _training(info: dict, metrics: dict) -> list[str]:
    s, on = info["settings"], info.get("trained_on", {})
    augment = s.get("augment") or {}
    shown = {"loss": s["loss"], "optimizer": s["optimizer"], "learning rate": s["lr"],
             "schedule": s["schedule"], "batch size": s["batch_size"], "epochs": metrics["epochs"],
             "weight decay": s["weight_decay"], "label smoothing": s["label_smoothing"],
             "augmentation": ", ".join(f"{k} {v}" for k, v in augment.items() if v) or "none",
             "train split": s["train_split"], "seed": s["seed"], "TTA": s.get("tta"),
             "calibrate": s.get("calibrate", False), "model options": s.get("model_config") or "defaults"}
    if s["optimizer"] == "sgd":
        shown["momentum"] = s["momentum"]
    # The values are the schema's choices and numbers: code spans, no escaping needed.
    rows = ["| Setting | Value |", "|---|---|"] + [f"| {k} | `{v}` |" for k, v in shown.items()]
    where = (f"Trained on {on['device']} ({on['processes']} process{'es' if on['processes'] != 1 else ''}), "
             f"torch {on['torch']}." if on else "")
    return rows + ["", where] if where else rows


def _metrics(info: dict, m: dict) -> list[str]:
    loss = LOSSES.get(info["loss"], info["loss"])
    rows = ["| Metric | Value | 95 % interval |", "|---|---|---|",
            f"| test accuracy | {pct(m['test_accuracy'])} | {pct(m['test_accuracy_low'])} to "
            f"{pct(m['test_accuracy_high'])} (Wilson) |",
            f"| macro F1 | {m['macro_f1']:.4f} | {m['macro_f1_low']:.4f} to {m['macro_f1_high']:.4f} (bootstrap) |",
            f"| test loss ({loss}) | {m['test_loss']:.4f} | |",
            f"| errors | {m['errors']:,} of {m['test_images']:,} | |"]
    return rows + ["", f"The F1 interval resamples the test images {RESAMPLES:,} times (seed {BOOTSTRAP_SEED})."]


def confused_pairs(table: list[dict], top: int = 3) -> list[tuple[str, str, int]]:
    """The (true, predicted, count) pairs met most often, most first."""
    pairs = [(r["class"], r[f"mistaken_for_{k}"], r[f"mistaken_for_{k}_count"])
             for r in table for k in range(1, 4) if r.get(f"mistaken_for_{k}_count")]
    return sorted(pairs, key=lambda p: -p[2])[:top]


def _per_class(info: dict, metrics: dict, table: list[dict]) -> list[str]:
    per = metrics["per_class"]
    rows = ["| Class | Test images | Accuracy | Precision | F1 | Most often taken for (count) |",
            "|---|---|---|---|---|---|"]
    for i, r in enumerate(table):
        accuracy = pct(r["accuracy"]) if r["images"] else "-"
        rows.append(f"| {md(r['class'])} | {r['images']:,} | {accuracy} | {per['precision'][i]:.3f} | "
                    f"{per['f1'][i]:.3f} | {tables.mistaken_for(r, md)} |")
    pairs = confused_pairs(table)
    if pairs:
        rows += ["", "Most confused: " + "; ".join(f"{md(a)} taken for {md(b)} {n:,} time{'s' if n != 1 else ''}" for a, b, n in pairs)
                 + "."]
    return rows


def _calibration(info: dict, metrics: dict) -> list[str]:
    c = metrics["calibration"]
    lines = [f"On the test images, as served: expected calibration error {c['ece']:.4f} (15 equal-width confidence "
             f"bins), negative log-likelihood {c['nll']:.4f}, Brier score {c['brier']:.4f}. "
             f"Reliability diagram: `plots/evaluate/{info['experiment']}/reliability.png`.",
             "", info["calibration_note"][0].upper() + info["calibration_note"][1:] + "."]
    if "temperature" in c:
        lines[-1] += (f" Dividing the logits by {c['temperature']:.4f} moves the test ECE from "
                      f"{c['ece_before_scaling']:.4f} to {c['ece_after_scaling']:.4f}.")
    if info["settings"].get("label_smoothing"):
        lines[-1] += (f" It trains with label smoothing {info['settings']['label_smoothing']}, which is known to make "
                      "a network under-confident (a temperature below 1 sharpens it).")
    return lines


def _limits(info: dict, table: list[dict]) -> list[str]:
    h, w = info.get("input_size", (28, 28))
    names = ", ".join(md(c) for c in info["classes"])
    lines = [f"* It has seen only greyscale {h}x{w} images of one garment each, centred, light on a dark ground "
             "(Fashion-MNIST's product photos). A photo of a dark garment on a light ground must be inverted first: "
             "`fmnist predict --invert` does that; without it such a photo is unlike every training image.",
             f"* It knows {len(info['classes'])} classes only ({names}); any image gets one of them, often with high "
             "confidence, whatever it shows.",
             "* Accuracy on photographs from other sources is unmeasured."]
    scored = [r for r in table if r["images"]]
    if scored:
        worst = min(scored, key=lambda r: r["accuracy"])
        lines.append(f"* Its weakest class is {md(worst['class'])} ({pct(worst['accuracy'])} of its test images right"
                     + (f", most often taken for {md(worst['mistaken_for_1'])}" if worst.get("mistaken_for_1") else "")
                     + ").")
    return lines


def _uses(info: dict, record: dict | None) -> tuple[list[str], list[str]]:
    if info.get("synthetic"):
        return (["* Testing the pipeline: it was trained on synthetic images."],
                ["* Classifying any real image."])
    intended = ["* Sorting Fashion-MNIST-style product images (one garment, plain dark ground) into the classes above.",
                "* A reproducible baseline for comparing training recipes, and for teaching DVC and MLflow."]
    out = ["* Decisions about people, and any decision with safety, legal or financial weight.",
           "* Photos of worn clothing, several garments or cluttered scenes; colour, material or brand.",
           "* Classes outside the list above."]
    if first_release(record) or (record or {}).get("id") not in ("fashion-mnist", None):
        out.append("* Quoting its test accuracy as a score on the official Fashion-MNIST test set.")
    return intended, out


def build_card(info: dict, metrics: dict, table: list[dict], record: dict | None = None) -> str:
    """The card's Markdown from evaluate's info, metrics and misclassification table, and the download stage's
    dataset record (None when absent: the card then says the origin is not recorded)."""
    intended, out = _uses(info, record)
    body = {"Model": _model(info, metrics), "Data": _data(info, record), "Training": _training(info, metrics),
            "Metrics": _metrics(info, metrics), "Per class": _per_class(info, metrics, table),
            "Calibration": _calibration(info, metrics), "Known limits": _limits(info, table),
            "Intended uses": intended, "Out-of-scope uses": out}
    lines = [f"# Model card: {md(info['experiment'])}", "",
             f"Made by the evaluate stage from the files of `{info['experiment']}` on {md(info['dataset'])}."]
    for title in SECTIONS:
        lines += ["", f"## {title}", "", *body[title]]
    return "\n".join(lines) + "\n"

