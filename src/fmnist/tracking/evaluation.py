"""The evaluate stage's part: test metrics and figures into the train stage's run, then the champion."""

from __future__ import annotations

from pathlib import Path

from fmnist.files import md5sum
from fmnist.tracking.artifacts import EVALUATION_DIR, log_paths
from fmnist.tracking.client import connect, one_line, quiet, repo_root, run_exists, safe_uri, tracking_uri, warn
from fmnist.tracking.metrics import log_metrics, metric_values
from fmnist.tracking.model import log_card, registered_name, update_champion
from fmnist.tracking.outputs import dvc_lock_hash, read_run_file


def log_evaluation_into(client, run_id: str, experiment: str, metrics: dict, artifacts, register: bool,
                        root: Path, weights_path=None, card_path=None) -> None:
    """Test metrics (at the last epoch's step), evaluate's figures, the model card (also the registered
    version's description), the dvc.lock hash; then the champion."""
    run = client.get_run(run_id)
    step = int(metrics.get("epochs") or max((m.step for m in client.get_metric_history(run_id, "val_loss")),
                                             default=0))
    test_data = next((i.dataset for i in run.inputs.dataset_inputs
                      if any(t.key == "mlflow.data.context" and t.value == "test" for t in i.tags)), None)
    log_metrics(client, run_id, metric_values(metrics), step=step, model_id=run.data.tags.get("model.id"),
                dataset=test_data)
    log_paths(client, run_id, artifacts, EVALUATION_DIR)
    if weights_path is not None and Path(weights_path).exists():
        digest = md5sum(weights_path)
        lock = dvc_lock_hash(root, experiment, digest)
        if lock:
            client.set_tag(run_id, "dvc.lock_hash", lock)
    name = registered_name(experiment)
    version = run.data.tags.get("model.version") if register else None
    if card_path is not None and Path(card_path).exists():
        log_card(client, run_id, card_path, name, version)
    if register and run.data.tags.get("model.version"):
        client.set_model_version_tag(name, run.data.tags["model.version"], "test_accuracy",
                                     str(metrics.get("test_accuracy")))
        update_champion(client, name)


def log_evaluation(run_file, metrics: dict, artifacts, params, weights_path=None, card_path=None) -> bool:
    """Log evaluate's results into the train stage's run; move the `champion` alias. Never raises.

    run_file: models/<experiment>.run.json (written by train); metrics: the dict written to
    metrics/<experiment>.json; artifacts: files or folders to keep with the run (e.g.
    `evaluation_artifacts(experiment)`); params: the Params (or its mlflow section); weights_path:
    default models/<experiment>.pt beside the run file, to tag the run with the dvc.lock hash; card_path:
    the model card, logged as an artifact and set as the registered version's description.
    Returns True when everything was logged; otherwise one warning line says what was not.
    """
    weights_path = weights_path or Path(run_file).with_name(Path(run_file).name.removesuffix(".run.json") + ".pt")
    record = read_run_file(run_file)
    experiment = record.get("experiment") or Path(run_file).name.removesuffix(".run.json")
    settings = getattr(params, "mlflow", params)
    uri = tracking_uri(settings)
    what = f"not logged for {experiment}: test metrics and evaluation figures, model card"
    if not record.get("run_id"):
        reason = record.get("error") or f"{run_file} holds no run id"
        warn(f"MLflow: {what} (the train stage logged no run: {reason}); `fmnist mlflow sync` logs them later.")
        return False
    try:
        with quiet():
            client = connect(uri)
            if not run_exists(client, record["run_id"]):
                raise LookupError(f"run {record['run_id']} is not on this tracking server")
            log_evaluation_into(client, record["run_id"], experiment, metrics, artifacts,
                                getattr(settings, "register", True), repo_root(), weights_path, card_path)
    except Exception as exc:  # noqa: BLE001 - tracking must never fail evaluation
        warn(f"MLflow tracking at {safe_uri(uri)} failed ({one_line(exc)}); {what}. "
             "`fmnist mlflow sync` logs them later.")
        return False
    return True
