"""End to end: the real `dvc repro` on a copy of the repo with a tiny synthetic dataset."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
import yaml

from conftest import BIN, bench_module, copy_repo, dvc_project, run

TINY = {"train": 2000, "test": 500, "seed": 0}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The repo, shrunk: tiny synthetic data, one epoch per experiment, a small resnet; then `dvc repro`."""
    def shrink(params):
        params["data"].update(dataset="synthetic", synthetic=TINY)
        params["prepare"]["val_size"] = 500
        params["train"]["epoch_limit"] = 1
        params["experiments"]["resnet"]["model_config"] = {"width": 8}

    repo, env = dvc_project(tmp_path_factory.mktemp("e2e"), shrink)
    first = run([str(BIN / "dvc"), "repro"], repo, env)
    return repo, env, first


def test_every_stage_wrote_its_outputs(project):
    repo, env, first = project
    params = yaml.safe_load((repo / "params.yaml").read_text())
    record = json.loads((repo / "data/raw/dataset.json").read_text())
    assert record["name"] == "Synthetic (generated, not Fashion-MNIST)" and record["synthetic"] is True
    for variant in ("unit-onehot", "unit-sparse", "raw-onehot", "raw-sparse", "standard-onehot", "standard-sparse"):
        meta = json.loads((repo / "data/prepared" / variant / "meta.json").read_text())
        assert meta["splits"]["train"]["x"]["shape"] == [1500, 1, 28, 28]
        assert meta["splits"]["val"]["x"]["shape"] == [500, 1, 28, 28]
        assert meta["dataset"].startswith("Synthetic")
    for name in ("label_counts.csv", "label_counts.png", "samples.png"):
        assert (repo / "plots/data" / name).stat().st_size > 0
    for exp in params["experiments"]:
        weights = torch.load(repo / f"models/{exp}.pt", weights_only=True)
        assert weights["dataset"].startswith("Synthetic") and weights["epochs"] == 1
        history = (repo / f"plots/train/{exp}.csv").read_text().splitlines()
        assert len(history) == 2 and history[0].startswith("epoch,train_loss,train_acc,val_loss,val_acc")
    assert "test_loss" in (repo / "plots/train/seed000.csv").read_text().splitlines()[0]
    for exp in params["experiments"]:
        metrics = json.loads((repo / f"metrics/{exp}.json").read_text())
        info = json.loads((repo / f"plots/evaluate/{exp}/info.json").read_text())
        assert info["dataset"].startswith("Synthetic") and 0 <= metrics["test_accuracy"] <= 1
        assert json.loads((repo / f"plots/timing/{exp}.json").read_text())["train_seconds"] > 0
        assert len((repo / f"plots/confusion/{exp}.csv").read_text().splitlines()) == 1 + TINY["test"]
        run = json.loads((repo / f"models/{exp}.run.json").read_text())
        assert run["run_id"], run  # tracked in the sqlite store of the copy
    report = (repo / "reports/report.md").read_text()
    assert "Synthetic" in report and all(exp in report for exp in params["experiments"])
    assert (repo / "reports/report.html").stat().st_size > 10_000


def test_second_repro_runs_nothing(project):
    repo, env, _ = project
    again = run([str(BIN / "dvc"), "repro"], repo, env)
    assert "Running stage" not in again.stdout
    status = run([str(BIN / "dvc"), "status"], repo, env)
    assert "up to date" in status.stdout


def test_metrics_files_hold_numbers_only(project):
    """Names and flags live in the info files: `dvc exp show` gets one column per number."""
    from test_evaluation import numbers_only

    repo, env, _ = project
    for path in (repo / "metrics").glob("*.json"):
        assert numbers_only(json.loads(path.read_text())), path.name


