"""The comparison report: one Markdown page and one self-contained HTML page from the files on disk.

Inputs are what the earlier stages wrote (metrics/, plots/train, plots/confusion, plots/misclassified,
plots/evaluate, plots/data). The page is built once as a list of blocks and rendered twice
(fmnist.report_render): Markdown links images by relative path, HTML embeds them as base64 data URIs so
the file stands alone.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from fmnist import plots, tables
from fmnist.errors import DataError
from fmnist.escaping import markdown
from fmnist.files import read_json, write_text
from fmnist.params import ExperimentSettings
from fmnist.paths import ExperimentPaths
from fmnist.report_render import Block, render_html, render_markdown
from fmnist.stats import BOOTSTRAP_SEED, RESAMPLES, wilson_interval

PUBLISHED_LABEL = "published (notebook, real Fashion-MNIST)"
NORMALISATIONS = {"unit": "x/255", "raw": "raw 0..255", "standard": "z-score"}
ENCODINGS = {"onehot": "one-hot labels", "sparse": "integer labels"}
LOSSES = {"mse": "softmax + MSE", "cross_entropy": "cross-entropy"}


# --- reading the pipeline's files ---------------------------------------------------------------

def load_results(root: Path, experiments: list[str]) -> dict[str, dict]:
    """Each experiment's metrics, training history and misclassification table."""
    results = {}
    for name in experiments:
        files = ExperimentPaths(name, root)
        path, history, table, timing = files.metrics, files.history, files.misclassified, files.timing
        if not path.exists():
            raise DataError(f"{path}: missing; run the evaluate stage first (dvc repro evaluate@{name})")
        # The metrics file holds numbers only; what they are of (dataset, model, ...) is in the info
        # file beside the figures, the training time in the timing file (neither is a metric to diff).
        info = files.info
        if not info.exists():
            raise DataError(f"{info}: missing; run the evaluate stage first (dvc repro evaluate@{name})")
        timed = read_json(timing) if timing.exists() else {}
        results[name] = {
            "metrics": {**read_json(info), **read_json(path),
                        "train_seconds": timed.get("train_seconds")},
            "epoch_seconds": [e["seconds"] for e in timed.get("epochs", [])],
            "history": tables.read_history(history).to_dict("records") if history.exists() else [],
            "misclassified": tables.read_misclassified(table).to_dict("records") if table.exists() else [],
        }
    return results


# --- formatting ---------------------------------------------------------------------------------

def fmt_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_pct(fraction: float) -> str:
    return f"{100 * fraction:.2f} %"


def accuracy_interval(m: dict) -> str:
    """The Wilson 95 % interval of the test accuracy in percent (from the counts for metrics files without it)."""
    low, high = (m["test_accuracy_low"], m["test_accuracy_high"]) if "test_accuracy_low" in m else \
        wilson_interval(m["test_images"] - m["errors"], m["test_images"])
    return f"{100 * low:.2f}-{100 * high:.2f}"


def f1_with_interval(m: dict) -> str:
    """Macro F1 and its bootstrap 95 % interval, where evaluate measured one."""
    interval = f" ({m['macro_f1_low']:.4f}-{m['macro_f1_high']:.4f})" if "macro_f1_low" in m else ""
    return f"{m['macro_f1']:.4f}{interval}"


def calibration_line(m: dict) -> str:
    """ECE, NLL and Brier score of the probabilities as served, and where their temperature comes from."""
    c = m["calibration"]
    line = (f"Calibration on the test images: ECE {c['ece']:.4f} (15 bins), NLL {c['nll']:.4f}, "
            f"Brier score {c['brier']:.4f}")
    if m.get("calibration_note"):
        line += f"; {m['calibration_note']}"
    if "temperature" in c:
        line += (f"; dividing the logits by the temperature {c['temperature']:.3f} moves the test ECE from "
                 f"{c['ece_before_scaling']:.4f} to {c['ece_after_scaling']:.4f}")
    return line + "."


def published(figures: dict[str, float | None], name: str) -> str:
    """The published test accuracy of `name` (params.yaml's published:), as the results table shows it."""
    if name not in figures:
        return "n/a (not a seed notebook)"
    value = figures[name]
    return "not published" if value is None else fmt_pct(value)


def preprocessing(variant: str) -> str:
    norm, _, enc = variant.partition("-")
    return f"{variant} ({NORMALISATIONS.get(norm, norm)}, {ENCODINGS.get(enc, enc)})"


def tta(settings: dict[str, ExperimentSettings], name: str) -> bool:
    return name in settings and settings[name].tta


# --- the page -----------------------------------------------------------------------------------

def _images(*candidates: tuple[Path, str]) -> list[Block]:
    """An images block of the candidates that exist (the report links only files that exist)."""
    found = [(p, alt) for p, alt in candidates if p.exists()]
    return [Block("images", images=found)] if found else []


