"""What each stage reads of params.yaml, resolved: one JSON file per stage (per experiment for train and
evaluate) under settings/, written by the settings stage.

Each stage depends on its own file there, not on whole params sections, and DVC hashes files by content:
a change re-runs exactly the stages whose resolved settings it changes. `train.epochs` re-runs only the
experiments that take their epochs from `train:`; a changed rule or resolution in the params modules
re-runs the stages whose files it changes, and nothing else.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from fmnist import model_specs
from fmnist.files import write_text
from fmnist.params import Params

FOLDER = Path("settings")


def experiment_file(name: str, root: str | Path = ".") -> Path:
    """train@name and evaluate@name depend on this (evaluate reads only its variant and device; the rest
    of what it needs comes with the weights, so a change there re-runs train first anyway)."""
    return Path(root) / FOLDER / "experiments" / f"{name}.json"


def stage_settings(params: Params) -> dict[str, dict]:
    """Relative path under settings/ -> what that stage reads, resolved (named class lists expanded,
    every experiment's `train:` defaults merged in)."""
    files = {
        "download.json": dataclasses.asdict(params.data),
        "describe.json": {"val_size": params.prepare.val_size, "sample_seed": params.prepare.sample_seed},
        "prepare.json": {"val_size": params.prepare.val_size},
        "report.json": {"experiments": list(params.experiments), "published": params.published},
    }
    for name, exp in params.experiments.items():  # model_config with the model's declared option defaults
        resolved = dataclasses.asdict(exp)
        resolved["model_config"] = {**model_specs.defaults(exp.model), **exp.model_config}
        files[f"experiments/{name}.json"] = resolved
    return files


def write_settings(params: Params, root: str | Path = ".") -> list[Path]:
    """Write every stage's file (only those whose content changed, so their times stay too) and remove
    the files of experiments params.yaml no longer names. Returns the files written."""
    folder = Path(root) / FOLDER
    wanted = {folder / rel: json.dumps(value, indent=1, sort_keys=True) + "\n"
              for rel, value in stage_settings(params).items()}
    written = []
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            write_text(path, text)
            written.append(path)
    for stale in folder.rglob("*.json") if folder.exists() else ():
        if stale not in wanted:
            stale.unlink()
    return written
