"""Model registry: parameter counts, shapes, Keras-default init, trainability."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fmnist.models import MODELS, build_model, count_parameters

NAMES = sorted(MODELS)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_registry_names():
    assert set(MODELS) == {"tiny", "asl", "resnet"}


def test_tiny_parameter_count():
    counts = count_parameters(build_model("tiny"))
    assert counts == {"trainable": 20_372, "total": 20_372}


def test_asl_parameter_count_matches_keras_summary():
    counts = count_parameters(build_model("asl"))
    assert counts["trainable"] == 256_567
    assert counts["total"] == 256_867  # includes BN moving mean/var


def test_resnet_parameter_count():
    counts = count_parameters(build_model("resnet"))
    assert 1_000_000 <= counts["trainable"] <= 3_000_000
    assert counts["total"] > counts["trainable"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("num_classes", [10, 5])
def test_output_shape(name, num_classes):
    model = build_model(name, num_classes=num_classes).eval()
    with torch.no_grad():
        out = model(torch.rand(4, 1, 28, 28))
    assert out.shape == (4, num_classes)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match=r"unknown model 'x'; choose one of: asl, resnet, tiny"):
        build_model("x")


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_rejected(name):
    with pytest.raises((TypeError, ValueError), match="bogus"):
        build_model(name, bogus=1)


def test_resnet_options():
    small = build_model("resnet", width=8, dropout=0.2)
    assert count_parameters(small)["trainable"] < count_parameters(build_model("resnet"))["trainable"]
    assert any(isinstance(m, nn.Dropout) and m.p == 0.2 for m in small.modules())
    with pytest.raises(ValueError):
        build_model("resnet", dropout=1.5)


def test_asl_glorot_uniform_init_and_zero_bias():
    model = build_model("asl")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 5
    for layer in layers:
        w = layer.weight
        receptive = w[0][0].numel()
        fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert w.abs().max().item() <= bound + 1e-7
        # Uniform over [-bound, bound] fills most of the range (PyTorch's default
        # kaiming-uniform bound is smaller, so this tells the two apart).
        assert w.abs().max().item() > 0.9 * bound
        assert torch.count_nonzero(layer.bias) == 0


def test_asl_batchnorm_uses_keras_defaults():
    bns = [m for m in build_model("asl").modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 3
    for bn in bns:
        assert bn.eps == pytest.approx(1e-3)
        assert bn.momentum == pytest.approx(0.01)


def test_asl_dropout_is_elementwise():
    model = build_model("asl")
    assert not any(isinstance(m, nn.Dropout2d) for m in model.modules())
    assert sorted(m.p for m in model.modules() if isinstance(m, nn.Dropout)) == [0.2, 0.3]


def test_resnet_channels_last_bf16_autocast():
    model = build_model("resnet").eval().to(memory_format=torch.channels_last)
    x = torch.rand(4, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (4, 10)
    assert torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_step_changes_parameters(name):
    model = build_model(name).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == []


@pytest.mark.parametrize("name", NAMES)
def test_loss_decreases_on_fixed_batch(name):
    model = build_model(name).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # A loose margin: tiny squeezes everything through one channel and learns
    # slowly (the other models overfit 16 samples almost completely).
    assert losses[-1] < 0.95 * losses[0], losses


def test_tiny_cpu_fast_path_is_the_same_function():
    """On CPU, tiny runs its convolutions as one grouped convolution: outputs and gradients match the
    plain layer-by-layer path."""
    torch.manual_seed(0)
    model = build_model("tiny", num_classes=10).eval()
    x = torch.rand(64, 1, 28, 28)
    fast = model(x)
    plain = model.classifier(model.features(x))
    assert torch.allclose(fast, plain, atol=1e-5)
    grads = []
    for forward in (model, lambda t: model.classifier(model.features(t))):
        model.zero_grad()
        forward(x).square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
