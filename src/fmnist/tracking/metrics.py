"""Metrics into a run: values at a step, the epochs a run lacks, and evaluate's JSON as MLflow metrics."""

from __future__ import annotations

import re
import time


def log_metrics(client, run_id: str, values: dict, step: int, model_id: str | None = None,
                dataset=None) -> None:
    """Log `values` at `step`; with model_id (and dataset, an MLflow dataset entity) they are also the
    logged model's metrics on that dataset (MLflow 3's model page and its comparison)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    on = {"model_id": model_id}
    if dataset is not None:
        on.update(dataset_name=dataset.name, dataset_digest=dataset.digest)
    metrics = [Metric(k, float(v), now, step, **on) for k, v in values.items()]
    # MlflowClient.log_batch splits them into batches of the size the store accepts.
    client.log_batch(run_id, metrics=metrics, synchronous=True)


def log_missing_history(client, run_id: str, rows: list[dict]) -> int:
    """Log the epochs the run lacks (after a resume or a tracking fault); return how many."""
    if not rows:
        return 0
    have = {k: {m.step for m in client.get_metric_history(run_id, k)} for k in rows[0] if k != "epoch"}
    added = 0
    for row in rows:
        missing = {k: v for k, v in row.items() if k != "epoch" and row["epoch"] not in have.get(k, ())}
        if missing:
            log_metrics(client, run_id, missing, step=row["epoch"])
            added += 1
    return added


# Sections of evaluate's info file that hold numbers but are no test metric: the training settings (the run's
# params already), where it trained, the split sizes and the input size.
NOT_METRICS = ("settings", "trained_on", "images", "input_size")


def metric_names(names: list) -> list[str]:
    """Class names as parts of MLflow metric names: letters, digits and _ - . space : only, at most 100
    characters, and still one per class (`a|b` and `a<b` both clean to `a-b`: the second, class 1, is `a-b:1`)."""
    out, used = [], set()
    for i, name in enumerate(names):
        part = re.sub(r"[^\w\-. :]", "-", " ".join(str(name).split()))[:100] or str(i)
        if part in used:
            part = f"{part[:95]}:{i}"
        used.add(part)
        out.append(part)
    return out


def metric_values(metrics: dict) -> dict[str, float]:
    """The numbers of evaluate's metrics JSON as MLflow metrics (the info file's sections in NOT_METRICS left out).

    A nested section becomes `section/name` (the UI groups charts by what precedes the slash); lists
    aligned with the class names (a `class` list beside them, or the top-level `classes` of the info
    file) become one metric per class, e.g. `per_class/recall.Coat` (see `metric_names`).
    """
    metrics = {k: v for k, v in metrics.items() if k not in NOT_METRICS}
    def clean(name) -> str:  # MLflow names allow letters, digits and _ - . space : /
        return re.sub(r"[^\w\-. :]", "-", str(name))

    out = {}

    classes = metrics.get("classes") if isinstance(metrics.get("classes"), list) else None

    def walk(data: dict, prefix: str):
        names = data.get("class") if isinstance(data.get("class"), list) else classes if prefix else None
        parts = metric_names(names) if names else None
        for key, value in data.items():
            if isinstance(value, (bool, str)):
                continue
            if isinstance(value, (int, float)):
                out[prefix + clean(key)] = float(value)
            elif isinstance(value, dict):
                walk(value, f"{prefix}{clean(key)}/")
            elif isinstance(value, list) and parts and len(value) == len(parts):
                for part, v in zip(parts, value):
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        out[f"{prefix}{clean(key)}.{part}"] = float(v)

    walk(metrics, "")
    return out
