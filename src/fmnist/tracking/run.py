"""The train stage's MLflow run: created at the first epoch, fed each epoch, completed with the curves
and the model, and written to the run file whatever happened."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path

from fmnist.files import md5sum
from fmnist.sweeps import seed_group
from fmnist.tracking.artifacts import dataset_inputs, log_training_artifacts
from fmnist.tracking.client import (
    connect, experiment_id, one_line, quiet, repo_root, run_exists, safe_uri, tracking_uri, warn,
)
from fmnist.tracking.metrics import log_metrics, log_missing_history
from fmnist.tracking.model import log_model
from fmnist.tracking.outputs import read_history, read_run_file, write_run_file
from fmnist.tracking.provenance import git_commit, log_params, run_group, run_params, run_tags
from fmnist.tracking.worker import Worker

FINISH_WAIT = 300.0   # seconds the finished stage waits for the tracking calls still queued
INTERRUPT_WAIT = 1.5  # ... and an interrupted one, to mark the run KILLED (a resume continues it anyway)


def system_metrics(run_id: str, uri: str, resume: bool):
    """A started MLflow system-metrics monitor (CPU, memory, disk, network; GPU where nvidia-ml-py finds
    one) logging `system/...` into the run every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (10)."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # no start/stop chatter per stage
    monitor = SystemMetricsMonitor(run_id, resume_logging=resume, tracking_uri=uri)
    monitor.start()
    return monitor


class TrainingRun:
    """The MLflow run of one train stage. Use as a context manager around `train_experiment`, with
    `log_epoch` as its `on_epoch`. It never raises: the first tracking fault prints one warning line
    and turns the rest into no-ops. On success it writes the run file (run id or null, and what was
    not logged). The run starts at the first epoch, so a bad setting that fails before training
    leaves no run and no output behind.

    The stage tells it what it knows of the training: `meta`, the prepared variant's meta.json (dataset,
    dataset_id, synthetic); `fingerprint`, what the checkpoint must match (`fmnist.training.checkpoint.fingerprint`);
    and `device`, where training runs.

    An interrupted run resumed from its checkpoint continues the same MLflow run: its id is kept in
    the checkpoint folder until training completes.

    `on_epoch` hands the epoch to a background thread (fmnist.tracking.worker) and returns at once: a store
    that is slow or locked by another process (sqlite waits 20 s per query) never holds training up; one
    that stays locked costs the usual warning. `log_epoch` logs in the caller's thread.
    """

    STEPS = ("the run with its params and tags", "epoch metrics", "the history and loss curve", "the model")

    def __init__(self, experiment: str, params, variant_dir, weights_path, history_path, checkpoint_dir,
                 run_file=None, timing_path=None, *, meta: dict, fingerprint: str, device):
        self.experiment, self.params = experiment, params
        self.cfg = params.experiment(experiment)
        self.meta, self.fingerprint, self.device = meta, fingerprint, str(device)
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
        self.worker = Worker()

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

    def _tags(self) -> dict[str, str]:
        """The new run's tags: those sync sets too (`run_tags`), and what only the train stage knows."""
        import torch

        commit = git_commit(self.root)
        trained = {"model": self.cfg.model, "variant": self.cfg.variant, "dataset": self.meta.get("dataset", "unknown"),
                   "dataset_id": self.meta.get("dataset_id", "unknown"), "synthetic": self.meta.get("synthetic"),
                   "device": self.device, "torch": torch.__version__}
        stage = os.environ.get("DVC_STAGE", f"train@{self.experiment}")
        tags = {**run_tags(self.experiment, trained, commit, stage),
                "group": run_group(self.root, commit),
                "seed_group": seed_group(self.experiment, dataclasses.asdict(self.cfg),
                                         dataclasses.asdict(self.params.data), self.params.prepare.val_size),
                "fingerprint": self.fingerprint,
                "mlflow.source.name": "stages/train.py",
                "mlflow.source.type": "LOCAL"}
        if os.environ.get("DVC_EXP_NAME"):
            tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
        if self.meta.get("synthetic"):
            tags["mlflow.note.content"] = f"Trained on {self.meta.get('dataset')}: synthetic data, not Fashion-MNIST."
        return tags

    def _continues(self, previous: str | None, epoch: int | None) -> bool:
        """Whether `previous`, the run of an interrupted stage, is the one this checkpoint belongs to.

        epoch: the first epoch logged by this process; 1 means training started afresh (no checkpoint,
        or an unreadable one), so an earlier run must not be continued.
        """
        return bool(previous and epoch != 1 and (self.checkpoint_dir / "last.pt").exists()
                    and run_exists(self.client, previous)
                    and self.client.get_run(previous).data.tags.get("fingerprint") == self.fingerprint)

    def _start(self, epoch: int | None) -> None:
        """Create the run (or continue the interrupted one this checkpoint belongs to)."""
        self.client = connect(self.uri)
        exp_id = experiment_id(self.client, self.params.mlflow.experiment, self.uri)
        previous = read_run_file(self.resume_file).get("run_id")
        if self._continues(previous, epoch):
            self.run_id = previous
            self.client.update_run(previous, status="RUNNING")
            print(f"{self.experiment}: continuing MLflow run {previous}")
            self.monitor = system_metrics(self.run_id, self.uri, resume=True)
            return
        if previous and run_exists(self.client, previous):  # an interrupted run this one does not continue
            self.client.set_terminated(previous, status="KILLED")
        run = self.client.create_run(exp_id, start_time=self.started_ms, tags=self._tags(), run_name=self.experiment)
        self.run_id = run.info.run_id
        settings = json.loads(json.dumps(dataclasses.asdict(self.cfg)))
        log_params(self.client, self.run_id, run_params(self.experiment, settings, self.params))
        self.client.log_inputs(self.run_id, datasets=dataset_inputs(self.variant_dir, self.meta["dataset"],
                                                                    self.cfg.train_split))
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

    def on_epoch(self, row: dict) -> None:
        """`log_epoch` in the background: training goes on at once."""
        row = dict(row)
        self.worker.submit(lambda: self.log_epoch(row))

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
                log_training_artifacts(self.client, self.run_id, rows, self.history_path,
                                       f"{self.experiment} - {self.meta.get('dataset', 'unknown dataset')}")
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

    def _end(self, status: str) -> None:
        self._stop_monitor()
        if self.active:
            try:
                with quiet():
                    self.client.set_terminated(self.run_id, status=status)
            except Exception as exc_end:  # noqa: BLE001
                self._fail(0, exc_end, missing=[f"the run's end (status {status})"])

    def __exit__(self, exc_type, exc, tb):
        """Finish (or close) the run after the epochs still queued; an interrupted stage waits a moment only."""
        status = "FINISHED" if exc_type is None else "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
        if exc_type is None:
            self.worker.submit(self._finish)
        self.worker.submit(lambda: self._end(status))
        if not self.worker.wait(FINISH_WAIT if exc_type is None else INTERRUPT_WAIT) and exc_type is None:
            self.not_logged, self.error = ["whatever was still queued"], f"no answer within {FINISH_WAIT:.0f} s"
            warn(f"MLflow tracking at {safe_uri(self.uri)} did not answer within {FINISH_WAIT:.0f} s; the run "
                 f"of {self.experiment} may lack its last epochs, curves or model: `fmnist mlflow sync` logs them.")
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
