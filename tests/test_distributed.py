"""Data-parallel training on CPU: torchrun with 2 gloo processes trains the tiny model; both ranks end with
identical weights, and the result matches one process trained with the same global batch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import torch

from conftest import ROOT

# tiny without dropout: nothing random but the permutation, which every rank draws alike, so 2 processes
# and 1 must take the same steps; what differs is only the order of float additions in the all-reduce.
CFG = dict(model="tiny", model_config={"dropout": 0.0}, variant="unit-onehot", loss="mse", optimizer="adam",
           epochs=3, batch_size=40, seed=5)
TOLERANCE = 1e-5  # largest absolute weight difference allowed after 30 steps

TRAIN = textwrap.dedent("""
    import sys
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from fmnist.params import Distributed, ExperimentSettings
    from fmnist.training import distributed, train_experiment

    optimizers = []
    register_optimizer_step_post_hook(lambda opt, args, kwargs: optimizers.append(opt) if not optimizers else None)
    nproc = int(sys.argv[2])
    cfg = ExperimentSettings(**__CFG__, distributed=Distributed(enabled=nproc > 1, nproc=nproc))
    with distributed.process_group("cpu") as ranks:
        train_experiment("ddp", cfg, sys.argv[1], "w.pt", "h.csv", "ck", progress=False)
        # every rank's own copy of the weights, straight from its optimiser
        weights = [p.detach().clone() for p in optimizers[0].param_groups[0]["params"]]
        torch.save(weights, f"rank{ranks.rank}.pt")
        print(f"rank {ranks.rank} of {ranks.world} done")
""").replace("__CFG__", repr(CFG))


def train(folder, variant_dir, nproc, env):
    folder.mkdir()
    (folder / "train.py").write_text(TRAIN)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] \
        if nproc > 1 else [sys.executable]
    started = time.perf_counter()
    proc = subprocess.run([*launcher, "train.py", str(variant_dir), str(nproc)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return time.perf_counter() - started


def test_two_gloo_processes_match_one_process(prepared, tmp_path, env_with_venv):
    seconds = train(tmp_path / "ddp", prepared / "unit-onehot", 2, env_with_venv)
    train(tmp_path / "single", prepared / "unit-onehot", 1, env_with_venv)

    rank0, rank1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(a, b) for a, b in zip(rank0, rank1)), "the ranks' weights differ"

    ddp = torch.load(tmp_path / "ddp" / "w.pt", weights_only=True)
    single = torch.load(tmp_path / "single" / "w.pt", weights_only=True)
    assert ddp["processes"] == 2 and single["processes"] == 1
    diff = max((ddp["state_dict"][k] - single["state_dict"][k]).abs().max().item() for k in single["state_dict"])
    print(f"2 gloo processes vs 1: largest weight difference {diff:.2e} (tolerance {TOLERANCE:g}); "
          f"distributed run {seconds:.1f} s")
    assert diff <= TOLERANCE

    # the history counts every image once across the two processes
    lines = {run: (tmp_path / run / "h.csv").read_text().splitlines() for run in ("ddp", "single")}
    assert len(lines["ddp"]) == len(lines["single"]) == 1 + CFG["epochs"]
    for a, b in zip(lines["ddp"][1:], lines["single"][1:]):
        loss_a, acc_a = map(float, a.split(",")[1:3])
        loss_b, acc_b = map(float, b.split(",")[1:3])
        assert abs(loss_a - loss_b) < 1e-5 and abs(acc_a - acc_b) < 1e-9
    # only rank 0 wrote outputs
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir() if p.suffix in (".pt", ".csv")) == \
        ["h.csv", "rank0.pt", "rank1.pt", "w.pt"]


def test_distributed_params_are_checked():
    import yaml

    from fmnist.errors import ParamsError
    from fmnist.params import parse_params

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["train"]["distributed"] = {"enabled": True, "nproc": 0}
    with pytest.raises(ParamsError, match=r"train.distributed.nproc must be >= 1, got 0"):
        parse_params(raw)
    raw["train"]["distributed"] = {"enabled": True, "nproc": 64}
    with pytest.raises(ParamsError, match=r"batch_size must be at least 2 per process with distributed.nproc 64"):
        parse_params(raw)
    raw["train"]["distributed"] = {"enabled": "yes"}
    with pytest.raises(ParamsError, match=r"train.distributed.enabled must be true or false"):
        parse_params(raw)


@pytest.mark.slow
def test_the_train_stage_relaunches_itself_under_torchrun(tmp_path):
    """`train.distributed.enabled` through the real `dvc repro`: 2 processes, one set of outputs, one MLflow run."""
    from mlflow.tracking import MlflowClient

    from conftest import BIN, dvc_project, run

    def shrink(params):
        params["data"].update(dataset="synthetic", synthetic={"train": 1500, "test": 300, "seed": 0})
        params["prepare"].update(val_size=300, normalisations=["unit"], encodings=["onehot"])
        params["experiments"] = {"seed000": {**params["experiments"]["seed000"], "epochs": 2, "batch_size": 200,
                                             "distributed": {"enabled": True, "nproc": 2}}}

    repo, env = dvc_project(tmp_path, shrink)
    proc = run([str(BIN / "dvc"), "repro", "train@seed000"], repo, env)
    assert "launching: torchrun --standalone --nproc_per_node=2 stages/train.py seed000" in proc.stdout
    assert "after 2 epochs on 2 processes" in proc.stdout
    weights = torch.load(repo / "models/seed000.pt", weights_only=True)
    assert weights["processes"] == 2 and weights["epochs"] == 2
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("fmnist").experiment_id])
    assert [r.info.run_name for r in runs] == ["seed000"] and runs[0].info.status == "FINISHED"
    assert len(client.get_metric_history(runs[0].info.run_id, "val_acc")) == 2
