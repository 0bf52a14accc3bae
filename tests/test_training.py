"""The training loop: every loss learns, augmentation keeps shapes, a killed run resumes bit-identically."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from fmnist.params import Augment, ExperimentSettings
from fmnist.training import train_experiment
from fmnist.training.loop import load_splits
from fmnist.training.step import evaluate_split
from fmnist.device import resolve_device
from fmnist.training.augment import augment
from fmnist.training.recipe import loss_fn
from fmnist.models import build_model
from fmnist.errors import ParamsError

CASES = {
    "mse-onehot": ExperimentSettings(model="tiny", variant="unit-onehot", loss="mse", optimizer="adam", lr=0.01,
                                     epochs=1, batch_size=20),
    "ce-onehot": ExperimentSettings(model="asl", variant="unit-onehot", loss="cross_entropy", optimizer="rmsprop",
                                    epochs=1, batch_size=32),
    "ce-sparse": ExperimentSettings(model="asl", variant="unit-sparse", loss="cross_entropy", optimizer="rmsprop",
                                    epochs=1, batch_size=32),
    "resnet-recipe": ExperimentSettings(model="resnet", variant="standard-sparse", loss="cross_entropy",
                                        optimizer="sgd", lr=0.05, epochs=1, batch_size=50, schedule="onecycle",
                                        label_smoothing=0.1, augment=Augment(crop=2, flip=True, erase=0.25),
                                        model_config={"width": 8}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_epoch_lowers_the_loss(case, prepared, tmp_path):
    cfg = CASES[case]
    torch.manual_seed(cfg.seed)
    meta, splits = load_splits(prepared / cfg.variant, cfg, torch.device("cpu"))
    model = build_model(cfg.model, **cfg.model_config)
    before, _ = evaluate_split(model, splits["train"], loss_fn(cfg.loss), 500, torch.device("cpu"))
    rows = []
    train_experiment(case, cfg, prepared / cfg.variant, tmp_path / "w.pt", tmp_path / "h.csv", tmp_path / "ck",
                     on_epoch=rows.append, progress=False)
    model.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True)["state_dict"])
    after, _ = evaluate_split(model, splits["train"], loss_fn(cfg.loss), 500, torch.device("cpu"))
    assert after < before, f"{case}: loss {before:.4f} -> {after:.4f}"
    assert len(rows) == 1 and rows[0]["epoch"] == 1
    header = (tmp_path / "h.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert not (tmp_path / "ck" / "last.pt").exists()  # the checkpoint goes once the weights are written


def test_weights_record(prepared, tmp_path):
    cfg = CASES["mse-onehot"]
    train_experiment("seedlike", cfg, prepared / cfg.variant, tmp_path / "w.pt", tmp_path / "h.csv", tmp_path / "ck",
                     progress=False)
    record = torch.load(tmp_path / "w.pt", weights_only=True)
    assert record["dataset"] == "structured-test" and record["synthetic"] is False
    assert record["classes"] == [str(i) for i in range(10)]
    assert record["model"] == "tiny" and record["parameters"]["trainable"] == 20372
    assert record["normalisation"] == {"kind": "unit", "shift": 0.0, "scale": 255.0}
    assert record["train"]["loss"] == "mse" and "train_seconds" not in record
    timing = json.loads((tmp_path / "w.timing.json").read_text())  # beside the weights by default
    assert timing["train_seconds"] > 0 and timing["device"] == "cpu" and timing["processes"] == 1
    assert [r["epoch"] for r in timing["epochs"]] == [1] and timing["epochs"][0]["images_per_s"] > 0
    assert "seconds" not in (tmp_path / "h.csv").read_text().splitlines()[0]


def test_two_runs_write_byte_identical_outputs(prepared, tmp_path):
    """Timings live in the timing file only: the weights, history, metrics and info of two runs with the
    same params are the same bytes, so DVC sees no change and `dvc metrics diff` reports none."""
    from fmnist.evaluation import evaluate_experiment

    cfg = CASES["mse-onehot"]
    outputs = []
    for run in ("a", "b"):
        d = tmp_path / run
        train_experiment("same", cfg, prepared / cfg.variant, d / "w.pt", d / "h.csv", d / "ck", progress=False,
                         timing_path=d / "timing.json")
        evaluate_experiment(d / "w.pt", prepared / cfg.variant, d / "metrics.json", d / "confusion.csv",
                            d / "misclassified.csv", d / "figures")
        outputs.append({name: (d / name).read_bytes() for name in
                        ("w.pt", "h.csv", "metrics.json", "figures/info.json", "confusion.csv", "misclassified.csv")})
    assert outputs[0] == outputs[1]
    assert (tmp_path / "a" / "timing.json").read_bytes() != (tmp_path / "b" / "timing.json").read_bytes()


def test_train_split_all_and_track_test(prepared):
    cfg = ExperimentSettings(model="tiny", variant="unit-onehot", train_split="all", track_test=True)
    _, splits = load_splits(prepared / cfg.variant, cfg, torch.device("cpu"))
    assert len(splits["train"].x) == 500 and len(splits["test"].x) == 100


def test_batch_larger_than_training_set_is_refused(prepared, tmp_path):
    cfg = ExperimentSettings(model="tiny", variant="unit-onehot", loss="mse", batch_size=401)
    with pytest.raises(ParamsError, match="batch_size 401 of experiment x is larger than its training set"):
        train_experiment("x", cfg, prepared / cfg.variant, tmp_path / "w.pt", tmp_path / "h.csv", tmp_path / "ck")
    assert not (tmp_path / "w.pt").exists()


def test_absent_cuda_is_a_params_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ParamsError, match="train.device is cuda but no CUDA device is available"):
        resolve_device("cuda")
    with pytest.raises(ParamsError, match="train.device is cuda:1 but no CUDA device is available"):
        resolve_device("cuda:1")
    assert resolve_device("auto").type in ("cpu", "mps")


def test_cuda_index_picks_that_gpu():
    if torch.cuda.device_count() < 1:
        pytest.skip("no CUDA device")
    last = torch.cuda.device_count() - 1
    assert resolve_device(f"cuda:{last}") == torch.device("cuda", last)
    with pytest.raises(ParamsError, match=f"train.device is cuda:{last + 1} but only cuda:0 to cuda:{last} are"):
        resolve_device(f"cuda:{last + 1}")


def test_augment_on_whole_batches():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    out = augment(x, Augment(crop=2), background=0.0, generator=gen)
    assert out.shape == x.shape
    assert torch.allclose(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # a 2 px shift keeps the square whole
    assert not torch.equal(out, x)  # and some images moved
    flipped = augment(torch.arange(28.0).expand(64, 1, 28, 28), Augment(flip=True), 0.0, gen)
    mirrored = (flipped[:, 0, 0, 0] == 27).sum().item()
    assert 10 < mirrored < 54
    erased = augment(torch.ones(200, 1, 28, 28), Augment(erase=1.0), background=-1.0, generator=gen)
    fraction = (erased == -1).float().mean(dim=(1, 2, 3))
    assert (fraction > 0).all() and (fraction <= 0.5).all()


KILL_AFTER = textwrap.dedent("""
    import os, signal, sys
    from fmnist.params import ExperimentSettings
    from fmnist.training import train_experiment
    cfg = ExperimentSettings(**__CFG__)
    kill_at = int(sys.argv[1])
    def on_epoch(row):
        if row["epoch"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    train_experiment("resume", cfg, sys.argv[2], "w.pt", "h.csv", "ck", on_epoch=on_epoch, progress=False)
""")


def test_resume_after_sigkill_is_bit_identical(prepared, tmp_path):
    """SIGKILL after epoch 2 of 4, then run again: the weights equal those of an unbroken run."""
    cfg = dict(model="asl", variant="unit-sparse", loss="cross_entropy", optimizer="rmsprop", epochs=4,
               batch_size=64, seed=3)
    script = KILL_AFTER.replace("__CFG__", repr(cfg))
    for run, kill_at in (("broken", 2), ("whole", 0)):
        folder = tmp_path / run
        folder.mkdir()
        proc = subprocess.run([sys.executable, "-c", script, str(kill_at), str(prepared / "unit-sparse")],
                              cwd=folder, capture_output=True, text=True)
        if run == "broken":
            assert proc.returncode == -signal.SIGKILL
            assert (folder / "ck" / "last.pt").exists() and not (folder / "w.pt").exists()
            proc = subprocess.run([sys.executable, "-c", script, "0", str(prepared / "unit-sparse")],
                                  cwd=folder, capture_output=True, text=True)
            assert "resuming after epoch 2" in proc.stdout
        assert proc.returncode == 0, proc.stderr
    broken = torch.load(tmp_path / "broken" / "w.pt", weights_only=True)["state_dict"]
    whole = torch.load(tmp_path / "whole" / "w.pt", weights_only=True)["state_dict"]
    assert broken.keys() == whole.keys()
    for key in whole:
        assert torch.equal(broken[key], whole[key]), key
    # The history matches too, but for the timing columns.
    history = {run: [line.split(",")[:6] for line in (tmp_path / run / "h.csv").read_text().splitlines()]
               for run in ("broken", "whole")}
    assert history["broken"] == history["whole"] and len(history["whole"]) == 5
