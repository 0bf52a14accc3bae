"""What a run records about itself: the effective params (and their logging), and the tags that say
what was trained, on what, and from which commit."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

from fmnist.files import md5sum


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else os.environ.get("DVC_EXP_BASELINE_REV")


def run_group(root: Path, commit: str | None) -> str:
    """The tag shared by the runs of one pipeline run: the DVC experiment's name under `dvc exp run`,
    else the commit and params.yaml of the workspace (the runs of one `dvc repro` share both)."""
    if os.environ.get("DVC_EXP_NAME"):
        return os.environ["DVC_EXP_NAME"]
    params = root / "params.yaml"
    params_hash = md5sum(params)[:8] if params.exists() else "noparams"
    return f"workspace-{(commit or 'nogit')[:8]}-{params_hash}"


def run_tags(experiment: str, trained: dict, commit: str | None, stage: str) -> dict[str, str]:
    """The tags every run of a trained experiment carries, whether train or `fmnist mlflow sync` made it.

    `trained` holds what the weights file records of the training: model, variant, dataset, dataset_id,
    synthetic, device and torch; `stage` is the DVC stage that trained it.
    """
    tags = {
        "experiment": experiment,
        "model": trained["model"],
        "variant": trained["variant"],
        "dataset": trained["dataset"],
        "dataset_id": trained["dataset_id"],
        "synthetic": str(bool(trained["synthetic"])).lower(),
        "device": trained["device"],
        "torch": trained["torch"],
        "dvc.stage": stage,
    }
    if commit:
        tags["git.commit"] = tags["mlflow.source.git.commit"] = commit
    return tags


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested dicts to dotted keys: {"augment": {"crop": 2}} -> {"augment.crop": 2}."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        elif not isinstance(value, dict):
            out[f"{prefix}{key}"] = value
    return out


def run_params(experiment: str, settings: dict, params) -> dict[str, str]:
    """The effective params of one trained experiment as MLflow params (flat, string values).

    `settings` is the experiment's train settings as a dict (the weights record keeps them);
    the data and prepare settings come from params.
    """
    data = dataclasses.asdict(params.data)
    for key in ("timeout", "retries"):  # how to download, not what was trained on
        data.pop(key, None)
    if data.get("dataset") != "synthetic":
        data.pop("synthetic", None)
    flat = {"experiment": experiment, **flatten(settings),
            "epochs_effective": settings["epochs"] if settings.get("epoch_limit") is None
            else min(settings["epochs"], settings["epoch_limit"]),
            **flatten({"data": data}), "prepare.val_size": params.prepare.val_size}
    return {k: json.dumps(v) if isinstance(v, (list, type(None), bool)) else str(v) for k, v in flat.items()}


def log_params(client, run_id: str, params: dict[str, str]) -> None:
    from mlflow.entities import Param

    # MlflowClient.log_batch splits them into batches of the size the store accepts.
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()], synchronous=True)
