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

Modules: client (reaching the store), outputs (the DVC outputs read), provenance (params and tags),
metrics and artifacts (what goes into a run), model (the logged model and registry), run (the train
stage's run), evaluation (the evaluate stage's part), backfill (`fmnist mlflow sync`).
"""

from fmnist.tracking.backfill import sync
from fmnist.tracking.client import tracking_uri
from fmnist.tracking.evaluation import log_evaluation
from fmnist.tracking.outputs import evaluation_artifacts
from fmnist.tracking.run import TrainingRun

__all__ = ["TrainingRun", "evaluation_artifacts", "log_evaluation", "sync", "tracking_uri"]
