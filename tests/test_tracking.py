"""MLflow tracking against a real sqlite store: the run, its params, epochs, tags, model and champion;
a dead server that only warns; and `fmnist mlflow sync`, which logs a missing run once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from fmnist.params import parse_params
from conftest import ROOT, free_port


def write_tiny_project(root: Path, experiments: dict) -> None:
    """params.yaml and data/prepared/unit-onehot of a tiny 10-class dataset (300 train, 100 test images)."""
    from fmnist.data.idx import write_idx
    from fmnist.data.prepare import prepare_variant
    from fmnist.data.sources import fetch_dataset

    rng = np.random.default_rng(0)
    idx = root / "idx"
    idx.mkdir(parents=True)
    for split, n in (("train", 300), ("t10k", 100)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):  # a bright band whose row says the class: learnable
            images[i, 2 + 2 * label:4 + 2 * label] = 220
        write_idx(idx / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(idx / f"{split}-labels-idx1-ubyte.gz", labels)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())  # the real params, shrunk
    raw["data"].update(dataset="idx-dir", source=str(idx), name="bands")
    raw["prepare"].update(normalisations=["unit"], encodings=["onehot"], val_size=100)
    raw["train"].update(model="tiny", variant="unit-onehot", loss="mse", optimizer="adam", lr=0.01, epochs=2,
                        batch_size=50, device="cpu")
    raw["experiments"] = experiments
    raw["mlflow"].update(experiment="fmnist-test", register=True)
    raw.pop("published", None)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    params = parse_params(raw)
    fetch_dataset(params.data, root / "data" / "raw")
    prepare_variant(root / "data" / "raw", root / "data" / "prepared" / "unit-onehot", "unit", "onehot", 100)


def load_project(root: Path):
    return parse_params(yaml.safe_load((root / "params.yaml").read_text()))


def train_tracked(root: Path, name: str):
    """What stages/train.py does, in-process, from `root`."""
    from fmnist.data.prepare import load_variant
    from fmnist.tracking import EpochLog
    from fmnist.training import train_experiment
    from fmnist.training.checkpoint import fingerprint

    params = load_project(root)
    cfg = params.experiment(name)
    paths = dict(variant_dir=root / "data/prepared" / cfg.variant, weights_path=root / f"models/{name}.pt",
                 history_path=root / f"plots/train/{name}.csv", checkpoint_dir=root / f"checkpoints/{name}",
                 timing_path=root / f"plots/timing/{name}.json")
    meta, _ = load_variant(paths["variant_dir"], splits=())
    with EpochLog(name, params, paths["checkpoint_dir"], root / f"models/{name}.run.json",
                  fingerprint=fingerprint(cfg, meta)) as run:
        train_experiment(name, cfg, **paths, on_epoch=run.log_epoch, progress=False)
    return params


def evaluate_tracked(root: Path, name: str, params) -> bool:
    """What stages/evaluate.py does after its outputs: complete the run from the outputs of train and evaluate."""
    from fmnist.tracking import log_experiment

    return log_experiment(name, params, root)


def evaluate_like(root: Path, name: str) -> dict:
    """Test metrics as the evaluate stage writes them (the numbers that matter here)."""
    from fmnist.data.prepare import load_variant
    from fmnist.served import load_served, predict_proba

    served, weights = load_served(root / f"models/{name}.pt")
    _, arrays = load_variant(root / "data/prepared" / weights.variant)
    probs = predict_proba(served, arrays["x_test"])
    y = arrays["y_test"].argmax(1)
    metrics = {"experiment": name, "test_accuracy": float((probs.argmax(1) == y).mean()), "test_loss": 0.5,
               "macro_f1": 0.4, "errors": int((probs.argmax(1) != y).sum()), "epochs": weights.epochs,
               "per_class": {"class": weights.classes, "recall": [0.5] * len(weights.classes)}}
    (root / "metrics").mkdir(exist_ok=True)
    (root / f"metrics/{name}.json").write_text(json.dumps(metrics))
    (root / "plots/misclassified").mkdir(parents=True, exist_ok=True)
    (root / f"plots/misclassified/{name}.csv").write_text("class,errors\n0,1\n")
    return metrics


def write_card(root: Path, name: str) -> Path:
    """A model card where evaluate writes it (its content is evaluate's business: tests/test_evaluation.py)."""
    path = root / f"reports/model_cards/{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Model card: {name}\n\n## Model\n\n`tiny`, on *bands* | 10 classes.\n")
    return path


