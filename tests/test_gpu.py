"""The CUDA path (bf16 autocast, channels_last, device-side permutation and augmentation): run where a GPU
is; skipped elsewhere (the only tests that may skip)."""

from __future__ import annotations

import pytest
import torch

from fmnist.models import build_model
from fmnist.params import Augment, ExperimentSettings
from fmnist.training import train_experiment
from fmnist.training.loop import load_splits
from fmnist.training.step import evaluate_split
from fmnist.training.recipe import loss_fn

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

RESNET = ExperimentSettings(model="resnet", variant="standard-sparse", loss="cross_entropy", optimizer="sgd", lr=0.05,
                            epochs=2, batch_size=50, schedule="onecycle", label_smoothing=0.1,
                            augment=Augment(crop=2, flip=True, erase=0.25), model_config={"width": 8}, device="cuda")


def test_resnet_trains_on_cuda_and_its_weights_load_on_cpu(prepared, tmp_path):
    rows = []
    train_experiment("gpu", RESNET, prepared / RESNET.variant, tmp_path / "w.pt", tmp_path / "h.csv",
                     tmp_path / "ck", on_epoch=rows.append, progress=False)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["train_loss"] < rows[0]["train_loss"]
    record = torch.load(tmp_path / "w.pt", weights_only=True)
    assert record["device"].startswith("cuda")
    assert all(t.device.type == "cpu" for t in record["state_dict"].values())
    model = build_model("resnet", width=8)
    model.load_state_dict(record["state_dict"])
    _, splits = load_splits(prepared / RESNET.variant, RESNET, torch.device("cpu"))
    _, acc = evaluate_split(model, splits["val"], loss_fn("cross_entropy"), 50, torch.device("cpu"))
    assert abs(acc - rows[1]["val_acc"]) < 0.05  # bf16 on the GPU, float32 here


def test_tiny_on_cuda_is_the_same_function_as_on_cpu():
    """tiny has a CPU-only fast path; on CUDA the plain layers run: the outputs must agree."""
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    x = torch.rand(64, 1, 28, 28)
    on_cpu = model(x)
    on_gpu = model.cuda()(x.cuda()).cpu()
    assert torch.allclose(on_cpu, on_gpu, atol=1e-4)



def test_predict_on_cuda_gives_the_classes_the_cpu_gives(prepared, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from fmnist.cli import main as fmnist

    train_experiment("gpu", RESNET, prepared / RESNET.variant, tmp_path / "w.pt", tmp_path / "h.csv",
                     tmp_path / "ck", progress=False)
    capsys.readouterr()  # the epochs' lines
    images = []
    for i, pixels in enumerate(np.random.default_rng(5).integers(0, 256, (4, 28, 28), dtype=np.uint8)):
        images.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(pixels).save(images[-1])
    probs = {}
    for device in ("cpu", "cuda"):
        assert fmnist(["predict", *images, "--model", str(tmp_path / "w.pt"), "--device", device, "--top", "10"]) == 0
        probs[device] = [dict((c, float(p)) for c, p in (pair.split(" ") for pair in line.split(": ", 1)[1].split(", ")))
                         for line in capsys.readouterr().out.splitlines()]
    assert len(probs["cuda"]) == 4
    for on_gpu, on_cpu in zip(probs["cuda"], probs["cpu"]):  # bf16 on the GPU, float32 on the CPU
        assert on_gpu.keys() == on_cpu.keys() and all(abs(on_gpu[c] - on_cpu[c]) < 0.03 for c in on_cpu)
