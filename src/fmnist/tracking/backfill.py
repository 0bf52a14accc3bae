"""`fmnist mlflow sync`: log to MLflow what the DVC outputs hold and the tracking server lacks."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.files import md5sum
from fmnist.paths import ExperimentPaths, prepared_dir
from fmnist.sweeps import seed_group
from fmnist.tracking.artifacts import TRAINING_DIR, dataset_inputs, log_training_artifacts
from fmnist.tracking.client import connect, experiment_id, one_line, quiet, run_exists, safe_uri, tracking_uri
from fmnist.tracking.evaluation import log_evaluation_into
from fmnist.tracking.metrics import log_metrics, log_missing_history
from fmnist.tracking.model import log_model, registered_name, update_champion
from fmnist.tracking.outputs import dvc_lock_hash, evaluation_artifacts, read_history, read_run_file
from fmnist.tracking.provenance import git_commit, log_params, run_group, run_params, run_tags


def sync(params, experiments=None, root: str | os.PathLike = ".") -> dict[str, str]:
    """Log to MLflow what the DVC outputs hold and the tracking server lacks; return a line per experiment.

    A run is found by the run file's id, else by the weights' MD5 (tag `weights_md5`), else created;
    then whatever it lacks is added: params, epochs, tags, curves, model, test metrics and figures.
    Running it twice adds nothing the second time. Raises FmnistError when the server is unreachable.
    """
    root = Path(root)
    uri = tracking_uri(params.mlflow)
    try:
        with quiet():
            client = connect(uri)
            exp_id = experiment_id(client, params.mlflow.experiment, uri)
    except Exception as exc:  # noqa: BLE001
        raise FmnistError(f"MLflow tracking at {safe_uri(uri)}: {one_line(exc)}") from None
    report = {}
    for name in experiments or list(params.experiments):
        try:
            with quiet():
                report[name] = sync_experiment(client, exp_id, name, params, root)
        except FmnistError:
            raise
        except Exception as exc:  # noqa: BLE001 - one experiment's fault should not hide the others'
            report[name] = f"failed: {one_line(exc)}"
        print(f"{name}: {report[name]}", flush=True)
    failed = [name for name, line in report.items() if line.startswith("failed")]
    if failed:
        raise FmnistError(f"fmnist mlflow sync: {', '.join(failed)} could not be logged (see above)")
    return report


def sync_experiment(client, exp_id: str, name: str, params, root: Path) -> str:
    """Complete (or create) the run of one trained experiment; return what was logged, as one line."""
    from fmnist.weights import Weights

    paths = ExperimentPaths(name, root)
    if not paths.weights.exists():
        return f"not trained ({paths.weights} missing); nothing to log"
    weights = Weights.load(paths.weights)
    digest = md5sum(paths.weights)
    run_id, done = find_run(client, exp_id, name, read_run_file(paths.run_file).get("run_id"), digest)
    run = client.get_run(run_id)
    done += sync_params(client, run, name, weights, params)
    sync_tags(client, run, name, weights, digest, root, params)
    variant_dir = prepared_dir(weights.variant, root)
    done += sync_inputs(client, run, variant_dir, weights)
    if paths.history.exists():
        done += sync_history(client, run, paths, f"{name} - {weights.dataset}")
    if "model.uri" not in run.data.tags:
        tags = log_model(client, run_id, paths.weights, params.mlflow.register, variant_dir)
        done.append(f"model (version {tags['model.version']})" if "model.version" in tags else "model")
    if paths.metrics.exists():
        done += sync_evaluation(client, run_id, name, paths, params, root)
    if params.mlflow.register and done:  # a model logged now may be the best one
        update_champion(client, registered_name(name))
    if client.get_run(run_id).info.status == "RUNNING":  # its stage was cut off from the server
        client.set_terminated(run_id, status="FINISHED")
    return f"run {run_id}: logged {', '.join(done)}" if done else f"run {run_id} is complete; nothing to log"


def find_run(client, exp_id: str, name: str, run_id: str | None, digest: str) -> tuple[str, list[str]]:
    """The run file's run if the server has it, else the run tagged with these weights' MD5, else a new
    run; with what was done (["created the run"] or nothing)."""
    if run_exists(client, run_id):
        return run_id, []
    found = client.search_runs([exp_id], f"tags.weights_md5 = '{digest}'", max_results=1)
    if found:
        return found[0].info.run_id, []
    return client.create_run(exp_id, run_name=name, tags={"synced": "true"}).info.run_id, ["created the run"]


def sync_params(client, run, name: str, weights, params) -> list[str]:
    wanted = run_params(name, weights.train, params)
    missing = {k: v for k, v in wanted.items() if k not in run.data.params}
    if not missing:
        return []
    log_params(client, run.info.run_id, missing)
    return [f"{len(missing)} params"]


def sync_tags(client, run, name: str, weights, digest: str, root: Path, params) -> None:
    """The tags the train stage would have set, the weights' MD5 and the dvc.lock hash: those that differ."""
    commit = run.data.tags.get("git.commit") or git_commit(root)
    tags = {**run_tags(name, vars(weights), commit, f"train@{name}"), "weights_md5": digest,
            "seed_group": seed_group(name, weights.train, dataclasses.asdict(params.data), params.prepare.val_size)}
    if "group" not in run.data.tags:
        tags["group"] = run_group(root, commit)
    lock = dvc_lock_hash(root, name, digest)
    if lock:
        tags["dvc.lock_hash"] = lock
    for key, value in tags.items():
        if run.data.tags.get(key) != value:
            client.set_tag(run.info.run_id, key, value)


def sync_inputs(client, run, variant_dir: Path, weights) -> list[str]:
    if run.inputs.dataset_inputs or not (variant_dir / "meta.json").exists():
        return []
    dataset = json.loads((variant_dir / "meta.json").read_text())["dataset"]
    client.log_inputs(run.info.run_id,
                      datasets=dataset_inputs(variant_dir, dataset, weights.train.get("train_split", "train")))
    return ["dataset inputs"]


def sync_history(client, run, paths: ExperimentPaths, title: str) -> list[str]:
    """The epochs the run lacks, the history and loss curve if absent, and the training time."""
    run_id, done = run.info.run_id, []
    rows = read_history(paths.history)
    added = log_missing_history(client, run_id, rows)
    if added:
        done.append(f"{added} epoch{'s' if added != 1 else ''}")
    if not client.list_artifacts(run_id, TRAINING_DIR):
        log_training_artifacts(client, run_id, rows, paths.history, title)
        done.append("loss curve")
    timing = read_run_file(paths.timing)
    if "train_seconds" in timing and "train_seconds" not in run.data.metrics:
        log_metrics(client, run_id, {"train_seconds": timing["train_seconds"]},
                    step=rows[-1]["epoch"] if rows else 0)
    return done


def sync_evaluation(client, run_id: str, name: str, paths: ExperimentPaths, params, root: Path) -> list[str]:
    """Evaluate's test metrics, figures and model card, when the run has no test accuracy yet."""
    if "test_accuracy" in client.get_run(run_id).data.metrics:
        return []
    metrics = {**read_run_file(paths.info), **json.loads(paths.metrics.read_text())}
    log_evaluation_into(client, run_id, name, metrics, evaluation_artifacts(name, root),
                        params.mlflow.register, root, paths.weights, paths.model_card)
    return ["test metrics and figures" + (" and the model card" if paths.model_card.exists() else "")]
