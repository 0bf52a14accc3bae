"""Seed sweeps: which runs differ only in their seed, and the spread `fmnist seeds` reports for them.

The fast tests build `dvc exp show --json` rows in the shape DVC 3 prints them; test_seed_sweep_with_real_dvc
queues a real sweep with DVC's grid syntax and checks the command and the MLflow tags against it.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import yaml

from conftest import BIN, ROOT, dvc_project, run
from fmnist import sweeps
from fmnist.params import parse_params
from fmnist.stats import spread

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
SHOWN_SECTIONS = ("data", "prepare", "train", "experiments", "published")  # what the settings stage declares


def row(name, params, metrics, rev="0123456789abcdef"):
    """One row of `dvc exp show --json`: params.yaml's tracked sections and the metrics files' values."""
    return {"rev": rev, "name": name, "data": {
        "params": {"params.yaml": {"data": {key: params[key] for key in SHOWN_SECTIONS}}},
        "metrics": {f"metrics/{exp}.json": {"data": values} for exp, values in metrics.items()}}}


def with_seed(seed, **train):
    params = copy.deepcopy(PARAMS)
    params["train"].update(seed=seed, **train)
    return params


def shown(*experiments_rows, workspace=None):
    """A baseline commit with its experiments, and the workspace row before it, as DVC lists them."""
    base = workspace or experiments_rows[0]
    return [{**row("workspace", *base, rev="workspace"), "name": None, "experiments": None},
            {**row("main", *base), "experiments": [{"revs": [row(f"exp-{i}", *r)]} for i, r in
                                                   enumerate(experiments_rows)]}]


def settings_of(params, experiment):
    parsed = parse_params(params)
    return (dataclasses.asdict(parsed.experiments[experiment]), dataclasses.asdict(parsed.data),
            parsed.prepare.val_size)


def test_seed_group_leaves_out_only_the_seed():
    unit = "seed003-unit-onehot"  # inherits train.seed
    group = sweeps.seed_group(unit, *settings_of(with_seed(0), unit))
    assert sweeps.seed_group(unit, *settings_of(with_seed(3), unit)) == group
    assert sweeps.seed_group(unit, *settings_of(with_seed(0, lr=0.002), unit)) != group
    assert sweeps.seed_group("seed003-unit-sparse", *settings_of(with_seed(0), "seed003-unit-sparse")) != group
    other_data = with_seed(0)
    other_data["prepare"]["val_size"] = 6000
    assert sweeps.seed_group(unit, *settings_of(other_data, unit)) != group
    downloaded = with_seed(0)
    downloaded["data"]["retries"] = 5  # how to download, not what was trained on
    assert sweeps.seed_group(unit, *settings_of(downloaded, unit)) == group


def test_seed_group_counts_declared_model_options_as_their_defaults():
    settings, data, val = settings_of(with_seed(0), "resnet")
    explicit = {**settings, "model_config": {**sweeps.model_specs.defaults("resnet"), **settings["model_config"]}}
    assert sweeps.seed_group("resnet", explicit, data, val) == sweeps.seed_group("resnet", settings, data, val)


def test_runs_group_by_everything_but_the_seed():
    unit = "seed003-unit-onehot"
    figures = {0: (0.9163, 0.9160), 1: (0.9201, 0.9199), 2: (0.9232, 0.9230)}
    runs = [(with_seed(seed), {unit: {"test_accuracy": acc, "macro_f1": f1}, "resnet": {"test_accuracy": 0.95}})
            for seed, (acc, f1) in figures.items()]
    runs.append((with_seed(1, lr=0.002), {unit: {"test_accuracy": 0.5, "macro_f1": 0.5}}))  # another recipe
    for params, _ in runs:
        params["experiments"]["resnet"]["seed"] = 4  # its own seed: train.seed does not reach it
    groups, skipped = sweeps.group_runs(shown(*runs), PARAMS)
    assert skipped == []
    by_key = {(g.experiment, len(g.runs)): g for g in groups}
    sweep = by_key[(unit, 3)]
    assert sweep.seeds == [0, 1, 2]
    accuracy = sweep.spread("test_accuracy")
    assert accuracy == spread([0.9163, 0.9201, 0.9232])
    assert sweep.spread("macro_f1").mean == pytest.approx((0.9160 + 0.9199 + 0.9230) / 3)
    assert (unit, 1) in by_key  # lr 0.002: a group of its own
    # resnet sets its own seed: the three rows that have its metrics ran it once, so it is one run, not three
    assert [(len(g.runs), g.seeds) for g in groups if g.experiment == "resnet"] == [(1, [4])]
    # the workspace and its commit are the same run as exp-0 (seed 0): counted once, named by the first row
    assert sweep.runs[0][0] == "workspace"


def test_rows_whose_params_today_refuses_are_left_out_by_name():
    old = with_seed(1)
    old["train"]["no_such_key"] = 1
    groups, skipped = sweeps.group_runs(shown((with_seed(0), {"seed000": {"test_accuracy": 0.8}}),
                                              (old, {"seed000": {"test_accuracy": 0.9}})), PARAMS)
    assert skipped == ["exp-1"]
    assert [len(g.runs) for g in groups] == [1]


def test_table_and_json_name_each_seed_and_the_spread():
    unit = "seed003-unit-onehot"
    runs = [(with_seed(s), {unit: {"test_accuracy": a, "macro_f1": a - 0.001}})
            for s, a in ((0, 0.90), (1, 0.92), (2, 0.94))]
    groups, _ = sweeps.group_runs(shown(*runs), PARAMS)
    text = sweeps.table(groups)
    assert f"{unit}" in text and "0,1,2" in text and "92.00 ± 2.00 % (90.00-94.00)" in text
    (entry,) = [e for e in sweeps.as_json(groups) if e["n"] == 3]
    assert entry["seeds"] == [0, 1, 2] and entry["runs"] == {"0": "workspace", "1": "exp-1", "2": "exp-2"}
    assert entry["test_accuracy"]["std"] == pytest.approx(0.02)
    assert json.loads(json.dumps(sweeps.as_json(groups))) == sweeps.as_json(groups)


@pytest.mark.slow
def test_seed_sweep_with_real_dvc(tmp_path):
    """`dvc exp run --queue -S 'train.seed=range(0,3)'`, `dvc exp run --run-all`, then `fmnist seeds`: the
    experiment that inherits train.seed has three runs, the one that sets its own seed one; the MLflow runs
    of the sweep share the seed_group tag the command reports."""
    unit, own = "seed003-unit-onehot", "seed000"

    def shrink(params):
        params["data"].update(dataset="synthetic", synthetic={"train": 1200, "test": 200, "seed": 0})
        params["prepare"].update(normalisations=["unit"], encodings=["onehot"], val_size=200)
        params["train"]["epoch_limit"] = 1
        params["experiments"] = {unit: params["experiments"][unit], own: {**params["experiments"][own], "seed": 5}}
        params["mlflow"]["register"] = False

    repo, env = dvc_project(tmp_path / "repo", shrink)
    dvc, fmnist = str(BIN / "dvc"), str(BIN / "fmnist")
    run([dvc, "repro"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "ran"], repo, env)
    run([dvc, "exp", "run", "--queue", "-S", "train.seed=range(0,3)"], repo, env)
    run([dvc, "exp", "run", "--run-all"], repo, env)

    groups = json.loads(run([fmnist, "seeds", "--json", "--min-seeds", "1"], repo, env).stdout)
    by_experiment = {g["experiment"]: g for g in groups}
    assert len(groups) == 2, groups
    sweep = by_experiment[unit]
    assert sweep["seeds"] == [0, 1, 2] and sweep["n"] == 3
    assert by_experiment[own]["seeds"] == [5]

    # the figures are those of the three experiments' metrics files, as dvc exp show has them
    shown_rows = json.loads(run([dvc, "exp", "show", "--json"], repo, env).stdout)
    accuracy = {}
    for _, params, metrics in sweeps.rows(shown_rows):
        accuracy[params["train"]["seed"]] = metrics[f"metrics/{unit}.json"]["test_accuracy"]
    assert sorted(accuracy) == [0, 1, 2]
    assert sweep["test_accuracy"] == spread([accuracy[s] for s in (0, 1, 2)]).as_dict()

    table = run([fmnist, "seeds"], repo, env).stdout
    assert unit in table and "0,1,2" in table and own not in table  # one seed: not a spread

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("fmnist").experiment_id],
                              f"tags.seed_group = '{sweep['seed_group']}'")
    assert sorted(int(r.data.params["seed"]) for r in runs) == [0, 1, 2]
    assert {r.data.tags["experiment"] for r in runs} == {unit}

    bad = run([fmnist, "seeds", "nope"], repo, env, check=False)
    assert bad.returncode == 2 and "experiments has no 'nope'" in bad.stderr and "Traceback" not in bad.stderr