def fresh_sqlite_uri(cache, folder: Path) -> str:
    """A sqlite tracking store in `folder`, copied from an initialised template: creating MLflow's
    tables takes ~10 s, so the template is made once and kept in pytest's cache."""
    import mlflow
    from mlflow import MlflowClient

    template_dir = Path(cache.mkdir(f"mlflow-{mlflow.__version__}-empty-db")) if cache else folder / "tpl"
    template = template_dir / "mlflow.db"
    if not template.exists():
        template_dir.mkdir(parents=True, exist_ok=True)
        building = template_dir / f"building-{os.getpid()}.db"
        MlflowClient(f"sqlite:///{building}").search_experiments()
        os.replace(building, template)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def project(tmp_path_factory, request):
    """A tiny project with a sqlite store; experiment `tiny` trained and evaluated with tracking on."""
    root = tmp_path_factory.mktemp("project")
    write_tiny_project(root, {"tiny": {}, "offline": {"epochs": 1}})
    uri = fresh_sqlite_uri(getattr(request.config, "cache", None), root / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("DVC_EXP_NAME", "exp-under-test")
        mp.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")  # default 10 s: longer than this run
        mp.delenv("DVC_ROOT", raising=False)
        params = train_tracked(root, "tiny")
        evaluate_like(root, "tiny")
        write_card(root, "tiny")
        logged = evaluate_tracked(root, "tiny", params)
        yield {"root": root, "uri": uri, "params": params, "logged": logged, "mp": mp}


@pytest.fixture
def client(project):
    from mlflow import MlflowClient

    return MlflowClient(project["uri"])


def run_of(project, name):
    return json.loads((project["root"] / f"models/{name}.run.json").read_text())


# --- where runs go --------------------------------------------------------------------------------

def test_tracking_uri_env_wins_then_params_then_the_repo_db(tmp_path, monkeypatch):
    from fmnist.params import Mlflow
    from fmnist.tracking import tracking_uri

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(Mlflow()) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert tracking_uri(Mlflow(tracking_uri="http://team:5000")) == "http://team:5000"
    monkeypatch.setenv("DVC_ROOT", "/repo")  # what DVC sets, also for `dvc exp run --temp`
    assert tracking_uri(None) == "sqlite:////repo/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert tracking_uri(Mlflow(tracking_uri="http://team:5000")) == "http://127.0.0.1:5001"


def test_safe_uri_hides_credentials():
    from fmnist.tracking.client import safe_uri

    assert safe_uri("https://me:secret@mlflow.example.org:8443/x") == "https://mlflow.example.org:8443/x"


# --- the run of a trained experiment --------------------------------------------------------------

def test_one_run_named_after_the_experiment_with_flat_params(project, client):
    run = client.get_run(run_of(project, "tiny")["run_id"])
    assert run.info.run_name == "tiny" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "fmnist-test"
    p = run.data.params
    assert p["experiment"] == "tiny" and p["model"] == "tiny" and p["loss"] == "mse"
    assert p["lr"] == "0.01" and p["batch_size"] == "50" and p["epochs_effective"] == "2"
    assert p["augment.crop"] == "0" and p["data.dataset"] == "idx-dir" and p["prepare.val_size"] == "100"
    runs = client.search_runs([run.info.experiment_id], "attributes.run_name = 'tiny'")
    assert len(runs) == 1


def test_per_epoch_metrics_use_the_epoch_as_step(project, client):
    run_id = run_of(project, "tiny")["run_id"]
    history = (project["root"] / "plots/train/tiny.csv").read_text().splitlines()
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_s"):
        points = client.get_metric_history(run_id, key)
        assert [m.step for m in points] == [1, 2], key
    val_loss = [float(line.split(",")[3]) for line in history[1:]]
    assert [m.value for m in client.get_metric_history(run_id, "val_loss")] == pytest.approx(val_loss, rel=1e-4)


def test_tags_say_where_the_run_came_from(project, client):
    tags = client.get_run(run_of(project, "tiny")["run_id"]).data.tags
    assert tags["dataset"] == "bands" and tags["synthetic"] == "false"
    assert tags["model"] == "tiny" and tags["variant"] == "unit-onehot" and tags["device"] == "cpu"
    assert tags["torch"].startswith("2.") and tags["dvc.stage"] == "train@tiny"
    assert tags["dvc.exp_name"] == "exp-under-test" and tags["group"] == "exp-under-test"
    from fmnist.files import md5sum

    assert tags["weights_md5"] == md5sum(project["root"] / "models/tiny.pt")


def test_run_logs_the_prepared_splits_as_dataset_inputs(project, client):
    from fmnist.files import md5sum

    inputs = client.get_run(run_of(project, "tiny")["run_id"]).inputs.dataset_inputs
    contexts = {next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset for i in inputs}
    assert set(contexts) == {"training", "validation", "test"}
    variant = project["root"] / "data/prepared/unit-onehot"
    for context, split, images in (("training", "train", 200), ("validation", "val", 100), ("test", "test", 100)):
        dataset = contexts[context]
        assert dataset.name == f"bands unit-onehot {split}"
        assert json.loads(dataset.source)["uri"].endswith("data/prepared/unit-onehot")
        files = "".join(md5sum(variant / f"{a}_{split}.npy") for a in ("x", "y"))
        import hashlib

        assert dataset.digest == hashlib.md5(files.encode()).hexdigest()
        assert json.loads(dataset.profile)["features_shape"] == [images, 1, 28, 28]


def test_run_has_system_metrics(project, client):
    metrics = client.get_run(run_of(project, "tiny")["run_id"]).data.metrics
    assert "system/cpu_utilization_percentage" in metrics and "system/system_memory_usage_megabytes" in metrics


def test_test_metrics_are_on_the_logged_model_too(project, client):
    run = client.get_run(run_of(project, "tiny")["run_id"])
    model = client.get_logged_model(run.data.tags["model.id"])
    on_model = {m.key: m for m in model.metrics}
    assert on_model["test_accuracy"].value == pytest.approx(run.data.metrics["test_accuracy"])
    assert on_model["test_accuracy"].dataset_name == "bands unit-onehot test"
    assert "train_loss" not in on_model  # the epochs are the run's, not the model's


def test_run_file_carries_the_run_id(project):
    record = run_of(project, "tiny")
    assert record["status"] == "logged" and record["not_logged"] == [] and record["error"] is None
    assert len(record["run_id"]) == 32 and record["fingerprint"] and record["started_ms"] > 0
    assert record["dvc_exp_name"] == record["group"] == "exp-under-test" and "git_commit" in record
    assert not (project["root"] / "checkpoints/tiny/mlflow-run.json").exists()


def test_evaluate_registers_the_model_into_the_run(project, client):
    tags = client.get_run(run_of(project, "tiny")["run_id"]).data.tags
    assert tags["model.version"] == "1" and tags["model.uri"].startswith("models:/")
    assert client.get_model_version("fmnist-tiny", "1").run_id == run_of(project, "tiny")["run_id"]


def test_evaluation_lands_in_the_same_run_with_artifacts(project, client):
    assert project["logged"] is True
    run_id = run_of(project, "tiny")["run_id"]
    metrics = client.get_run(run_id).data.metrics
    expected = json.loads((project["root"] / "metrics/tiny.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(expected["test_accuracy"])
    assert metrics["per_class/recall.3"] == 0.5 and "experiment" not in metrics
    assert [m.step for m in client.get_metric_history(run_id, "test_accuracy")] == [2]
    training = {Path(a.path).name for a in client.list_artifacts(run_id, "training")}
    assert training == {"tiny.csv", "loss_curve.png"}
    assert [Path(a.path).name for a in client.list_artifacts(run_id, "evaluation")] == ["tiny.csv"]


def test_the_model_card_is_logged_and_describes_the_registered_version(project, client):
    run_id = run_of(project, "tiny")["run_id"]
    card = (project["root"] / "reports/model_cards/tiny.md").read_text()
    assert [a.path for a in client.list_artifacts(run_id, "model_card")] == ["model_card/tiny.md"]
    assert client.get_model_version("fmnist-tiny", "1").description == card


def test_a_long_card_is_cut_at_a_section_for_the_description():
    from fmnist.tracking.model import DESCRIPTION_LIMIT, version_description

    card = "# Model card: x\n" + "".join(f"\n## Section {i}\n\n" + "text " * 200 + "\n" for i in range(8))
    assert version_description("# short\n", "model_card/x.md") == "# short\n"
    cut = version_description(card, "model_card/x.md")
    assert len(card) > DESCRIPTION_LIMIT >= len(cut) and cut.startswith("# Model card: x\n\n## Section 0")
    assert "## Section 3" in cut and "## Section 4" not in cut  # whole sections only
    assert cut.rstrip().endswith("the whole card is the run's artifact `model_card/x.md`.)*")


def test_model_is_registered_champion_and_serves_probabilities(project, client):
    import mlflow.pyfunc
    import torch

    from fmnist.served import load_served, normalise, predict_proba

    version = client.get_model_version_by_alias("fmnist-tiny", "champion")
    assert str(version.version) == "1" and version.run_id == run_of(project, "tiny")["run_id"]
    served = mlflow.pyfunc.load_model("models:/fmnist-tiny@champion")
    assert served.metadata.metadata["classes"] == [str(i) for i in range(10)]
    pixels = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    ours, weights = load_served(project["root"] / "models/tiny.pt")
    expected = predict_proba(ours, normalise(pixels, weights))
    got = served.predict(pixels[:, None].astype(np.float32))
    assert np.allclose(got, expected, atol=1e-5) and np.allclose(got.sum(1), 1, atol=1e-5)
    assert torch.load(project["root"] / "models/tiny.pt", weights_only=True)["experiment"] == "tiny"


def test_predict_from_the_registry_matches_the_weights_file(project, tmp_path, capsys):
    from PIL import Image

    from fmnist.cli import main as fmnist

    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 40), dtype=np.uint8)).save(image)
    fmnist(["predict", str(image), "--model", "models:/fmnist-tiny@champion", "--top", "3"])
    from_registry = capsys.readouterr().out
    fmnist(["predict", str(image), "--model", str(project["root"] / "models/tiny.pt"), "--top", "3"])
    assert from_registry == capsys.readouterr().out and from_registry.startswith(f"{image}: ")