def _duplicates(record_path: Path) -> list[Block]:
    """The leakage check of the download stage: exact duplicate images within and across the splits."""
    if not record_path.exists() or "duplicates" not in (record := read_json(record_path)):
        return []
    d = record["duplicates"]
    leak = ("; those are seen in training, so a test score counts them as known images" if d["across"]
            else "; no test image is seen in training")
    return [Block("p", (
        f"Exact duplicate images, counted by the download stage: {d['within_train']:,} within the training "
        f"split, {d['within_test']:,} within the test split, {d['across']:,} test images with a twin among "
        f"the training images{leak}."))]


def build_blocks(root: Path, settings: dict[str, ExperimentSettings], results: dict[str, dict],
                 curves: Path | None, speed: Path | None = None,
                 published_figures: dict[str, float | None] | None = None) -> tuple[str, list[Block]]:
    """The page's title and blocks."""
    datasets = list(dict.fromkeys(r["metrics"]["dataset"] for r in results.values()))
    dataset = " / ".join(datasets)
    synthetic = any(r["metrics"]["synthetic"] for r in results.values())
    title = f"Experiment report - {dataset}"
    named = markdown(dataset)  # a name in the page's Markdown text: its markup characters escaped
    blocks = [Block("h1", f"Experiment report - {named}")]
    if synthetic:
        blocks.append(Block("banner", (
            f"Synthetic data: every result below is on {named}, a generated stand-in with Fashion-MNIST's "
            "shapes and class names, NOT on Fashion-MNIST. The published figures are test accuracies on the "
            "real Fashion-MNIST, so they are not comparable with these numbers.")))
    test_images = sorted({r["metrics"]["test_images"] for r in results.values()})
    blocks.append(Block("p", (
        f"{len(results)} experiments, each evaluated on the {', '.join(map(str, test_images))} test images of "
        f"{named}. Made by the `report` stage of `dvc repro` from `metrics/` and `plots/`; "
        "`dvc metrics show` and `dvc plots show` give the same numbers and plots.")))
    blocks += _results_section(settings, results, published_figures or {}, synthetic)
    blocks += _curve_sections(settings, results, curves, speed, dataset)
    data_dir = root / "plots" / "data"
    blocks += [Block("h2", "Data")] + _duplicates(root / "data" / "raw" / "dataset.json") + _images(
        (data_dir / "label_counts.png", f"Label counts per split - {dataset}"),
        (data_dir / "samples.png", f"Training samples - {dataset}"))
    blocks.append(Block("h2", "Per experiment"))
    for name, r in results.items():
        blocks += _experiment_section(ExperimentPaths(name, root), r, tta(settings, name))
    return title, blocks


def _results_section(settings: dict[str, ExperimentSettings], results: dict[str, dict],
                     published_figures: dict[str, float | None], synthetic: bool) -> list[Block]:
    """The results table: ours beside the seed notebooks' published figures, and what its columns are."""
    header = ["Experiment", "Dataset", "Model", "Preprocessing", "Loss", "Epochs", "Parameters",
              "Training time", "Test accuracy (95 % interval)", "Macro F1 (95 % interval)", "ECE", PUBLISHED_LABEL]
    rows = []
    for name, r in results.items():
        m = r["metrics"]
        model = m["model"] + (" + flip TTA" if tta(settings, name) else "")
        seconds = fmt_seconds(m["train_seconds"]) if m["train_seconds"] is not None else "-"
        rows.append([name, m["dataset"], model, preprocessing(m["variant"]), LOSSES.get(m["loss"], m["loss"]),
                     str(m["epochs"]), f"{m['parameters']:,}", seconds,
                     f"{fmt_pct(m['test_accuracy'])} ({accuracy_interval(m)})", f1_with_interval(m),
                     f"{m['calibration']['ece']:.4f}" if "calibration" in m else "-",
                     published(published_figures, name)])
    return [Block("h2", "Results"), Block("table", header=header, rows=rows), Block("p", (
        "Test accuracy and macro F1 on the test split, each with its 95 % interval: Wilson's for the accuracy, "
        f"a bootstrap over the test images ({RESAMPLES:,} resamples, seed {BOOTSTRAP_SEED}) for macro F1. "
        "ECE: the expected calibration error of the probabilities as served (15 equal-width confidence bins; "
        "0 when they mean what they say). Training time is the train stage's time in its "
        "epochs; parameters are the trainable ones. "
        f"{PUBLISHED_LABEL[0].upper() + PUBLISHED_LABEL[1:]}: the test accuracy the seed003 notebook printed "
        "for the same architecture and preprocessing; the seed000 notebook printed none."
        + (" The published figures are on the real Fashion-MNIST and do not compare with this synthetic "
           "run." if synthetic else "")))]


