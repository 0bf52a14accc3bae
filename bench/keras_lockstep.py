#!/usr/bin/env python3
"""The port and Keras in lockstep: one training step from the same state, at every step of a Keras run.

Builds the notebook's model in Keras (bench/keras_reference.py) and trains it on the first N batches of 32 in
order, dropout off (its masks are the one thing two frameworks cannot draw alike) or, with --dropout, on with
masks drawn here and given to both frameworks' dropout layers (the same keep-or-drop per activation, kept ones
scaled by 1 / (1 - rate), as both frameworks' Dropout does; the record also holds what Keras' own Dropout layer
and torch's put out on ones, and each framework's initial weights against the Glorot-uniform limit). Before every
step, fmnist's `asl` takes Keras' current weights, batch-norm statistics and RMSprop velocities; both then take
the step on the same batch, and the port's change of every weight is compared with Keras' change. Comparing single steps
from a shared state measures the arithmetic (convolutions, batch norm, the loss on the softmax, the optimizer)
and nothing else: two runs left to themselves part after a few steps, since a difference in the last bit of
one gradient grows from step to step (measured: from the same start, the two losses differ by up to 0.35
within 300 steps). What is left to differ between the frameworks' runs is then their random streams (initial
weights, dropout masks, shuffling).

Runs in the Keras virtualenv with torch and fmnist beside it (bench/README.md):

    python bench/keras_lockstep.py IDX_DIR --variant unit-onehot --steps 300
    python bench/keras_lockstep.py IDX_DIR --variant unit-onehot --steps 300 --optimizer rmsprop    # torch's
    python bench/keras_lockstep.py IDX_DIR --variant unit-onehot --steps 300 --torch-batchnorm     # torch's
    python bench/keras_lockstep.py IDX_DIR --variant raw-onehot --steps 300 --dropout    # the same masks

writes one JSON per run to --out.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import keras_reference as ref  # noqa: E402  (bench/: the notebook's model and data in Keras)
import torch  # noqa: E402

from fmnist.models.asl import ASL  # noqa: E402
from fmnist.training.keras_rmsprop import KerasRMSprop  # noqa: E402

keras = ref.keras
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "lockstep"


class KerasMaskDropout(keras.layers.Layer):
    """In place of a Dropout layer: multiplies by a mask set before each step (a batch of 32)."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def build(self, input_shape):
        self.mask = self.add_weight(shape=(32, *input_shape[1:]), initializer="ones", trainable=False, name="mask")

    def call(self, inputs, training=None):
        return inputs * self.mask if training else inputs