def test_champion_goes_to_the_best_test_accuracy(project, client):
    from fmnist.tracking.model import update_champion

    exp_id = client.get_experiment_by_name("fmnist-test").experiment_id
    better = client.create_run(exp_id, run_name="tiny").info.run_id
    client.log_metric(better, "test_accuracy", 1.0)
    fake = client.create_run(exp_id, run_name="tiny", tags={"synthetic": "true"}).info.run_id
    client.log_metric(fake, "test_accuracy", 1.0)
    source = client.get_model_version("fmnist-tiny", "1").source
    v_better = client.create_model_version("fmnist-tiny", source, run_id=better).version
    client.create_model_version("fmnist-tiny", source, run_id=fake)  # synthetic: never champion over real
    try:
        assert str(update_champion(client, "fmnist-tiny")) == str(v_better)
    finally:
        for run_id in (better, fake):
            client.delete_run(run_id)
        update_champion(client, "fmnist-tiny")
    assert str(client.get_model_version_by_alias("fmnist-tiny", "champion").version) == "1"


# --- tracking down ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def offline(project):
    """Experiment `offline` trained and evaluated while the tracking server is not there."""
    import contextlib
    import io

    root, mp = project["root"], project["mp"]
    mp.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    stderr = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(stderr):
        params = train_tracked(root, "offline")
        trained = stderr.getvalue()
        evaluate_like(root, "offline")
        write_card(root, "offline")
        logged = evaluate_tracked(root, "offline", params)
    seconds = time.perf_counter() - started
    mp.setenv("MLFLOW_TRACKING_URI", project["uri"])
    return {"train_warning": trained, "eval_warning": stderr.getvalue()[len(trained):], "logged": logged,
            "seconds": seconds}


