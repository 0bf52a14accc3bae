"""The train stage's part: per-epoch metrics, logged by a callback that never fails or holds up training,
and the run file. Everything else in the run is written by fmnist.tracking.complete, from the outputs."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from fmnist.tracking.client import (
    connect, experiment_id, one_line, quiet, repo_root, run_exists, safe_uri, tracking_uri, warn,
)
from fmnist.tracking.metrics import log_metrics
from fmnist.tracking.outputs import read_run_file, write_run_file
from fmnist.tracking.provenance import git_commit, run_group
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


class EpochLog:
    """The epochs of one train stage into its MLflow run. Use as a context manager around `train_experiment`,
    with `on_epoch` as its `on_epoch`. It never raises: the first tracking fault prints one warning line and
    turns the rest into no-ops. On success it writes the run file: the run id (or null), what was not logged,
    and what only the train stage knows (its start, the checkpoint's fingerprint, commit, DVC experiment, group).

    The run is created at the first epoch (name: the experiment; tag: `fingerprint`, what the checkpoint
    must match), so a bad setting that fails before training leaves no run behind. An interrupted training
    resumed from its checkpoint continues the same run: its id is kept in the checkpoint folder until
    training completes.

    `on_epoch` hands the epoch to a background thread (fmnist.tracking.worker) and returns at once: a store
    that is slow or locked by another process (sqlite waits 20 s per query) never holds training up; one
    that stays locked costs the usual warning. `log_epoch` logs in the caller's thread.
    """

    def __init__(self, experiment: str, params, checkpoint_dir, run_file, *, fingerprint: str):
        self.experiment, self.mlflow, self.fingerprint = experiment, params.mlflow, fingerprint
        self.checkpoint_dir, self.run_file = Path(checkpoint_dir), Path(run_file)
        self.resume_file = self.checkpoint_dir / "mlflow-run.json"
        self.uri = tracking_uri(params.mlflow)
        self.client = self.run_id = self.error = None
        self.not_logged: list[str] = []
        self.started_ms = int(time.time() * 1000)
        self.monitor = None
        self.worker = Worker()

    def _fail(self, what: str, exc: BaseException) -> None:
        self.not_logged, self.error = [what], one_line(exc)
        self.client = None
        self._stop_monitor()
        warn(f"MLflow tracking at {safe_uri(self.uri)} failed ({self.error}); not logged for "
             f"{self.experiment}: {what}. Training goes on; `fmnist mlflow sync` logs it later.")

    @property
    def active(self) -> bool:
        return self.client is not None

    def _continues(self, previous: str | None, epoch: int | None) -> bool:
        """Whether `previous`, the run of an interrupted stage, is the one this checkpoint belongs to.

        epoch: the first epoch logged by this process; 1 means training started afresh (no checkpoint,
        or an unreadable one), so an earlier run must not be continued; None: no epoch was left to train.
        """
        return bool(previous and epoch != 1 and (self.checkpoint_dir / "last.pt").exists()
                    and run_exists(self.client, previous)
                    and self.client.get_run(previous).data.tags.get("fingerprint") == self.fingerprint)

    def _start(self, epoch: int | None) -> None:
        """Create the run (or continue the interrupted one this checkpoint belongs to)."""
        self.client = connect(self.uri)
        exp_id = experiment_id(self.client, self.mlflow.experiment, self.uri)
        previous = read_run_file(self.resume_file).get("run_id")
        if self._continues(previous, epoch):
            self.run_id = previous
            self.client.update_run(previous, status="RUNNING")
            print(f"{self.experiment}: continuing MLflow run {previous}")
            self.monitor = system_metrics(self.run_id, self.uri, resume=True)
            return
        if previous and run_exists(self.client, previous):  # an interrupted run this one does not continue
            self.client.set_terminated(previous, status="KILLED")
        run = self.client.create_run(exp_id, start_time=self.started_ms, tags={"fingerprint": self.fingerprint},
                                     run_name=self.experiment)
        self.run_id = run.info.run_id
        write_run_file(self.resume_file, {"run_id": self.run_id})
        self.monitor = system_metrics(self.run_id, self.uri, resume=False)

    def _ensure_started(self, epoch: int | None) -> bool:
        if self.run_id is None and self.error is None:
            try:
                with quiet():
                    self._start(epoch)
            except Exception as exc:  # noqa: BLE001 - tracking must never fail training
                self._fail("the run and its epoch metrics", exc)
        return self.active

    def log_epoch(self, row: dict) -> None:
        """The history row of one epoch as metrics with step = epoch (the run created first)."""
        epoch = int(row["epoch"])
        if not self._ensure_started(epoch):
            return
        try:
            with quiet():
                log_metrics(self.client, self.run_id, {k: v for k, v in row.items() if k != "epoch"}, step=epoch)
        except Exception as exc:  # noqa: BLE001
            self._fail(f"epoch metrics from epoch {epoch} on", exc)

    def on_epoch(self, row: dict) -> None:
        """`log_epoch` in the background: training goes on at once."""
        row = dict(row)
        self.worker.submit(lambda: self.log_epoch(row))

    def __enter__(self):
        return self

    def _stop_monitor(self) -> None:
        if self.monitor is not None:
            self.monitor, monitor = None, self.monitor
            monitor.finish()  # logs what it holds; it never raises
            if self.active:  # and a closing sample: a training shorter than the sampling interval has one too
                try:
                    with quiet():
                        monitor.collect_metrics()
                        monitor.publish_metrics(monitor.aggregate_metrics())
                        monitor.mlflow_logger.flush()
                except Exception:  # noqa: BLE001 - system metrics are a bonus: their fault is not reported
                    pass

    def _end(self, status: str) -> None:
        self._stop_monitor()
        if self.active:
            try:
                with quiet():
                    self.client.set_terminated(self.run_id, status=status)
            except Exception as exc:  # noqa: BLE001
                self._fail(f"the run's end (status {status})", exc)

    def __exit__(self, exc_type, exc, tb):
        """Close the run after the epochs still queued; an interrupted stage waits a moment only."""
        status = "FINISHED" if exc_type is None else "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
        if exc_type is None:  # a resume with no epoch left still continues (and closes) its run
            self.worker.submit(lambda: self._ensure_started(None))
        self.worker.submit(lambda: self._end(status))
        if not self.worker.wait(FINISH_WAIT if exc_type is None else INTERRUPT_WAIT) and exc_type is None:
            self.not_logged, self.error = ["whatever was still queued"], f"no answer within {FINISH_WAIT:.0f} s"
            warn(f"MLflow tracking at {safe_uri(self.uri)} did not answer within {FINISH_WAIT:.0f} s; the run "
                 f"of {self.experiment} may lack its last epochs: evaluate or `fmnist mlflow sync` logs them.")
        if exc_type is None:  # the run file is a DVC out: written when the stage succeeds, logged or not
            self.resume_file.unlink(missing_ok=True)
            write_run_file(self.run_file, self.record())
        return False

    def record(self) -> dict:
        """The run file's content: the run and its tracking, then what the rest of the run is built from."""
        logged = self.run_id is not None and not self.not_logged
        root = repo_root()
        commit = git_commit(root)
        return {
            "experiment": self.experiment,
            "run_id": self.run_id,
            "tracking_uri": safe_uri(self.uri),
            "mlflow_experiment": self.mlflow.experiment,
            "status": "logged" if logged else "incomplete" if self.run_id else "not logged",
            "not_logged": self.not_logged,
            "error": self.error,
            "started_ms": self.started_ms,
            "fingerprint": self.fingerprint,
            "dvc_exp_name": os.environ.get("DVC_EXP_NAME") or None,
            "git_commit": commit,
            "group": run_group(root, commit),
        }
