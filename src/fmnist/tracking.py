"""MLflow tracking: one run per trained experiment, its model registered, its test metrics added by evaluate.

DVC stays the source of truth for data and outputs; MLflow is the lab notebook and the model registry.
Tracking never fails a stage: a fault (server down, unreachable, stopped mid-run) is caught, reported
as ONE warning line and recorded in the run file `models/<experiment>.run.json`, the small DVC out that
carries the run id from train to evaluate. `fmnist mlflow sync` later logs what is missing from the DVC
outputs. MLflow is imported inside functions, so stages that do not track start fast.

The run of an experiment holds: the effective params (flattened), the prepared splits as dataset
inputs, per-epoch metrics (step = epoch), system metrics (`system/...`) while training, tags (dataset,
model, variant, device, torch, git commit, DVC experiment and stage), the history CSV and loss curve,
the training time, the model (pt2, registered as `fmnist-<experiment>`), and from evaluate the test
metrics (on the run and on the logged model, against the test dataset) and figures. The alias
`champion` marks the registered version with the best test accuracy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

from fmnist.errors import FmnistError
from fmnist.files import md5sum, write_json

CHAMPION = "champion"
MODEL_DIR = "model"  # the logged model's name within its run
TRAINING_DIR = "training"  # artifact folder: history CSV and loss curve
EVALUATION_DIR = "evaluation"  # artifact folder: evaluate's figures and tables
PROBE_TIMEOUT = 5.0  # seconds to wait for an HTTP tracking server's /health before giving up


# --- where runs go --------------------------------------------------------------------------------

def repo_root() -> Path:
    """The project root: DVC_ROOT inside a DVC stage (it names the real repo even for `dvc exp run
    --temp`, whose stages run in a scratch copy), else the nearest folder holding dvc.yaml."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"])
    here = Path.cwd().resolve()
    return next((d for d in (here, *here.parents) if (d / "dvc.yaml").exists()), here)


def tracking_uri(settings=None) -> str:
    """MLFLOW_TRACKING_URI wins, then `mlflow.tracking_uri` in params, else sqlite:///<repo root>/mlflow.db.

    `settings` is the params' `mlflow` section (or the whole Params); None means defaults.
    """
    settings = getattr(settings, "mlflow", settings)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or getattr(settings, "tracking_uri", None)
    return uri or f"sqlite:///{repo_root() / 'mlflow.db'}"


def registered_name(experiment: str) -> str:
    return f"fmnist-{experiment}"


def safe_uri(uri: str) -> str:
    """The URI without user:password, for messages and files."""
    parts = urllib.parse.urlsplit(uri)
    if not (parts.username or parts.password):
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def dvc_outputs(experiment: str, root: str | os.PathLike = ".") -> dict:
    """The DVC outputs of one experiment that tracking reads (the paths dvc.yaml gives them)."""
    root = Path(root)
    return {
        "weights": root / "models" / f"{experiment}.pt",
        "run_file": root / "models" / f"{experiment}.run.json",
        "history": root / "plots" / "train" / f"{experiment}.csv",
        "metrics": root / "metrics" / f"{experiment}.json",
        "info": root / "plots" / "evaluate" / experiment / "info.json",  # the names the metrics are of
        "timing": root / "plots" / "timing" / f"{experiment}.json",
    }


def evaluation_artifacts(experiment: str, root: str | os.PathLike = ".") -> list[Path]:
    """Evaluate's figures and tables worth keeping with the run (those present)."""
    root = Path(root)
    candidates = [root / "plots" / "misclassified" / f"{experiment}.csv",
                  root / "plots" / "evaluate" / experiment]
    return [p for p in candidates if p.exists()]


# --- small helpers --------------------------------------------------------------------------------

def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    text = text[0] if text else ""
    if "Max retries exceeded" in text:  # MLflow's HTTP client wraps a lost server in a long message
        request = re.search(r"API request to \S+?(/api/\S+)", text)
        return "the server stopped answering" + (f" ({request.group(1)})" if request else "")
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__




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
    if outs.get(f"models/{experiment}.pt") != weights_md5:
        return None
    return hashlib.md5(json.dumps(entry, sort_keys=True, default=str).encode()).hexdigest()


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