def test_dead_server_warns_once_and_training_completes(project, offline):
    root = project["root"]
    assert (root / "models/offline.pt").exists() and (root / "plots/train/offline.csv").exists()
    lines = [line for line in offline["train_warning"].splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: MLflow tracking at http://127.0.0.1:")
    assert "not logged for offline" in lines[0] and "fmnist mlflow sync" in lines[0]
    record = run_of(project, "offline")
    assert record["run_id"] is None and record["status"] == "not logged"
    assert "ConnectionError" in record["error"] and record["not_logged"] == ["the run and its epoch metrics"]
    assert offline["seconds"] < 20  # no minutes of retries against a server that is not there


def test_dead_server_evaluation_warns_and_does_not_raise(offline):
    assert offline["logged"] is False
    lines = offline["eval_warning"].strip().splitlines()
    assert len(lines) == 1 and "test metrics and evaluation figures" in lines[0]


def test_a_run_id_the_server_lacks_finds_the_run_by_the_weights(project, client, capsys):
    """A run file naming a run this server does not have (another store, a deleted run): evaluate's tracking
    does not raise, finds the run by the weights' MD5 and adds nothing to it."""
    root = project["root"]
    run_file = root / "models/tiny.run.json"
    kept = run_file.read_text()
    run_id = json.loads(kept)["run_id"]
    before = client.get_run(run_id)
    try:
        run_file.write_text(json.dumps({**json.loads(kept), "run_id": "0" * 32}))
        assert evaluate_tracked(root, "tiny", project["params"]) is True
    finally:
        run_file.write_text(kept)
    assert "warning" not in capsys.readouterr().err
    exp_id = client.get_experiment_by_name("fmnist-test").experiment_id
    assert len(client.search_runs([exp_id], "attributes.run_name = 'tiny'")) == 1
    after = client.get_run(run_id).data
    assert (after.params, after.tags, after.metrics) == (before.data.params, before.data.tags, before.data.metrics)


# --- fmnist mlflow sync ---------------------------------------------------------------------------

def test_sync_logs_the_missing_run_once(project, offline, client, capsys):
    from fmnist.tracking import sync

    root = project["root"]
    exp_id = client.get_experiment_by_name("fmnist-test").experiment_id
    before = {r.info.run_id for r in client.search_runs([exp_id])}
    report = sync(project["params"], root=root)
    assert "created the run" in report["offline"] and "model (version 1)" in report["offline"]
    assert "test metrics" in report["offline"] and "nothing to log" in report["tiny"]
    new = [r for r in client.search_runs([exp_id]) if r.info.run_id not in before]
    assert len(new) == 1
    run = new[0]
    assert run.info.run_name == "offline" and run.info.status == "FINISHED"
    assert run.data.params["epochs_effective"] == "1" and run.data.tags["dataset"] == "bands"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1]
    assert "test_accuracy" in run.data.metrics and "the model card" in report["offline"]
    assert client.get_model_version_by_alias("fmnist-offline", "champion").run_id == run.info.run_id
    card = (root / "reports/model_cards/offline.md").read_text()
    assert client.get_model_version("fmnist-offline", "1").description == card

    again = sync(project["params"], root=root)
    assert all("nothing to log" in line for line in again.values())
    assert len(client.search_runs([exp_id])) == len(before) + 1
    assert len(client.search_model_versions("name='fmnist-offline'")) == 1