def test_the_exp_show_drop_view_keeps_one_accuracy_per_experiment(project):
    """The narrow `dvc exp show` of docs/evaluation.md (its --drop regex, read from the page) hides the per-class
    lists, the other metrics and the dependency hashes: one test-accuracy column per experiment, then params."""
    import re
    import shlex

    from conftest import ROOT

    repo, env, _ = project
    drop = re.search(r"dvc exp show --only-changed --md \\\n\s+(--drop '[^']+')", (ROOT / "docs" / "evaluation.md").read_text())
    assert drop, "docs/evaluation.md lost its dvc exp show --only-changed --md --drop line"
    shown = run([str(BIN / "dvc"), "exp", "show", "--md", *shlex.split(drop.group(1))], repo, env).stdout
    header = [c.strip() for c in shown.splitlines()[0].strip(" |").split("|")]
    metrics = [c for c in header if c.startswith("metrics/")]
    experiments = yaml.safe_load((repo / "params.yaml").read_text())["experiments"]
    assert sorted(metrics) == sorted(f"metrics/{e}.json:test_accuracy" for e in experiments), header
    others = [c for c in header[1:] if c not in metrics]
    assert others and all(re.fullmatch(r"[a-z_]+(\.[\w-]+)*", c) for c in others), others  # params only


def test_a_forced_rerun_writes_the_same_bytes(project):
    """Two clean CPU runs with the same params: the same weights, history and metrics, byte for byte
    (the timings differ, and live apart), so DVC records the same hashes and `dvc status` is clean."""
    repo, env, _ = project
    exp = "seed003-unit-sparse"
    outs = [f"models/{exp}.pt", f"plots/train/{exp}.csv", f"metrics/{exp}.json", f"plots/evaluate/{exp}/info.json"]
    before = {p: (repo / p).read_bytes() for p in outs}
    timing = (repo / f"plots/timing/{exp}.json").read_bytes()

    def hashes():
        lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
        return {o["path"]: o["md5"] for s in (f"train@{exp}", f"evaluate@{exp}") for o in lock[s]["outs"]
                if not o["path"].endswith((".run.json", ".timing.json")) and "timing" not in o["path"]}

    locked = hashes()
    run([str(BIN / "dvc"), "repro", "-f", "-s", f"train@{exp}"], repo, env)
    run([str(BIN / "dvc"), "repro", f"evaluate@{exp}"], repo, env)  # its run file dep changed: it re-runs
    assert {p: (repo / p).read_bytes() for p in outs} == before
    assert (repo / f"plots/timing/{exp}.json").read_bytes() != timing
    assert hashes() == locked