class MaskDropout(torch.nn.Module):
    """The port's dropout with a given mask (NCHW), set before each step."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate, self.mask = rate, None

    def forward(self, x):
        return x * self.mask.to(x.dtype) if self.training else x


def keras_model(variant: str, dropout: bool):
    warnings.filterwarnings("ignore", message=".*input_shape.*", category=UserWarning)
    model = ref.CNN_FMNST_model()
    if dropout:  # the notebook's layers, each Dropout replaced by one that takes the masks drawn here
        model = keras.Sequential([keras.Input((28, 28, 1))] + [
            KerasMaskDropout(la.rate) if isinstance(la, keras.layers.Dropout) else la for la in model.layers])
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0  # Dropout.call draws nothing at rate 0
    loss = "categorical_crossentropy" if variant.endswith("onehot") else "sparse_categorical_crossentropy"
    model.compile(loss=loss, metrics=["accuracy"])  # the notebook's: the default RMSprop
    return model


def converters(model) -> list:
    """Per trainable variable of the Keras model, in order (the port's parameters' order), the function that
    turns its array into the port's layout: HWIO kernels to OIHW, the first Dense's rows from Keras' NHWC
    flatten order to torch's NCHW one, the other Dense kernels transposed."""
    channels = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)][-1].filters
    first_dense = [la for la in model.layers if isinstance(la, keras.layers.Dense)][0].kernel
    out = []
    for v in model.trainable_variables:
        if len(v.shape) == 4:
            out.append(lambda a: a.transpose(3, 2, 0, 1))
        elif v is first_dense:
            side = int(round((v.shape[0] // channels) ** 0.5))
            out.append(lambda a, s=side: a.reshape(s, s, channels, -1).transpose(3, 2, 0, 1).reshape(a.shape[1], -1))
        elif len(v.shape) == 2:
            out.append(lambda a: a.T)
        else:
            out.append(lambda a: a)
    return out


def port_arrays(model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The Keras model's trainable weights and batch-norm moving statistics, in the port's layout and order."""
    weights = [np.ascontiguousarray(f(v.numpy())) for f, v in zip(converters(model), model.trainable_variables)]
    stats = [np.asarray(w) for la in model.layers if isinstance(la, keras.layers.BatchNormalization)
             for w in (la.moving_mean.numpy(), la.moving_variance.numpy())]
    return weights, stats


def port_velocities(model) -> list[np.ndarray]:
    return [np.ascontiguousarray(f(v.numpy())) for f, v in zip(converters(model), model.optimizer._velocities)]


def load(port: ASL, opt, model) -> None:
    """The port takes Keras' weights, moving statistics and (once Keras has stepped) RMSprop velocities."""
    weights, stats = port_arrays(model)
    norms = [m for m in port.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for p, w in zip(port.parameters(), weights):
            p.copy_(torch.from_numpy(w))
        for m, mean, var in zip(norms, stats[::2], stats[1::2]):
            m.running_mean.copy_(torch.from_numpy(mean))
            m.running_var.copy_(torch.from_numpy(var))
    if model.optimizer.built:
        for p, v in zip(port.parameters(), port_velocities(model)):
            opt.state[p]["velocity" if isinstance(opt, KerasRMSprop) else "square_avg"] = \
                torch.from_numpy(v).to(p.dtype)
            if not isinstance(opt, KerasRMSprop):
                opt.state[p]["step"] = torch.tensor(float(model.optimizer.iterations.numpy()))


def torch_batchnorm(port: ASL) -> None:
    """PyTorch's own training kernel for every batch norm (statistics in one pass), Keras' moving variance kept."""
    import torch.nn.functional as F

    def forward(self, x):
        with torch.no_grad():
            var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)

    for m in port.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.forward = forward.__get__(m)


def student(args, dtype) -> ASL:
    """fmnist's asl, dropout off (as in the Keras model here), optionally on PyTorch's own batch-norm kernel."""
    net = ASL(num_classes=10).to(dtype)
    for parent in list(net.modules()):
        for name, m in parent.named_children():
            if isinstance(m, torch.nn.Dropout):
                if args.dropout:
                    setattr(parent, name, MaskDropout(m.p))
                else:
                    m.p = 0.0
    if args.torch_batchnorm:
        torch_batchnorm(net)
    return net


def nchw(x: np.ndarray) -> torch.Tensor:
    """Keras' NHWC images as the port's NCHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def draw_masks(model, rng) -> list[np.ndarray]:
    """One keep-or-drop mask per dropout layer for the next batch, kept activations scaled by 1 / (1 - rate)."""
    masks = []
    for layer in model.layers:
        if isinstance(layer, KerasMaskDropout):
            keep = rng.random(tuple(layer.mask.shape)) >= layer.rate
            masks.append(keep.astype(np.float32) / np.float32(1 - layer.rate))
    return masks


def set_masks(model, nets, masks) -> None:
    for layer, mask in zip([la for la in model.layers if isinstance(la, KerasMaskDropout)], masks):
        layer.mask.assign(mask)
    for net in nets:
        for module, mask in zip([m for m in net.modules() if isinstance(m, MaskDropout)], masks):
            module.mask = torch.from_numpy(mask.transpose(0, 3, 1, 2) if mask.ndim == 4 else mask)


def dropout_on_ones(rate: float = 0.2, seed: int = 0) -> dict:
    """What each framework's own Dropout layer puts out on ones in training: the values and the dropped share."""
    ones = np.ones((1000, 1000), np.float32)
    out = {"keras": np.asarray(keras.layers.Dropout(rate, seed=seed)(ones, training=True)),
           "torch": torch.nn.functional.dropout(torch.from_numpy(ones), rate, training=True).numpy()}
    return {name: {"rate": rate, "values": sorted({float(v) for v in np.unique(a)}),
                   "dropped_share": round(float((a == 0).mean()), 5)} for name, a in out.items()}


def initial_weights(model, port: ASL) -> dict:
    """Per weight tensor, each framework's freshly drawn initial weights against the Glorot-uniform limit
    sqrt(6 / (fan_in + fan_out)) (std limit / sqrt(3)); biases should be zeros."""
    out = {}
    for (name, p), w in zip(port.named_parameters(), port_arrays(model)[0]):
        mine = p.detach().double().numpy()
        record = {"keras_max": float(np.abs(w).max()), "port_max": float(np.abs(mine).max()),
                  "keras_std": float(w.std()), "port_std": float(mine.std())}
        if name.endswith("weight") and mine.ndim >= 2:
            receptive = int(np.prod(mine.shape[2:])) if mine.ndim == 4 else 1
            record["glorot_limit"] = float(np.sqrt(6 / ((mine.shape[0] + mine.shape[1]) * receptive)))
            record["glorot_std"] = record["glorot_limit"] / np.sqrt(3)
        out[name] = {k: round(v, 6) for k, v in record.items()}
    return out


def optimizer(args, net: ASL):
    if args.optimizer == "keras_rmsprop":
        return KerasRMSprop(net.parameters(), lr=1e-3, rho=0.9, eps=1e-7)
    return torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("idx_dir", type=Path)
    p.add_argument("--variant", choices=ref.VARIANTS, default="unit-onehot")
    p.add_argument("--steps", type=int, default=300, help="batches of 32, the first training images in order")
    p.add_argument("--optimizer", choices=("keras_rmsprop", "rmsprop"), default="keras_rmsprop",
                   help="the port's: Keras' RMSprop (epsilon under the root) or torch's (after it)")
    p.add_argument("--torch-batchnorm", action="store_true", help="PyTorch's own batch-norm kernel in the port")
    p.add_argument("--dropout", action="store_true", help="dropout on, the same masks in both frameworks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()

    keras.utils.set_random_seed(args.seed)
    ref.tf.config.experimental.enable_op_determinism()
    (train, _, _), md5 = ref.load_data(args.idx_dir, args.variant, 12000, None)
    model = keras_model(args.variant, args.dropout)
    port = student(args, torch.float32).to(memory_format=torch.channels_last)  # the train stage's layout
    fresh = initial_weights(model, port)  # before the port takes Keras' weights
    rng = np.random.default_rng(args.seed)
    exact = student(args, torch.float64)  # the same step in float64: what both frameworks round
    steppers = {"port": (port, optimizer(args, port)), "float64": (exact, optimizer(args, exact))}
    # one-hot rows are probabilities to cross_entropy, integer labels class numbers
    labels = (lambda y: y) if args.variant.endswith("onehot") else (lambda y: y.astype(np.int64))
    names = [n for n, _ in port.named_parameters()]
    pairs = (("port", "keras"), ("port", "float64"), ("keras", "float64"))
    worst = {pair: {n: 0.0 for n in names} for pair in pairs}
    share = {pair: {n: [] for n in names} for pair in pairs}
    loss_gap = []
    for step in range(args.steps):
        xb, yb = train[0][32 * step: 32 * (step + 1)], train[1][32 * step: 32 * (step + 1)]
        x = nchw(xb)
        before = port_arrays(model)[0]
        if args.dropout:
            set_masks(model, [port, exact], draw_masks(model, rng))
        changes, losses = {}, {}
        for name, (net, opt) in steppers.items():
            load(net, opt, model)
            net.train()
            opt.zero_grad()
            dtype = next(net.parameters()).dtype
            y = torch.from_numpy(labels(yb))
            loss = torch.nn.functional.cross_entropy(net(x.to(dtype)), y.to(dtype) if y.is_floating_point() else y)
            loss.backward()
            opt.step()
            losses[name] = loss.item()
            changes[name] = [p_.detach().double().numpy() - w0 for p_, w0 in zip(net.parameters(), before)]
        model.reset_metrics()  # the loss it returns is then this batch's, not a running mean
        losses["keras"] = float(model.train_on_batch(xb, yb)[0])
        changes["keras"] = [w1.astype(np.float64) - w0 for w0, w1 in zip(before, port_arrays(model)[0])]
        loss_gap.append(abs(losses["port"] - losses["keras"]))
        for pair in pairs:
            for n, mine, theirs in zip(names, changes[pair[0]], changes[pair[1]]):
                gap = np.abs(mine - theirs) / max(np.abs(theirs).max(), 1e-30)
                worst[pair][n] = max(worst[pair][n], float(gap.max()))
                share[pair][n].append(float((gap > 1e-3).mean()))
    record = {
        "variant": args.variant, "optimizer": args.optimizer,
        "batchnorm": "torch" if args.torch_batchnorm else "fmnist",
        "dropout": "the same masks in both" if args.dropout else "off",
        "steps": args.steps, "seed": args.seed, "keras": keras.__version__, "tensorflow": ref.tf.__version__,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "idx_md5": md5,
        "measure": "per step, from Keras' state, per weight of each parameter tensor: |A's change - B's change| / the "
                   "largest change B made in that tensor (the gap); float64: the port's step in float64",
        "loss_abs_diff_port_keras_max": float(np.max(loss_gap)),
        "share_of_weights_gap_over_1e-3": {
            " vs ".join(pair): float(np.mean([x for v in share[pair].values() for x in v])) for pair in pairs},
        "per_param_share_gap_over_1e-3": {
            " vs ".join(pair): {n: round(float(np.mean(v)), 6) for n, v in share[pair].items()} for pair in pairs},
        "largest_gap": {" vs ".join(pair): {n: round(v, 6) for n, v in worst[pair].items()} for pair in pairs},
        "dropout_on_ones": dropout_on_ones(),
        "initial_weights": fresh,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    tag = ("-torch-batchnorm" if args.torch_batchnorm else "") + ("-dropout" if args.dropout else "")
    path = args.out / f"{args.variant}-{args.optimizer}{tag}-{args.steps}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if not k.startswith(("per_param", "idx", "initial"))}, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