def run_contents(client, run_id: str) -> dict:
    """Everything a run holds that a writer could add: params, tags, every metric point, artifacts, model versions."""
    run = client.get_run(run_id)

    def artifacts(path=None):
        return [p for a in client.list_artifacts(run_id, path) for p in (artifacts(a.path) if a.is_dir else [a.path])]

    return {"params": run.data.params, "tags": run.data.tags, "inputs": len(run.inputs.dataset_inputs),
            "metrics": {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in run.data.metrics},
            "artifacts": sorted(artifacts()), "status": run.info.status,
            "versions": [v.version for v in client.search_model_versions(f"run_id='{run_id}'")]}


def test_training_logs_only_epochs_and_evaluate_leaves_sync_nothing_to_log(tmp_path, request, monkeypatch, capsys):
    """One writer per part of a run: the training callback creates the run (tagged with the fingerprint) and
    logs the epoch metrics, nothing else; evaluate writes the rest, so that a sync after it logs nothing."""
    from mlflow import MlflowClient

    from fmnist.tracking import sync
    from fmnist.training.fit import TIMING

    root = tmp_path / "project"
    write_tiny_project(root, {"bare": {}})
    uri = fresh_sqlite_uri(getattr(request.config, "cache", None), tmp_path / "store")
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    params = train_tracked(root, "bare")
    client = MlflowClient(uri)
    record = json.loads((root / "models/bare.run.json").read_text())
    trained = run_contents(client, record["run_id"])
    history = (root / "plots/train/bare.csv").read_text().splitlines()[0].split(",")
    assert record["status"] == "logged" and trained["status"] == "FINISHED"
    assert trained["params"] == {} and trained["artifacts"] == [] and trained["versions"] == []
    assert trained["inputs"] == 0 and client.get_run(record["run_id"]).info.run_name == "bare"
    assert {k for k in trained["tags"] if not k.startswith("mlflow.")} == {"fingerprint"}
    assert trained["tags"]["fingerprint"] == record["fingerprint"]
    epoch_metrics = {k for k in trained["metrics"] if not k.startswith("system/")}
    assert epoch_metrics == set(history) - {"epoch"} | set(TIMING)  # the history row, its timings too
    assert all([step for step, _ in points] == [1, 2] for k, points in trained["metrics"].items() if k in epoch_metrics)

    evaluate_like(root, "bare")
    write_card(root, "bare")
    assert evaluate_tracked(root, "bare", params) is True
    evaluated = run_contents(client, record["run_id"])
    assert [str(v) for v in evaluated["versions"]] == ["1"] and evaluated["params"]["epochs_effective"] == "2"
    assert "train_seconds" in evaluated["metrics"] and "test_accuracy" in evaluated["metrics"]
    assert {"training/bare.csv", "training/loss_curve.png", "model_card/bare.md"} <= set(evaluated["artifacts"])
    assert evaluated["tags"]["weights_md5"] and evaluated["tags"]["device"] == "cpu"
    assert evaluated["tags"]["mlflow.source.name"] == "stages/train.py"
    capsys.readouterr()
    assert "nothing to log" in sync(params, root=root)["bare"]
    assert run_contents(client, record["run_id"]) == evaluated
    assert "warning" not in capsys.readouterr().err


