"""The DVC outputs tracking reads (history, evaluation artifacts, dvc.lock) and the run file it writes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fmnist.files import write_json
from fmnist.paths import ExperimentPaths


def evaluation_artifacts(experiment: str, root: str | os.PathLike = ".") -> list[Path]:
    """Evaluate's figures and tables worth keeping with the run (those present)."""
    paths = ExperimentPaths(experiment, Path(root))
    return [p for p in (paths.misclassified, paths.figures) if p.exists()]


def read_history(path: str | os.PathLike) -> list[dict]:
    """The per-epoch rows of plots/train/<experiment>.csv as numbers."""
    from fmnist import tables  # pandas: only when a history is read

    rows = tables.read_history(path).to_dict("records")
    return [{k: v for k, v in row.items() if v == v} for row in rows]  # an empty (NaN) cell is left out


def read_run_file(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_run_file(path: str | os.PathLike, record: dict) -> None:
    write_json(path, record)


def dvc_lock_hash(root: Path, experiment: str, weights_md5: str) -> str | None:
    """MD5 of the train stage's dvc.lock entry, when that entry describes these weights.

    DVC writes the entry after the stage ends, so evaluate and sync see it; train itself does not.
    """
    import yaml

    try:
        lock = yaml.safe_load((root / "dvc.lock").read_text()) or {}
        entry = lock["stages"][f"train@{experiment}"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    outs = {o.get("path"): o.get("md5") for o in entry.get("outs", []) if isinstance(o, dict)}
    if outs.get(ExperimentPaths(experiment).weights.as_posix()) != weights_md5:  # dvc.lock: relative to the root
        return None
    return hashlib.md5(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()