def _curve_sections(settings: dict[str, ExperimentSettings], results: dict[str, dict], curves: Path | None,
                    speed: Path | None, dataset: str) -> list[Block]:
    """The training curves overlaid, and the accuracy against training time (when the timings allow it)."""
    blocks = [Block("h2", "Training curves")]
    if curves is not None and curves.exists():
        blocks += _images((curves, f"Training curves, all experiments - {dataset}"))
    all_data = [n for n, s in settings.items() if n in results and s.train_split == "all"]
    if all_data:
        blocks.append(Block("p", (
            f"{', '.join(all_data)} {'trains' if len(all_data) == 1 else 'train'} on the validation images "
            "too (train_split: all, as the seed000 notebook did): that validation curve is not held out; "
            "the dotted test curve is.")))
    if speed is not None and speed.exists():
        blocks += [Block("h2", "Accuracy against training time")] + _images(
            (speed, f"Accuracy against training time - {dataset}")) + [Block("p", (
                "One point per epoch: the held-out accuracy after it (validation; test, dotted, for an "
                "experiment that trains on the validation images) against the training seconds so far, "
                "as each experiment's timing file records them on the device it ran on."))]
    return blocks


def _experiment_section(files: ExperimentPaths, r: dict, flip_tta: bool) -> list[Block]:
    """One experiment: its line of numbers, confusion matrix, misclassification table, worst mistakes,
    calibration and model card."""
    m, name, figures = r["metrics"], files.name, files.figures
    blocks = [Block("h3", name), Block("p", (
        f"{m['model']} on {preprocessing(m['variant'])}, {LOSSES.get(m['loss'], m['loss'])}, {m['epochs']} "
        f"epoch{'' if m['epochs'] == 1 else 's'}{', flip TTA' if flip_tta else ''}: "
        f"test accuracy **{fmt_pct(m['test_accuracy'])}** (95 % interval {accuracy_interval(m)} %), "
        f"macro F1 {f1_with_interval(m)}, "
        f"{m['errors']} of {m['test_images']} test images misclassified."))]
    blocks += _images((figures / "confusion.png", f"Confusion matrix - {name} - {m['dataset']}"),
                      (figures / "misclassified.png", f"Misclassifications per class - {name}"))
    if r["misclassified"]:
        per_class = m["per_class"]
        rows = []
        for i, row in enumerate(r["misclassified"]):
            rows.append([row["class"], str(row["images"]), fmt_pct(row["accuracy"]) if row["images"] else "-",
                         f"{per_class['precision'][i]:.3f}", f"{per_class['f1'][i]:.3f}", str(row["errors"]),
                         fmt_pct(row["error_share"]), tables.mistaken_for(row)])
        blocks.append(Block("table", header=[
            "True class", "Test images", "Accuracy (recall)", "Precision", "F1", "Errors",
            "Share of all errors", "Most often mistaken for (count)"], rows=rows))
    blocks += _images((figures / "misclassified_images.png", f"Most confident mistakes - {name}"))
    if "calibration" in m:
        blocks += [Block("p", calibration_line(m))] + _images(
            (figures / "reliability.png", f"Reliability diagram - {name} - {m['dataset']}"))
    if files.model_card.exists():
        blocks.append(Block("p", f"Model card: `reports/model_cards/{files.model_card.name}` (also the registered "
                                 "MLflow model version's description)."))
    return blocks


def accuracy_curves(settings: dict[str, ExperimentSettings], results: dict[str, dict]) -> dict:
    """name -> (cumulative training seconds, held-out accuracy, split) after each epoch, for each
    experiment whose timing file records its epochs."""
    curves = {}
    for name, r in results.items():
        split = "test" if settings[name].train_split == "all" else "val"
        rows, seconds = r["history"], r["epoch_seconds"]
        if rows and len(seconds) == len(rows) and f"{split}_acc" in rows[0]:
            curves[name] = (list(itertools.accumulate(seconds)), [row[f"{split}_acc"] for row in rows], split)
    return curves


def build_report(root: str | os.PathLike, settings: dict[str, ExperimentSettings],
                 out_dir: str | os.PathLike = "reports", published: dict[str, float | None] | None = None) -> dict:
    """Write report.md, report.html and training_curves.png into `out_dir`; return their paths. `published`:
    the seed notebooks' test accuracies (params.yaml's published:), shown beside ours."""
    root, out_dir = Path(root), Path(out_dir)
    if not out_dir.is_absolute():
        out_dir = root / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    results = load_results(root, list(settings))
    dataset = " / ".join(dict.fromkeys(r["metrics"]["dataset"] for r in results.values()))

    histories = {name: r["history"] for name, r in results.items() if r["history"]}
    curves = plots.save(plots.training_curves(histories, dataset), out_dir / "training_curves.png")
    timed = accuracy_curves(settings, results)
    speed = plots.save(plots.accuracy_against_time(timed, dataset), out_dir / "accuracy_time.png") if timed else None

    title, blocks = build_blocks(root, settings, results, curves, speed, published)
    paths = {"markdown": out_dir / "report.md", "html": out_dir / "report.html", "curves": curves,
             "accuracy_time": speed}
    for key, text in (("markdown", render_markdown(blocks, out_dir)), ("html", render_html(blocks, title))):
        write_text(paths[key], text)
    return paths
