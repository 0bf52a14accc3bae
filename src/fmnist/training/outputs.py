"""What a finished training run writes: the weights record, the per-epoch history and the timing file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from fmnist.files import write_csv, write_json
from fmnist.models import count_parameters
from fmnist.params import ExperimentSettings
from fmnist.training.fit import TIMING
from fmnist.weights import Weights


def write_history(rows: list[dict], path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k not in TIMING} for row in rows]
    write_csv(path, list(rows[0]), [[f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()]
                                    for row in rows])


def write_timing(rows: list[dict], seconds: float, device: torch.device, processes: int, path: Path) -> None:
    """The timing file: total training seconds and each epoch's seconds and images/s."""
    record = {"train_seconds": round(seconds, 3), "device": str(device), "processes": processes,
              "epochs": [{"epoch": r["epoch"], **{k: round(r[k], 3) for k in TIMING if k in r}} for r in rows]}
    write_json(path, record)


def weights_of(name: str, cfg: ExperimentSettings, meta: dict, input_size, model, device, processes: int,
               temperature: float | None = None) -> Weights:
    return Weights(
        experiment=name, model=cfg.model, model_config=dict(cfg.model_config), input_size=list(input_size),
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
        classes=list(meta["classes"]), dataset=meta["dataset"], dataset_id=meta["dataset_id"],
        synthetic=meta["synthetic"], variant=cfg.variant, normalisation=meta["normalisation"],
        train=json.loads(json.dumps(dataclasses.asdict(cfg))), epochs=cfg.effective_epochs,
        parameters=count_parameters(model), device=str(device), processes=processes, torch=str(torch.__version__),
        temperature=temperature)


def write_outputs(name: str, cfg: ExperimentSettings, meta: dict, input_size, model, done, device, processes: int,
                  weights_path: Path, history_path: Path, timing_path: Path | None,
                  temperature: float | None = None) -> None:
    """History, timing (default: beside the weights, <weights>.timing.json), then the weights last: their
    presence says the run finished. `temperature`: fitted on the validation split (None: not fitted)."""
    write_history(done.history, history_path)
    write_timing(done.history, done.seconds, device, processes, timing_path or weights_path.with_suffix(".timing.json"))
    weights_of(name, cfg, meta, input_size, model, device, processes, temperature).save(weights_path)
