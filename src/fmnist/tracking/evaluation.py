"""Evaluate's outputs into a run: test metrics (on the run and its logged model, against the test dataset),
figures, the model card; then the champion."""

from __future__ import annotations

import json
from pathlib import Path

from fmnist.paths import ExperimentPaths
from fmnist.tracking.artifacts import EVALUATION_DIR, log_paths
from fmnist.tracking.metrics import log_metrics, metric_values
from fmnist.tracking.model import log_card, registered_name, update_champion
from fmnist.tracking.outputs import evaluation_artifacts, read_run_file


def sync_evaluation(client, run_id: str, name: str, paths: ExperimentPaths, register: bool, root: Path) -> list[str]:
    """Evaluate's test metrics, figures and model card, when the run has no test accuracy yet."""
    if "test_accuracy" in client.get_run(run_id).data.metrics:
        return []
    metrics = {**read_run_file(paths.info), **json.loads(paths.metrics.read_text())}
    log_test_results(client, run_id, name, metrics, evaluation_artifacts(name, root), register, paths.model_card)
    return ["test metrics and figures" + (" and the model card" if paths.model_card.exists() else "")]


def log_test_results(client, run_id: str, experiment: str, metrics: dict, artifacts, register: bool,
                     card_path: Path) -> None:
    """Test metrics (at the last epoch's step), evaluate's figures, the model card (also the registered
    version's description); then the champion."""
    run = client.get_run(run_id)
    step = int(metrics.get("epochs") or max((m.step for m in client.get_metric_history(run_id, "val_loss")),
                                             default=0))
    test_data = next((i.dataset for i in run.inputs.dataset_inputs
                      if any(t.key == "mlflow.data.context" and t.value == "test" for t in i.tags)), None)
    log_metrics(client, run_id, metric_values(metrics), step=step, model_id=run.data.tags.get("model.id"),
                dataset=test_data)
    log_paths(client, run_id, artifacts, EVALUATION_DIR)
    name = registered_name(experiment)
    version = run.data.tags.get("model.version") if register else None
    if Path(card_path).exists():
        log_card(client, run_id, card_path, name, version)
    if version:
        client.set_model_version_tag(name, version, "test_accuracy", str(metrics.get("test_accuracy")))
        update_champion(client, name)
