"""The one writer of a run's contents: `complete_run` logs what the DVC outputs hold and the run lacks.
Evaluate calls it (`log_experiment`), and so does `fmnist mlflow sync` (`sync`); the train stage logs the
epochs only (fmnist.tracking.epochs)."""

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
from fmnist.tracking.client import connect, experiment_id, one_line, quiet, run_exists, safe_uri, tracking_uri, warn
from fmnist.tracking.evaluation import sync_evaluation
from fmnist.tracking.metrics import log_metrics, log_missing_history
from fmnist.tracking.model import log_model, registered_name, update_champion
from fmnist.tracking.outputs import dvc_lock_hash, read_history, read_run_file
from fmnist.tracking.provenance import git_commit, log_params, run_group, run_params, run_tags


def log_experiment(name: str, params, root: str | os.PathLike = ".") -> bool:
    """The evaluate stage's tracking: `complete_run` for one experiment. Never raises: a fault is one
    warning line (`fmnist mlflow sync` logs the rest later). True when everything was logged."""
    uri = tracking_uri(params.mlflow)
    try:
        with quiet():
            client = connect(uri)
            complete_run(client, experiment_id(client, params.mlflow.experiment, uri), name, params, Path(root))
    except Exception as exc:  # noqa: BLE001 - tracking must never fail evaluation
        warn(f"MLflow tracking at {safe_uri(uri)} failed ({one_line(exc)}); not logged for {name}: what its run "
             "lacks (params, tags, curves, the model, test metrics and evaluation figures, model card). "
             "`fmnist mlflow sync` logs it later.")
        return False
    return True


def sync(params, experiments=None, root: str | os.PathLike = ".") -> dict[str, str]:
    """`fmnist mlflow sync`: `complete_run` for each experiment; return (and print) a line per experiment.
    Raises FmnistError when the server is unreachable, or when an experiment could not be logged."""
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
                report[name] = complete_run(client, exp_id, name, params, root)
        except FmnistError:
            raise
        except Exception as exc:  # noqa: BLE001 - one experiment's fault should not hide the others'
            report[name] = f"failed: {one_line(exc)}"
        print(f"{name}: {report[name]}", flush=True)
    failed = [name for name, line in report.items() if line.startswith("failed")]
    if failed:
        raise FmnistError(f"fmnist mlflow sync: {', '.join(failed)} could not be logged (see above)")
    return report


def complete_run(client, exp_id: str, name: str, params, root: Path) -> str:
    """Complete (or create) the run of one trained experiment from its outputs; return what was logged, as
    one line. The run is the run file's, else the one tagged with the weights' MD5, else a new one; it gets
    what it lacks: params, tags, dataset inputs, epochs, history and loss curve, training time, the model
    (registered), test metrics, figures and model card, the champion alias. A second call adds nothing."""
    from fmnist.weights import Weights

    paths = ExperimentPaths(name, root)
    if not paths.weights.exists():
        return f"not trained ({paths.weights} missing); nothing to log"
    weights = Weights.load(paths.weights)
    digest = md5sum(paths.weights)
    record = read_run_file(paths.run_file)  # what only the train stage knew
    run_id, done = find_run(client, exp_id, name, record, digest)
    run = client.get_run(run_id)
    done += sync_params(client, run, name, weights, params)
    sync_tags(client, run, name, weights, digest, record, root, params)
    variant_dir = prepared_dir(weights.variant, root)
    done += sync_inputs(client, run, variant_dir, weights)
    if paths.history.exists():
        done += sync_history(client, run, paths, f"{name} - {weights.dataset}")
    if "model.uri" not in run.data.tags:
        tags = log_model(client, run_id, paths.weights, params.mlflow.register, variant_dir)
        done.append(f"model (version {tags['model.version']})" if "model.version" in tags else "model")
    if paths.metrics.exists():
        done += sync_evaluation(client, run_id, name, paths, params.mlflow.register, root)
    if params.mlflow.register and done:  # a model logged now may be the best one
        update_champion(client, registered_name(name))
    if client.get_run(run_id).info.status == "RUNNING":  # created here, or its stage was cut off from the server
        client.set_terminated(run_id, status="FINISHED")
    return f"run {run_id}: logged {', '.join(done)}" if done else f"run {run_id} is complete; nothing to log"


def find_run(client, exp_id: str, name: str, record: dict, digest: str) -> tuple[str, list[str]]:
    """The run file's run if the server has it, else the run tagged with these weights' MD5, else a new
    run (started when training started); with what was done (["created the run"] or nothing)."""
    if run_exists(client, record.get("run_id")):
        return record["run_id"], []
    found = client.search_runs([exp_id], f"tags.weights_md5 = '{digest}'", max_results=1)
    if found:
        return found[0].info.run_id, []
    run = client.create_run(exp_id, start_time=record.get("started_ms"), run_name=name, tags={"synced": "true"})
    return run.info.run_id, ["created the run"]


def sync_params(client, run, name: str, weights, params) -> list[str]:
    wanted = run_params(name, weights.train, params)
    missing = {k: v for k, v in wanted.items() if k not in run.data.params}
    if not missing:
        return []
    log_params(client, run.info.run_id, missing)
    return [f"{len(missing)} params"]


def wanted_tags(run, name: str, weights, record: dict, root: Path, params) -> dict[str, str]:
    """What was trained, on what and where (the weights); from which commit, in which DVC experiment and
    group, and the checkpoint's fingerprint (the run file, where the train stage recorded them)."""
    commit = run.data.tags.get("git.commit") or record.get("git_commit") or git_commit(root)
    tags = {**run_tags(name, vars(weights), commit, f"train@{name}"),
            "seed_group": seed_group(name, weights.train, dataclasses.asdict(params.data), params.prepare.val_size),
            "mlflow.source.name": "stages/train.py", "mlflow.source.type": "LOCAL"}
    if record.get("dvc_exp_name"):
        tags["dvc.exp_name"] = record["dvc_exp_name"]
    # As the train stage saw it; else a group once set stays (params.yaml may have changed since).
    tags["group"] = record.get("group") or run.data.tags.get("group") or run_group(root, commit)
    if record.get("fingerprint"):
        tags["fingerprint"] = record["fingerprint"]
    if weights.synthetic:
        tags["mlflow.note.content"] = f"Trained on {weights.dataset}: synthetic data, not Fashion-MNIST."
    return tags


def sync_tags(client, run, name: str, weights, digest: str, record: dict, root: Path, params) -> None:
    """`wanted_tags`, the weights' MD5 and the dvc.lock hash: those that differ."""
    tags = {**wanted_tags(run, name, weights, record, root, params), "weights_md5": digest}
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
