"""The Keras port does Keras' arithmetic: RMSprop with epsilon under the square root, and the moving
variance of BatchNormalization from the biased batch variance (formulas from Keras 3's source), batch norm
normalising with two-pass statistics as tf.nn.moments does."""

from pathlib import Path

import numpy as np
import torch

from fmnist.models.asl import ASL, KerasBatchNorm2d
from fmnist.params import ExperimentSettings, load_params
from fmnist.training.keras_rmsprop import KerasRMSprop
from fmnist.training.recipe import make_optimizer

ROOT = Path(__file__).resolve().parents[1]


def keras_rmsprop_steps(w, grads, lr, rho, eps, weight_decay=0.0):
    """keras/src/optimizers/rmsprop.py update_step, in float64 numpy (momentum 0, not centred)."""
    v = np.zeros_like(w)
    for g in grads:
        w = w - w * weight_decay * lr
        v = rho * v + (1 - rho) * g ** 2
        w = w - lr * g / np.sqrt(v + eps)
    return w


def run_steps(opt_cls, w0, grads, **kw):
    w = torch.nn.Parameter(torch.tensor(w0))
    opt = opt_cls([w], **kw)
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()
    return w.detach().numpy()


def test_keras_rmsprop_matches_the_keras_formula_where_torch_does_not():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 5))
    grads = [rng.normal(scale=scale, size=(4, 5)) for scale in (1e-5, 1e-4, 1e-3, 1.0, 1e-6)]  # small ones matter
    want = keras_rmsprop_steps(w0, grads, lr=1e-3, rho=0.9, eps=1e-7)
    got = run_steps(KerasRMSprop, w0, grads, lr=1e-3, rho=0.9, eps=1e-7)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    torch_style = run_steps(torch.optim.RMSprop, w0, grads, lr=1e-3, alpha=0.9, eps=1e-7)
    assert np.abs(torch_style - want).max() > 1e-4  # the formula the port used before differs by far more


def test_keras_rmsprop_weight_decay_is_keras_decoupled_decay():
    rng = np.random.default_rng(1)
    w0, grads = rng.normal(size=6), [rng.normal(size=6) for _ in range(3)]
    want = keras_rmsprop_steps(w0, grads, lr=1e-2, rho=0.9, eps=1e-7, weight_decay=0.1)
    np.testing.assert_allclose(run_steps(KerasRMSprop, w0, grads, lr=1e-2, weight_decay=0.1), want, atol=1e-12)


def test_keras_rmsprop_state_survives_a_checkpoint():
    w = torch.nn.Parameter(torch.ones(3))
    opt = KerasRMSprop([w])
    w.grad = torch.full((3,), 0.5)
    opt.step()
    again = KerasRMSprop([w])
    again.load_state_dict(opt.state_dict())
    assert torch.equal(again.state[w]["velocity"], opt.state[w]["velocity"])


def test_the_seed003_experiments_train_with_keras_rmsprop():
    for name, exp in load_params(ROOT / "params.yaml").experiments.items():
        if exp.model == "asl":
            assert exp.optimizer == "keras_rmsprop", name
    cfg = ExperimentSettings(model="asl", variant="unit-onehot", optimizer="keras_rmsprop")
    assert isinstance(make_optimizer(cfg, ASL().parameters()), KerasRMSprop)


def test_batch_norm_moving_variance_is_keras_biased_one():
    torch.manual_seed(0)
    bn = KerasBatchNorm2d(3, eps=1e-3, momentum=0.01)
    x = torch.randn(4, 3, 2, 2, dtype=torch.float64) * 3
    bn.double().train()(x)
    biased = x.var(dim=(0, 2, 3), unbiased=False)
    torch.testing.assert_close(bn.running_var, 0.99 * torch.ones(3, dtype=torch.float64) + 0.01 * biased)
    torch.testing.assert_close(bn.running_mean, 0.01 * x.mean(dim=(0, 2, 3)))
    plain = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.01).double()  # the same output in training
    torch.testing.assert_close(KerasBatchNorm2d(3, eps=1e-3, momentum=0.01).double()(x), plain(x))


def test_batch_norm_in_training_is_float64_s_within_float32_rounding_in_both_layouts():
    """Activations whose mean is large against their spread, as after a ReLU: PyTorch's own channels_last CPU
    kernel loses several times float32's rounding there (its variance in one pass); the port's output and all three
    gradients stay within float32's rounding of the same computation in float64."""
    torch.manual_seed(0)
    x64 = torch.randn(32, 5, 28, 28, dtype=torch.float64) * 0.1 + torch.tensor([0.0, 1, 10, 100, 300]).view(1, -1, 1, 1)
    dy = torch.randn_like(x64)

    def run(dtype, layout):
        bn = KerasBatchNorm2d(5, eps=1e-3, momentum=0.01).to(dtype).train()
        with torch.no_grad():
            bn.weight.copy_(torch.linspace(0.5, 2, 5))
            bn.bias.copy_(torch.linspace(-1, 1, 5))
        x = x64.to(dtype).clone(memory_format=layout).requires_grad_()
        y = bn(x)
        y.backward(dy.to(dtype).contiguous(memory_format=layout))
        return [t.double() for t in (y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_var)]

    exact = run(torch.float64, torch.contiguous_format)
    for layout in (torch.contiguous_format, torch.channels_last):
        for got, want, name in zip(run(torch.float32, layout), exact, ("y", "dx", "dweight", "dbias", "moving var")):
            # float32 holds 300 + 0.1 z to 3e-5, a 3e-4 error in z: the floor any float32 batch norm has here
            assert (got - want).abs().max() <= 1e-3 * want.abs().max(), (layout, name)
    ours = (run(torch.float32, torch.channels_last)[0] - exact[0]).abs().max()
    plain = torch.nn.BatchNorm2d(5, eps=1e-3).train()
    with torch.no_grad():
        plain.weight.copy_(torch.linspace(0.5, 2, 5))
        plain.bias.copy_(torch.linspace(-1, 1, 5))
    theirs = (plain(x64.float().contiguous(memory_format=torch.channels_last)).double() - exact[0]).abs().max()
    assert theirs > 5 * ours  # what the port avoids (should PyTorch's kernel change, the docstring says so)


def test_asl_computes_in_float32_under_autocast_as_keras_does():
    """bf16 autocast (the training loop's on a GPU) leaves the port in Keras' float32, bit for bit."""
    torch.manual_seed(0)
    model, x = ASL().train(), torch.rand(4, 1, 28, 28)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)  # the same dropout masks
    plain = model(x)
    model.load_state_dict(state)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = model(x)
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, plain, rtol=0, atol=0)


def test_asl_cast_to_float64_computes_in_float64_under_autocast_too():
    """A reference copy in float64 (bench/keras_lockstep.py's) stays float64, with or without autocast."""
    model, x = ASL().double().eval(), torch.rand(2, 1, 28, 28, dtype=torch.float64)
    plain = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = model(x.float())
    assert plain.dtype == cast.dtype == torch.float64
    torch.testing.assert_close(cast, plain, rtol=0, atol=1e-6)


def test_asl_uses_keras_batch_norm():
    assert sum(isinstance(m, KerasBatchNorm2d) for m in ASL().modules()) == 3
