"""What re-runs when something changes, with the real `dvc` CLI on a tiny run: exactly the stages whose
resolved settings or imported modules change, nothing else."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from conftest import BIN, ROOT, dvc_project, run

EXPERIMENTS = ("seed000", "seed003-unit-onehot", "seed003-raw-sparse", "resnet")  # inheriting epochs or not
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A shrunk copy of the repo (tiny synthetic data, one epoch, four experiments) after a full `dvc repro`."""
    def shrink(params):
        params["data"].update(dataset="synthetic", synthetic={"train": 1200, "test": 100, "seed": 0})
        params["prepare"]["val_size"] = 200
        params["train"]["epoch_limit"] = 1
        params["experiments"] = {name: params["experiments"][name] for name in EXPERIMENTS}
        params["experiments"]["resnet"]["model_config"] = {"width": 4}

    repo, env = dvc_project(tmp_path_factory.mktemp("reruns"), shrink)
    run([str(BIN / "dvc"), "repro"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "ran"], repo, env)
    return repo, env


@pytest.fixture
def project(done, tmp_path):
    """A copy of the finished run to change."""
    repo, env = done
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy, symlinks=True)
    return copy, {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{copy}/mlflow.db"}


def ran(out: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", out))


def repro(repo, env, *args) -> set[str]:
    return ran(run([str(BIN / "dvc"), *args], repo, env).stdout)


def set_param(repo, path: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    node = params
    *parents, key = path.split(".")
    for name in parents:
        node = node[name]
    node[key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def chain(*names: str) -> set[str]:
    return {f"{stage}@{name}" for name in names for stage in ("train", "evaluate")}


def test_train_epochs_retrains_only_the_experiments_that_inherit_it(project):
    repo, env = project
    set_param(repo, "train.epochs", 300)
    assert repro(repo, env, "repro", "settings") == {"settings"}
    status = run([str(BIN / "dvc"), "status"], repo, env).stdout  # now it lists what will retrain
    assert set(re.findall(r"^(\S+):$", status, re.M)) == chain("seed003-unit-onehot")
    assert repro(repo, env, "repro") == chain("seed003-unit-onehot") | {"report"}


def test_an_experiments_own_param_reruns_its_chain_and_the_report(project):
    repo, env = project
    set_param(repo, "experiments.resnet.lr", 0.05)
    assert repro(repo, env, "repro") == {"settings"} | chain("resnet") | {"report"}


def test_a_declared_default_reruns_exactly_the_experiments_that_use_it(project):
    repo, env = project
    set_param(repo, "train.label_smoothing", 0.05)  # resnet sets its own 0.1
    assert repro(repo, env, "repro") == {"settings"} | chain("seed000", "seed003-unit-onehot",
                                                             "seed003-raw-sparse") | {"report"}


def test_an_edited_module_reruns_every_stage_that_imports_it_and_no_other(project):
    repo, env = project
    with open(repo / "src/fmnist/device.py", "a") as f:
        f.write("\n# an edit\n")
    status = run([str(BIN / "dvc"), "status"], repo, env).stdout
    assert set(re.findall(r"^(\S+):$", status, re.M)) == chain(*EXPERIMENTS)
    run(["git", "checkout", "src/fmnist/device.py"], repo, env)
    with open(repo / "src/fmnist/report.py", "a") as f:
        f.write("\n# an edit\n")
    assert repro(repo, env, "repro") == {"report"}


def test_an_experiment_run_trains_only_the_inheriting_experiments(project):
    repo, env = project
    out = run([str(BIN / "dvc"), "exp", "run", "-S", "train.epochs=2"], repo, env).stdout
    assert ran(out) == {"settings"} | chain("seed003-unit-onehot") | {"report"}


def test_a_no_op_repro_runs_nothing(project):
    repo, env = project
    assert repro(repo, env, "repro") == set()
    assert "up to date" in run([str(BIN / "dvc"), "status"], repo, env).stdout


def test_the_settings_files_are_what_the_stages_read(project):
    """settings/ holds each experiment's effective settings: train: merged with its own entry."""
    import json

    repo, _ = project
    resolved = json.loads((repo / "settings/experiments/seed003-raw-sparse.json").read_text())
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert resolved["epochs"] == params["experiments"]["seed003-raw-sparse"]["epochs"] == 10
    assert resolved["optimizer"] == params["train"]["optimizer"] == "keras_rmsprop"
    assert json.loads((repo / "settings/experiments/resnet.json").read_text())["model_config"] == {"width": 4,
                                                                                                   "dropout": 0.0}
    assert not (ROOT / "settings").is_relative_to(repo)