def test_bad_params_stop_repro_with_one_line(project, tmp_path):
    repo, env, _ = project
    bad = copy_repo(tmp_path)
    shutil.copytree(repo / ".dvc", bad / ".dvc", dirs_exist_ok=True)
    text = (bad / "params.yaml").read_text().replace("epochs: 20", "epochs: 0")
    (bad / "params.yaml").write_text(text)
    proc = run([str(BIN / "python"), "stages/train.py", "seed003-unit-onehot"], bad, env, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "error: params.yaml: train.epochs must be >= 1, got 0"


def test_results_are_collected_and_tabled(project, tmp_path):
    """bench/results.py copies an evaluated run into a results folder, rebuilds its report from the copies
    alone, and makes the README's Results table from them."""
    repo, env, _ = project
    results = bench_module("results")
    dest = tmp_path / "results" / "synthetic"
    done = results.collect(repo, dest)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert done == list(params["experiments"])
    for exp in done:
        assert json.loads((dest / "metrics" / f"{exp}.json").read_text()) == json.loads(
            (repo / "metrics" / f"{exp}.json").read_text())
        run = json.loads((dest / "runs" / f"{exp}.json").read_text())
        assert run["device"] == "cpu" and run["torch"] == torch.__version__
        assert json.loads((dest / "plots/timing" / f"{exp}.json").read_text())["train_seconds"] > 0
    assert "Synthetic" in (dest / "reports" / "report.md").read_text()
    assert (dest / "reports" / "report.html").stat().st_size > 10_000
    table = results.render(tmp_path / "results")
    assert table.startswith(results.BEGIN) and table.rstrip().endswith(results.END)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == done
    # each accuracy with its Wilson interval, e.g. "85.00 % (84.29-85.69) |"
    assert all(re.search(r" \d+\.\d\d % \(\d+\.\d\d-\d+\.\d\d\) \|", r) and "CPU cores" in r for r in rows)
    assert "-" in next(r for r in rows if r.startswith("| `seed003-unit-onehot`")).split("|")[-2]  # a difference
    diff = results.compare(dest, repo)  # the same run on both sides: every change is zero
    changes = [line.rsplit("|", 2)[-2].strip() for line in diff.splitlines()[2:]]
    assert len(changes) == 4 * len(done) and set(changes) == {"+0.0000"}
    info = dest / "plots/evaluate" / done[0] / "info.json"  # as if the committed side ran on other images
    info.write_text(json.dumps({**json.loads(info.read_text()), "dataset": "Fashion-MNIST"}))
    assert results.compare(dest, repo).splitlines()[-1] == (
        f"note: {done[0]} ran on Synthetic (generated, not Fashion-MNIST) in the workspace but on Fashion-MNIST "
        f"in {dest}: its changes do not compare")

    # A later run that evaluated one experiment only adds it: the report still covers every one held.
    partial, last = tmp_path / "partial", done[-1]
    for path in ("params.yaml", "data/raw/dataset.json", f"metrics/{last}.json", f"plots/timing/{last}.json",
                 f"models/{last}.pt", *(f"plots/{sub}/{last}.csv" for sub in ("train", "confusion", "misclassified"))):
        (partial / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / path, partial / path)
    shutil.copytree(repo / "plots/evaluate" / last, partial / "plots/evaluate" / last)
    assert results.collect(partial, dest) == [last]
    report = (dest / "reports" / "report.md").read_text()
    assert all(f"### {exp}" in report for exp in done)


@pytest.mark.parametrize("data", ["sample", "synthetic"])
def test_make_demo_leaves_params_yaml_as_it_found_it(tmp_path, data):
    """`make demo` runs its DVC experiment on the shipped real-image sample (or, DEMO_DATA=synthetic, on generated
    images), then puts params.yaml back byte for byte: the demo's settings stay in the experiment, and a later
    `dvc repro` runs on params.yaml again."""
    def smallest(params):  # one variant, one experiment; the demo itself sets the data and the epochs
        params["prepare"].update(normalisations=["unit"], encodings=["onehot"])
        params["experiments"] = {"seed000": params["experiments"]["seed000"]}
        params["mlflow"]["register"] = False

    repo, env = dvc_project(tmp_path / "repo", smallest)
    before = (repo / "params.yaml").read_bytes()
    # The venv of the tests, not one of the copy's own (STAMP empty: no install step).
    run(["make", "demo", f"BIN={BIN}", "STAMP=", f"DEMO_DATA={data}", "DEMO_IMAGES=1000", "DEMO_EPOCHS=1"], repo, env)
    assert (repo / "params.yaml").read_bytes() == before
    assert not (repo / ".dvc/tmp/params-before-demo.yaml").exists()
    info = json.loads((repo / "plots/evaluate/seed000/info.json").read_text())
    dataset = {"sample": "fashion-mnist-sample", "synthetic": "synthetic"}[data]
    assert info["synthetic"] is (data == "synthetic")
    if data == "sample":  # the real images, named for what they are
        assert info["dataset"] == "Fashion-MNIST sample (first-release split, 6,000 + 1,000 images)"
        assert json.loads((repo / "data/raw/dataset.json").read_text())["id"] == dataset
        metrics = json.loads((repo / "metrics/seed000.json").read_text())
        assert metrics["test_images"] == 1000
    shown = json.loads(run([str(BIN / "dvc"), "exp", "show", "--json"], repo, env).stdout)
    demo = [r["data"] for b in shown for e in b.get("experiments") or [] for r in e["revs"]
            if (r.get("name") or "").startswith("demo-")]
    assert len(demo) == 1 and demo[0]["params"]["params.yaml"]["data"]["data"]["dataset"] == dataset
    status = run([str(BIN / "dvc"), "status", "--with-deps", "train@seed000"], repo, env).stdout
    assert "settings:" in status and "params.yaml" in status  # the next repro resolves params.yaml again,
    # and trains on Fashion-MNIST
