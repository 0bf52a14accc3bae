"""MLflow tracking: one run per trained experiment, its model registered, its test metrics added by evaluate.

DVC stays the source of truth for data and outputs; MLflow is the lab notebook and the model registry.
Each run has two parts, each with one writer. While training, a callback logs the per-epoch metrics only
(creating the run at the first epoch, tagged with the checkpoint's fingerprint); it never fails or holds
up training, and writes the run file `models/<experiment>.run.json`, the small DVC out that carries the
run id and what only the train stage knows. Everything else is written by one idempotent function,
`complete_run`, from the DVC outputs alone: evaluate calls it, and so does `fmnist mlflow sync`, which
logs later what a tracking fault kept out. Tracking never fails a stage: a fault (server down,
unreachable, stopped mid-run) is reported as ONE warning line. MLflow is imported inside functions, so
stages that do not track start fast.

The run of an experiment holds: per-epoch metrics (step = epoch) and system metrics (`system/...`) from
training; then the effective params (flattened), the prepared splits as dataset inputs, tags (dataset,
model, variant, device, torch, git commit, DVC experiment and stage), the history CSV and loss curve, the
training time, the model (pt2, registered as `fmnist-<experiment>`), the test metrics (on the run and on
the logged model, against the test dataset), figures and model card. The alias `champion` marks the
registered version with the best test accuracy.

Modules: client (reaching the store), outputs (the DVC outputs read), provenance (params and tags),
metrics and artifacts (what goes into a run), model (the logged model and registry), epochs (the train
stage's callback), evaluation (evaluate's outputs), complete (the one writer: evaluate and `fmnist mlflow
sync`).
"""

from fmnist.tracking.client import tracking_uri
from fmnist.tracking.complete import complete_run, log_experiment, sync
from fmnist.tracking.epochs import EpochLog
from fmnist.tracking.outputs import evaluation_artifacts

__all__ = ["EpochLog", "complete_run", "evaluation_artifacts", "log_experiment", "sync", "tracking_uri"]