def metric_values(metrics: dict) -> dict[str, float]:
    """The numbers of evaluate's metrics JSON as MLflow metrics.

    A nested section becomes `section/name` (the UI groups charts by what precedes the slash); lists
    aligned with the class names (a `class` list beside them, or the top-level `classes` of the info
    file) become one metric per class, e.g. `per_class/recall.Coat`.
    """
    def clean(name) -> str:  # MLflow names allow letters, digits and _ - . space : /
        return re.sub(r"[^\w\-. :]", "-", str(name))

    out = {}

    classes = metrics.get("classes") if isinstance(metrics.get("classes"), list) else None

    def walk(data: dict, prefix: str):
        names = data.get("class") if isinstance(data.get("class"), list) else classes if prefix else None
        for key, value in data.items():
            if isinstance(value, (bool, str)):
                continue
            if isinstance(value, (int, float)):
                out[prefix + clean(key)] = float(value)
            elif isinstance(value, dict):
                walk(value, f"{prefix}{clean(key)}/")
            elif isinstance(value, list) and names and len(value) == len(names):
                for name, v in zip(names, value):
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        out[f"{prefix}{clean(key)}.{clean(name)}"] = float(v)

    walk(metrics, "")
    return out


def read_history(path: str | os.PathLike) -> list[dict]:
    """The per-epoch rows of plots/train/<experiment>.csv as numbers."""
    from fmnist import tables  # pandas: only when a history is read

    rows = tables.read_history(path).to_dict("records")
    return [{k: v for k, v in row.items() if v == v} for row in rows]  # an empty (NaN) cell is left out


