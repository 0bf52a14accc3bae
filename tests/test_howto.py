"""The README's "How to add" steps, followed as written in a copy of the repo: a toy model (a module, its
declaration in model_specs.py, its entry in the registry) and two experiments that train it, run through the
real `dvc repro` on tiny synthetic data. Adding the model re-runs everything that imports the registry; adding
the second experiment re-runs exactly settings, its train and evaluate stages, and the report."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import BIN, ROOT, dvc_project, run

pytestmark = pytest.mark.slow

TOY = '''"""A toy model: one hidden layer over the flattened image."""

from torch import nn

from fmnist.model_specs import SPECS


class Toy(nn.Module):
    min_side = SPECS["toy"].min_side

    def __init__(self, num_classes: int = 10, input_size: tuple[int, int] = (28, 28),
                 hidden: int = SPECS["toy"].options["hidden"].default) -> None:
        super().__init__()
        h, w = input_size
        if min(h, w) < self.min_side:
            raise ValueError(f"model toy needs images of at least {self.min_side}x{self.min_side} pixels, got {h}x{w}")
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.net(x)
'''


def section(title: str) -> str:
    """One "### Add ..." section of the README."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"### {title}\n")
    return readme[start:readme.find("\n#", start + 1)]


def per_experiment_plots(dvc: dict) -> list[dict]:
    """The plots of dvc.yaml that name each experiment's file (DVC takes files there, not folders)."""
    return [spec for plot in dvc["plots"] for spec in plot.values()
            if isinstance(spec, dict) and isinstance(spec.get("y"), dict)]


def add_experiment(repo, name: str, entry: dict) -> None:
    """The README's steps 1 and 2 of "Add an experiment"."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["experiments"][name] = entry
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    for spec in per_experiment_plots(dvc):  # one more file beside the others, with their columns
        folder, columns = next((path.rsplit("/", 1)[0], cols) for path, cols in spec["y"].items())
        spec["y"][f"{folder}/{name}.csv"] = columns
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))


def ran(out: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", out))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    def shrink(params):  # tiny synthetic data, one variant, one epoch, one experiment of the shipped ones
        params["data"].update(dataset="synthetic", synthetic={"train": 600, "test": 100, "seed": 0})
        params["prepare"].update(normalisations=["unit"], encodings=["onehot"], val_size=100)
        params["train"]["epoch_limit"] = 1
        params["experiments"] = {"seed000": {**params["experiments"]["seed000"], "batch_size": 100}}
        params["mlflow"]["register"] = False

    repo, env = dvc_project(tmp_path_factory.mktemp("howto"), shrink)
    # The copy's own src/ first, as in a clone installed from itself (this virtualenv's is the working tree's)
    return repo, {**env, "PYTHONPATH": str(repo / "src")}


def test_the_readme_names_what_these_steps_change():
    model, experiment = section("Add a model"), section("Add an experiment")
    for name in ("src/fmnist/models/<name>.py", "SPECS", "src/fmnist/model_specs.py", "MODELS",
                 "src/fmnist/models/__init__.py", "min_side", "ValueError"):
        assert name in model, name
    assert "experiments:" in experiment and "params.yaml" in experiment and "dvc repro" in experiment
    # the README asks for dvc.yaml lines exactly while dvc.yaml lists each experiment's files in its plots
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert bool(per_experiment_plots(dvc)) == ("dvc.yaml" in experiment)


def test_a_new_model_and_experiments_run_through_dvc_repro(project):
    repo, env = project
    # Add a model: 1. its module; 2. its declaration; 3. its registry entry
    (repo / "src/fmnist/models/toy.py").write_text(TOY)
    specs = repo / "src/fmnist/model_specs.py"
    text = specs.read_text()
    assert "SPECS = {\n" in text
    specs.write_text(text.replace("SPECS = {\n", 'SPECS = {\n    "toy": ModelSpec(min_side=1, options={"hidden": Option(32, ge=1)}),\n', 1))
    registry = repo / "src/fmnist/models/__init__.py"
    text = registry.read_text()
    assert re.search(r"^MODELS: .*= \{", text, re.M)
    text = re.sub(r"^(MODELS: .*= \{)", r'from .toy import Toy\n\n\1"toy": Toy, ', text, count=1, flags=re.M)
    registry.write_text(text)
    # 4. (Add an experiment) an experiment that trains it
    add_experiment(repo, "toy", {"model": "toy", "variant": "unit-onehot", "batch_size": 100, "lr": 0.01,
                                 "optimizer": "adam"})
    run([str(BIN / "fmnist"), "check-params"], repo, env)
    out = run([str(BIN / "dvc"), "repro"], repo, env).stdout
    # the registry changed: every stage that imports it ran, the shipped experiment's too
    assert {"settings", "train@toy", "evaluate@toy", "train@seed000", "evaluate@seed000", "report"} <= ran(out)
    metrics = json.loads((repo / "metrics/toy.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["parameters"] == 28 * 28 * 32 + 32 + 32 * 10 + 10
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "toy"], repo, env)

    # Add an experiment: the same model, its own option; only its stages, settings and the report run
    add_experiment(repo, "toy-wide", {"model": "toy", "variant": "unit-onehot", "model_config": {"hidden": 64},
                                      "batch_size": 100, "lr": 0.01, "optimizer": "adam"})
    out = run([str(BIN / "dvc"), "repro"], repo, env).stdout
    assert ran(out) == {"settings", "train@toy-wide", "evaluate@toy-wide", "report"}
    wide = json.loads((repo / "metrics/toy-wide.json").read_text())
    assert wide["parameters"] == 28 * 28 * 64 + 64 + 64 * 10 + 10
    assert "toy-wide" in (repo / "reports/report.md").read_text()
    # its curves are among dvc's plots
    shown = run([str(BIN / "dvc"), "plots", "show", "--json"], repo, env).stdout
    assert "plots/train/toy-wide.csv" in shown and "plots/confusion/toy-wide.csv" in shown
