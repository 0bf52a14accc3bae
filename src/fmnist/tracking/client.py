"""Reaching the tracking store: its URI, a client that fails fast, the experiment, and one-line faults."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROBE_TIMEOUT = 5.0  # seconds to wait for an HTTP tracking server's /health before giving up


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


def safe_uri(uri: str) -> str:
    """The URI without user:password, for messages and files."""
    parts = urllib.parse.urlsplit(uri)
    if not (parts.username or parts.password):
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


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

    # A locked sqlite store makes MLflow log every failed query with its whole traceback; the fault reaches
    # the user once, as our one warning line.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
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
    from filelock import FileLock

    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(db.with_name(db.name + ".lock")):
        yield


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` tracking URI; None for other stores."""
    return Path(uri[len("sqlite:///"):]).resolve() if uri.startswith("sqlite:///") else None


def artifact_location(uri: str) -> str | None:
    """For a sqlite store, artifacts go to mlartifacts/ beside the database (MLflow's own default is
    ./mlruns of the current folder, which is a scratch copy under `dvc exp run --temp`)."""
    db = sqlite_file(uri)
    return (db.parent / "mlartifacts").as_uri() if db else None


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