def loss_curve(rows: list[dict], title: str, path: Path) -> Path:
    """Loss and accuracy per epoch, train and validation (and test when tracked)."""
    from fmnist import plots

    fig, (left, right) = plots.plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = [r["epoch"] for r in rows]
    for split in ("train", "val", "test"):
        if f"{split}_loss" in rows[0]:
            left.plot(epochs, [r[f"{split}_loss"] for r in rows], marker=".", label=split)
        if f"{split}_acc" in rows[0]:
            right.plot(epochs, [r[f"{split}_acc"] for r in rows], marker=".", label=split)
    for ax, what in ((left, "loss"), (right, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return plots.save(fig, path)


def read_run_file(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_run_file(path: str | os.PathLike, record: dict) -> None:
    write_json(path, record)


# --- talking to MLflow ----------------------------------------------------------------------------

@contextlib.contextmanager
def quiet():
    """Hush urllib3's retry chatter: a fault is reported once, by us."""
    logger = logging.getLogger("urllib3")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def connect(uri: str):
    """An MlflowClient for `uri`, after checking that an HTTP server answers at all.

    MLflow's HTTP client retries a dead server for minutes by default; a quick probe and fewer
    retries (unless the user set them) keep a stage from stalling on a server that is not there.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT).close()
        except urllib.error.HTTPError:
            pass  # it answered (perhaps asking for credentials): the server is there
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConnectionError(f"no server answers ({reason})") from None
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)  # log_model and the registry go through the fluent API
    with sqlite_lock(uri):  # opening a new store creates its tables: one process at a time
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    return client


@contextlib.contextmanager
def sqlite_lock(uri: str):
    """An exclusive lock beside a sqlite store (`<db>.lock`); nothing for other stores. Parallel stages
    (`dvc queue start -j 2`) that open a new mlflow.db at once would otherwise both create its tables."""
    db = sqlite_file(uri)
    if db is None:
        yield
        return
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def artifact_location(uri: str) -> str | None:
    """For a sqlite store, artifacts go to mlartifacts/ beside the database (MLflow's own default is
    ./mlruns of the current folder, which is a scratch copy under `dvc exp run --temp`)."""
    db = sqlite_file(uri)
    return (db.parent / "mlartifacts").as_uri() if db else None


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` tracking URI; None for other stores."""
    return Path(uri[len("sqlite:///"):]).resolve() if uri.startswith("sqlite:///") else None


def experiment_id(client, name: str, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location(uri))
        except MlflowException:  # a parallel stage created it first: use theirs
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":  # deleted in the UI: bring it back rather than fail
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def run_exists(client, run_id: str | None) -> bool:
    if not run_id:
        return False
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False


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
    for i in range(0, len(metrics), 1000):  # log_batch takes at most 1000 metrics
        client.log_batch(run_id, metrics=metrics[i:i + 1000], synchronous=True)


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


def log_training_artifacts(client, run_id: str, rows: list[dict], history_path, title: str) -> None:
    """The history CSV and a loss curve PNG, under training/."""
    client.log_artifact(run_id, str(history_path), TRAINING_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        client.log_artifact(run_id, str(loss_curve(rows, title, Path(tmp) / "loss_curve.png")), TRAINING_DIR)


def dataset_inputs(variant_dir, train_split: str = "train") -> list:
    """The prepared splits of a variant as MLflow dataset inputs (context training / validation / test).

    Each is named `<dataset> <variant> <split>`, its source is the variant's folder, its digest the MD5
    of its two .npy files (MLflow's own digest reads only the first few images) and its profile the
    array shapes, so the split sizes show in the UI. With train_split `all` the validation images
    are trained on too, so their context is training.
    """
    import numpy as np
    from mlflow.data import from_numpy
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    variant_dir = Path(variant_dir).resolve()
    meta = json.loads((variant_dir / "meta.json").read_text())
    contexts = {"train": "training", "val": "training" if train_split == "all" else "validation", "test": "test"}
    inputs = []
    for split, context in contexts.items():
        files = [variant_dir / f"{a}_{split}.npy" for a in ("x", "y")]
        digest = hashlib.md5("".join(md5sum(f) for f in files).encode()).hexdigest()
        x, y = (np.load(f, mmap_mode="r") for f in files)
        with warnings.catch_warnings():  # a local path matches two equivalent MLflow source kinds
            warnings.simplefilter("ignore", UserWarning)
            dataset = from_numpy(x, targets=y, source=str(variant_dir), digest=digest,
                                 name=f"{meta['dataset']} {variant_dir.name} {split}")
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs


def system_metrics(run_id: str, uri: str, resume: bool):
    """A started MLflow system-metrics monitor (CPU, memory, disk, network; GPU where nvidia-ml-py finds
    one) logging `system/...` into the run every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (10)."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # no start/stop chatter per stage
    monitor = SystemMetricsMonitor(run_id, resume_logging=resume, tracking_uri=uri)
    monitor.start()
    return monitor


def log_paths(client, run_id: str, paths, folder: str) -> None:
    for path in map(Path, paths):
        if path.is_dir():
            client.log_artifacts(run_id, str(path), folder)
        elif path.exists():
            client.log_artifact(run_id, str(path), folder)


def served_model(model, record: dict):
    """The model as served: pixels 0..255, float32 (N, 1, H, W) in, class probabilities (N, C) out.

    prepare's normalisation, a bilinear resize to the training images' size (the identity at that size)
    and the mirror-image average when the experiment uses TTA are part of the graph, so a client needs
    nothing but the pixels.
    """
    import torch

    from fmnist.inference import input_size

    size = input_size(record)
    shift, scale = float(record["normalisation"]["shift"]), float(record["normalisation"]["scale"])
    tta = bool(record["train"].get("tta", False))

    class Probabilities(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True)
            x = (x - shift) / scale
            probs = torch.softmax(self.model(x), dim=1)
            if tta:
                probs = (probs + torch.softmax(self.model(x.flip(-1)), dim=1)) / 2
            return probs

    return Probabilities().eval()


def example_pixels(record: dict, variant_dir=None):
    """Two validation images as pixels (the model's input example), or two plain patterns without data."""
    import numpy as np

    from fmnist.inference import input_size

    h, w = input_size(record)
    try:
        x = np.load(Path(variant_dir) / "x_val.npy", mmap_mode="r")[:2]
        norm = record["normalisation"]
        pixels = np.clip(np.asarray(x, np.float32) * norm["scale"] + norm["shift"], 0, 255).round()
        if pixels.shape == (2, 1, h, w):
            return pixels.astype(np.float32)
    except (OSError, TypeError, ValueError):
        pass
    pixels = np.zeros((2, 1, h, w), np.float32)
    pixels[1, 0, h // 7:h - h // 7, w // 3:w - w // 3] = 200.0
    return pixels


def log_model(client, run_id: str, weights_path, register: bool, variant_dir=None) -> dict:
    """Log the weights as an MLflow pytorch model (pt2) into the run; register it when asked.

    Returns tags recording where it went (model.uri, model.version).
    """
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import Schema, TensorSpec

    from fmnist.inference import input_size, load_model

    model, record = load_model(weights_path)
    served = served_model(model, record)
    example = example_pixels(record, variant_dir)
    with torch.inference_mode():
        output = served(torch.from_numpy(example)).numpy()
    # Any height and width in (-1: exported as dynamic); the graph resizes to the training size.
    signature = ModelSignature(Schema([TensorSpec(np.dtype(np.float32), (-1, 1, -1, -1))]),
                               infer_signature(example, output).outputs)
    h, w = input_size(record)
    name = registered_name(record["experiment"])
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(
            served, name=MODEL_DIR, signature=signature, input_example=example,
            serialization_format="pt2",  # a traced graph: loading it runs no pickled code
            registered_model_name=name if register else None,
            # Given, not inferred: inference loads the model in a subprocess and takes half a minute.
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
            metadata={"classes": list(record["classes"]), "dataset": record["dataset"],
                      "synthetic": bool(record["synthetic"]), "experiment": record["experiment"],
                      "input_size": [h, w],
                      "input": f"pixels 0..255, float32 (N, 1, {h}, {w}) (other sizes are resized to it), "
                               "light garment on dark ground"},
        )
    tags = {"model.uri": info.model_uri, "model.id": info.model_id}  # the id links the test metrics to it
    if register and info.registered_model_version is not None:
        version = str(info.registered_model_version)
        tags["model.version"] = version
        client.set_model_version_tag(name, version, "dataset", record["dataset"])
        client.set_model_version_tag(name, version, "synthetic", str(bool(record["synthetic"])).lower())
        if not (client.get_registered_model(name).description or ""):
            client.update_registered_model(
                name, f"The fmnist pipeline's '{record['experiment']}' classifier. Input: pixels 0..255, "
                      f"float32 (N, 1, {h}, {w}) (other sizes are resized), light on dark; output: class probabilities (the classes are in "
                      f"the model's metadata). The alias '{CHAMPION}' marks the best test accuracy.")
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    return tags


def update_champion(client, name: str) -> str | None:
    """Point the alias `champion` at the version with the best test accuracy; return that version.

    A model trained on synthetic data never displaces one trained on real data: their accuracies
    do not compare.
    """
    from mlflow.exceptions import MlflowException

    best = None
    for version in client.search_model_versions(f"name='{name}'"):
        if not version.run_id:
            continue
        try:
            run = client.get_run(version.run_id)
        except MlflowException:
            continue
        accuracy = run.data.metrics.get("test_accuracy")
        if accuracy is None or run.info.lifecycle_stage != "active":
            continue
        real = run.data.tags.get("synthetic") != "true"
        key = (real, accuracy, int(version.version))
        if best is None or key > best[0]:
            best = (key, version.version)
    if best is None:
        return None
    client.set_registered_model_alias(name, CHAMPION, best[1])
    return best[1]


def log_evaluation_into(client, run_id: str, experiment: str, metrics: dict, artifacts, register: bool,
                        root: Path, weights_path=None) -> None:
    """Test metrics (at the last epoch's step), evaluate's figures, the dvc.lock hash; then the champion."""
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
    if register and run.data.tags.get("model.version"):
        client.set_model_version_tag(name, run.data.tags["model.version"], "test_accuracy",
                                     str(metrics.get("test_accuracy")))
        update_champion(client, name)


# --- the train stage's run ------------------------------------------------------------------------

class TrainingRun:
    """The MLflow run of one train stage. Use as a context manager around `train_experiment`, with
    `log_epoch` as its `on_epoch`. It never raises: the first tracking fault prints one warning line
    and turns the rest into no-ops. On success it writes the run file (run id or null, and what was
    not logged). The run starts at the first epoch, so a bad setting that fails before training
    leaves no run and no output behind.

    An interrupted run resumed from its checkpoint continues the same MLflow run: its id is kept in
    the checkpoint folder until training completes.
    """

    STEPS = ("the run with its params and tags", "epoch metrics", "the history and loss curve", "the model")

    def __init__(self, experiment: str, params, variant_dir, weights_path, history_path, checkpoint_dir,
                 run_file=None, timing_path=None):
        self.experiment, self.params = experiment, params
        self.cfg = params.experiment(experiment)
        self.variant_dir, self.weights_path = Path(variant_dir), Path(weights_path)
        self.history_path, self.checkpoint_dir = Path(history_path), Path(checkpoint_dir)
        self.run_file = Path(run_file) if run_file else self.weights_path.with_suffix(".run.json")
        self.resume_file = self.checkpoint_dir / "mlflow-run.json"
        self.uri = tracking_uri(params.mlflow)
        self.root = repo_root()
        self.client = self.run_id = self.error = None
        self.not_logged: list[str] = []
        self.started_ms = int(time.time() * 1000)
        self.model_tags: dict = {}
        self.timing_path = Path(timing_path) if timing_path else self.weights_path.with_suffix(".timing.json")
        self.monitor = None

    # A fault in step i means nothing from step i on is logged: tell the user exactly that, once.
    def _fail(self, step: int, exc: BaseException, epoch: int | None = None, missing=None) -> None:
        missing = missing or list(self.STEPS[step:])
        if epoch is not None:
            missing[0] = f"epoch metrics from epoch {epoch} on"
        what = "the whole run (params, tags, epoch metrics, loss curve, model)" if step == 0 and len(missing) > 1 \
            else ", ".join(missing)
        self.not_logged, self.error = missing, one_line(exc)
        self.client = None
        self._stop_monitor()
        warn(f"MLflow tracking at {safe_uri(self.uri)} failed ({self.error}); not logged for "
             f"{self.experiment}: {what}. Training goes on; `fmnist mlflow sync` logs it later.")

    @property
    def active(self) -> bool:
        return self.client is not None

    def _meta(self) -> dict:
        try:
            return json.loads((self.variant_dir / "meta.json").read_text())
        except (OSError, ValueError):
            return {}

    def _start(self, epoch: int | None) -> None:
        """Create the run (or continue the interrupted one this checkpoint belongs to).

        epoch: the first epoch logged by this process; 1 means training started afresh (no checkpoint,
        or an unreadable one), so an earlier run must not be continued.
        """
        import torch

        from fmnist.training.loop import fingerprint
        from fmnist.device import resolve_device

        meta = self._meta()
        key = fingerprint(self.cfg, meta)
        self.client = connect(self.uri)
        exp_id = experiment_id(self.client, self.params.mlflow.experiment, self.uri)
        previous = read_run_file(self.resume_file).get("run_id")
        if (previous and epoch != 1 and (self.checkpoint_dir / "last.pt").exists()
                and run_exists(self.client, previous)
                and self.client.get_run(previous).data.tags.get("fingerprint") == key):
            self.run_id = previous
            self.client.update_run(previous, status="RUNNING")
            print(f"{self.experiment}: continuing MLflow run {previous}")
            self.monitor = system_metrics(self.run_id, self.uri, resume=True)
            return
        if previous and run_exists(self.client, previous):  # an interrupted run this one does not continue
            self.client.set_terminated(previous, status="KILLED")
        commit = git_commit(self.root)
        tags = {
            "experiment": self.experiment,
            "model": self.cfg.model,
            "variant": self.cfg.variant,
            "dataset": meta.get("dataset", "unknown"),
            "dataset_id": meta.get("dataset_id", "unknown"),
            "synthetic": str(bool(meta.get("synthetic"))).lower(),
            "device": str(resolve_device(self.cfg.device)),
            "torch": torch.__version__,
            "dvc.stage": os.environ.get("DVC_STAGE", f"train@{self.experiment}"),
            "group": run_group(self.root, commit),
            "fingerprint": key,
            "mlflow.source.name": "stages/train.py",
            "mlflow.source.type": "LOCAL",
        }
        if commit:
            tags["git.commit"] = tags["mlflow.source.git.commit"] = commit
        if os.environ.get("DVC_EXP_NAME"):
            tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
        if meta.get("synthetic"):
            tags["mlflow.note.content"] = f"Trained on {meta.get('dataset')}: synthetic data, not Fashion-MNIST."
        run = self.client.create_run(exp_id, start_time=self.started_ms, tags=tags, run_name=self.experiment)
        self.run_id = run.info.run_id
        settings = json.loads(json.dumps(dataclasses.asdict(self.cfg)))
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in run_params(self.experiment, settings, self.params).items()]
        for i in range(0, len(items), 100):  # log_batch takes at most 100 params
            self.client.log_batch(self.run_id, params=items[i:i + 100], synchronous=True)
        self.client.log_inputs(self.run_id, datasets=dataset_inputs(self.variant_dir, self.cfg.train_split))
        write_run_file(self.resume_file, {"run_id": self.run_id})
        self.monitor = system_metrics(self.run_id, self.uri, resume=False)

    def _ensure_started(self, epoch: int | None = None) -> bool:
        if self.run_id is None and self.error is None:
            try:
                with quiet():
                    self._start(epoch)
            except Exception as exc:  # noqa: BLE001 - tracking must never fail training
                self._fail(0, exc)
        return self.active

    def log_epoch(self, row: dict) -> None:
        """The history row of one epoch as metrics with step = epoch."""
        if not self._ensure_started(int(row["epoch"])):
            return
        try:
            with quiet():
                log_metrics(self.client, self.run_id, {k: v for k, v in row.items() if k != "epoch"},
                            step=int(row["epoch"]))
        except Exception as exc:  # noqa: BLE001
            self._fail(1, exc, epoch=int(row["epoch"]))

    def _finish(self) -> None:
        """After training: fill in any epochs the run lacks, log the curves and the model."""
        if not self._ensure_started():
            return
        step = 1
        try:
            with quiet():
                rows = read_history(self.history_path)
                log_missing_history(self.client, self.run_id, rows)
                timing = read_run_file(self.timing_path)  # any JSON file; {} when absent
                if "train_seconds" in timing:
                    log_metrics(self.client, self.run_id, {"train_seconds": timing["train_seconds"]},
                                step=rows[-1]["epoch"] if rows else 0)
                step = 2
                meta = self._meta()
                log_training_artifacts(self.client, self.run_id, rows, self.history_path,
                                       f"{self.experiment} - {meta.get('dataset', 'unknown dataset')}")
                step = 3
                self.model_tags = log_model(self.client, self.run_id, self.weights_path,
                                            self.params.mlflow.register, self.variant_dir)
                self.client.set_tag(self.run_id, "weights_md5", md5sum(self.weights_path))
        except Exception as exc:  # noqa: BLE001
            self._fail(step, exc)

    def __enter__(self):
        return self

    def _stop_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor, monitor = None, self.monitor
            monitor.finish()  # logs what it holds; it never raises

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._finish()
        self._stop_monitor()
        status = "FINISHED" if exc_type is None else "KILLED" if exc_type is KeyboardInterrupt else "FAILED"
        if self.active:
            try:
                with quiet():
                    self.client.set_terminated(self.run_id, status=status)
            except Exception as exc_end:  # noqa: BLE001
                self._fail(0, exc_end, missing=[f"the run's end (status {status})"])
        if exc_type is None:  # the run file is a DVC out: written when the stage succeeds, logged or not
            self.resume_file.unlink(missing_ok=True)
            write_run_file(self.run_file, self.record())
        return False

    def record(self) -> dict:
        """The run file's content."""
        logged = self.run_id is not None and not self.not_logged
        return {
            "experiment": self.experiment,
            "run_id": self.run_id,
            "tracking_uri": safe_uri(self.uri),
            "mlflow_experiment": self.params.mlflow.experiment,
            "status": "logged" if logged else "incomplete" if self.run_id else "not logged",
            "not_logged": self.not_logged,
            "error": self.error,
            **self.model_tags,
        }


# --- the evaluate stage ---------------------------------------------------------------------------

def log_evaluation(run_file, metrics: dict, artifacts, params, weights_path=None) -> bool:
    """Log evaluate's results into the train stage's run; move the `champion` alias. Never raises.

    run_file: models/<experiment>.run.json (written by train); metrics: the dict written to
    metrics/<experiment>.json; artifacts: files or folders to keep with the run (e.g.
    `evaluation_artifacts(experiment)`); params: the Params (or its mlflow section); weights_path:
    default models/<experiment>.pt beside the run file, to tag the run with the dvc.lock hash.
    Returns True when everything was logged; otherwise one warning line says what was not.
    """
    weights_path = weights_path or Path(run_file).with_name(Path(run_file).name.removesuffix(".run.json") + ".pt")
    record = read_run_file(run_file)
    experiment = record.get("experiment") or Path(run_file).name.removesuffix(".run.json")
    settings = getattr(params, "mlflow", params)
    uri = tracking_uri(settings)
    what = f"not logged for {experiment}: test metrics and evaluation figures"
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
                                getattr(settings, "register", True), repo_root(), weights_path)
    except Exception as exc:  # noqa: BLE001 - tracking must never fail evaluation
        warn(f"MLflow tracking at {safe_uri(uri)} failed ({one_line(exc)}); {what}. "
             "`fmnist mlflow sync` logs them later.")
        return False
    return True


# --- fmnist mlflow sync ---------------------------------------------------------------------------

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
    import torch

    paths = dvc_outputs(name, root)
    if not paths["weights"].exists():
        return f"not trained ({paths['weights']} missing); nothing to log"
    record = torch.load(paths["weights"], map_location="cpu", weights_only=True)
    digest = md5sum(paths["weights"])
    run_id = read_run_file(paths["run_file"]).get("run_id")
    done = []
    if not run_exists(client, run_id):
        found = client.search_runs([exp_id], f"tags.weights_md5 = '{digest}'", max_results=1)
        if found:
            run_id = found[0].info.run_id
        else:
            run_id = client.create_run(exp_id, run_name=name, tags={"synced": "true"}).info.run_id
            done.append("created the run")
    run = client.get_run(run_id)

    from mlflow.entities import Param

    wanted = run_params(name, record["train"], params)
    missing = [Param(k, v) for k, v in wanted.items() if k not in run.data.params]
    for i in range(0, len(missing), 100):
        client.log_batch(run_id, params=missing[i:i + 100], synchronous=True)
    if missing:
        done.append(f"{len(missing)} params")

    commit = run.data.tags.get("git.commit") or git_commit(root)
    tags = {"experiment": name, "model": record["model"], "variant": record["variant"],
            "dataset": record["dataset"], "dataset_id": record["dataset_id"],
            "synthetic": str(bool(record["synthetic"])).lower(), "device": record["device"],
            "torch": record["torch"], "dvc.stage": f"train@{name}", "weights_md5": digest}
    if commit:
        tags["git.commit"] = tags["mlflow.source.git.commit"] = commit
    if "group" not in run.data.tags:
        tags["group"] = run_group(root, commit)
    lock = dvc_lock_hash(root, name, digest)
    if lock:
        tags["dvc.lock_hash"] = lock
    for key, value in tags.items():
        if run.data.tags.get(key) != value:
            client.set_tag(run_id, key, value)

    variant_dir = root / "data" / "prepared" / record["variant"]
    if not run.inputs.dataset_inputs and (variant_dir / "meta.json").exists():
        client.log_inputs(run_id, datasets=dataset_inputs(variant_dir, record["train"].get("train_split", "train")))
        done.append("dataset inputs")

    if paths["history"].exists():
        rows = read_history(paths["history"])
        added = log_missing_history(client, run_id, rows)
        if added:
            done.append(f"{added} epoch{'s' if added != 1 else ''}")
        if not client.list_artifacts(run_id, TRAINING_DIR):
            log_training_artifacts(client, run_id, rows, paths["history"], f"{name} - {record['dataset']}")
            done.append("loss curve")
        timing = read_run_file(paths["timing"])
        if "train_seconds" in timing and "train_seconds" not in run.data.metrics:
            log_metrics(client, run_id, {"train_seconds": timing["train_seconds"]},
                        step=rows[-1]["epoch"] if rows else 0)

    if "model.uri" not in run.data.tags:
        tags = log_model(client, run_id, paths["weights"], params.mlflow.register, variant_dir)
        done.append(f"model (version {tags['model.version']})" if "model.version" in tags else "model")

    if paths["metrics"].exists():
        run = client.get_run(run_id)
        if "test_accuracy" not in run.data.metrics:
            metrics = {**read_run_file(paths["info"]), **json.loads(paths["metrics"].read_text())}
            log_evaluation_into(client, run_id, name, metrics, evaluation_artifacts(name, root),
                                params.mlflow.register, root, paths["weights"])
            done.append("test metrics and figures")
    if params.mlflow.register and done:  # a model logged now may be the best one
        update_champion(client, registered_name(name))

    if client.get_run(run_id).info.status == "RUNNING":  # its stage was cut off from the server
        client.set_terminated(run_id, status="FINISHED")
    return f"run {run_id}: logged {', '.join(done)}" if done else f"run {run_id} is complete; nothing to log"