def test_sync_refuses_a_dead_server_in_one_line(project, monkeypatch):
    from fmnist.errors import FmnistError
    from fmnist.tracking import sync

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(FmnistError, match="no server answers"):
        sync(project["params"], root=project["root"])


def test_parallel_stages_share_a_new_store(tmp_path):
    """Four processes open a new sqlite store and ask for the experiment at the same moment (as
    `dvc queue start -j 2` does on a fresh clone): all get the same experiment, none fails."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    start = time.time() + 8  # after every process has imported mlflow
    code = ("import sys, time; from fmnist.tracking.client import connect, experiment_id; "
            "time.sleep(max(0, float(sys.argv[2]) - time.time())); "
            "print(experiment_id(connect(sys.argv[1]), 'fmnist', sys.argv[1]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, uri, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-1500:] for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1


def test_evaluates_numbers_become_metrics_and_its_info_does_not():
    from fmnist.tracking.metrics import metric_values

    evaluated = {"experiment": "x", "classes": ["a", "b"], "images": {"train": 8, "val": 2, "test": 4},
                 "settings": {"lr": 0.1, "epochs": 3}, "trained_on": {"processes": 1}, "input_size": [28, 28],
                 "test_accuracy": 0.75, "test_accuracy_low": 0.3, "test_accuracy_high": 0.95,
                 "calibration": {"ece": 0.1, "temperature": 1.5}, "per_class": {"recall": [0.5, 1.0]}}
    assert metric_values(evaluated) == {
        "test_accuracy": 0.75, "test_accuracy_low": 0.3, "test_accuracy_high": 0.95, "calibration/ece": 0.1,
        "calibration/temperature": 1.5, "per_class/recall.a": 0.5, "per_class/recall.b": 1.0}
